# AWS answers: error bodies, ECS tasks, DynamoDB items, credentials documents.
berth_fuzz(fuzz_aws_response SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_aws_response.c
	LIBS berth_aws)
