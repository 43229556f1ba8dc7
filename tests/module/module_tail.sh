#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: a client that pipelines N SETs over RDMA and closes as
# soon as its last send completed loses none of them (nor does a TCP client
# that sends everything and closes): the module runs the commands left in
# the receive window after the close (more than its in-flight cap,
# so most of them are still unparsed at CLOSED). DBSIZE over TCP reaches N
# within a deadline, twice in a row on one server, and the server log says
# the closed client's commands ran; a protocol error among them stops them
# (the SETs before it ran, none after); a client that is not authenticated
# when it closes runs its AUTH first and then its SETs; a client moved to a
# server client (CLIENT SETNAME first) has its SETs all run by it.
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
	timeout 20 "$CLI" -p "$PORT" ${PASS:+-a "$PASS" --no-auth-warning} \
		"$@" 2>&1
}

# burst ARGS...: rdma_burst 127.0.0.1 $RPORT ARGS, which exits once closed;
# with RESET_OK=1 a reset by the server is no failure either
burst() {
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		LD_PRELOAD=$SV timeout 120 "$BURST" 127.0.0.1 "$RPORT" "$@" \
		>"$TMP/burst.out" 2>&1 ||
		{ [ "${RESET_OK:-0}" = 1 ] &&
			grep -q "Connection reset by peer" "$TMP/burst.out"; } ||
		fail "rdma_burst $*: $(cat "$TMP/burst.out")"
}

# no_rdma_client: the closed client is gone, every command it left ran
no_rdma_client() {
	[ -z "$(cli rdmaring client list)" ]
}

rs_two_ports
rs_start server "$PRELOAD" --loglevel verbose --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running

for round in 1 2; do
	cli flushall >/dev/null
	burst "$N"
	rs_wait 60 "client gone (round $round)" no_rdma_client
	expect_eq "round $round: $N pipelined SETs of a closed client all ran" \
		"$(cli dbsize)" "$N"
	expect_eq "round $round: the last key" "$(cli get "burst:$((N - 1))")" v
done
expect_has "server log: the closed client's commands ran" \
	"$(cat "$TMP/server.log")" "commands it sent before closing"

# a moved client (CLIENT SETNAME first): what it pipelined before closing
# reaches its server client, which runs it, then sees EOF
cli flushall >/dev/null
burst "$N" MOVE tailmoved
rs_wait 60 "client gone (moved)" no_rdma_client
moved_ran() { [ "$(cli dbsize)" = "$N" ]; }
rs_wait 60 "the moved client's $N SETs ran" moved_ran
ok "moved: $N pipelined SETs of a closed client all ran"
expect_eq "moved: its server client is gone" \
	"$(cli client list | grep -c 'name=tailmoved')" 0

# a protocol error among them ends them, as on TCP: what came before ran.
# The server closes at the error, which may come before the client learned
# that its last sends (the 10 SETs after the error) completed: the client
# then sees a reset, as a TCP client writing to a closed socket would.
BAD=$((N - 10))
cli flushall >/dev/null
RESET_OK=1 burst "$N" BAD "$BAD"
rs_wait 60 "client gone (protocol error)" no_rdma_client
expect_eq "protocol error: the SETs before it ran" "$(cli dbsize)" "$BAD"
expect_eq "protocol error: none after it" "$(cli exists "burst:$BAD")" 0

# an unauthenticated client's AUTH runs first, then what it pipelined
cli config set requirepass tailpw >/dev/null
PASS=tailpw
cli flushall >/dev/null
burst "$N" AUTH tailpw
rs_wait 60 "client gone (AUTH)" no_rdma_client
expect_eq "AUTH then $N SETs: all ran" "$(cli dbsize)" "$N"

cli shutdown nosave >/dev/null
rs_wait_exit 20
echo "PASS module_tail ($CHECKS checks)"
