#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: the module's RDMA transport in Debian's redis-server over
# softverbs (LD_PRELOAD), driven by rring-bench: PING/SET/GET with
# pipelining and --verify, AUTH with requirepass and a limited ACL user
# (NOAUTH and NOPERM counted as errors), 10 MB values with 8 IO threads, a
# client killed in the middle of 10 MB transfers (the others keep being
# served, no client or transfer left behind), CONFIG SET of a runtime knob
# (poll-idle-us reaching the running poller) and a
# restart-only knob, INFO fields (replies in fewer RDMA writes and
# commands in fewer main-thread batches under pipelining), idle CPU after the load, MODULE UNLOAD,
# pipelines and values crossing 64 KiB receive windows, 40 clients (more
# than one CQ serves) and max-clients exact, protected mode, writes reaching the AOF and a
# replica; loaded with Valkey 9's argument names, the placement in INFO and
# the startup line against the threads' names and CPUs in /proc, closes
# logged at verbose level, port and bind moved at runtime with clients
# connected.
# Usage: module_rdma.sh MODULE.so redis-server redis-cli rring-bench
#        libsoftverbs.so
set -u

MOD=$(realpath "$1")
SERVER=$2
CLI=$3
BENCH=$(realpath "$4")
SV=$(realpath "$5")
PORT=
RPORT=
PASS=
BIG=10485760
# sanitizer runtimes (ASan builds) go first in the server's preload
PRELOAD="${RRING_SERVER_PRELOAD:+$RRING_SERVER_PRELOAD }$SV"
# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_init rdma

cli() {
	if [ -n "$PASS" ]; then
		timeout 20 "$CLI" -p "$PORT" -a "$PASS" --no-auth-warning "$@" 2>&1
	else
		timeout 20 "$CLI" -p "$PORT" "$@" 2>&1
	fi
}

info_field() {
	cli info rdmaring | tr -d '\r' | sed -n "s/^rdmaring_$1://p"
}

# wait_field NAME VALUE: bounded wait for an INFO field to reach VALUE
wait_field() {
	local deadline=$((SECONDS + 20))
	while [ "$(info_field "$1")" != "$2" ]; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

engine_running() {
	[ "$(info_field engine)" = running ]
}

start_server() {
	PORT=$(free_port) || fail "no free port"
	RPORT=$(free_port) || fail "no free port"
	[ "$PORT" != "$RPORT" ] || RPORT=$((PORT + 1))
	rs_start server "$PRELOAD" --loglevel verbose "$@" \
		--loadmodule "$MOD" rdma-bind=127.0.0.1 rdma-port="$RPORT" \
		io-threads=8
	rs_wait 30 "server ready" engine_running
}

stop_server() {
	cli shutdown nosave >/dev/null
	rs_wait_exit 20
}

# bench NAME ARGS...: rring-bench against the RDMA port, JSON in $TMP/NAME
bench() {
	local name=$1
	shift
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		LD_PRELOAD=$SV timeout 240 "$BENCH" -h 127.0.0.1 -p "$RPORT" -q \
		--json "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1
}

# jfield NAME TEST FIELD: a number from rring-bench's JSON
jfield() {
	grep -o "{\"name\":\"$2\"[^}]*}" "$TMP/$1.json" |
		grep -o "\"$3\":[0-9.]*" | cut -d: -f2
}

cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$PID/stat"
}

# ---- basic commands, pipelining, 10 MB values, INFO ----------------------
start_server
bench basic -t ping,set,get -n 3000 -c 4 --threads 2 -P 16 --verify ||
	fail "rring-bench basic: $(cat "$TMP/basic.out")"
for t in PING_INLINE PING_MBULK SET GET; do
	expect_eq "$t x3000 pipelined verified" "$(jfield basic $t verified)" 3000
	expect_eq "$t errors" "$(jfield basic $t errors)" 0
done

# the cost counters, from one INFO: 4 x 3000 replies in 16-deep pipelines
# leave in fewer RDMA writes than replies, and the main thread ran them in
# fewer batches than commands; the per-thread lines add up to the totals
info=$(cli info rdmaring | tr -d '\r')
ifield() { echo "$info" | sed -n "s/^rdmaring_$1://p"; }
# io_sum KEY: KEY summed over the io_thread_N lines
io_sum() {
	echo "$info" | grep '^rdmaring_io_thread_' | grep -o "[,:]$1=[0-9]*" |
		cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}
