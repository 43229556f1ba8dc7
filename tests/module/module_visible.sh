#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: moved RDMA clients as the server's clients (rring-cli over
# RDMA, softverbs; redis-cli over TCP on the same redis-server). maxclients:
# moved clients and fast-path clients together reach exactly maxclients
# (a moved client counts once), the next RDMA client gets the server's
# "max number of clients reached" and a freed slot admits one again.
# rdmaring.move-clients always: an RDMA client that only sent PING is in
# CLIENT LIST and connected_clients, its NOPERM is in ACL LOG with its
# client's info, CLIENT KILL USER closes it; a WATCH that SWAPDB aborts
# gives what TCP gives; CLIENT REPLY OFF/SKIP/ON on a client moved at
# connect gives TCP's bytes (through the TCP stand-in transport).
# Usage: module_visible.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init visible

admin() { timeout 20 "$CLI" -p "$PORT" "$@" 2>&1; }
rcli() { rs_rdma timeout 30 "$RCLI" -p "$RPORT" "$@" 2>&1; }
tcli() { timeout 30 "$CLI" -p "$PORT" "$@" 2>&1; }
info_field() {
	admin info rdmaring | tr -d '\r' | sed -n "s/^rdmaring_$1://p"
}

# Sessions (N from 1 to 9): CLI (rcli: rring-cli over RDMA, tcli:
# redis-cli over TCP) reading commands from fifo N (fd 10+N), replies in
# $TMP/sN.out, so that other commands can run between its commands.
declare -A SPIDS
sess_start() { # N CLI ARGS...
	local n=$1 cli=$2
	shift 2
	rm -f "$TMP/s$n.in" "$TMP/s$n.out"
	mkfifo "$TMP/s$n.in"
	# without the other sessions' fifo ends, so that each one's end
	# closes only its own
	"$cli" "$@" <"$TMP/s$n.in" >"$TMP/s$n.out" 11>&- 12>&- 13>&- 14>&- \
		15>&- 16>&- 17>&- 18>&- 19>&- &
	SPIDS[$n]=$!
	RS_PIDS="$RS_PIDS $!"
	eval "exec $((10 + n))>\"\$TMP/s$n.in\""
}
sess_send() { # N LINES...
	local n=$1
	shift
	printf '%s\n' "$@" >&$((10 + n))
}
out_lines() { [ "$(wc -l <"$TMP/s$1.out")" -ge "$2" ]; }
sess_wait() { # N LINES: session N printed LINES lines
	rs_wait 20 "session $1 output of $2 lines" out_lines "$1" "$2"
}
sess_line() { sed -n "$2p" "$TMP/s$1.out"; }
sess_end() { # N
	eval "exec $((10 + $1))>&-"
	wait "${SPIDS[$1]}" 2>/dev/null
	rm -f "$TMP/s$1.in"
}

# ---- maxclients: a moved client counts once ----
rs_two_ports
rs_start limits "$PRELOAD" --maxclients 5 --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running
for n in 1 2; do
	sess_start $n rcli
	sess_send $n "client setname moved$n"
	sess_wait $n 1
	expect_eq "moved client $n: CLIENT SETNAME" "$(sess_line $n 1)" OK
done
moved_two() { [ "$(info_field clients_moved_now)" = 2 ]; }
rs_wait 20 "two clients moved" moved_two
for n in 3 4 5; do
	sess_start $n rcli
	sess_send $n ping
	sess_wait $n 1
	expect_eq "fast-path client $n: PING" "$(sess_line $n 1)" PONG
done
expect_eq "two moved, three on the fast path: five RDMA clients" \
	"$(info_field connected_clients)" 5
expect_eq "the server's own clients: the two moved ones" \
	"$(admin client list | grep -c 'name=moved')" 2
expect_eq "at maxclients (5) the next RDMA client is refused as TCP is" \
	"$(rcli ping)" "ERR max number of clients reached"
sess_end 3
admitted() { [ "$(rcli ping)" = PONG ]; }
rs_wait 20 "a freed slot admits an RDMA client" admitted
ok "a freed slot admits an RDMA client again"
for n in 1 2 4 5; do sess_end $n; done
admin shutdown nosave >/dev/null
rs_wait_exit 20

# ---- move-clients always: every RDMA client is a server client ----
rs_two_ports
rs_start always "$PRELOAD" --loadmodule "$MOD" bind=127.0.0.1 \
	port="$RPORT" io-threads=2 move-clients=always
rs_wait 30 "server ready" rs_engine_running
expect_eq "CONFIG GET rdmaring.move-clients" \
	"$(admin config get rdmaring.move-clients | sed -n 2p)" always
expect_has "CONFIG SET of a bad value names it and what is allowed" \
	"$(admin config set rdmaring.move-clients sometimes)" \
	"bad value 'sometimes' for move-clients: expected on-demand"
