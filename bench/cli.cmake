# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-cli, redis-cli's everyday use over the engine's client side
# (Valkey RDMA protocol). Run it with LD_PRELOAD=libsoftverbs.so where there
# is no RDMA NIC.
if(TARGET rdmaring_static AND TARGET rdmaring_module_core)
	add_executable(rring-cli
		${CMAKE_CURRENT_LIST_DIR}/cli.c
		${CMAKE_CURRENT_LIST_DIR}/cli_format.c
		${CMAKE_CURRENT_LIST_DIR}/cli_resp3.c
		${CMAKE_CURRENT_LIST_DIR}/cli_split.c
		${CMAKE_CURRENT_LIST_DIR}/rclient.c
		${CMAKE_CURRENT_LIST_DIR}/device_hint.c)
	target_include_directories(rring-cli PRIVATE ${CMAKE_CURRENT_LIST_DIR})
	target_compile_definitions(rring-cli PRIVATE _GNU_SOURCE)
	target_link_libraries(rring-cli PRIVATE rdmaring_static
		rdmaring_module_core PkgConfig::IBVERBS PkgConfig::RDMACM
		Threads::Threads)
endif()
