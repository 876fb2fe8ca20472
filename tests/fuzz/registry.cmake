# Registry: damaged registry files (patches to a valid one) opened and read
# every way berth reads them. Seed corpus: corpus/fuzz_registry_file/.
berth_fuzz(fuzz_registry_file SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_registry_file.c
	LIBS berth_registry)