admin acl setuser vis on '>vispw' '~*' +@all -get >/dev/null
sess_start 1 rcli --user vis --pass vispw --no-auth-warning
sess_send 1 ping
sess_wait 1 1
expect_eq "PING" "$(sess_line 1 1)" PONG
vis_list() { admin client list | grep " user=vis "; }
listed() { vis_list | grep -q 'cmd=ping'; }
rs_wait 20 "the RDMA client in CLIENT LIST" listed
expect_eq "CLIENT LIST over TCP: one client of user vis, its last command PING" \
	"$(vis_list | grep -c 'user=vis .*resp=2')" 1
sid=$(vis_list | sed -n 's/^id=\([0-9]*\) .*/\1/p')
expect_eq "RDMARING CLIENT LIST: the same client as server-id" \
	"$(admin rdmaring client list | sed -n 's/.* server-id=\([0-9]*\).*/\1/p')" \
	"$sid"
expect_eq "INFO clients connected_clients: the RDMA client and this one" \
	"$(admin info clients | tr -d '\r' | sed -n 's/^connected_clients://p')" 2
sess_send 1 "get k"
sess_wait 1 2
expect_has "GET without +get: NOPERM" "$(sess_line 1 2)" "NOPERM"
aclog=$(admin acl log 1)
expect_has "ACL LOG: user vis" "$aclog" "vis"
expect_has "ACL LOG: command get, at top level" "$aclog" "toplevel"
expect_has "ACL LOG: its server client's info" "$aclog" "id=$sid addr="
expect_eq "CLIENT KILL USER vis" "$(admin client kill user vis)" 1
no_rdma_client() { [ -z "$(admin rdmaring client list)" ]; }
rs_wait 20 "CLIENT KILL USER closed the RDMA client" no_rdma_client
ok "CLIENT KILL USER closed the RDMA client"
sess_end 1

# WATCH, SWAPDB over TCP, then the transaction: aborted on both transports
swapdb_watch() { # N CLI: the output of session N
	admin -n 0 set k 1 >/dev/null
	admin -n 1 set k 2 >/dev/null
	sess_start "$1" "$2"
	sess_send "$1" "watch k"
	sess_wait "$1" 1
	admin swapdb 0 1 >/dev/null
	sess_send "$1" multi "incr k" exec "get k"
	sess_wait "$1" 5
	sess_end "$1"
	cat "$TMP/s$1.out"
}
t=$(swapdb_watch 2 tcli)
r=$(swapdb_watch 3 rcli)
expect_eq "SWAPDB aborts the WATCH (EXEC nil, GET the swapped value)" \
	"$(echo "$t" | sed -n '4p;5p' | tr '\n' ' ')" " 2 "
rs_expect_same "SWAPDB aborts the WATCH" "$t" "$r"
admin shutdown nosave >/dev/null
rs_wait_exit 20

# ---- CLIENT REPLY OFF/SKIP/ON on a client moved at connect ----
# Neither redis-cli 7.0 nor rring-cli (which follows it) reads past CLIENT
# REPLY OFF from stdin, so this one goes in raw bytes through the TCP
# stand-in transport (loopback-port), whose clients move by the same steps.
PORT=$(free_port) || fail "no free port"
LB=$(free_port) || fail "no free port"
rs_start reply "${RRING_SERVER_PRELOAD:-}" --loadmodule "$MOD" \
	"loopback-port=$LB" io-threads=2 move-clients=always
lb_pong() { [ "$(timeout 20 "$CLI" -p "$LB" ping 2>/dev/null)" = PONG ]; }
rs_wait 30 "PONG on the stand-in port" lb_pong
printf '%s\r\n' 'CLIENT REPLY OFF' 'SET r 1' 'INCR r' 'CLIENT REPLY SKIP' \
	'INCR r' 'CLIENT REPLY ON' 'GET r' 'CLIENT REPLY SKIP' 'INCR r' \
	'GET r' QUIT >"$TMP/reply.in"
admin del r >/dev/null
raw "$PORT" "$TMP/reply.in" >"$TMP/reply.tcp"
admin del r >/dev/null
m=$(raw "$LB" "$TMP/reply.in" | od -An -c)
# shellcheck disable=SC2016 # a literal $1
expect_eq "CLIENT REPLY over TCP: ON's OK, GET 3, GET 4, QUIT's OK" \
	"$(tr -d '\r' <"$TMP/reply.tcp" | tr '\n' ' ')" '+OK $1 3 $1 4 +OK '
t=$(od -An -c <"$TMP/reply.tcp")
rs_expect_same "CLIENT REPLY OFF, SKIP, ON on a client moved at connect" \
	"$t" "$m" module
moved_n=$(info_field clients_moved)
[ "${moved_n:-0}" -gt 0 ] || fail "the stand-in's clients did not move"
ok "the stand-in's clients moved at connect ($moved_n)"
admin shutdown nosave >/dev/null
rs_wait_exit 20
echo "1..$CHECKS"
