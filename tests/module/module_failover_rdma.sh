#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: FAILOVER pauses an RDMA client's writes as it pauses a TCP
# client's. A replica is stopped (SIGSTOP) so that FAILOVER stays in
# waiting-for-sync, with writes paused; a write over RDMA and one over TCP
# are both held (the module counts the RDMA one), reads still run, and
# FAILOVER ABORT lets both writes run.
# Usage: module_failover_rdma.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init failover-rdma

tcli() {
	timeout 20 "$CLI" -p "$PORT" "$@" 2>&1 | tr -d '\r'
}

info_field() { # SECTION FIELD
	tcli info "$1" | sed -n "s/^$2://p"
}

rs_start_module "$PRELOAD" "$MOD" io-threads=2
tcli config set repl-diskless-sync-delay 0 >/dev/null
REPL=$(free_port) || fail "no free port"
"$SERVER" --port "$REPL" --bind 127.0.0.1 --dir "$TMP" --save '' \
	--appendonly no --logfile "$TMP/replica.log" \
	--replicaof 127.0.0.1 "$PORT" &
REPL_PID=$!
RS_PIDS="$RS_PIDS $REPL_PID"
replica_online() {
	tcli info replication | grep -q '^slave0:.*state=online'
}
rs_wait 30 "the replica is online" replica_online

# the replica cannot acknowledge the offset of a write made after it
# stopped: FAILOVER waits, writes paused
kill -STOP "$REPL_PID"
expect_eq "a write the replica does not acknowledge" "$(tcli set pre 1)" OK
expect_eq "FAILOVER TO the stopped replica" \
	"$(tcli failover to 127.0.0.1 "$REPL" timeout 600000)" OK
waiting() {
	[ "$(info_field replication master_failover_state)" = waiting-for-sync ]
}
rs_wait 20 "FAILOVER waits for the replica" waiting

rs_rdma_bg "$TMP/rdma.out" timeout 60 "$RCLI" -p "$RPORT" set fo:rdma 1
timeout 60 "$CLI" -p "$PORT" set fo:tcp 1 >"$TMP/tcp.out" 2>&1 &
RS_PIDS="$RS_PIDS $!"
held() {
	[ "$(info_field rdmaring rdmaring_paused_commands)" = 1 ]
}
rs_wait 20 "the RDMA write is held by FAILOVER" held
tcp_held() {
	[ "$(info_field clients blocked_clients)" -ge 1 ] ||
		tcli client list | grep -q 'flags=.*cmd=set'
}
rs_wait 20 "the TCP write is held by FAILOVER" tcp_held
expect_eq "reads run during FAILOVER" "$(tcli exists fo:rdma fo:tcp)" 0
expect_eq "the held RDMA write did not run" "$(tcli get fo:rdma)" ""

expect_eq "FAILOVER ABORT" "$(tcli failover abort)" OK
both() {
	[ "$(tcli get fo:rdma)" = 1 ] && [ "$(tcli get fo:tcp)" = 1 ]
}
rs_wait 20 "both writes ran after FAILOVER ABORT" both
ok "the RDMA and the TCP write ran after FAILOVER ABORT"
expect_eq "no-failover again" \
	"$(info_field replication master_failover_state)" no-failover
rdma_done() { grep -qx OK "$TMP/rdma.out"; }
rs_wait 20 "rring-cli got the write's reply" rdma_done
ok "rring-cli got OK for the held write"

kill -CONT "$REPL_PID"
tcli shutdown nosave >/dev/null
rs_wait_exit 20
echo "1..$CHECKS"
