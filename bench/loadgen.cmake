# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-bench, a redis-benchmark-like load generator over the
# engine's client side (Valkey RDMA protocol). Links rdma-core; run it with
# LD_PRELOAD=libsoftverbs.so where there is no RDMA NIC.
if(TARGET rdmaring_static AND TARGET rdmaring_module_core)
	add_executable(rring-bench
		${CMAKE_CURRENT_LIST_DIR}/loadgen.c
		${CMAKE_CURRENT_LIST_DIR}/loadgen_args.c
		${CMAKE_CURRENT_LIST_DIR}/rclient.c)
	target_include_directories(rring-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR})
	target_compile_definitions(rring-bench PRIVATE _GNU_SOURCE)
	target_link_libraries(rring-bench PRIVATE rdmaring_static
		rdmaring_module_core PkgConfig::IBVERBS PkgConfig::RDMACM
		Threads::Threads)
endif()
