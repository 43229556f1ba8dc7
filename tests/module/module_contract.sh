#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: the security contract of the module's clients. Every check
# sends the same bytes, as the same user, to redis-server's own TCP port and
# to the module's data path (its TCP stand-in transport, hidden knob
# loopback-port: the parser, sessions, ACL checks and calls the RDMA
# transport uses), and asserts identical replies: ACLs inside scripts,
# functions and SORT patterns, SELECT, user names longer than 127 bytes,
# HELLO under requirepass, CONFIG SET requirepass for new clients, ACL
# changes for connected clients.
# RRING_SERVER_PRELOAD: libraries to preload into redis-server only (the
# sanitizer runtimes of a sanitized module build).
# Usage: module_contract.sh MODULE.so [redis-server] [redis-cli]
set -u

MOD=$(realpath "${1:?usage: $0 rdmaring.so [redis-server] [redis-cli]}")
SERVER=${2:-/usr/bin/redis-server}
CLI=${3:-/usr/bin/redis-cli}
PORT=
LB=
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init contract

admin() { # ARGS...: redis-cli on the TCP port as the default user
	timeout 20 "$CLI" -p "$PORT" -a adminpw --no-auth-warning "$@" 2>&1
}

# mask_id: HELLO's client id differs between two clients of one server
mask_id() {
	sed -e '/^id\r\?$/{n;s/^:[0-9]*/:ID/}'
}

# same NAME: the bytes in $IN get the same replies on TCP and on the module
IN="$TMP/input"
same() {
	local tcp mod
	tcp=$(raw "$PORT" "$IN" | tr -d '\r' | mask_id)
	mod=$(raw "$LB" "$IN" | tr -d '\r' | mask_id)
	rs_expect_same "$1" "$tcp" "$mod" module
}

# session PORT: one connection; lines of $STEPS are either "> CMD" (send,
# print the first line of its reply) or "! ARGS" (an admin command over
# TCP from another client); "closed" when the server closed it.
STEPS="$TMP/steps"
session() {
	local line reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || fail "connect $1"
	while IFS= read -r line; do
		case "$line" in
		'> '*)
			printf '%s\r\n' "${line#> }" >&3 2>/dev/null
			if IFS= read -r -t 10 reply <&3; then
				echo "${reply%$'\r'}"
				# a bulk's payload is one more line
				case "$reply" in
				'$-1'*) ;;
				'$'*) IFS= read -r -t 10 reply <&3 &&
					echo "${reply%$'\r'}" ;;
				esac
			else
				echo closed
			fi
			;;
		'! '*)
			# shellcheck disable=SC2086 # words of the admin command
			admin ${line#! } >/dev/null
			;;
		esac
	done <"$STEPS"
	exec 3>&-
}

# same_session NAME SETUP: $STEPS on TCP and on the module, each after the
# admin commands of SETUP (one per line), the same transcript.
same_session() {
	local tcp mod cmd
	while IFS= read -r cmd; do
		# shellcheck disable=SC2086
		[ -n "$cmd" ] && admin $cmd >/dev/null
	done <<<"$2"
	tcp=$(session "$PORT")
	while IFS= read -r cmd; do
		# shellcheck disable=SC2086
		[ -n "$cmd" ] && admin $cmd >/dev/null
	done <<<"$2"
	mod=$(session "$LB")
	rs_expect_same "$1" "$tcp" "$mod" module
}

pong() { # port
	[ "$(timeout 5 "$CLI" -p "$1" -a adminpw --no-auth-warning ping 2>/dev/null)" = PONG ]
}

PORT=$(free_port) || fail "no free port"
LB=$(free_port) || fail "no free port"
rs_start contract "${RRING_SERVER_PRELOAD:-}" --requirepass adminpw \
	--loadmodule "$MOD" "loopback-port=$LB" io-threads=2
