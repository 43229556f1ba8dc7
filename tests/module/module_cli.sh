#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: rring-cli over RDMA (softverbs) against redis-cli over TCP
# on the same redis-server with rdmaring.so: stdout, stderr and exit status
# byte for byte for strings (binary, quotes, newlines), integers, nil,
# empty, nested and error-holding arrays, errors, status replies, AUTH as an
# ACL user (right and wrong password), -n (valid and out of range), commands
# from argv and from stdin lines (quoting, blank and invalid lines, quit),
# in the default (not a terminal), --raw and --no-raw (terminal) formats;
# and a clear failure naming host:port when nothing listens.
# Usage: module_cli.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init cli

cli() {
	timeout 20 "$CLI" -p "$PORT" "$@" 2>&1
}

rcli() {
	rs_rdma timeout 20 "$RCLI" -p "$RPORT" "$@"
}

rs_two_ports
rs_start server "$PRELOAD" --loadmodule "$MOD" bind=127.0.0.1 \
	port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running

# the data every format is checked on
cli set plain "hello world" >/dev/null
cli set bin "$(printf 'a\001\"\\\t\r\nz\377')" >/dev/null
cli set empty "" >/dev/null
cli rpush list a "b c" "" "d\"e" >/dev/null
cli hset hash f1 v1 f2 2 >/dev/null
cli -n 3 set only3 three >/dev/null
cli acl setuser alice on '>alicepw' '~*' '+@all' -flushall >/dev/null
nested="return {1,{2,'x',{}},{},'a\\nb',false,{{{-7}}},1,2,3,4,5,6,7,8,9,10}"
errarr="return {'ok',redis.error_reply('E1 inner'),{redis.status_reply('ST')}}"

for fmt in default --raw --no-raw; do
	f=()
	[ "$fmt" = default ] || f=("$fmt")
	rs_same "$fmt: status" "${f[@]}" ping
	rs_same "$fmt: SET" "${f[@]}" set plain "hello world"
	rs_same "$fmt: string" "${f[@]}" get plain
	rs_same "$fmt: binary string" "${f[@]}" get bin
	rs_same "$fmt: empty string" "${f[@]}" get empty
	rs_same "$fmt: integer" "${f[@]}" strlen plain
	rs_same "$fmt: negative integer" "${f[@]}" eval "return -42" 0
	rs_same "$fmt: nil" "${f[@]}" get nokey
	rs_same "$fmt: array" "${f[@]}" lrange list 0 -1
	rs_same "$fmt: empty array" "${f[@]}" lrange nolist 0 -1
	rs_same "$fmt: hash" "${f[@]}" hgetall hash
	rs_same "$fmt: nested arrays" "${f[@]}" eval "$nested" 0
	rs_same "$fmt: errors in an array" "${f[@]}" eval "$errarr" 0
	rs_same "$fmt: unknown command" "${f[@]}" nosuchcommand a b
	rs_same "$fmt: wrong type" "${f[@]}" lpush plain x
	rs_same "$fmt: wrong arity" "${f[@]}" get
	rs_same "$fmt: -n 3" "${f[@]}" -n 3 get only3
	rs_same "$fmt: -n out of range" "${f[@]}" -n 99 get only3
	rs_same "$fmt: AUTH as a user" "${f[@]}" --user alice -a alicepw \
		--no-auth-warning get plain
	rs_same "$fmt: user limits apply" "${f[@]}" --user alice -a alicepw \
		--no-auth-warning flushall
	rs_same "$fmt: wrong password" "${f[@]}" --user alice -a nope get plain
done

# commands from stdin lines: quoting as redis-cli splits it, blank and
# invalid lines, SELECT changing the database, quit ending the input
cat >"$TMP/lines" <<'LINES'
get plain
   lrange   list 0 -1

set q "x y\n\x41\"" 
get q
get 'it''s'
set "unterminated
select 3
get only3
eval "return {1,{2,{}}}" 0
nosuchcommand
quit
get plain
LINES
for fmt in default --raw --no-raw; do
	f=()
	[ "$fmt" = default ] || f=("$fmt")
	rs_same "$fmt: stdin lines" -i "$TMP/lines" "${f[@]}"
done
printf 'get plain' >"$TMP/noeol"
rs_same "stdin: last line without a newline" -i "$TMP/noeol"
expect_eq "the value set from stdin" "$(cli get q | od -c | head -n 1)" \
	"$(printf 'x y\nA"\n' | od -c | head -n 1)"

# nothing listens: the failure names host:port and says why
out=$(rcli -p "$PORT" ping 2>&1)
rc=$?
expect_eq "no server: exit status" "$rc" 1
expect_has "no server: names host:port" "$out" "127.0.0.1:$PORT"
expect_has "no server: the cause follows" "$out" "RDMA to 127.0.0.1:$PORT: "
expect_has "no server: softverbs hint" "$out" "libsoftverbs.so"

cli shutdown nosave >/dev/null
rs_wait_exit 20
echo "all $CHECKS checks passed"
