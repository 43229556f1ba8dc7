#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: load rdmaring.so into Debian's redis-server and check load
# arguments, CONFIG GET/SET of rdmaring.*, INFO rdmaring, refusal of bad load
# arguments, MODULE UNLOAD/LOAD and a clean shutdown.
# Then checks that the module's RESP parser answers malformed input with the
# exact reply redis-server sends a TCP client (compared live).
# RRING_SERVER_PRELOAD: libraries to preload into redis-server only (the
# sanitizer runtimes of a sanitized module build).
# Usage: module_integration.sh MODULE.so [redis-server] [redis-cli] [resp_oracle]
#        [libsoftverbs.so]
set -u

MOD=$(realpath "${1:?usage: $0 rdmaring.so [redis-server] [redis-cli]}")
SERVER=${2:-/usr/bin/redis-server}
CLI=${3:-/usr/bin/redis-cli}
ORACLE=${4:-}
# $5: libsoftverbs.so, preloaded so that port=N opens an RDMA listener
SV=${5:+$(realpath "$5")}
SERVER_PRELOAD="${RRING_SERVER_PRELOAD:-}${RRING_SERVER_PRELOAD:+${SV:+ }}$SV"
PORT=
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init it

cli() {
	timeout 10 "$CLI" -p "$PORT" "$@" 2>&1
}

# start NAME ARGS...: redis-server in the background on a fresh port.
start() {
	local name=$1
	shift
	PORT=$(free_port) || fail "no free port"
	rs_start "$name" "$SERVER_PRELOAD" --enable-module-command local "$@"
}

pong() {
	[ "$(cli ping)" = PONG ]
}

wait_ready() {
	rs_wait 10 "server ready" pong
}

cfg() {
	cli config get "rdmaring.$1" | sed -n 2p
}

[ -x "$SERVER" ] || fail "no $SERVER"
[ -f "$MOD" ] || fail "no module $MOD"
RDMA_PORT=$(free_port) || fail "no free port"

# ---- 1. load with Valkey-style arguments plus our own
start main "--loadmodule" "$MOD" "port=$RDMA_PORT" "io-threads=2" \
	"bind=127.0.0.1" "rx-size=65536" "poll-idle-us=50" "io-thread-cpus=0"
