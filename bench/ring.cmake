# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-bench-ring, the SPSC ring against ck_ring, rte_ring and a plain queue.
rring_optional_pkg(CK ck libck-dev)
rring_optional_pkg(DPDK libdpdk libdpdk-dev)

add_executable(rring-bench-ring ${CMAKE_CURRENT_LIST_DIR}/bench_ring.c)
target_include_directories(rring-bench-ring PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(rring-bench-ring PRIVATE rring_bench_common
	Threads::Threads)
if(CK_FOUND)
	target_compile_definitions(rring-bench-ring PRIVATE RRING_HAVE_CK)
	target_link_libraries(rring-bench-ring PRIVATE PkgConfig::CK)
endif()
if(DPDK_FOUND)
	target_compile_definitions(rring-bench-ring PRIVATE RRING_HAVE_DPDK)
	target_link_libraries(rring-bench-ring PRIVATE PkgConfig::DPDK)
endif()