rs_wait 10 "PONG on port $PORT" pong "$PORT"
rs_wait 10 "PONG on port $LB" pong "$LB"
ok "module serves on its loopback port"

admin set secret s3cret >/dev/null
admin set k1 v1 >/dev/null
admin rpush klist k1 >/dev/null
admin acl setuser u on '>pw' '~k*' +get +set +ping +eval +evalsha \
	+eval_ro +fcall +fcall_ro +sort +sort_ro +acl +hello >/dev/null
admin function load "#!lua name=contract
redis.register_function('peek', function(keys, args)
	return redis.call('get', args[1]) end)" >/dev/null

# ---- ACLs inside scripts, functions and commands that check the caller
printf '%s\r\n' 'AUTH u pw' \
	"EVAL \"return redis.call('get','secret')\" 0" \
	"EVAL \"return redis.call('get','k1')\" 0" \
	"EVAL_RO \"return redis.call('get','secret')\" 0" \
	'FCALL peek 0 secret' 'FCALL peek 0 k1' 'FCALL_RO peek 0 secret' \
	'SORT klist BY nosort GET secret' 'SORT klist BY nosort GET k*' \
	'SORT_RO klist BY secret*' 'SORT klist ALPHA' 'ACL WHOAMI' \
	'QUIT' >"$IN"
same "scripts, functions and SORT patterns run as the user"

# ---- denials reach ACL LOG (context module: the module made the check)
admin acl log reset >/dev/null
printf '%s\r\n' 'AUTH u pw' 'GET secret' 'QUIT' >"$IN"
raw "$LB" "$IN" >/dev/null
log=$(admin acl log 1 | tr '\n' ' ')
expect_has "ACL LOG names the key" "$log" "reason key context module object secret username u"

# ---- SELECT is a command like any other for ACLs
printf '%s\r\n' 'AUTH u pw' 'SELECT 1' 'GET k1' 'QUIT' >"$IN"
same "SELECT without +select"
admin acl setuser u +select >/dev/null
printf '%s\r\n' 'AUTH u pw' 'SELECT 1' 'SET k1 one' 'GET k1' 'SELECT 0' \
	'GET k1' 'QUIT' >"$IN"
same "SELECT with +select"

# ---- user names longer than 127 bytes are whole names
long=$(printf 'a%.0s' $(seq 1 128))
admin acl setuser "${long:0:127}" on '>pw' '~*' +@all >/dev/null
admin acl setuser "$long" on '>pw' '~k*' +get +acl >/dev/null
printf '%s\r\n' "AUTH $long pw" 'GET secret' 'GET k1' 'ACL WHOAMI' 'QUIT' \
	>"$IN"
same "a 128-byte user name is not its 127-byte prefix"

# ---- HELLO under requirepass
printf '%s\r\n' 'HELLO 2' 'AUTH adminpw' 'HELLO 2' 'HELLO' 'QUIT' >"$IN"
same "AUTH then HELLO 2"
printf '%s\r\n' 'HELLO 2 AUTH default adminpw' 'PING' 'QUIT' >"$IN"
same "HELLO 2 AUTH default pass"
printf '%s\r\n' 'HELLO 2 AUTH default bad' 'PING' 'HELLO 2 AUTH u pw BAD' \
	'PING' 'HELLO 2 AUTH u pw SETNAME "a b"' 'GET k1' 'HELLO 1' 'HELLO x' \
	'HELLO 2 SETNAME ok' 'QUIT' >"$IN"
same "HELLO errors, in the server's order"

# ---- CONFIG SET requirepass: clients created after it
admin config set requirepass "" >/dev/null
printf '%s\r\n' 'PING' 'SET k2 v' 'QUIT' >"$IN"
same "no password after CONFIG SET requirepass ''"
admin config set requirepass adminpw >/dev/null
{
	printf '*3\r\n$3\r\nSET\r\n$2\r\nkk\r\n$%d\r\n' 100000
	head -c 100000 /dev/zero | tr '\0' x
	printf '\r\nPING\r\n'
} >"$IN"
same "a new client after CONFIG SET requirepass gets the unauthenticated limits"

