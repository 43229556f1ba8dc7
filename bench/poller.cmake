# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-bench-poller, the poller's routing cost against ring-only
# pushes, idle CPU of an engine over softverbs, and wake-up latency.
if(TARGET softverbs AND TARGET rdmaring_static)
	add_executable(rring-bench-poller ${CMAKE_CURRENT_LIST_DIR}/bench_poller.c
		${PROJECT_SOURCE_DIR}/tests/engine/echo_util.c)
	target_include_directories(rring-bench-poller PRIVATE
		${PROJECT_SOURCE_DIR}/engine ${PROJECT_SOURCE_DIR}/tests/engine)
	target_include_directories(rring-bench-poller SYSTEM PRIVATE
		${IBVERBS_INCLUDE_DIRS} ${RDMACM_INCLUDE_DIRS})
	target_link_libraries(rring-bench-poller PRIVATE rring_bench_common
		rdmaring_static
		softverbs PkgConfig::URCU Threads::Threads)
endif()
