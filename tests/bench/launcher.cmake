# launcher_bench: 100 provisions, 20 at a time, against the test dockerd and
# the real sidecar; prints p50/p99 of the whole POST and of the launcher's
# own share (POST minus the backend's container start). Needs
# BERTH_TEST_DOCKER_HOST (./dev bench sets it).
add_executable(launcher_bench ${CMAKE_CURRENT_SOURCE_DIR}/launcher_bench.c)
target_link_libraries(launcher_bench PRIVATE berth_test_harness)
target_compile_definitions(launcher_bench PRIVATE
	BENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}" BENCH_BINARY_DIR="${CMAKE_BINARY_DIR}")
