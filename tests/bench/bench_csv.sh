#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: rring-bench as a drop-in for redis-benchmark, against
# Debian's redis-server with rdmaring.so over softverbs. --csv has
# redis-benchmark's header and, test for test, its row names (redis-benchmark
# run over TCP on the same server), 8 quoted fields, numbers where numbers
# go; -q prints redis-benchmark's one line; a command after the options
# with -r spreads over at most -r keys and every INCR lands (the values
# sum to -n); a port nobody listens on is named with "Connection refused".
# Usage: bench_csv.sh MODULE.so redis-server redis-cli rring-bench
#        libsoftverbs.so redis-benchmark
set -u

MOD=$(realpath "$1")
SERVER=$2
CLI=$3
BENCH=$(realpath "$4")
SV=$(realpath "$5")
RB=$6
PRELOAD="${RRING_SERVER_PRELOAD:+$RRING_SERVER_PRELOAD }$SV"
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init bench_csv
TESTS=ping,set,get,incr,lpush,lpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset

rs_start_module "$PRELOAD" "$MOD" io-threads=2

bench() {
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		LD_PRELOAD=$SV timeout 120 "$BENCH" -h 127.0.0.1 "$@"
}

# ---- --csv: redis-benchmark's shape, row for row -------------------------
bench -p "$RPORT" -c 2 -n 200 -t "$TESTS" --csv >"$TMP/rdma.csv" \
	2>"$TMP/rdma.err" || fail "rring-bench --csv: $(cat "$TMP/rdma.err")"
timeout 120 "$RB" -h 127.0.0.1 -p "$PORT" -c 2 -n 200 -t "$TESTS" --csv \
	>"$TMP/tcp.csv" 2>/dev/null || fail "redis-benchmark --csv failed"
expect_eq "CSV header as redis-benchmark's" "$(head -1 "$TMP/rdma.csv")" \
	"$(head -1 "$TMP/tcp.csv")"
expect_eq "CSV test names as redis-benchmark's, in order" \
	"$(cut -d, -f1 "$TMP/rdma.csv")" "$(cut -d, -f1 "$TMP/tcp.csv")"
rows=$(($(wc -l <"$TMP/rdma.csv") - 1))
[ "$rows" -ge 14 ] || fail "only $rows CSV rows"
bad=$(tail -n +2 "$TMP/rdma.csv" | grep -cvE \
	'^"[^"]+"(,"[0-9]+\.[0-9]{2}")(,"[0-9]+\.[0-9]{3}"){6}$')
expect_eq "every CSV row: name, rps, 6 latencies in ms" "$bad" 0
zero=$(tail -n +2 "$TMP/rdma.csv" | cut -d, -f2 | grep -c '"0.00"')
expect_eq "every test answered (rps > 0)" "$zero" 0
bench -p "$RPORT" -c 2 -n 100 -t get --csv --precision 5 >"$TMP/p5.csv" \
	2>/dev/null || fail "--precision 5"
expect_has "--precision 5: five decimals" "$(tail -1 "$TMP/p5.csv")" \
	'","0.'
[ "$(tail -1 "$TMP/p5.csv" | cut -d, -f3 | tr -d '"' | cut -d. -f2 |
	wc -c)" -eq 6 ] || fail "--precision 5: $(tail -1 "$TMP/p5.csv")"
ok "--precision 5 gives 5 decimals"

# ---- -q: one line per test ------------------------------------------------
bench -p "$RPORT" -c 2 -n 100 -t set,get -q >"$TMP/q.out" 2>"$TMP/q.err" ||
	fail "-q: $(cat "$TMP/q.err")"
bad=$(grep -cvE '^(SET|GET): [0-9]+\.[0-9]{2} requests per second, p50=[0-9]+\.[0-9]{3} msec$' "$TMP/q.out")
expect_eq "-q: redis-benchmark's quiet lines only" "$bad" 0
expect_eq "-q: one line per test" "$(wc -l <"$TMP/q.out")" 2

# ---- a command after the options, __rand_int__ with -r ----------------------
"$CLI" -p "$PORT" flushall >/dev/null
bench -p "$RPORT" -c 3 -n 300 -r 7 --csv incr rb:__rand_int__ \
	>"$TMP/cmd.csv" 2>"$TMP/cmd.err" || fail "command: $(cat "$TMP/cmd.err")"
expect_has "command row named by its words" "$(tail -1 "$TMP/cmd.csv")" \
	'"incr rb:__rand_int__",'
keys=$("$CLI" -p "$PORT" --scan --pattern 'rb:*' | sort)
n=$(echo "$keys" | grep -c '^rb:[0-9]\{12\}$')
[ "$n" -ge 1 ] && [ "$n" -le 7 ] || fail "keys: $keys"
ok "-r 7: $n keys, 12-digit numbers"
sum=0
for k in $keys; do
	sum=$((sum + $("$CLI" -p "$PORT" get "$k")))
done
expect_eq "every INCR landed (sum of the counters)" "$sum" 300

# ---- a port nobody listens on ---------------------------------------------
dead=$(free_port) || fail "no free port"
bench -p "$dead" -c 2 -n 10 -t get >"$TMP/dead.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "exit 0 against a dead port"
expect_has "dead port named" "$(cat "$TMP/dead.out")" "127.0.0.1:$dead"
expect_has "dead port: the cause" "$(cat "$TMP/dead.out")" \
	"Connection refused"
if grep -q "requests per second" "$TMP/dead.out"; then
	fail "a table of zeros after a failed connect: $(cat "$TMP/dead.out")"
fi
ok "no results printed for a dead port"

"$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1
rs_wait_exit 20
echo "bench_csv: $CHECKS checks passed"
