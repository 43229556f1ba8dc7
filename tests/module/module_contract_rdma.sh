#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: the security contract over RDMA (softverbs): the same
# commands as the same user through rring-cli over RDMA and redis-cli over
# TCP of one redis-server give the same output: ACLs inside scripts and
# SORT patterns, SELECT without +select, a 128-byte user name, HELLO 2
# under requirepass; a user allowed everything whose permissions flip over
# TCP while it pipelines GETs over RDMA; CLIENT PAUSE WRITE holds an RDMA write until UNPAUSE;
# RDMARING CLIENT LIST shows the RDMA client. (module_contract.sh covers
# every rule through the module's TCP stand-in transport.)
# Usage: module_contract_rdma.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init contract-rdma

admin() {
	timeout 20 "$CLI" -p "$PORT" -a adminpw --no-auth-warning "$@" 2>&1
}

rcli() {
	rs_rdma timeout 20 "$RCLI" -p "$RPORT" "$@" 2>&1
}

# mask_id: HELLO's client id differs between two clients
mask_id() {
	sed -e '/^id$/{n;s/^[0-9]*$/ID/}'
}

# same NAME ARGS...: rring-cli over RDMA and redis-cli over TCP, same ARGS
same() {
	local name=$1 r t
	shift
	r=$(rcli "$@" | mask_id)
	t=$(timeout 20 "$CLI" -p "$PORT" "$@" 2>&1 | mask_id)
	rs_expect_same "$name" "$t" "$r"
}

engine_running() {
	[ "$(admin info rdmaring | tr -d '\r' |
		sed -n 's/^rdmaring_engine://p')" = running ]
}

PORT=$(free_port) || fail "no free port"
RPORT=$(free_port) || fail "no free port"
[ "$PORT" != "$RPORT" ] || RPORT=$((PORT + 1))
rs_start server "$PRELOAD" --requirepass adminpw --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" engine_running

admin set secret s3cret >/dev/null
admin rpush klist k1 >/dev/null
admin set k1 v1 >/dev/null
admin acl setuser u on '>pw' '~k*' +get +eval +sort +ping >/dev/null
U=(--user u --pass pw --no-auth-warning)
same "EVAL reading a key the user may not read" "${U[@]}" \
	eval "return redis.call('get','secret')" 0
same "EVAL reading an allowed key" "${U[@]}" \
	eval "return redis.call('get','k1')" 0
same "SORT GET of a forbidden key pattern" "${U[@]}" \
	sort klist by nosort get secret
same "SELECT without +select" "${U[@]}" select 1
long=$(printf 'a%.0s' $(seq 1 128))
admin acl setuser "${long:0:127}" on '>pw' '~*' +@all >/dev/null
admin acl setuser "$long" on '>pw' '~k*' +get >/dev/null
same "a 128-byte user name is not its 127-byte prefix" --user "$long" \
	--pass pw --no-auth-warning get secret
same "HELLO 2 after AUTH under requirepass" -a adminpw --no-auth-warning \
	hello 2
same "HELLO 2 AUTH default pass" hello 2 auth default adminpw

# A user allowed everything skips the module's own ACL check; RM_Call,
# which checks again, must never be the one to refuse (Redis 7.0.15
# crashes when it does). Permissions flip over TCP while an RDMA client
# pipelines GETs as that user: every GET is answered (the value or
# NOPERM) and the server lives.
BENCH=${RCLI%/*}/rring-bench
admin acl setuser full on '>pw' '~*' '&*' '+@all' >/dev/null
rs_rdma_bg "$TMP/flip.out" "$BENCH" -p "$RPORT" --user full -a pw \
	-t get -n 40000 -c 4 -P 16 --json "$TMP/flip.json" -q
flips=0
while kill -0 "$BG" 2>/dev/null; do
	admin acl setuser full -get >/dev/null
	admin acl setuser full +get >/dev/null
	flips=$((flips + 1))
done
wait "$BG" || fail "rring-bench while permissions flipped: $(cat "$TMP/flip.out")"
expect_eq "server alive after $flips flips" "$(admin ping)" PONG
got=$(grep -o '"requests":[0-9]*' "$TMP/flip.json" | cut -d: -f2)
expect_eq "every GET answered while permissions flipped" "$got" 40000
admin acl setuser full -get >/dev/null
same "GET of a user allowed everything but GET" --user full --pass pw \
	--no-auth-warning get k1

# CLIENT PAUSE WRITE holds an RDMA write until CLIENT UNPAUSE
expect_eq "CLIENT PAUSE WRITE" "$(admin client pause 600000 write)" OK
rcli -a adminpw --no-auth-warning set paused:key 1 >"$TMP/w.out" &
RS_PIDS="$RS_PIDS $!"
held() {
	[ "$(admin info rdmaring | tr -d '\r' |
		sed -n 's/^rdmaring_paused_commands://p')" = 1 ]
}
rs_wait 20 "the RDMA write is held" held
expect_eq "RDMARING CLIENT LIST shows the RDMA client" \
	"$(admin rdmaring client list | grep -c ' user=default db=0 ')" 1
expect_eq "the held write did not run" "$(admin exists paused:key)" 0
expect_eq "CLIENT UNPAUSE" "$(admin client unpause)" OK
written() { [ "$(admin get paused:key)" = 1 ]; }
rs_wait 20 "the write ran after UNPAUSE" written
ok "the held write ran after UNPAUSE"

admin shutdown nosave >/dev/null
rs_wait_exit 20
echo "1..$CHECKS"
