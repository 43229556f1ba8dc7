# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: bench_common, the arguments, warnings and JSON header that every
# benchmark program shares.
add_library(rring_bench_common STATIC ${CMAKE_CURRENT_LIST_DIR}/bench_common.c)
target_include_directories(rring_bench_common PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(rring_bench_common PRIVATE _GNU_SOURCE
	RRING_BENCH_VERSION="${PROJECT_VERSION}")