replies=$(ifield replies_sent)
posted=$(ifield writes_posted)
signaled=$(ifield writes_signaled)
cmds=$(ifield main_commands)
batches=$(ifield main_batches)
[ "${replies:-0}" -ge 12000 ] || fail "replies_sent $replies < 12000"
[ "${cmds:-0}" -ge 12000 ] || fail "main_commands $cmds < 12000"
[ "${posted:-0}" -gt 0 ] && [ "$posted" -lt "$replies" ] ||
	fail "writes_posted $posted not below replies_sent $replies"
[ "${signaled:-0}" -le "$posted" ] ||
	fail "writes_signaled $signaled > writes_posted $posted"
[ "${batches:-0}" -gt 0 ] && [ "$batches" -lt "$cmds" ] ||
	fail "main_batches $batches not below main_commands $cmds"
[ "$(ifield sends_coalesced)" -gt 0 ] || fail "no send coalesced"
for k in replies_sent writes_posted writes_signaled sends_coalesced; do
	expect_eq "INFO $k is the sum over IO threads" "$(io_sum "$k")" \
		"$(ifield "$k")"
done
ok "INFO $replies replies in $posted writes ($signaled signaled), $cmds commands in $batches batches"

bench big -t set,get -d $BIG -n 16 -c 8 --threads 8 --verify ||
	fail "rring-bench 10 MB: $(cat "$TMP/big.out")"
expect_eq "10 MB SET verified" "$(jfield big SET verified)" 16
expect_eq "10 MB GET verified" "$(jfield big GET verified)" 16

expect_eq "INFO engine" "$(info_field engine)" running
# each 10 MB GET reply went from its own memory, and its cached
# registration was dropped before the reply was freed
n=$(info_field inplace_replies)
[ "${n:-0}" -ge 16 ] || fail "inplace_replies $n < 16 (registrations kept)"
ok "INFO inplace_replies $n: registrations of sent replies dropped"
expect_eq "INFO io_threads" "$(info_field io_threads)" 8
expect_has "INFO io_thread_7" "$(info_field io_thread_7)" "completions="
# clients went only to one IO thread per CPU besides the poller's (the
# server has this shell's CPUs): those got every completion, the rest none
cpus=$(nproc)
fit=$((cpus > 2 ? cpus - 1 : 1))
[ "$fit" -le 8 ] || fit=8
for i in 0 1 2 3 4 5 6 7; do
	n=$(info_field "io_thread_$i" | grep -o 'completions=[0-9]*' | cut -d= -f2)
	if [ "$i" -lt "$fit" ]; then
		[ "${n:-0}" -gt 0 ] || fail "io_thread_$i (of $fit in use) had no completion"
	else
		expect_eq "io_thread_$i beyond the $fit in use: completions" "$n" 0
	fi
done
ok "clients on the first $fit IO threads only ($cpus CPUs)"

# placement, read back: INFO, the startup line and the threads agree
# task_cpus NAME: CPUs of the server's threads named NAME (one line each)
task_cpus() {
	local t
	for t in /proc/"$PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] &&
			sed -n 's/^Cpus_allowed_list:\t//p' "$t/status"
	done
}
pc=$(task_cpus rring-poller)
expect_eq "one thread named rring-poller" "$(echo "$pc" | wc -l)" 1
expect_eq "INFO poller_cpus is the poller's affinity" \
	"$(info_field poller_cpus)" "$pc"
for i in 0 7; do
	expect_eq "INFO io_cpus_$i is rring-io-$i's affinity" \
		"$(info_field "io_cpus_$i")" "$(task_cpus "rring-io-$i")"
done
rc=$(task_cpus rring-rcu)
expect_eq "INFO rcu_thread_cpus is rring-rcu's affinity" \
	"$(info_field rcu_thread_cpus)" "$rc"
if [ "$(nproc)" -gt 1 ]; then
	[ "$rc" != "$pc" ] || fail "call_rcu worker on the poller's CPU $pc"
	ok "call_rcu worker ($rc) off the poller's CPU ($pc)"
