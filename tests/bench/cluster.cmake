# cluster_bench: 3 hosts (tests/services/cluster.sh), a 3 s start delay, 30
# tenants across them; prints container start event -> 201, local and remote.
add_executable(cluster_bench ${CMAKE_CURRENT_SOURCE_DIR}/cluster_bench.c)
target_link_libraries(cluster_bench PRIVATE berth_cluster_testlib pthread)
