# Sidecar parsers: Docker event lines (and the line splitter), inspect and list
# bodies, agent introspection bodies. Seed corpora: corpus/<target>/.
berth_fuzz(fuzz_docker_event SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_docker_event.c LIBS berth_core)
berth_fuzz(fuzz_docker_inspect SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_docker_inspect.c
	LIBS berth_core)
berth_fuzz(fuzz_agent SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent.c LIBS berth_sidecar)