# ---- proto-max-bulk-len, read again after CONFIG SET
expect_eq "proto-max-bulk-len 1mb" \
	"$(admin config set proto-max-bulk-len 1mb)" OK
printf 'AUTH adminpw\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1048577\r\nxx\r\n' \
	>"$IN"
same "a bulk over proto-max-bulk-len"
expect_eq "proto-max-bulk-len back" \
	"$(admin config set proto-max-bulk-len 512mb)" OK

# ---- client-query-buffer-limit: an unfinished command over it closes
expect_eq "client-query-buffer-limit 1mb" \
	"$(admin config set client-query-buffer-limit 1mb)" OK
{
	printf 'AUTH adminpw\r\n*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$%d\r\n' 3000000
	head -c 3000000 /dev/zero | tr '\0' q
	printf '\r\nPING\r\n'
} >"$IN"
same "a command over client-query-buffer-limit"
expect_has "the module logs it" "$(cat "$TMP/contract.log")" \
	"(RDMA, "
expect_eq "client-query-buffer-limit back" \
	"$(admin config set client-query-buffer-limit 1gb)" OK

# ---- ACL changes apply to connected clients
cat >"$STEPS" <<'EOF'
> AUTH u pw
> GET k1
! acl setuser u -get
> GET k1
! acl setuser u +get resetkeys ~x*
> GET k1
! acl setuser u resetpass >pw2
> PING
! acl setuser u off
> PING
> AUTH u pw2
! acl setuser u on
> AUTH u pw2
> GET k1
EOF
same_session "SETUSER -get, key patterns, passwords, off" \
	"acl setuser u reset on >pw ~k* +get +ping +acl"
# a user allowed everything skips the module's check: it must not skip it
# once the user has lost something
cat >"$STEPS" <<'EOF'
> AUTH u pw
> SET k9 v
> GET k9
! acl setuser u -get
> GET k9
> SET k9 w
! acl setuser u +get resetkeys ~x*
> GET k9
! acl setuser u allkeys
> GET k9
EOF
same_session "a user allowed everything loses GET, then keys" \
	"acl setuser u reset on >pw ~* &* +@all"
cat >"$STEPS" <<'EOF'
> AUTH u pw
> PING
! acl deluser u
> PING
EOF
same_session "ACL DELUSER closes the user's clients" \
	"acl setuser u reset on >pw ~k* +get +ping"

# ---- CLIENT PAUSE holds what it holds on TCP; UNPAUSE releases in order
# info_field NAME: a field of INFO rdmaring
info_field() {
	admin info rdmaring | tr -d '\r' | sed -n "s/^rdmaring_$1://p"
}
held_is() { [ "$(info_field paused_commands)" = "$1" ]; }
# writer PORT KEY: AUTH, two writes, a read, in the background
writer() {
	printf '%s\r\n' 'AUTH adminpw' "SET $2 1" "INCR $2" "GET $2" 'QUIT' \
		>"$TMP/$2.in"
	raw "$1" "$TMP/$2.in" | tr -d '\r' | tr '\n' ' ' >"$TMP/$2.out" &
	RS_PIDS="$RS_PIDS $!"
}
expect_eq "CLIENT PAUSE WRITE" "$(admin client pause 600000 write)" OK
writer "$PORT" pw:tcp
writer "$LB" pw:mod
rs_wait 20 "the module holds SET, INCR and what follows" held_is 4
expect_eq "reads go on over the module" "$(admin -p "$LB" get k1)" v1
expect_eq "held writes did not run" "$(admin exists pw:tcp pw:mod)" 0
expect_eq "CLIENT UNPAUSE" "$(admin client unpause)" OK
wait_out() { [ -s "$TMP/$1.out" ]; }
rs_wait 20 "TCP writer done" wait_out pw:tcp
rs_wait 20 "module writer done" wait_out pw:mod
expect_eq "writes ran in order after UNPAUSE, as on TCP" \
	"$(cat "$TMP/pw:mod.out")" "$(cat "$TMP/pw:tcp.out")"