fi
expect_has "startup line with the placement" "$(cat "$TMP/server.log")" \
	"<rdmaring> placement: poller on CPU $pc"
in=$(info_field total_bytes_in)
[ "${in:-0}" -gt $((16 * BIG)) ] || fail "total_bytes_in $in too small"
ok "INFO total_bytes_in $in"
wait_field connected_clients 0 || fail "clients left after the load"
ok "INFO connected_clients back to 0"

# ---- a client killed in the middle of 10 MB transfers (each way) -------
# kill_mid NAME ARGS...: rring-bench killed once a transfer is in progress
closed_lines() {
	grep -c "<rdmaring> RDMA client closed connection" "$TMP/server.log"
}

kill_mid() {
	local name=$1 deadline=$((SECONDS + 30)) closed
	shift
	closed=$(closed_lines)
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		LD_PRELOAD=$SV "$BENCH" -h 127.0.0.1 -p "$RPORT" -q "$@" \
		>/dev/null 2>&1 &
	RS_PIDS=$!
	until [ "$(info_field transfers_in_progress)" != 0 ]; do
		[ $SECONDS -lt $deadline ] || fail "$name: no transfer seen"
		sleep 0.05
	done
	kill -9 "$RS_PIDS"
	wait "$RS_PIDS" 2>/dev/null
	RS_PIDS=
	ok "$name: client killed with a 10 MB transfer in progress"
	bench "after_$name" -t set,get -d 100000 -n 200 -c 4 --verify ||
		fail "serving after the kill: $(cat "$TMP/after_$name.out")"
	expect_eq "$name: others served after the kill" \
		"$(jfield "after_$name" GET verified)" 200
	wait_field connected_clients 0 || fail "$name: client not closed"
	ok "$name: killed client closed"
	# its 4 connections and the 4 of the run after it, each logged
	[ $(($(closed_lines) - closed)) -ge 8 ] ||
		fail "$name: closes not logged: $(tail -n 20 "$TMP/server.log")"
	ok "$name: each close logged at verbose level with its reason"
	wait_field transfers_in_progress 0 || fail "$name: transfers left"
	ok "$name: no transfer left in progress"
}
kill_mid "SET" -t set -d $BIG -n 100000 -c 4 --threads 2
bench one -t set -d $BIG -n 1 -c 1 || fail "SET of the GET key"
kill_mid "GET" -t get -d $BIG -n 100000 -c 4 --threads 2

# ---- knobs -------------------------------------------------------------
# poll-idle-us reaches the running poller: at 10 s it keeps polling after
# the load (no sleep, the server busy), at 0 it goes to sleep at once. It
# polls only with a CPU per engine thread (io-threads 8 + the poller);
# with fewer it sleeps after each event whatever poll-idle-us says.
expect_eq "CONFIG SET runtime knob" \
	"$(cli config set rdmaring.poll-idle-us 10000000)" OK
expect_eq "runtime knob value" \
	"$(cli config get rdmaring.poll-idle-us | tail -n 1)" 10000000
sb=$(info_field poller_sleeps)
bench spin -t ping_mbulk -n 100 -c 1 || fail "PING: $(cat "$TMP/spin.out")"
hz=$(getconf CLK_TCK)
s0=$(info_field poller_sleeps)
t0=$(cpu_ticks)
n0=$(date +%s%N)
sleep 1 # measurement window, not a synchronisation
s1=$(info_field poller_sleeps)
t1=$(cpu_ticks)
n1=$(date +%s%N)
pct=$(((t1 - t0) * 100 * 1000000000 / hz / (n1 - n0)))
# The sleep counter is the check; the CPU share only informs, as a loaded
# machine may give the polling thread little of a core.
if [ "$(nproc)" -ge 9 ]; then
	expect_eq "poll-idle-us 10 s: the poller did not sleep" "$s1" "$s0"
	ok "poll-idle-us 10 s: the poller busy-polls (server CPU ${pct}%)"
	expect_eq "CONFIG SET poll-idle-us 0" \
		"$(cli config set rdmaring.poll-idle-us 0)" OK
	deadline=$((SECONDS + 20))
	while [ "$(info_field poller_sleeps)" -le "$s1" ]; do
		[ $SECONDS -lt $deadline ] ||
			fail "poll-idle-us 0: the poller never slept"
		sleep 0.1
	done
	ok "poll-idle-us 0: the poller went to sleep at once"
