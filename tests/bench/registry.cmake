# registry_bench: single-change commits/s and batched rows/s (prints figures).
add_executable(registry_bench ${CMAKE_CURRENT_SOURCE_DIR}/registry_bench.c)
target_link_libraries(registry_bench PRIVATE berth_registry berth_testlib)