expect_eq "the replies" "$(cat "$TMP/pw:mod.out")" "+OK +OK :2 \$1 2 +OK "
# ALL: the server postpones every command, CLIENT UNPAUSE included, so
# this pause ends by itself (8 s: the reader connects well before)
expect_eq "CLIENT PAUSE ALL" "$(admin client pause 8000 all)" OK
printf '%s\r\n' 'AUTH adminpw' 'GET k1' 'QUIT' >"$TMP/pa.in"
raw "$LB" "$TMP/pa.in" | tr -d '\r' | tr '\n' ' ' >"$TMP/pa.out" &
RS_PIDS="$RS_PIDS $!"
# the server answers nobody now: the module's log says it holds
holding() { [ "$(grep -c 'client pause: holding' "$TMP/contract.log")" = 2 ]; }
rs_wait 20 "the module holds reads too" holding
rs_wait 30 "reader done" wait_out pa
expect_eq "the read ran after the pause" "$(cat "$TMP/pa.out")" \
	"+OK \$2 v1 +OK "
expect_has "the module logged the end" "$(cat "$TMP/contract.log")" \
	"client pause over"

# ---- a client that pipelines 1000 GETs of 1 MiB and reads nothing
rss_mb() { echo $(($(awk '/^VmRSS/ {print $2}' "/proc/$PID/status") / 1024)); }
head -c 1048576 /dev/zero | tr '\0' b | admin -x set big >/dev/null
{
	printf 'AUTH adminpw\r\n'
	for _ in $(seq 1 1000); do printf 'GET big\r\n'; done
} >"$TMP/slow.in"
# slow_reader PORT: sends it all, never reads (killed on exit)
slow_reader() {
	bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1"; cat "$2" >&5; exec sleep 600' \
		_ "$1" "$TMP/slow.in" &
	SLOW=$!
	RS_PIDS="$RS_PIDS $SLOW"
}
rss0=$(rss_mb)
slow_reader "$LB"
held_some() { [ "$(info_field paused_commands)" -gt 0 ]; }
rs_wait 30 "the module stops running the slow reader's commands" held_some
rss=$(rss_mb)
[ "$rss" -lt $((rss0 + 200)) ] ||
	fail "server RSS grew from $rss0 MB to $rss MB with a slow reader"
ok "slow reader without output limit: stalled, RSS $rss0 -> $rss MB"
expect_eq "other clients are served meanwhile" "$(admin -p "$LB" get k1)" v1
kill "$SLOW"
lb_clients_is() { [ "$(info_field connected_clients)" = "$1" ]; }
rs_wait 30 "the slow reader's connection released" lb_clients_is 0
rs_wait 30 "its held commands released" held_is 0

expect_eq "client-output-buffer-limit normal 10mb" \
	"$(admin config set client-output-buffer-limit 'normal 10mb 0 0')" OK
slow_reader "$PORT"
tcp_slow=$SLOW
slow_reader "$LB"
closed_for_limit() {
	[ "$(grep -c 'for overcoming of output buffer limits' \
		"$TMP/contract.log")" = 2 ]
}
rs_wait 30 "both slow readers closed over the limit" closed_for_limit
expect_has "the module logs the RDMA client" "$(cat "$TMP/contract.log")" \
	"(RDMA) scheduled to be closed ASAP for overcoming of output buffer"
rs_wait 30 "the module's client is gone" lb_clients_is 0
rss=$(rss_mb)
[ "$rss" -lt $((rss0 + 200)) ] ||
	fail "server RSS grew from $rss0 MB to $rss MB over the limit"
