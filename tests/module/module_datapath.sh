#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: the module's data path (parser, main-thread batches,
# RM_Call, replies) through its TCP stand-in transport (hidden knob
# loopback-port), compared byte for byte with redis-server's own TCP port:
# basic commands, pipelining, SELECT, AUTH with requirepass and a limited
# ACL user, 10 MB values, a client leaving mid-transfer, AOF propagation,
# INFO counters, idle CPU, MODULE UNLOAD with the thread running.
# RRING_SERVER_PRELOAD: libraries to preload into redis-server only (the
# sanitizer runtimes of a sanitized module build).
# Usage: module_datapath.sh MODULE.so [redis-server] [redis-cli]
set -u

MOD=$(realpath "${1:?usage: $0 rdmaring.so [redis-server] [redis-cli]}")
SERVER=${2:-/usr/bin/redis-server}
CLI=${3:-/usr/bin/redis-cli}
PORT=
LB=
PASS=
BIG=10485760
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init dp

# cli PORT ARGS...: redis-cli with the current password, if any
cli() {
	local p=$1
	shift
	if [ -n "$PASS" ]; then
		timeout 20 "$CLI" -p "$p" -a "$PASS" --no-auth-warning "$@" 2>&1
	else
		timeout 20 "$CLI" -p "$p" "$@" 2>&1
	fi
}

pong() { # port
	[ "$(cli "$1" ping)" = PONG ]
}

# same NAME: the bytes in $IN get the same reply on TCP and over the module.
IN="$TMP/input"
same() {
	local tcp mod
	cli "$PORT" flushall >/dev/null
	tcp=$(raw "$PORT" "$IN" | od -An -c)
	cli "$PORT" flushall >/dev/null
	mod=$(raw "$LB" "$IN" | od -An -c)
	rs_expect_same "$1" "$tcp" "$mod" module
}

# cpu_ticks: utime + stime of the server
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$PID/stat"
}

PORT=$(free_port) || fail "no free port"
LB=$(free_port) || fail "no free port"
rs_start dp "${RRING_SERVER_PRELOAD:-}" --appendonly yes \
	--appendfsync always --enable-module-command local \
	--loadmodule "$MOD" "loopback-port=$LB" io-threads=2
rs_wait 10 "PONG on port $PORT" pong "$PORT"
rs_wait 10 "PONG on port $LB" pong "$LB"
ok "module serves on its loopback port"

# ---- basic commands, errors, pipelining: byte-identical to TCP
printf 'PING\r\nSET k v\r\nGET k\r\nGET nokey\r\nINCR n\r\nINCRBY n 41\r\n'\
'MSET a 1 b 2\r\nMGET a b c\r\nRPUSH l x y z\r\nLRANGE l 0 -1\r\n'\
'HSET h f1 v1 f2 v2\r\nHGETALL h\r\nEXPIRE k 100\r\nTTL k\r\nLPUSH k x\r\n'\
'NOSUCH a b\r\nGET\r\nECHO "a\\x00b\\r\\n"\r\nDEL a b c\r\nEXISTS a k\r\n'\
'*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$4\r\n\r\n\0\1\r\nSTRLEN k\r\nQUIT\r\n'\
'GET k\r\n' >"$IN"
same "basic commands"

