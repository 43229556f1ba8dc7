#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: RDMA clients moved to a real server client (rring-cli over
# RDMA, softverbs; redis-cli over TCP on the same redis-server). MULTI/EXEC
# and EXECABORT give the same output as TCP; WATCH then a TCP write aborts
# EXEC (nil, the TCP value kept); a user without +multi gets TCP's NOPERM;
# BLPOP is woken by a TCP LPUSH; SUBSCRIBE makes PUBLISH over TCP count the
# RDMA subscriber; HELLO 3 reaches the server (its client is resp=3);
# CLIENT SETNAME shows in CLIENT LIST over TCP under the id RDMARING CLIENT
# LIST gives as server-id, in the database SELECT chose; CLIENT KILL of that
# id closes the RDMA client; INFO counts moves; RDMARING.ATTACH with a bad
# token, or from the fast path, is refused; a server with port 0 and no
# unixsocket refuses MULTI with a clear error and keeps serving the client;
# with a unixsocket, clients move through it.
# Usage: module_attach.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init attach

admin() {
	timeout 20 "$CLI" -p "$PORT" -a adminpw --no-auth-warning "$@" 2>&1
}

rcli() {
	rs_rdma timeout 30 "$RCLI" -p "$RPORT" "$@" 2>&1
}

# same NAME INPUT ARGS...: commands INPUT (lines) through rring-cli over
# RDMA and redis-cli over TCP, same ARGS: same output
same() {
	local name=$1 input=$2 r t
	shift 2
	r=$(printf '%b' "$input" | rcli "$@")
	t=$(printf '%b' "$input" | timeout 20 "$CLI" -p "$PORT" "$@" 2>&1)
	rs_expect_same "$name" "$t" "$r"
}

# A session: rring-cli reading commands from a fifo, replies in a file, so
# that TCP commands can run between its commands.
sess_start() {
	rm -f "$TMP/s.in" "$TMP/s.out"
	mkfifo "$TMP/s.in"
	rcli "$@" <"$TMP/s.in" >"$TMP/s.out" &
	SPID=$!
	RS_PIDS="$RS_PIDS $SPID"
	exec 7>"$TMP/s.in"
}
sess_send() { printf '%s\n' "$@" >&7; }
out_lines() { [ "$(wc -l <"$TMP/s.out")" -ge "$1" ]; }
# sess_wait N: the session printed N lines
sess_wait() { rs_wait 20 "session output of $1 lines" out_lines "$1"; }
sess_line() { sed -n "${1}p" "$TMP/s.out"; }
sess_end() {
	exec 7>&-
	wait "$SPID" 2>/dev/null
}

rdma_list() { admin rdmaring client list; }
# server_id: the server-id= of the only RDMA client
server_id() { rdma_list | sed -n 's/.* server-id=\([0-9]*\).*/\1/p'; }
moved() { [ "$(server_id)" != "" ] && [ "$(server_id)" != 0 ]; }
no_rdma_client() { [ -z "$(rdma_list)" ]; }
info_field() {
	admin info rdmaring | tr -d '\r' | sed -n "s/^rdmaring_$1://p"
}

rs_two_ports
rs_start server "$PRELOAD" --requirepass adminpw --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2 --loglevel verbose
engine_running() { [ "$(info_field engine)" = running ]; }
rs_wait 30 "server ready" engine_running
A=(-a adminpw --no-auth-warning)

same "MULTI SET INCR EXEC" 'multi\nset t 5\nincr t\nincr t\nexec\nget t\n' \
	"${A[@]}"
same "EXECABORT after a queued error" \
	'multi\nset t\nincr t\nexec\nget t\n' "${A[@]}"
same "DISCARD" 'multi\nincr t\ndiscard\nget t\n' "${A[@]}"
expect_eq "INFO counts the moved clients" "$(info_field clients_moved)" 3
expect_eq "none is moved now" "$(info_field clients_moved_now)" 0

admin acl setuser u on '>pw' '~*' +@all -multi >/dev/null
same "a user without +multi: NOPERM" 'multi\nping\n' --user u --pass pw \
	--no-auth-warning
same "not authenticated: NOAUTH" 'multi\nping\n'

# WATCH, a TCP write, EXEC: aborted (nil), the TCP value stays
admin set w 1 >/dev/null
sess_start "${A[@]}"
sess_send "select 5" "set w 1" "watch w"
sess_wait 3
rs_wait 20 "the RDMA client moved" moved
expect_eq "RDMARING CLIENT LIST: the client's db" \
	"$(rdma_list | sed -n 's/.* db=\([0-9]*\) .*/\1/p')" 5
sid=$(server_id)
expect_has "CLIENT LIST: its server client, in db 5, from loopback" \
	"$(admin client list id "$sid")" "db=5"
expect_has "CLIENT LIST: its server client ran WATCH" \
	"$(admin client list id "$sid")" "cmd=watch"
admin -n 5 set w 100 >/dev/null
sess_send multi "incr w" exec "get w"
sess_wait 7
expect_eq "WATCH: EXEC after a TCP write is nil" "$(sess_line 6)" ""
expect_eq "WATCH: the TCP value stays" "$(sess_line 7)" 100
expect_eq "WATCH: over TCP too" "$(admin -n 5 get w)" 100
sess_end
rs_wait 20 "the RDMA client gone" no_rdma_client
expect_eq "its server client is gone too" \
	"$(admin client list id "$sid" | grep -c "id=$sid ")" 0

