# Sidecar benchmarks (they print figures; ./dev bench runs every *_bench):
# sidecar_bench against the real test dockerd, sidecar_storm_bench against a
# fake daemon replaying recorded events. Both run the built berth-sidecar.
add_executable(sidecar_bench ${CMAKE_CURRENT_LIST_DIR}/sidecar_bench.c)
target_compile_definitions(sidecar_bench PRIVATE BERTH_SIDECAR_BIN="$<TARGET_FILE:berth-sidecar>")
target_link_libraries(sidecar_bench PRIVATE berth_testlib)
add_dependencies(sidecar_bench berth-sidecar)

add_executable(sidecar_storm_bench ${CMAKE_CURRENT_LIST_DIR}/sidecar_storm_bench.c)
target_compile_definitions(sidecar_storm_bench
	PRIVATE BERTH_SIDECAR_BIN="$<TARGET_FILE:berth-sidecar>")
target_link_libraries(sidecar_storm_bench PRIVATE berth_testlib PkgConfig::EVENT PkgConfig::CURL)
add_dependencies(sidecar_storm_bench berth-sidecar)
