#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: build the libFuzzer harnesses (clang, -DRRING_FUZZ=ON) and run
# them outside CI, each from a copy of its committed corpus.
#
# usage: scripts/fuzz.sh [resp|wire ...]   (default: both)
# Environment: RRING_FUZZ_DIR (build, default build-fuzz), RRING_FUZZ_RUNS
# (executions per harness, default 5000000), RRING_FUZZ_JOBS (parallel
# workers per harness, default 1), RRING_FUZZ_MAX_LEN (default 4096).
# New inputs go to $RRING_FUZZ_DIR/corpus/<name> (merge interesting ones
# into tests/fuzz/corpus/<name> by hand); a crash leaves
# $RRING_FUZZ_DIR/crash-* and a non-zero exit. Each run ends with
# libFuzzer's "Done N runs" line.
set -eu

dir=${RRING_FUZZ_DIR:-build-fuzz}
runs=${RRING_FUZZ_RUNS:-5000000}
jobs=${RRING_FUZZ_JOBS:-1}
max_len=${RRING_FUZZ_MAX_LEN:-4096}
[ $# -gt 0 ] || set -- resp wire

for h in "$@"; do
	case "$h" in
	resp | wire) ;;
	*) echo "fuzz.sh: unknown harness '$h': expected resp or wire" >&2
	   exit 2 ;;
	esac
done
command -v clang >/dev/null || {
	echo "fuzz.sh: clang is needed (apt-get install clang)" >&2
	exit 2
}
CC=clang cmake -S . -B "$dir" -DRRING_FUZZ=ON -DRRING_BUILD_BENCH=OFF \
	>/dev/null
cmake --build "$dir" -j "$(nproc)" --target $(printf 'fuzz_%s ' "$@")
status=0
for h in "$@"; do
	mkdir -p "$dir/corpus/$h"
	cp tests/fuzz/corpus/"$h"/* "$dir/corpus/$h/"
	echo "== fuzz_$h: $runs runs"
	# -jobs > 1 splits the runs over workers (logs in fuzz-N.log)
	(cd "$dir" && "./tests/fuzz/fuzz_$h" -runs="$runs" \
		-max_len="$max_len" -print_final_stats=1 \
		${jobs:+-jobs="$jobs" -workers="$jobs"} "corpus/$h") ||
		status=1
done
exit $status
