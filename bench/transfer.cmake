# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-bench-transfer, large messages over the Valkey wire layer
# between two engines in one process (softverbs), against memcpy.
if(TARGET softverbs AND TARGET rdmaring_static)
	add_executable(rring-bench-transfer
		${CMAKE_CURRENT_LIST_DIR}/bench_transfer.c
		${PROJECT_SOURCE_DIR}/tests/engine/xfer_pair.c
		${PROJECT_SOURCE_DIR}/tests/support/test_support.c)
	target_include_directories(rring-bench-transfer PRIVATE
		${PROJECT_SOURCE_DIR}/tests/engine
		${PROJECT_SOURCE_DIR}/tests/support)
	target_compile_definitions(rring-bench-transfer PRIVATE _GNU_SOURCE)
	target_link_libraries(rring-bench-transfer PRIVATE rring_bench_common
		rdmaring_static
		softverbs PkgConfig::URCU Threads::Threads)
endif()
