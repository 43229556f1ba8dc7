#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the module comparison run. One Debian redis-server with
# rdmaring.so over softverbs; the same tests, clients and pipelines through
# rring-bench --csv (RDMA) and redis-benchmark --csv (TCP, the same
# server), in the same run; both CSVs become one JSON (shape in
# docs/benchmarks.md) for scripts/plot.sh, and rring-bench's own JSON of
# each pipeline P goes next to it (OUT.rring-bench-PP.json).
# Usage: bench/compare_tests.sh OUT.json
# Environment: RRING_BUILD_DIR (default build), RRING_COMPARE_REQUESTS
# (default 20000), RRING_COMPARE_CLIENTS (default 50),
# RRING_COMPARE_PIPELINES (default "1 16"), RRING_COMPARE_TESTS (default
# ping,set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100,mset),
# RRING_COMPARE_THREADS (IO threads of both sides, default 2).
set -u
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/compare_tests.sh OUT.json}
OUT=$(realpath -m "$OUT")
# shellcheck source=../scripts/lib/server.sh
. scripts/lib/server.sh

BUILD=$(realpath "${RRING_BUILD_DIR:-build}")
N=${RRING_COMPARE_REQUESTS:-20000}
C=${RRING_COMPARE_CLIENTS:-50}
PIPES=${RRING_COMPARE_PIPELINES:-1 16}
TESTS=${RRING_COMPARE_TESTS:-ping,set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100,mset}
THREADS=${RRING_COMPARE_THREADS:-2}
SERVER=${RRING_REDIS_SERVER:-/usr/bin/redis-server}
CLI=${RRING_REDIS_CLI:-/usr/bin/redis-cli}
RB=${RRING_REDIS_BENCHMARK:-/usr/bin/redis-benchmark}
SV=$BUILD/softverbs/libsoftverbs.so
MODULE=$BUILD/module/rdmaring.so
BENCH=$BUILD/bench/rring-bench
RS_FAIL_PREFIX="compare: "
RS_FAIL_FD=2
rs_init compare

for f in "$SV" "$MODULE" "$BENCH" "$SERVER" "$CLI" "$RB"; do
	[ -e "$f" ] || fail "missing $f (build first: scripts/build.sh)"
done
rs_start_module "$SV" "$MODULE" io-threads="$THREADS"

# csv_rows TRANSPORT PIPELINE < CSV: one JSON object per data row
csv_rows() {
	awk -F'","' -v t="$1" -v p="$2" 'NR > 1 {
		gsub(/^"|"$/, "")
		printf "{\"transport\":\"%s\",\"pipeline\":%d,\"test\":\"%s\"," \
			"\"rps\":%s,\"avg_ms\":%s,\"min_ms\":%s,\"p50_ms\":%s," \
			"\"p95_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s}\n",
			t, p, $1, $2, $3, $4, $5, $6, $7, $8 }'
}

: >"$TMP/rows"
for p in $PIPES; do
	echo "compare: pipeline $p: rring-bench (RDMA)" >&2
	LD_PRELOAD=$SV nice "$BENCH" -h 127.0.0.1 -p "$RPORT" -c "$C" -n "$N" \
		-P "$p" --threads "$THREADS" -t "$TESTS" --csv \
		--json "${OUT%.json}.rring-bench-P$p.json" \
		>"$TMP/rdma.csv" 2>"$TMP/rdma.err" ||
		fail "rring-bench: $(cat "$TMP/rdma.err")"
	csv_rows rdma "$p" <"$TMP/rdma.csv" >>"$TMP/rows"
	echo "compare: pipeline $p: redis-benchmark (TCP)" >&2
	nice "$RB" -h 127.0.0.1 -p "$PORT" -c "$C" -n "$N" -P "$p" \
		--threads "$THREADS" -t "$TESTS" --csv >"$TMP/tcp.csv" \
		2>"$TMP/tcp.err" || fail "redis-benchmark: $(cat "$TMP/tcp.err")"
	csv_rows tcp "$p" <"$TMP/tcp.csv" >>"$TMP/rows"
done
"$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1
rs_wait_exit 20

{
	printf '{"meta":{"program":"compare_tests.sh","version":"%s","time":"%s",' \
		"$("$BENCH" --version | cut -d' ' -f2)" \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '"host":"%s","argv":["bench/compare_tests.sh"]},\n' "$(hostname)"
	printf '"config":{"requests":%s,"clients":%s,"io_threads":%s,' \
		"$N" "$C" "$THREADS"
	printf '"data_size":3,"redis":"%s"},\n"rows":[\n' \
		"$("$SERVER" --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
	paste -sd, "$TMP/rows" | sed 's/},{/},\n{/g'
	printf ']}\n'
} >"$OUT"
echo "compare: wrote $OUT ($(wc -l <"$TMP/rows") rows)" >&2