: >"$IN"
for i in $(seq 1 300); do
	printf '*3\r\n$3\r\nSET\r\n$%d\r\nkey%d\r\n$%d\r\nval%d\r\nGET key%d\r\n' \
		$((3 + ${#i})) "$i" $((3 + ${#i})) "$i" "$i" >>"$IN"
done
printf 'DBSIZE\r\nQUIT\r\n' >>"$IN"
same "600 pipelined commands, inline and multibulk"

printf 'SELECT 1\r\nSET k one\r\nSELECT 0\r\nGET k\r\nSELECT 1\r\nGET k\r\n'\
'SELECT 99\r\nSELECT x\r\nGET k\r\nQUIT\r\n' >"$IN"
same "SELECT per client"

# commands that need a server client: the client moves to one, pipelined
# commands after them follow (module/README.md, "Moved clients")
printf 'SET a 1\r\nMULTI\r\nINCR a\r\nBLPOP l 0\r\nSET\r\nEXEC\r\nGET a\r\n'\
'MULTI\r\nINCR a\r\nLPUSH l x\r\nEXEC\r\nBLPOP l 0\r\nSUBSCRIBE c\r\nPING\r\n'\
'QUIT\r\n' >"$IN"
same "MULTI, EXECABORT, BLPOP, SUBSCRIBE pipelined"

# rules decided by arguments (the IO thread decides them when it parses)
printf 'XADD s 1-1 f v\r\nXREAD COUNT 1 STREAMS s 0\r\n'\
'CLIENT SETNAME x\r\nCLIENT GETNAME\r\nXREAD BLOCK 0 STREAMS s 0\r\n'\
'SELECT 2\r\nQUIT\r\n' >"$IN"
same "XREAD without BLOCK on the fast path, CLIENT SETNAME moves"
printf 'SELECT 3\r\nSET k v\r\nWATCH k\r\nGET k\r\nQUIT\r\n' >"$IN"
same "a moved client keeps its database"
printf 'HELLO 3\r\nGET nokey\r\nQUIT\r\n' >"$IN"
out=$(raw "$LB" "$IN" | tr -d '\r')
expect_eq "HELLO 3: a RESP3 map with proto 3" \
	"$(echo "$out" | sed -n '1p;/^proto$/{n;p}')" "%7
:3"
expect_eq "HELLO 3: then RESP3 nulls" "$(echo "$out" | tail -2)" "_
+OK"

printf 'SET k v\r\n*1\r\n$x\r\nPING\r\n' >"$IN"
same "protocol error: replies before it, error, close"

# ---- writes propagate to the AOF like a TCP client's
cli "$LB" set rdm:aof:key propagated >/dev/null
deadline=$((SECONDS + 10))
until cat "$TMP"/appendonlydir/*.incr.aof 2>/dev/null | grep -q rdm:aof:key; do
	[ $SECONDS -lt $deadline ] || fail "SET over the module not in the AOF"
	sleep 0.05
done
ok "write over the module reaches the AOF"

# ---- 10 MB values
head -c $BIG /dev/urandom | base64 -w 0 | head -c $BIG >"$TMP/big"
want=$(md5sum <"$TMP/big" | cut -d' ' -f1)
expect_eq "SET 10 MB over the module" "$(cli "$LB" -x set big <"$TMP/big")" OK
expect_eq "STRLEN" "$(cli "$LB" strlen big)" $BIG
got=$(cli "$LB" --raw get big | head -c $BIG | md5sum | cut -d' ' -f1)
expect_eq "GET 10 MB over the module" "$got" "$want"
got=$(cli "$PORT" --raw get big | head -c $BIG | md5sum | cut -d' ' -f1)
expect_eq "same value over TCP" "$got" "$want"
{
	for i in 1 2 3; do
		printf '*3\r\n$3\r\nSET\r\n$4\r\nbig%d\r\n$%d\r\n' "$i" $BIG
		cat "$TMP/big"
		printf '\r\n'
	done
	printf 'STRLEN big2\r\nQUIT\r\n'
} >"$IN"
out=$(raw "$LB" "$IN" | tr -d '\r' | tr '\n' ' ')
expect_eq "three pipelined 10 MB SETs" "$out" "+OK +OK +OK :$BIG +OK "

# ---- a client that leaves in the middle of a large transfer
{
	printf '*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n' $BIG
	head -c $((BIG / 2)) "$TMP/big"
} >"$IN"
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat "$2" >&3' _ "$LB" "$IN"
expect_eq "server keeps serving" "$(cli "$LB" ping)" PONG
got=$(cli "$LB" --raw get big | head -c $BIG | md5sum | cut -d' ' -f1)
expect_eq "half-sent SET did not land" "$got" "$want"
deadline=$((SECONDS + 10))
until cli "$PORT" info rdmaring | grep -q 'rdmaring_connected_clients:0'; do
	[ $SECONDS -lt $deadline ] || fail "clients not released"
	sleep 0.05
done
ok "connection released"

# ---- INFO counters
exec 5<>"/dev/tcp/127.0.0.1/$LB"
printf 'PING\r\n' >&5
read -r -t 10 line <&5
expect_eq "held connection answers" "$(echo "$line" | tr -d '\r')" "+PONG"
info=$(cli "$PORT" info rdmaring | tr -d '\r')
expect_has "INFO counts the client" "$info" "rdmaring_connected_clients:1"
expect_has "INFO engine running" "$info" "rdmaring_engine:running"
bytes=$(echo "$info" | sed -n 's/^rdmaring_total_bytes_in://p')
[ "${bytes:-0}" -gt $((4 * BIG)) ] || fail "bytes_in $bytes too small"
ok "INFO bytes_in counts the traffic ($bytes)"

# ---- max-clients is a runtime knob: applies to the next accept at once
expect_eq "CONFIG SET max-clients 1" \
	"$(cli "$PORT" config set rdmaring.max-clients 1)" OK
out=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat <&3' _ "$LB" |
	tr -d '\r')
expect_eq "client over max-clients refused as by Redis" "$out" \
	"-ERR max number of clients reached"
exec 5<&-
expect_eq "CONFIG SET max-clients back" \
	"$(cli "$PORT" config set rdmaring.max-clients 10000)" OK
expect_eq "clients accepted again" "$(cli "$LB" ping)" PONG

# ---- AUTH and ACLs exactly as on TCP
PASS=s3cret
expect_eq "requirepass" "$(PASS= cli "$PORT" config set requirepass s3cret)" OK
expect_eq "limited user" "$(cli "$PORT" acl setuser limited on '>lpw' \
	'~lim:*' +get +set +ping)" OK
printf 'GET x\r\nPING\r\nAUTH wrong\r\nAUTH s3cret\r\nSET x 1\r\nGET x\r\n'\
'AUTH limited lpw\r\nSET lim:1 v\r\nGET lim:1\r\nSET other v\r\nINCR lim:2\r\n'\
'GET x\r\nAUTH limited bad\r\nGET lim:1\r\nQUIT\r\n' >"$IN"
same "AUTH, requirepass and a limited ACL user"
printf '*11\r\n' >"$IN"
same "unauthenticated multibulk limit"
{
	printf 'AUTH s3cret\r\n*3\r\n$3\r\nSET\r\n$2\r\nkk\r\n$%d\r\n' 100000
	head -c 100000 "$TMP/big"
	printf '\r\nSTRLEN kk\r\nQUIT\r\n'
} >"$IN"
same "AUTH lifts the limits for the pipelined commands after it"

# ---- idle: no CPU burnt by the module's thread or the main loop
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
[ $(((t1 - t0) * 100)) -le $((2 * hz * 2)) ] ||
	fail "idle server used $((t1 - t0)) ticks in 2 s (> 2%)"
ok "idle CPU <= 2% ($((t1 - t0)) ticks in 2 s at $hz Hz)"

# ---- unload stops the thread cleanly; the port closes
expect_eq "MODULE UNLOAD with the thread running" \
	"$(cli "$PORT" module unload rdmaring)" OK
if (exec 3<>"/dev/tcp/127.0.0.1/$LB") 2>/dev/null; then
	fail "loopback port still open after unload"
fi
ok "loopback port closed"
expect_has "unload logged" "$(cat "$TMP/dp.log")" "<rdmaring> unloaded"

cli "$PORT" shutdown nosave >/dev/null
rs_wait_exit
expect_eq "clean shutdown" "$RC" 0
echo "PASS: $CHECKS checks"
