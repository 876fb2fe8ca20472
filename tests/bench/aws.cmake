# aws_bench: outbox drain rate to DynamoDB (dynalite), batched and
# conditional-put-only (prints figures; needs BERTH_TEST_DYNAMODB_URL).
add_executable(aws_bench ${CMAKE_CURRENT_SOURCE_DIR}/aws_bench.c
	${CMAKE_SOURCE_DIR}/tests/aws/ddbtest.c)
target_link_libraries(aws_bench PRIVATE berth_registry berth_aws berth_testlib)

# ecs_bench: provision time with --backend ecs, sidecar vs DescribeTasks polling
# (prints figures; needs BERTH_TEST_ECS_URL and BERTH_TEST_DOCKER_HOST).
add_executable(ecs_bench ${CMAKE_CURRENT_SOURCE_DIR}/ecs_bench.c)
target_link_libraries(ecs_bench PRIVATE berth_test_harness)
target_compile_definitions(ecs_bench PRIVATE
	BENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}" BENCH_BINARY_DIR="${CMAKE_BINARY_DIR}")
add_dependencies(ecs_bench berth-launcher berth-sidecar)
