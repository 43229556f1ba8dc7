#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: a NIC fault in redis-server with rdmaring.so is neither
# silent nor a hang. softverbs' SOFTVERBS_CQ_MAX makes the server's CQ
# overflow under rring-bench's load (IBV_EVENT_CQ_ERR): the server log names
# the event and each connection it closed, rring-bench fails well within
# its timeout and says why, and the server keeps serving TCP and RDMA
# (rring-cli PING on a new connection, a new CQ).
# Usage: module_faults.sh MODULE.so redis-server redis-cli rring-bench
#        rring-cli libsoftverbs.so
set -u

MOD=$(realpath "$1")
SERVER=$2
CLI=$3
BENCH=$(realpath "$4")
RCLI=$(realpath "$5")
SV=$(realpath "$6")
PORT=
RPORT=
PRELOAD="${RRING_SERVER_PRELOAD:+$RRING_SERVER_PRELOAD }$SV"
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init faults

cli() {
	timeout 20 "$CLI" -p "$PORT" "$@" 2>&1
}

engine_running() {
	[ "$(cli info rdmaring | tr -d '\r' | sed -n 's/^rdmaring_engine://p')" = running ]
}

PORT=$(free_port) || fail "no free port"
RPORT=$(free_port) || fail "no free port"
[ "$PORT" != "$RPORT" ] || RPORT=$((PORT + 1))
# a CQ of 8 entries: 20 clients with 16 requests in flight each overflow it
SOFTVERBS_CQ_MAX=8 rs_start server "$PRELOAD" --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" engine_running

start=$SECONDS
ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	LD_PRELOAD=$SV timeout 200 "$BENCH" -h 127.0.0.1 -p "$RPORT" -q \
	-t set -n 1000000 -c 20 -P 16 --timeout 120 >"$TMP/bench.out" 2>&1
rc=$?
took=$((SECONDS - start))
out=$(cat "$TMP/bench.out")
expect_eq "rring-bench fails" "$rc" 1
case "$out" in
*"timed out"*) fail "rring-bench hung until its timeout: $out" ;;
esac
ok "rring-bench did not wait for its timeout (${took} s)"
expect_has "rring-bench says why" "$out" "a connection closed with"
log=$(cat "$TMP/server.log")
expect_has "server log: the event and a connection" "$log" \
	"async event 'CQ error' (CQ overflow or failure) on softverbs0: closing"
expect_has "server log: the count" "$log" "connections closed"
expect_eq "TCP still served" "$(cli ping)" PONG
# a new connection goes to a new CQ (the failed one takes none): with 8
# entries one idle client fits
got=$(ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	LD_PRELOAD=$SV timeout 20 "$RCLI" -p "$RPORT" ping 2>&1)
expect_eq "RDMA still served (new CQ)" "$got" PONG
cli shutdown nosave >/dev/null
rs_wait_exit 20
echo "all $CHECKS checks passed"