else
	[ "$s0" -gt "$sb" ] || fail "$(nproc) CPUs for 9 engine threads:" \
		"the poller busy-polled between PINGs (sleeps $sb -> $s0)"
	ok "$(nproc) CPUs for 9 engine threads: the poller slept between" \
		"PINGs despite poll-idle-us 10 s (server CPU ${pct}%)"
	expect_eq "CONFIG SET poll-idle-us 0" \
		"$(cli config set rdmaring.poll-idle-us 0)" OK
fi
expect_eq "poll-idle-us back to 20" \
	"$(cli config set rdmaring.poll-idle-us 20)" OK
expect_has "restart-only knob refused" \
	"$(cli config set rdmaring.io-threads 4)" "restart"
expect_eq "max-clients 1" "$(cli config set rdmaring.max-clients 1)" OK
bench maxc -t ping_mbulk -n 200 -c 2
e=$(jfield maxc PING_MBULK errors)
r=$(jfield maxc PING_MBULK requests)
[ "${e:-0}" -ge 1 ] || [ "${r:-0}" -lt 200 ] ||
	fail "max-clients 1 served two clients"
ok "max-clients 1 applied at once (errors $e, requests $r)"
expect_eq "max-clients back" "$(cli config set rdmaring.max-clients 100)" OK
# ---- port and bind move at runtime; connected clients stay -------------
wait_field connected_clients 0 || fail "clients left before the port change"
ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	LD_PRELOAD=$SV "$BENCH" -h 127.0.0.1 -p "$RPORT" -q -t set -d 1000 \
	-n 20000 -c 2 --json "$TMP/moved.json" >"$TMP/moved.out" 2>&1 &
RS_PIDS=$!
wait_field connected_clients 2 || fail "clients not connected before the move"
OLD_RPORT=$RPORT
RPORT=$(free_port) || fail "no free port"
expect_eq "CONFIG SET port" "$(cli config set rdmaring.port "$RPORT")" OK
expect_eq "clients connected before the move still there" \
	"$(info_field connected_clients)" 2
bench moved_new -t set,get -n 200 -c 2 --verify ||
	fail "new port: $(cat "$TMP/moved_new.out")"
expect_eq "new clients reach the new port" \
	"$(jfield moved_new GET verified)" 200
RPORT=$OLD_RPORT bench moved_old -t ping -n 1 -c 1 &&
	fail "the old port still accepts clients"
ok "the old port refuses clients"
wait "$RS_PIDS" || fail "client of the old port: $(cat "$TMP/moved.out")"
RS_PIDS=
expect_eq "client of the old port: every SET answered" \
	"$(jfield moved SET requests) $(jfield moved SET errors)" "20000 0"
expect_has "move logged" "$(cat "$TMP/server.log")" \
	"RDMA listeners moved to port $RPORT (bind '127.0.0.1')"
out=$(cli config set rdmaring.bind 192.0.2.1)
expect_has "unusable bind refused, old listener kept" "$out" \
	"cannot listen on 192.0.2.1 port $RPORT"
expect_has "refusal says what still listens" "$out" \
	"still listening on port $RPORT (bind '127.0.0.1')"
expect_eq "bind kept" "$(cli config get rdmaring.bind | tail -n 1)" 127.0.0.1
bench moved_kept -t ping -n 10 -c 1 ||
	fail "old listener after a refused bind: $(cat "$TMP/moved_kept.out")"
ok "the listener still serves after the refused bind"
grep -q "<module>" "$TMP/server.log" &&
	fail "a line without the module's name: $(grep "<module>" "$TMP/server.log")"
ok "every module and engine line carries <rdmaring>"

# more clients than one CQ serves (32 of 2048 work requests each), and
# max-clients exact: client 41 of max-clients 40 gets Redis's error
wait_field connected_clients 0 || fail "clients left before -c 40"
bench c40 -t set,get -n 4000 -c 40 --verify ||
	fail "rring-bench -c 40: $(cat "$TMP/c40.out")"