# CLIENT SETNAME, seen over TCP; CLIENT KILL closes the RDMA client
sess_start "${A[@]}"
sess_send "client setname rdmaone" "client getname"
sess_wait 2
expect_eq "CLIENT GETNAME" "$(sess_line 2)" rdmaone
sid=$(server_id)
expect_has "CLIENT LIST over TCP shows the name under server-id" \
	"$(admin client list)" "id=$sid addr=127.0.0.1:"
expect_has "... and the name" "$(admin client list id "$sid")" \
	"name=rdmaone"
expect_eq "INFO: one moved now" "$(info_field clients_moved_now)" 1
expect_eq "CLIENT KILL ID of its server client" \
	"$(admin client kill id "$sid")" 1
rs_wait 20 "CLIENT KILL closed the RDMA client" no_rdma_client
expect_eq "INFO: none moved now" "$(info_field clients_moved_now)" 0
sess_end

# RDMARING CLIENT KILL of a moved client: its server client goes too
sess_start "${A[@]}"
sess_send "client setname rdmatwo"
sess_wait 1
sid=$(server_id)
rid=$(rdma_list | sed -n 's/^id=\([0-9]*\) .*/\1/p')
expect_eq "RDMARING CLIENT KILL ID of a moved client" \
	"$(admin rdmaring client kill id "$rid")" 1
rs_wait 20 "RDMARING CLIENT KILL closed the RDMA client" no_rdma_client
server_client_gone() { ! admin client list | grep -q "id=$sid "; }
rs_wait 20 "the server client of a killed RDMA client closed" \
	server_client_gone
ok "the server client of a killed RDMA client closed"
sess_end

# BLPOP blocks the RDMA client until a TCP LPUSH
sess_start "${A[@]}"
sess_send "blpop q 0"
blocked() { admin client list | grep -q 'cmd=blpop'; }
rs_wait 20 "BLPOP blocked" blocked
admin lpush q hello >/dev/null
sess_wait 2
expect_eq "BLPOP woken by a TCP LPUSH" "$(sess_line 1) $(sess_line 2)" \
	"q hello"
sess_end

# SUBSCRIBE: the RDMA client is a subscriber PUBLISH counts
sess_start "${A[@]}"
sess_send "subscribe news"
sess_wait 3
expect_eq "SUBSCRIBE reply" "$(sess_line 1) $(sess_line 2) $(sess_line 3)" \
	"subscribe news 1"
expect_eq "PUBLISH over TCP reaches the RDMA subscriber" \
	"$(admin publish news hi)" 1
sess_end
rs_wait 20 "the subscriber gone" no_rdma_client

# HELLO 3: the server client speaks RESP3 (its close is logged with resp=3)
printf 'hello 3\n' | rcli "${A[@]}" >/dev/null
resp3() { grep -q 'cmd=hello user=default redir=-1 resp=3' "$TMP/server.log"; }
rs_wait 20 "HELLO 3 ran on a server client" resp3
ok "HELLO 3 switched the RDMA client's server client to RESP3"

# RDMARING.ATTACH refused without the right token, and on the fast path
expect_has "ATTACH with a made-up token" \
	"$(admin rdmaring.attach 0123456789abcdef0123456789abcdef)" \
	"invalid or used token"
expect_has "ATTACH with a malformed token" "$(admin rdmaring.attach x)" \
	"invalid or used token"
expect_has "ATTACH from the RDMA fast path" \
	"$(rcli "${A[@]}" rdmaring.attach 0123456789abcdef0123456789abcdef)" \
	"for the module's own server connections"
expect_has "ATTACH inside MULTI" \
	"$(printf 'multi\nrdmaring.attach x\nexec\n' | timeout 20 "$CLI" \
		-p "$PORT" "${A[@]}")" "not allowed in a transaction"

admin shutdown nosave >/dev/null
rs_wait_exit 20

# port 0 and no unixsocket (Redis refuses to start so; CONFIG SET port 0
# gets there): nothing to move to, a clear error, the client stays on the
# fast path
rs_two_ports
rs_start noport "$PRELOAD" --loadmodule "$MOD" bind=127.0.0.1 \
	port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running
expect_eq "CONFIG SET port 0" "$(rcli config set port 0)" OK
no_target() {
	printf 'multi\n' | rcli | grep -q "needs a server client"
}
rs_wait 20 "the module saw port 0" no_target
out=$(printf 'set k 1\nmulti\nincr k\nget k\n' | rcli)
expect_eq "port 0: MULTI refused, the client keeps running" \
	"$(echo "$out" | sed -n '1p;4p;5p' | tr '\n' ' ')" "OK 2 2 "
expect_has "port 0: the error names MULTI and why" "$out" \
	"ERR multi needs a server client on the RDMA port, and this server has no port or unixsocket"
kill "$PID"
rs_wait_exit 20

# a unixsocket: clients move through it
rs_two_ports
rs_start unix "$PRELOAD" --port 0 --unixsocket "$TMP/redis.sock" \
	--loadmodule "$MOD" bind=127.0.0.1 port="$RPORT" io-threads=2
pong() { [ "$(rcli ping)" = PONG ]; }
rs_wait 30 "server on a unixsocket ready" pong
expect_eq "MULTI through the unixsocket" \
	"$(printf 'multi\nset u 1\nincr u\nexec\n' | rcli | tr '\n' ' ')" \
	"OK QUEUED QUEUED OK 2 "
expect_has "the server client was a unixsocket client" \
	"$(printf 'client setname viaunix\nclient list\n' | rcli)" \
	"addr=$TMP/redis.sock"
"$CLI" -s "$TMP/redis.sock" shutdown nosave >/dev/null 2>&1
rs_wait_exit 20
echo "1..$CHECKS"
