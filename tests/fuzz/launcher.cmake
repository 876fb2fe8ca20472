# Launcher: the POST /v1/tenants decoder with its validators, and the URL
# templates. Seed corpus: corpus/fuzz_launcher_request/.
berth_fuzz(fuzz_launcher_request SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_launcher_request.c
	LIBS berth_launcher)