expect_eq "40 clients: SET verified" "$(jfield c40 SET verified)" 4000
expect_eq "40 clients: GET verified" "$(jfield c40 GET verified)" 4000
expect_eq "max-clients 40" "$(cli config set rdmaring.max-clients 40)" OK
wait_field connected_clients 0 || fail "clients left before max-clients 40"
# 40 clients held open (a PING flood), then one more
ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	LD_PRELOAD=$SV "$BENCH" -h 127.0.0.1 -p "$RPORT" -q -t ping_mbulk \
	-n 1000000 -c 40 >/dev/null 2>&1 &
RS_PIDS=$!
wait_field connected_clients 40 || fail "40 clients not connected"
bench c41 -t ping_mbulk -n 5 -c 1
expect_eq "max-clients 40: client 41 gets the error" \
	"$(jfield c41 PING_MBULK errors)" 1
wait_field connected_clients 40 || fail "max-clients 40: clients $(info_field connected_clients)"
ok "max-clients 40: the 40 others stay connected"
kill -9 "$RS_PIDS"
wait "$RS_PIDS" 2>/dev/null
RS_PIDS=
wait_field connected_clients 0 || fail "40 clients not closed"
ok "max-clients 40: the 40 clients closed"
expect_eq "max-clients 100" "$(cli config set rdmaring.max-clients 100)" OK

# ---- idle CPU after the load ----------------------------------------------
wait_field connected_clients 0 || fail "clients left"
sleep 1 # let the poller reach its idle sleep (not a synchronisation)
t0=$(cpu_ticks)
s0=$(date +%s%N)
sleep 3
t1=$(cpu_ticks)
s1=$(date +%s%N)
pct=$(((t1 - t0) * 100 * 1000000000 / hz / (s1 - s0)))
[ "$pct" -le 2 ] || fail "idle CPU ${pct}% > 2%"
ok "idle CPU ${pct}% <= 2%"

# ---- MODULE UNLOAD stops the engine cleanly ----------------------------
stop_server

# ---- AUTH: requirepass and a limited ACL user ---------------------------
PASS=s3cret
start_server --requirepass s3cret --enable-module-command yes
bench noauth -t ping_mbulk -n 50 -c 1
expect_eq "no AUTH: NOAUTH errors" "$(jfield noauth PING_MBULK errors)" 50
bench auth -a s3cret -t ping,set,get -n 500 -c 2 -P 4 --verify ||
	fail "AUTH: $(cat "$TMP/auth.out")"
expect_eq "AUTH then GET verified" "$(jfield auth GET verified)" 500
bench badpass -a wrong -t ping_mbulk -n 20 -c 1
expect_eq "wrong password: AUTH error and NOAUTH" \
	"$(jfield badpass PING_MBULK errors)" 21
cli acl setuser limited on '>lpw' '~rring:*' +get +ping +auth >/dev/null
bench limited -a lpw --user limited -t get -n 50 -c 1 --verify
expect_eq "limited user: GET allowed (nil, no error)" \
	"$(jfield limited GET errors)" 0
bench limited2 -a lpw --user limited -t set -n 50 -c 1 --verify
expect_eq "limited user: SET refused (NOPERM)" \
	"$(jfield limited2 SET errors)" 50
expect_eq "MODULE UNLOAD with the engine running" \
	"$(cli module unload rdmaring)" OK
expect_eq "after unload: INFO section gone" "$(cli info rdmaring | grep -c rdmaring_)" 0
# liburcu's call_rcu thread outlives the module: its code must stay mapped
grep -q "/liburcu" "/proc/$PID/maps" || fail "liburcu unmapped by MODULE UNLOAD"
ok "after unload: liburcu still mapped for its threads"
expect_eq "after unload: the server still serves" "$(cli ping)" PONG
stop_server
PASS=

# ---- commands split across receive windows (64 KiB each way) -------------
# Parsed in place: pipelines cross the end of the window at every offset,
# values larger than the window are carried.
start_server --rdmaring.rx-size 65536
expect_eq "rx-size 65536" "$(cli config get rdmaring.rx-size | tail -n 1)" 65536
bench win_ping -t ping_mbulk -n 20000 -c 2 -P 64 --rx-size 65536 --verify ||
	fail "PING across windows: $(cat "$TMP/win_ping.out")"