wait_ready
expect_has "MODULE LIST shows rdmaring" "$(cli module list)" rdmaring
expect_eq "port from load args" "$(cfg port)" "$RDMA_PORT"
expect_eq "io-threads from load args" "$(cfg io-threads)" 2
expect_eq "bind from load args" "$(cfg bind)" 127.0.0.1
expect_eq "rx-size from load args" "$(cfg rx-size)" 65536
expect_eq "comp-vector default" "$(cfg comp-vector)" -1
expect_eq "ring-entries default" "$(cfg ring-entries)" 4096
expect_eq "io-thread-cpus from load args" "$(cfg io-thread-cpus)" 0
# both IO threads named and pinned to CPU 0, as INFO reads them back
for t in /proc/"$PID"/task/*; do
	case "$(cat "$t/comm" 2>/dev/null)" in
	rring-io-[01])
		expect_eq "$(cat "$t/comm") on io-thread-cpus" \
			"$(sed -n 's/^Cpus_allowed_list:\t//p' "$t/status")" 0
		;;
	esac
done
expect_eq "INFO io_cpus_1" \
	"$(cli info rdmaring | tr -d '\r' | sed -n 's/^rdmaring_io_cpus_1://p')" 0
expect_eq "twelve knobs" "$(cli config get 'rdmaring.*' | wc -l)" 24

# ---- 2. CONFIG SET: runtime knobs apply, restart-only knobs are refused
expect_eq "set poll-idle-us" "$(cli config set rdmaring.poll-idle-us 250)" OK
expect_eq "poll-idle-us applied" "$(cfg poll-idle-us)" 250
expect_eq "set max-clients" "$(cli config set rdmaring.max-clients 77)" OK
expect_eq "max-clients applied" "$(cfg max-clients)" 77
out=$(cli config set rdmaring.io-threads 4)
expect_has "io-threads refused" "$out" "cannot change while the server runs"
expect_has "io-threads refusal says restart" "$out" restart
expect_eq "io-threads unchanged" "$(cfg io-threads)" 2
out=$(cli config set rdmaring.io-thread-cpus 1)
expect_has "io-thread-cpus refused" "$out" restart
expect_eq "same value accepted" "$(cli config set rdmaring.io-threads 2)" OK
out=$(cli config set rdmaring.ring-entries 100)
expect_has "ring-entries needs a power of two" "$out" "power of two"
out=$(cli config set rdmaring.max-clients 0)
expect_has "range enforced" "$out" "ERR"
expect_eq "max-clients kept" "$(cfg max-clients)" 77
expect_has "runtime change logged" "$(cat "$TMP/main.log")" \
	"poll-idle-us set to 250"

# ---- 3. INFO rdmaring
info=$(cli info rdmaring | tr -d '\r')
expect_has "INFO section" "$info" "# rdmaring"
expect_has "INFO clients" "$info" "rdmaring_connected_clients:0"
expect_has "INFO busy" "$info" "rdmaring_poller_busy_pct:"
expect_has "INFO engine" "$info" "rdmaring_engine:running"
expect_has "INFO transfers" "$info" "rdmaring_transfers_in_progress:0"
expect_has "INFO io thread 1" "$info" \
	"rdmaring_io_thread_1:clients=0,ring_depth=0,ring_overflow=0,completions=0,bytes_in=0,bytes_out=0,wakeups=0"
expect_eq "INFO one line per IO thread" \
	"$(echo "$info" | grep -c '^rdmaring_io_thread_')" 2

# ---- 4. MODULE UNLOAD: the engine stops cleanly; reload
expect_eq "unload with the engine running" "$(cli module unload rdmaring)" OK
out=$(cli module list)
case "$out" in *rdmaring*) fail "still listed after unload" ;; esac
ok "unloaded"
out=$(cli module load "$MOD" rx-size=12)
expect_has "MODULE LOAD with a bad argument fails" "$out" ERR
expect_has "bad runtime load logged" "$(cat "$TMP/main.log")" \
	"bad value '12' for rx-size: expected an integer from 65536 to 16777216"
expect_eq "MODULE LOAD again" "$(cli module load "$MOD" port=0 io-threads=3)" OK
expect_eq "reloaded knob" "$(cfg io-threads)" 3
expect_eq "reloaded default" "$(cfg port)" 0

# ---- 5. clean shutdown
cli shutdown nosave >/dev/null
rs_wait_exit
expect_eq "clean shutdown exit status" "$RC" 0

# ---- 6. config-file values override load arguments
ARG_PORT=$(free_port) || fail "no free port"
CFG_PORT=$(free_port) || fail "no free port"
[ "$ARG_PORT" != "$CFG_PORT" ] || CFG_PORT=$((ARG_PORT + 1))
start cfgfile --loadmodule "$MOD" port="$ARG_PORT" \
	--rdmaring.port "$CFG_PORT" --rdmaring.poll-idle-us 9
wait_ready
expect_eq "config value wins over load arg" "$(cfg port)" "$CFG_PORT"
expect_eq "config value for runtime knob" "$(cfg poll-idle-us)" 9
cli shutdown nosave >/dev/null
rs_wait_exit
expect_eq "second shutdown" "$RC" 0

# ---- 7. bad load arguments: the server refuses to start, log says why
bad_start() { # name arg expected-log
	start "$1" --loadmodule "$MOD" "$2"
	rs_wait_exit
	[ "$RC" != 0 ] || fail "$1: server started with $2"
	expect_has "$1 refused, log names key/value/range" \
		"$(cat "$TMP/$1.log")" "$3"
}
bad_start badport port=70000 \
	"bad value '70000' for port: expected an integer from 0 to 65535"
bad_start badthreads io-threads=abc \
	"bad value 'abc' for io-threads: expected an integer from 1 to 64"
bad_start badring ring-entries=1000 \
	"bad value '1000' for ring-entries: expected a power of two from 64 to 16777216"
bad_start badkey colour=blue \
	"unknown argument 'colour' (accepted: bind, port, io-threads"
bad_start badkey9 rdma-prot=1 "rdma-bind, rdma-port, rdma-rx-size"
bad_start badalias rdma-rx-size=12 \
	"bad value '12' for rx-size: expected an integer from 65536 to 16777216 (bytes) (given as rdma-rx-size)"
bad_start badbind bind=not-an-address "bad value 'not-an-address' for bind"
# placement is checked at load, also without a listener (port 0)
online=$(cat /sys/devices/system/cpu/online)
offline_cpu=$(getconf _NPROCESSORS_CONF)
bad_start badcpu "poller-cpu=$offline_cpu" \
	"poller-cpu=$offline_cpu: CPU $offline_cpu is not online; online CPUs: $online"
start badnode --loadmodule "$MOD" port=0 numa-node=1023
rs_wait_exit
[ "$RC" != 0 ] || fail "badnode: server started with numa-node=1023"
expect_has "numa-node=1023 refused with port=0" "$(cat "$TMP/badnode.log")" \
	"numa-node=1023: node 1023 does not exist or has no CPUs; nodes with CPUs:"
bad_start badiocpus "io-thread-cpus=0,$offline_cpu" \
	"io-thread-cpus: CPU $offline_cpu is not online; online CPUs: $online"

# ---- 8. protocol errors: our parser's reply equals redis-server's over TCP
# tcp_reply FILE: the server's whole answer (it closes after the error).
tcp_reply() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		cat "$2" >&3 2>/dev/null; cat <&3' _ "$PORT" "$1" 2>/dev/null
}

# same_error NAME ORACLE-ARGS...: for the bytes in $IN, last line equal,
# and as many replies before it as the parser found commands (PINGs).
# (Input comes from a file, not a pipe: a pipe would run this function in a
# subshell, where fail and the check counter do not reach the script.)
IN="$TMP/proto-input"
same_error() {
	local name=$1 in="$IN" srv ours n
	shift
	srv=$(tcp_reply "$in" | tr -d '\r')
	ours=$("$ORACLE" "$@" <"$in" | tr -d '\r')
	[ -n "$srv" ] || fail "$name: no reply from the server"
	expect_eq "$name: error text as redis-server" \
		"$(echo "$ours" | tail -n 1)" "$(echo "$srv" | tail -n 1)"
	n=$(echo "$ours" | sed -n 's/^commands //p')
	expect_eq "$name: commands before the error" \
		"$(($(echo "$srv" | wc -l) - 1))" "$n"
}

if [ -n "$ORACLE" ]; then
	start proto --loadmodule "$MOD"
	wait_ready
	printf '*abc\r\n' >"$IN"
	same_error mbulk-junk
	printf '*2147483648\r\n' >"$IN"
	same_error mbulk-too-many
	printf '*1\r\n$-5\r\n' >"$IN"
	same_error bulk-negative
	printf '*1\r\n$+3\r\n' >"$IN"
	same_error bulk-plus
	printf '*1\r\nfoo\r\n' >"$IN"
	same_error expected-dollar
	printf '*1\r\n\r\n' >"$IN"
	same_error expected-dollar-cr
	printf 'set "foo\r\n' >"$IN"
	same_error unbalanced
	printf 'set "foo"bar\r\n' >"$IN"
	same_error quote-then-text
	printf 'PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n' >"$IN"
	same_error after-two
	head -c 70000 /dev/zero | tr '\0' a >"$IN"
	same_error big-inline
	{ printf '*'; head -c 70000 /dev/zero | tr '\0' 1; } >"$IN"
	same_error big-mbulk-count
	expect_eq "set proto-max-bulk-len" \
		"$(cli config set proto-max-bulk-len 1048576)" OK
	printf '*1\r\n$1048577\r\n' >"$IN"
	same_error over-max-bulk \
		--max-bulk 1048576
	expect_eq "set requirepass" "$(cli config set requirepass s3cret)" OK
	printf '*11\r\n' >"$IN"
	same_error unauth-mbulk --auth
	printf '*1\r\n$16385\r\n' >"$IN"
	same_error unauth-bulk --auth
	cli -a s3cret --no-auth-warning shutdown nosave >/dev/null
	rs_wait_exit
	expect_eq "protocol server shutdown" "$RC" 0
fi

echo "PASS: $CHECKS checks"
exit 0