ok "RSS bounded over the output limit: $rss0 -> $rss MB"
kill "$SLOW" "$tcp_slow"

# ---- operators: RDMARING CLIENT LIST and KILL, DELUSER, timeout
admin acl setuser u reset on '>pw' '~k*' +get +ping >/dev/null
# idle_client: a client authenticated as u that then says nothing
idle_client() {
	bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1"; printf "AUTH u pw\r\n" >&5
		exec sleep 600' _ "$LB" &
	IDLE=$!
	RS_PIDS="$RS_PIDS $IDLE"
}
listed() { admin rdmaring client list | grep -q ' user=u db=0 '; }
idle_client
rs_wait 20 "RDMARING CLIENT LIST shows the client" listed
expect_has "with its address" "$(admin rdmaring client list)" \
	"addr=127.0.0.1:"
expect_eq "RDMARING CLIENT KILL USER u" "$(admin rdmaring client kill user u)" 1
rs_wait 20 "the killed client is gone" lb_clients_is 0
expect_eq "INFO counts it" "$(info_field clients_closed_killed)" 1
expect_eq "and those over the query and output limits" \
	"$(info_field clients_closed_limit)" 2
kill "$IDLE"
printf '%s\r\n' 'AUTH u pw' 'RDMARING CLIENT LIST' 'RDMARING CLIENT KILL ID 1' \
	'QUIT' >"$IN"
same "RDMARING is an admin command for ACLs"
idle_client
rs_wait 20 "the client is listed" listed
n=$(info_field clients_closed_auth)
expect_eq "ACL DELUSER u" "$(admin acl deluser u)" 1
rs_wait 20 "ACL DELUSER closes the idle client at once" lb_clients_is 0
expect_eq "INFO counts it" "$(info_field clients_closed_auth)" $((n + 1))
kill "$IDLE"
admin acl setuser u on '>pw' '~k*' +get +ping >/dev/null
expect_eq "timeout 1" "$(admin config set timeout 1)" OK
idle_client
rs_wait 20 "an idle client is closed after timeout" lb_clients_is 0
expect_eq "INFO counts it" "$(info_field clients_closed_timeout)" 1
kill "$IDLE"
expect_eq "timeout 0" "$(admin config set timeout 0)" OK

# ---- maxclients counts the server's own clients with the module's
exec 7<>"/dev/tcp/127.0.0.1/$PORT" || fail "admin connection"
printf 'AUTH adminpw\r\nCONFIG SET maxclients 3\r\n' >&7
read -r -t 10 a <&7 && read -r -t 10 b <&7 || fail "no reply to CONFIG SET"
expect_eq "maxclients 3, one TCP client" "$a $b" $'+OK\r +OK\r'
# pinger NAME: a module client that gets its AUTH and PONG, then stays
pinger() {
	bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1"
		printf "AUTH adminpw\r\nPING\r\n" >&5
		head -c 12 <&5 >"$2"; exec sleep 600' _ "$LB" "$TMP/$1.pong" &
	RS_PIDS="$RS_PIDS $!"
}
ponged() {
	[ -f "$TMP/$1.pong" ] && [ "$(tr -d '\r\n' <"$TMP/$1.pong")" = +OK+PONG ]
}
pinger a
rs_wait 20 "module client 1 served" ponged a
pinger b
rs_wait 20 "module client 2 served" ponged b
printf 'PING\r\n' >"$IN"
expect_eq "the third client (1 TCP + 2 module = maxclients) is refused" \
	"$(raw "$LB" "$IN" | tr -d '\r')" "-ERR max number of clients reached"
printf 'CONFIG SET maxclients 10000\r\n' >&7
read -r -t 10 a <&7 || fail "no reply to CONFIG SET"
exec 7>&-

admin shutdown nosave >/dev/null
rs_wait_exit 20
echo "1..$CHECKS"