expect_eq "PING x20000 across windows" "$(jfield win_ping PING_MBULK verified)" 20000
for d in 1000 10007 65536 100000; do
	bench "win_$d" -t set,get -d $d -n 400 -c 2 -P 16 --rx-size 65536 \
		--verify || fail "-d $d across windows: $(cat "$TMP/win_$d.out")"
	expect_eq "SET -d $d -P 16 across windows verified" \
		"$(jfield "win_$d" SET verified)" 400
	expect_eq "GET -d $d -P 16 across windows verified" \
		"$(jfield "win_$d" GET verified)" 400
done
wait_field transfers_in_progress 0 || fail "transfers left (64 KiB windows)"
ok "no transfer left in progress (64 KiB windows)"
stop_server

# ---- writes over RDMA reach the AOF and a replica, as a TCP client's ------
start_server --appendonly yes --appendfsync always
MPORT=$PORT
mkdir -p "$TMP/replica"
RPL_PORT=$(free_port) || fail "no free port"
"$SERVER" --port "$RPL_PORT" --bind 127.0.0.1 --dir "$TMP/replica" \
	--save '' --appendonly no --logfile "$TMP/replica.log" \
	--replicaof 127.0.0.1 "$MPORT" &
RS_PIDS="$RS_PIDS $!"
replica() {
	timeout 20 "$CLI" -p "$RPL_PORT" "$@" 2>&1 | tr -d '\r'
}
replica_linked() {
	replica info replication | grep -q '^master_link_status:up'
}
rs_wait 30 "replica linked" replica_linked
bench repl -t set -d 100 -n 300 -c 4 --threads 2 --verify ||
	fail "SET for replication: $(cat "$TMP/repl.out")"
expect_eq "SET x300 for replication verified" "$(jfield repl SET verified)" 300
replica_caught_up() {
	[ "$(replica dbsize)" = 300 ]
}
rs_wait 30 "replica has the 300 keys" replica_caught_up
ok "replica holds the 300 keys written over RDMA"
keys=$(cli --scan --pattern 'rring:*' | tr -d '\r' | head -n 3)
expect_eq "3 keys to compare" "$(echo "$keys" | grep -c '^rring:')" 3
for k in $keys; do
	expect_eq "replica value of $k" "$(replica get "$k" | md5sum)" \
		"$(cli get "$k" | tr -d '\r' | md5sum)"
done
n=$(cat "$TMP"/appendonlydir/*.incr.aof 2>/dev/null | tr -d '\r' |
	grep -c '^rring:')
expect_eq "AOF holds the 300 SETs" "$n" 300
stop_server

# ---- protected mode (on by default, no password): Redis 7.0 serves a TCP
# peer at 127.0.0.1 or ::1 and answers any other address with DENIED (a TCP
# socket bound to 127.0.0.2 gets it); the module decides by the RDMA peer's
# address the same way (softverbs gives a client of 127.0.0.2 that address)
PORT=$(free_port) || fail "no free port"
RPORT=$(free_port) || fail "no free port"
rs_start pm "$PRELOAD" --loadmodule "$MOD" bind='*' port="$RPORT" \
	io-threads=2
rs_wait 30 "server ready" engine_running
bench pm -t ping_mbulk -n 5 -c 1 -h 127.0.0.2
expect_eq "protected mode: a peer at 127.0.0.2 is refused" \
	"$(jfield pm PING_MBULK errors)" 1
bench pml -t ping_mbulk -n 5 -c 1 || fail "local peer: $(cat "$TMP/pml.out")"
expect_eq "protected mode: a peer at 127.0.0.1 is served" \
	"$(jfield pml PING_MBULK errors)" 0
expect_eq "protected-mode no" "$(cli config set protected-mode no)" OK
bench pm2 -t ping_mbulk -n 5 -c 1 -h 127.0.0.2 ||
	fail "protected-mode no: $(cat "$TMP/pm2.out")"
expect_eq "protected-mode no: 127.0.0.2 served" \
	"$(jfield pm2 PING_MBULK errors)" 0
stop_server
echo "all $CHECKS checks passed"
