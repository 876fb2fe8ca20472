# aws_bench: outbox drain rate to DynamoDB (dynalite), batched and
# conditional-put-only (prints figures; needs BERTH_TEST_DYNAMODB_URL).
add_executable(aws_bench ${CMAKE_CURRENT_SOURCE_DIR}/aws_bench.c
	${CMAKE_SOURCE_DIR}/tests/aws/ddbtest.c)
target_link_libraries(aws_bench PRIVATE berth_registry berth_aws)
