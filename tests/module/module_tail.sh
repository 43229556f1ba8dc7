#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: a client that pipelines N SETs over RDMA and closes as
# soon as its last send completed loses none of them, as a TCP client that
# sends everything and closes does not: the module runs the commands left
# in the receive window after the clean close (more than its in-flight cap,
# so most of them are still unparsed at CLOSED). DBSIZE over TCP reaches N
# within a deadline, twice in a row on one server, and the server log says
# the closed client's commands ran.
# Usage: module_tail.sh MODULE.so redis-server redis-cli rdma_burst
#        libsoftverbs.so
set -u

MOD=$(realpath "$1")
SERVER=$2
CLI=$3
BURST=$(realpath "$4")
SV=$(realpath "$5")
PORT=
RPORT=
N=20000
PRELOAD="${RRING_SERVER_PRELOAD:+$RRING_SERVER_PRELOAD }$SV"
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init tail

cli() {
	timeout 20 "$CLI" -p "$PORT" "$@" 2>&1
}

# dbsize_is N: DBSIZE over TCP is N
dbsize_is() {
	[ "$(cli dbsize)" = "$1" ]
}

rs_two_ports
rs_start server "$PRELOAD" --loglevel verbose --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running

for round in 1 2; do
	cli flushall >/dev/null
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		LD_PRELOAD=$SV timeout 120 "$BURST" 127.0.0.1 "$RPORT" "$N" \
		>"$TMP/burst.out" 2>&1 ||
		fail "rdma_burst round $round: $(cat "$TMP/burst.out")"
	# every command was acknowledged: all of them run, soon
	deadline=$((SECONDS + 60))
	until dbsize_is "$N"; do
		kill -0 "$PID" 2>/dev/null || fail "redis-server exited"
		[ $SECONDS -lt $deadline ] ||
			fail "round $round: DBSIZE $(cli dbsize), want $N"
		sleep 0.1
	done
	ok "round $round: $N pipelined SETs of a closed client all ran"
	expect_eq "round $round: the last key" "$(cli get "burst:$((N - 1))")" v
done
expect_has "server log: the closed client's commands ran" \
	"$(cat "$TMP/server.log")" "commands it sent before closing"
cli shutdown nosave >/dev/null
rs_wait_exit 20
echo "PASS module_tail ($CHECKS checks)"
