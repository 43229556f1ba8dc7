#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: every command over RDMA (softverbs), on redis-server with
# rdmaring.so io-threads=8: rring-cli over RDMA and redis-cli over TCP as
# the same ACL user give the same output, and the data says the semantics
# hold: MULTI/EXEC (EXECABORT, DISCARD, atomic while a TCP client INCRs the
# key before, during and after it), WATCH aborted by a TCP SET, FLUSHDB or
# PEXPIRE (database 1 too) and not aborted without a change; BLPOP, BLMOVE,
# BZPOPMIN and XREAD BLOCK woken by TCP writes, two blocked RDMA clients
# served in order, BLPOP timing out, CLIENT UNBLOCK, WAIT, a blocked RDMA
# client killed (its server client goes); 100k messages
# published over TCP reaching an RDMA subscriber in order, a stopped
# subscriber closed by client-output-buffer-limit pubsub, (P|S)SUBSCRIBE
# output in RESP2 and RESP3; MONITOR showing TCP commands; client tracking
# invalidations and RESP3 replies; CLIENT SETNAME/GETNAME/ID/INFO, CLIENT
# LIST showing RDMA clients, CLIENT KILL by id and by address; a 10 MB
# value SET and GET by a moved client. A 10 MB
# SET/GET loop (rring-bench --verify) runs on another RDMA connection all
# along; after each case it has completed a run since the case began, every
# run with all replies verified.
# Usage: module_commands_rdma.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so rring-bench
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
BENCH=$(realpath "$6")
rs_init commands-rdma

# the user of every compared client
U=(--user app --pass apppw --no-auth-warning)

cli() {
	timeout 20 "$CLI" -p "$PORT" "$@" 2>&1
}

rcli() {
	rs_rdma timeout 20 "$RCLI" -p "$RPORT" "$@" 2>&1
}

# info_field SECTION NAME: one INFO field over TCP
info_field() {
	cli info "$1" | tr -d '\r' | sed -n "s/^$2://p"
}

# --- the 10 MB value in flight on another RDMA connection -----------------

# big_start: rring-bench SET/GET of 10 MB values, verified, in a loop until
# $TMP/big.stop exists; each run's exit status is a line of big.runs
big_start() {
	: >"$TMP/big.runs"
	(
		while [ ! -e "$TMP/big.stop" ]; do
			rs_rdma timeout 120 "$BENCH" -p "$RPORT" --user app -a apppw -q \
				-t set,get -d 10000000 -n 4 -c 1 --verify \
				>>"$TMP/big.log" 2>&1
			echo $? >>"$TMP/big.runs"
		done
	) &
	BIG=$!
	RS_PIDS="$RS_PIDS $BIG"
	BIG_SEEN=0
}

big_runs() { wc -l <"$TMP/big.runs"; }
big_progressed() { [ "$(big_runs)" -gt "$BIG_SEEN" ]; }

# big_check CASE: the loop completed a run since the last check (it was in
# flight during CASE) and every run verified all its replies
big_check() {
	rs_wait 120 "$1: a 10 MB SET/GET run completes" big_progressed
	BIG_SEEN=$(big_runs)
	grep -qvx 0 "$TMP/big.runs" &&
		fail "$1: a 10 MB SET/GET run failed: $(tail -n 5 "$TMP/big.log")"
	ok "$1: with 10 MB SET/GET in flight ($BIG_SEEN runs verified)"
}

# --- line-by-line sessions: a client reading commands from a pipe ---------

declare -A SESS_FD SESS_PID

# sess_start NAME CMD...: CMD in the background, its stdin a pipe fed by
# sess_send, stdout and stderr in $TMP/NAME.out
sess_start() {
	local name=$1 fd
	shift
	rm -f "$TMP/$name.in"
	mkfifo "$TMP/$name.in" || fail "mkfifo"
	: >"$TMP/$name.out"
	(
		# not the open sessions' pipes: they must end with their owner
		for fd in "${SESS_FD[@]}"; do
			exec {fd}>&-
		done
		"$@"
	) <"$TMP/$name.in" >"$TMP/$name.out" 2>&1 &
	SESS_PID[$name]=$!
	RS_PIDS="$RS_PIDS $!"
	exec {fd}>"$TMP/$name.in"
	SESS_FD[$name]=$fd
}

sess_send() {
	printf '%s\n' "$2" >&"${SESS_FD[$1]}"
}

sess_has_lines() { [ "$(wc -l <"$TMP/$1.out")" -ge "$2" ]; }

# sess_cmd NAME LINE N: send LINE, wait until the output has N lines
sess_cmd() {
	sess_send "$1" "$2"
	rs_wait 20 "$1: '$2' answered" sess_has_lines "$1" "$3"
}

# sess_end NAME: end its input; it exits within 20 s, status in ST
sess_end() {
	local fd=${SESS_FD[$1]}
	exec {fd}>&-
	unset "SESS_FD[$1]"
	rs_wait_pid "${SESS_PID[$1]}" 20 "$1 after its input ended"
}

# session clients: rring-cli over RDMA and redis-cli over TCP, raw output
rdma_session() { rs_rdma timeout 60 "$RCLI" -p "$RPORT" "${U[@]}" "$@"; }
tcp_session() { timeout 60 "$CLI" -p "$PORT" "${U[@]}" "$@"; }

# same_text WHAT RDMA-FILE TCP-FILE
same_text() {
	rs_expect_same "$1" "$(cat "$3")" "$(cat "$2")"
}

rs_start_module "$PRELOAD" "$MOD" io-threads=8
cli acl setuser app on '>apppw' '~*' '&*' '+@all' >/dev/null
big_start

# --- transactions ----------------------------------------------------------

printf 'set tx:a 0\nmulti\nset tx:a 1\nincr tx:a\nget tx:a\nexec\nget tx:a\n' \
	>"$TMP/multi.in"
rs_same "MULTI/EXEC" -i "$TMP/multi.in" "${U[@]}"
expect_eq "MULTI/EXEC: the replies" "$(tr '\n' ' ' <"$TMP/r.out")" \
	"OK OK QUEUED QUEUED QUEUED OK 2 2 2 "
printf 'set tx:b 0\ndel tx:b\nmulti\nincr\nset tx:b 1\nexec\nexists tx:b\n' \
	>"$TMP/abort.in"
rs_same "EXECABORT after a queued error" -i "$TMP/abort.in" "${U[@]}"
expect_has "EXECABORT" "$(cat "$TMP/r.out")" "EXECABORT"
expect_eq "EXECABORT: nothing ran" "$(tail -n 1 "$TMP/r.out")" 0
printf 'multi\nset tx:c 1\ndiscard\nexists tx:c\n' >"$TMP/discard.in"
rs_same "DISCARD" -i "$TMP/discard.in" "${U[@]}"
expect_eq "DISCARD: nothing ran" "$(tail -n 1 "$TMP/r.out")" 0

# atomicity: 1000 INCRs in one transaction over RDMA while a TCP client
# INCRs the same key (pipes of 10000) before, during and after it
N=1000
cli del tx:n >/dev/null
awk 'BEGIN { for (i = 0; i < 10000; i++)
	printf "*2\r\n$4\r\nINCR\r\n$4\r\ntx:n\r\n" }' >"$TMP/incr.resp"
(
	while [ ! -e "$TMP/writers.stop" ]; do
		timeout 60 "$CLI" -p "$PORT" --pipe <"$TMP/incr.resp"
	done
) >"$TMP/writers.out" 2>&1 &
WRITERS=$!
RS_PIDS="$RS_PIDS $WRITERS"
# above: tx:n is above $1
above() { [ "$(cli get tx:n)" -gt "$1" ] 2>/dev/null; }
rs_wait 20 "the TCP writers run" above 0
{
	echo multi
	for _ in $(seq 1 $N); do echo "incr tx:n"; done
	echo exec
} >"$TMP/txn.in"
rdma_session --raw <"$TMP/txn.in" >"$TMP/txn.out" 2>&1
expect_eq "transaction under TCP writers: exit status" "$?" 0
expect_eq "transaction: replies" "$(wc -l <"$TMP/txn.out")" $((N * 2 + 1))
last=$(tail -n 1 "$TMP/txn.out")
rs_wait 20 "TCP writes after EXEC" above "$last"
touch "$TMP/writers.stop"
rs_wait_pid "$WRITERS" 120 "the TCP writers"
pipes=$(grep -c 'replies: ' "$TMP/writers.out")
expect_eq "TCP writers: every pipe complete" \
	"$(grep -c 'errors: 0, replies: 10000' "$TMP/writers.out")" "$pipes"
tail -n $N "$TMP/txn.out" | awk 'NR > 1 && $1 != prev + 1 { bad = 1 }
	{ prev = $1 } END { exit bad }' ||
	fail "EXEC's INCR replies are not consecutive: $(tail -n $N "$TMP/txn.out" |
		tr '\n' ' ' | cut -c 1-400)"
first=$(tail -n $N "$TMP/txn.out" | head -n 1)
[ "$first" -gt 1 ] || fail "no TCP INCR before EXEC (first reply $first)"
ok "EXEC's $N INCR replies are consecutive ($first..$last), TCP INCRs before and after"
expect_eq "transaction: the final value is the sum" "$(cli get tx:n)" \
	$((pipes * 10000 + N))
big_check "transactions"

# --- WATCH -----------------------------------------------------------------

# watch_flow SIDE DB CHANGE...: in database DB, WATCH w:k, CHANGE over TCP
# (in DB), then MULTI/SET/EXEC: nil, the key as CHANGE left it
watch_flow() {
	local side=$1 db=$2 name="watch-$1-$2"
	shift 2
	cli -n "$db" set w:k 1 >/dev/null
	sess_start "$name" "${side}_session" -n "$db" --raw
	sess_cmd "$name" "watch w:k" 1
	cli -n "$db" "$@" >/dev/null
	sess_cmd "$name" "multi" 2
	sess_cmd "$name" "set w:k 3" 3
	sess_cmd "$name" "exec" 4
	sess_end "$name"
	expect_eq "WATCH ($side, db $db, $*): exit status" "$ST" 0
	expect_eq "WATCH ($side, db $db, $*): EXEC aborted (nil)" \
		"$(tr '\n' ' ' <"$TMP/$name.out")/$(cli -n "$db" get w:k)" \
		"OK OK QUEUED  /$W_LEFT"
}
for side in rdma tcp; do
	W_LEFT=2 watch_flow $side 0 set w:k 2
	W_LEFT='' watch_flow $side 1 flushdb
	W_LEFT='' watch_flow $side 1 pexpire w:k 1
done
same_text "WATCH abort by a SET" "$TMP/watch-rdma-0.out" "$TMP/watch-tcp-0.out"
# and without a change: EXEC runs
sess_start watch-none rdma_session --raw
sess_cmd watch-none "watch w:k" 1
sess_cmd watch-none "multi" 2
sess_cmd watch-none "set w:k 4" 3
sess_cmd watch-none "exec" 4
sess_end watch-none
expect_eq "WATCH without a change: EXEC runs" \
	"$ST/$(tr '\n' ' ' <"$TMP/watch-none.out")/$(cli get w:k)" \
	"0/OK OK QUEUED OK /4"
big_check "WATCH"

# --- blocking commands -----------------------------------------------------

blocked() { [ "$(info_field clients blocked_clients)" = "$1" ]; }

# block_bg SIDE OUT ARGS...: a client running ARGS in the background (BG)
block_bg() {
	local side=$1 out=$2
	shift 2
	if [ "$side" = rdma ]; then
		rs_rdma_bg "$out" timeout 60 "$RCLI" -p "$RPORT" "${U[@]}" \
			--raw "$@"
	else
		tcp_session --raw "$@" >"$out" 2>&1 &
		BG=$!
		RS_PIDS="$RS_PIDS $BG"
	fi
}

# wake_flow SIDE TAG WANT "BLOCKING COMMAND" WAKE...: the command blocks
# (INFO blocked_clients), then the TCP command WAKE releases it with WANT
# (its output, lines joined by spaces)
wake_flow() {
	local side=$1 tag=$2 want=$3 cmd=$4 out="$TMP/wake-$2-$1.out"
	shift 4
	# shellcheck disable=SC2086 # cmd is words
	block_bg "$side" "$out" $cmd
	rs_wait 20 "$tag ($side) blocks" blocked 1
	expect_eq "$tag ($side): still blocked" "$(wc -c <"$out")" 0
	cli "$@" >/dev/null
	rs_wait_pid "$BG" 20 "$tag ($side) after $*"
	expect_eq "$tag ($side) woken by TCP $1" \
		"$ST/$(tr '\n' ' ' <"$out")" "0/$want"
}

for side in rdma tcp; do
	cli del bl:q bm:src bm:dst bz xs >/dev/null
	wake_flow $side BLPOP "bl:q v1 " "blpop bl:q 0" lpush bl:q v1
	wake_flow $side BLMOVE "x " "blmove bm:src bm:dst left right 0" \
		rpush bm:src x
	wake_flow $side BZPOPMIN "bz m 1 " "bzpopmin bz 0" zadd bz 1 m
	wake_flow $side "XREAD BLOCK" "xs 1-1 f v " \
		"xread block 0 streams xs \$" xadd xs 1-1 f v
done
for tag in BLPOP BLMOVE BZPOPMIN "XREAD BLOCK"; do
	same_text "$tag woken" "$TMP/wake-$tag-rdma.out" "$TMP/wake-$tag-tcp.out"
done
expect_eq "BLMOVE moved the element" "$(cli lrange bm:dst 0 -1)" x

# two RDMA clients blocked on one list are served in the order they blocked
cli del bl:o >/dev/null
block_bg rdma "$TMP/ord1.out" blpop bl:o 0
ORD1=$BG
rs_wait 20 "the first BLPOP blocks" blocked 1
block_bg rdma "$TMP/ord2.out" blpop bl:o 0
ORD2=$BG
rs_wait 20 "the second BLPOP blocks" blocked 2
cli rpush bl:o first second >/dev/null
rs_wait_pid "$ORD1" 20 "the first BLPOP"
rs_wait_pid "$ORD2" 20 "the second BLPOP"
expect_eq "blocked RDMA clients served in order" \
	"$(tr '\n' ' ' <"$TMP/ord1.out")/$(tr '\n' ' ' <"$TMP/ord2.out")" \
	"bl:o first /bl:o second "
expect_eq "WAIT without replicas" "$(rcli "${U[@]}" wait 0 0)" 0

# an RDMA client that dies while blocked leaves no blocked server client
block_bg rdma "$TMP/dead.out" blpop bl:dead 0
rs_wait 20 "the BLPOP blocks" blocked 1
# BG is timeout(1); its child is rring-cli
pkill -KILL -P "$BG"
# (bash would say "Killed" on stderr)
rs_wait_pid "$BG" 20 "timeout after its rring-cli was killed" 2>/dev/null
rs_wait 20 "the killed client's BLPOP is gone" blocked 0
ok "a killed RDMA client's BLPOP is gone from blocked_clients"

# BLPOP with a 1 s timeout on an empty list: nil, not before 1 s
start=$(date +%s%N)
out=$(rcli "${U[@]}" --no-raw blpop bl:none 1)
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
expect_eq "BLPOP timeout: nil" "$rc/$out" "0/(nil)"
[ "$took" -ge 1000 ] || fail "BLPOP timeout: returned after $took ms"
ok "BLPOP timeout: returned after the timeout ($took ms)"
rs_same "BLPOP timeout" --no-raw "${U[@]}" blpop bl:none 1

# CLIENT UNBLOCK releases a BLPOP of a named RDMA client
printf 'client setname blk\nblpop bl:u 0\n' >"$TMP/unblock.in"
rs_rdma_bg "$TMP/unblock.out" timeout 60 "$RCLI" -p "$RPORT" "${U[@]}" \
	--raw <"$TMP/unblock.in"
rs_wait 20 "BLPOP of client blk blocks" blocked 1
id=$(cli client list | tr -d '\r' | sed -n 's/^id=\([0-9]*\) .* name=blk .*/\1/p')
[ -n "$id" ] || fail "CLIENT LIST: no client named blk: $(cli client list)"
expect_eq "CLIENT UNBLOCK of the RDMA client" "$(cli client unblock "$id")" 1
rs_wait_pid "$BG" 20 "BLPOP after CLIENT UNBLOCK"
expect_eq "CLIENT UNBLOCK: BLPOP returned nil" \
	"$ST/$(tr '\n' ' ' <"$TMP/unblock.out")" "0/OK  "
big_check "blocking commands"

# --- pub/sub ---------------------------------------------------------------

subscribers() {
	[ "$(cli pubsub numsub "$1" | sed -n 2p)" = "$2" ]
}

# 100k messages published over TCP reach the RDMA subscriber in order
M=100000
rs_rdma_bg "$TMP/sub.out" timeout 120 "$RCLI" -p "$RPORT" "${U[@]}" --raw \
	--count-pushes $M subscribe seq
SUB=$BG
rs_wait 20 "the RDMA client subscribed" subscribers seq 1
awk -v n=$M 'BEGIN { for (i = 1; i <= n; i++)
	printf "*3\r\n$7\r\nPUBLISH\r\n$3\r\nseq\r\n$%d\r\n%d\r\n",
		length(i ""), i }' >"$TMP/pub.resp"
timeout 120 "$CLI" -p "$PORT" --pipe <"$TMP/pub.resp" >"$TMP/pub.out" 2>&1
expect_has "100k PUBLISH over TCP" "$(cat "$TMP/pub.out")" \
	"errors: 0, replies: $M"
rs_wait_pid "$SUB" 120 "the subscriber after $M messages"
expect_eq "subscriber: exit status after --count-pushes $M" "$ST" 0
expect_eq "subscriber: the confirmation" "$(head -n 3 "$TMP/sub.out" |
	tr '\n' ' ')" "subscribe seq 1 "
tail -n +4 "$TMP/sub.out" | awk -v n=$M '
	NR % 3 == 1 && $0 != "message" { exit 1 }
	NR % 3 == 2 && $0 != "seq" { exit 1 }
	NR % 3 == 0 { if ($0 != ++k) exit 1; sum += $0 }
	END { exit !(k == n && sum == n * (n + 1) / 2) }' ||
	fail "the $M messages are not 1..$M in order: $(tail -n 6 "$TMP/sub.out")"
ok "the RDMA subscriber got messages 1..$M in order"
subs_gone() { subscribers seq 0; }
rs_wait 20 "the subscriber's server client is gone" subs_gone
ok "the subscriber's server client is gone after it exited"

# a subscriber that stops reading is closed by the pubsub output limit
cli config set client-output-buffer-limit "pubsub 262144 0 0" >/dev/null
rs_rdma_bg "$TMP/slow.out" "$RCLI" -p "$RPORT" "${U[@]}" --raw \
	--count-pushes 1000000000 subscribe slow
SLOW=$BG
rs_wait 20 "the slow RDMA client subscribed" subscribers slow 1
kill -STOP "$SLOW"
awk 'BEGIN { v = sprintf("%01000d", 0); for (i = 0; i < 2000; i++)
	printf "*3\r\n$7\r\nPUBLISH\r\n$4\r\nslow\r\n$1000\r\n%s\r\n", v }' \
	>"$TMP/flood.resp"
# 2 MB a round, until the server closes the subscriber (its messages
# fill the RDMA side, the module's relay, then the server's buffer)
for round in $(seq 1 100); do
	timeout 60 "$CLI" -p "$PORT" --pipe <"$TMP/flood.resp" >/dev/null 2>&1
	subscribers slow 0 && break
done
subscribers slow 0 ||
	fail "a stopped RDMA subscriber was not closed after 200 MB published"
ok "a stopped RDMA subscriber is closed after $((round * 2)) MB published"
expect_has "server log: closed for its output buffer" \
	"$(cat "$TMP/server.log")" "for overcoming of output buffer limits"
kill -CONT "$SLOW"
rs_wait_pid "$SLOW" 60 "the closed subscriber after SIGCONT"
expect_eq "the closed subscriber exits with status 1 (before its count)" \
	"$ST" 1
expect_has "the closed subscriber says why" "$(tail -n 1 "$TMP/slow.out")" \
	"Server closed the connection"
cli config set client-output-buffer-limit "pubsub 33554432 8388608 60" \
	>/dev/null

# RESP2 and RESP3 subscribe output as redis-cli's, pattern and shard
# channels, with the count of messages
for proto in "" -3; do
	for fmt in --raw --no-raw; do
		for sub in "subscribe ch1 ch2" "psubscribe ch*" \
			"ssubscribe ch1"; do
			# shellcheck disable=SC2086 # proto and sub are words
			rs_rdma_bg "$TMP/subr.out" timeout 60 "$RCLI" -p "$RPORT" \
				"${U[@]}" $proto $fmt --count-pushes 2 $sub
			SUBR=$BG
			# shellcheck disable=SC2086
			timeout 60 "$CLI" -p "$PORT" "${U[@]}" $proto $fmt $sub \
				>"$TMP/subt.out" 2>&1 &
			SUBT=$!
			RS_PIDS="$RS_PIDS $SUBT"
			two_subs() {
				[ "$(cli client list | grep -c " cmd=${sub%% *} ")" = 2 ]
			}
			rs_wait 20 "$proto $fmt $sub: both subscribed" two_subs
			if [ "${sub%% *}" = ssubscribe ]; then
				cli spublish ch1 "a b" >/dev/null
				cli spublish ch1 "" >/dev/null
			else
				cli publish ch1 "a b" >/dev/null
				cli publish ch2 "" >/dev/null
			fi
			rs_wait_pid "$SUBR" 20 "$proto $fmt $sub: rring-cli"
			expect_eq "$proto $fmt $sub: status after 2 messages" "$ST" 0
			lines=$(wc -l <"$TMP/subr.out")
			tcp_lines() { [ "$(wc -l <"$TMP/subt.out")" -ge "$lines" ]; }
			rs_wait 20 "$proto $fmt $sub: redis-cli output" tcp_lines
			kill "$SUBT"
			wait "$SUBT" 2>/dev/null
			same_text "$proto $fmt $sub" "$TMP/subr.out" "$TMP/subt.out"
		done
	done
done
big_check "pub/sub"

# --- MONITOR ---------------------------------------------------------------

monitors() { [ "$(cli client list | grep -c ' flags=O ')" = "$1" ]; }

# monitor_start SIDE: a MONITOR client, its output filtered (the 10 MB
# SETs show too) into $TMP/mon-SIDE.out; its pid in MON_SIDE
monitor_start() {
	local fifo="$TMP/mon-$1.fifo"
	mkfifo "$fifo" || fail "mkfifo"
	# (a 10 MB value may hold "mon:k": only the command and key count)
	grep --line-buffered -a -E '^OK$|\] "(set|get|del)" "mon:k"' <"$fifo" \
		>"$TMP/mon-$1.out" &
	RS_PIDS="$RS_PIDS $!"
	if [ "$1" = rdma ]; then
		rs_rdma_bg "$fifo" "$RCLI" -p "$RPORT" "${U[@]}" --raw monitor
	else
		"$CLI" -p "$PORT" "${U[@]}" --raw monitor >"$fifo" 2>&1 &
		BG=$!
		RS_PIDS="$RS_PIDS $BG"
	fi
	eval "MON_$1=\$BG"
}

# monitor_end SIDE: the three mon:k commands shown; stop it, keep the
# output without time stamps and client addresses in $TMP/mon-SIDE.s
monitor_end() {
	local pid
	mon_done() { grep -q '"del" "mon:k"' "$TMP/mon-$1.out"; }
	rs_wait 30 "MONITOR ($1) shows the TCP commands" mon_done "$1"
	pid=$(eval "echo \$MON_$1")
	kill "$pid"
	rs_wait_pid "$pid" 20 "MONITOR ($1) after SIGTERM"
	sed -E 's/^[0-9.]+ \[[0-9]+ [^]]*\] //' "$TMP/mon-$1.out" >"$TMP/mon-$1.s"
}

monitor_start rdma
monitor_start tcp
rs_wait 20 "two monitors" monitors 2
cli set mon:k "a b" >/dev/null
cli get mon:k >/dev/null
cli del mon:k >/dev/null
monitor_end rdma
monitor_end tcp
expect_eq "MONITOR over RDMA shows the TCP commands" \
	"$(tr '\n' '|' <"$TMP/mon-rdma.s")" \
	'OK|"set" "mon:k" "a b"|"get" "mon:k"|"del" "mon:k"|'
same_text "MONITOR" "$TMP/mon-rdma.s" "$TMP/mon-tcp.s"
big_check "MONITOR"

# --- client tracking (RESP3) ----------------------------------------------

# tracking_flow SIDE: CLIENT TRACKING on, GET trk:k, a TCP SET of it, PING
tracking_flow() {
	cli set trk:k old >/dev/null
	sess_start "trk-$1" "$1_session" -3 --raw --show-pushes yes
	sess_cmd "trk-$1" "client tracking on" 1
	sess_cmd "trk-$1" "get trk:k" 2
	cli set trk:k new >/dev/null
	sess_cmd "trk-$1" "ping" 5
	sess_end "trk-$1"
	expect_eq "tracking ($1): the invalidation before PONG" \
		"$ST/$(tr '\n' ' ' <"$TMP/trk-$1.out")" \
		"0/OK old invalidate trk:k PONG "
}
tracking_flow rdma
tracking_flow tcp
same_text "client tracking" "$TMP/trk-rdma.out" "$TMP/trk-tcp.out"
# --count-pushes: rring-cli waits for the invalidation after its commands
cli set trk:c old >/dev/null
printf 'client tracking on\nget trk:c\n' >"$TMP/trkc.in"
: >"$TMP/trkc.out"
rs_rdma_bg "$TMP/trkc.out" timeout 60 "$RCLI" -p "$RPORT" "${U[@]}" -3 \
	--raw --show-pushes yes --count-pushes 1 <"$TMP/trkc.in"
TRKC=$BG
rs_wait 20 "tracking GET answered" sess_has_lines trkc 2
cli set trk:c new >/dev/null
rs_wait_pid "$TRKC" 20 "rring-cli --count-pushes 1 after the invalidation"
expect_eq "tracking: --count-pushes 1 ends after the invalidation" \
	"$ST/$(tr '\n' ' ' <"$TMP/trkc.out")" "0/OK old invalidate trk:c "

# RESP3 replies as redis-cli -3 prints them
cli hset r3:h f1 v1 f2 2 >/dev/null
cli sadd r3:s x >/dev/null
cli zadd r3:z 1.5 a 2 b >/dev/null
for fmt in --raw --no-raw; do
	rs_same "RESP3 $fmt: map" -3 "$fmt" "${U[@]}" hgetall r3:h
	rs_same "RESP3 $fmt: set" -3 "$fmt" "${U[@]}" smembers r3:s
	rs_same "RESP3 $fmt: doubles" -3 "$fmt" "${U[@]}" zrange r3:z 0 -1 \
		withscores
	rs_same "RESP3 $fmt: null" -3 "$fmt" "${U[@]}" get r3:none
	rs_same "RESP3 $fmt: CONFIG GET" -3 "$fmt" "${U[@]}" config get \
		maxmemory-policy
done
big_check "client tracking and RESP3"

# --- RDMA clients as server clients -----------------------------------------

sess_start one rdma_session --raw
sess_cmd one "client setname rdma-one" 1
sess_cmd one "client id" 2
id=$(sed -n 2p "$TMP/one.out")
sess_start two rdma_session --raw
sess_cmd two "client setname rdma-two" 1
sess_cmd two "client getname" 2
expect_eq "CLIENT GETNAME over RDMA" "$(sed -n 2p "$TMP/two.out")" rdma-two
list=$(cli client list | tr -d '\r')
expect_has "CLIENT LIST shows rdma-one with its CLIENT ID and user" \
	"$list" "id=$id "
expect_eq "CLIENT LIST: rdma-one's line" \
	"$(grep -c "^id=$id .* name=rdma-one .* user=app" <<<"$list")" 1
expect_eq "CLIENT LIST: rdma-two listed" \
	"$(grep -c ' name=rdma-two .* user=app' <<<"$list")" 1
expect_eq "CLIENT KILL ID of an RDMA client" "$(cli client kill id "$id")" 1
gone() { ! cli client list | grep -q " name=rdma-one "; }
rs_wait 20 "rdma-one is gone from CLIENT LIST" gone
ok "rdma-one is gone from CLIENT LIST"
sess_send one "ping"
sess_end one
expect_eq "the killed RDMA client fails its next command" "$ST" 1
expect_has "the killed RDMA client says why" "$(cat "$TMP/one.out")" \
	"Server closed the connection"
# (CLIENT INFO's line ends with a newline: two lines)
sess_cmd two "client info" 4
expect_has "CLIENT INFO over RDMA: its name and user" \
	"$(sed -n 3p "$TMP/two.out")" " name=rdma-two "
expect_has "CLIENT INFO over RDMA: its user" "$(sed -n 3p "$TMP/two.out")" \
	" user=app "
sess_cmd two "ping" 5
addr=$(cli client list | tr -d '\r' |
	sed -n 's/^id=[0-9]* addr=\([^ ]*\) .* name=rdma-two .*/\1/p')
expect_eq "CLIENT KILL ADDR of an RDMA client" \
	"$(cli client kill addr "$addr")" 1
sess_send two "ping"
sess_end two
expect_eq "the RDMA client killed by address: PONG before, then status 1" \
	"$ST/$(sed -n 5p "$TMP/two.out")" "1/PONG"
# (the engine may add why: ": Input/output error")
expect_has "the RDMA client killed by address says why" \
	"$(tail -n 1 "$TMP/two.out")" "Error: Server closed the connection"
big_check "CLIENT LIST and KILL"

# --- a 10 MB value through a moved client ------------------------------------

head -c 7500000 /dev/urandom | base64 -w 0 >"$TMP/value"
# as printed: with a newline
want=$({
	cat "$TMP/value"
	echo
} | md5sum)
{
	echo "client setname big"
	printf 'set big:v %s\n' "$(cat "$TMP/value")"
	echo "get big:v"
} >"$TMP/big.in"
rdma_session --raw <"$TMP/big.in" >"$TMP/bigv.out" 2>&1
expect_eq "10 MB SET/GET by a moved client: status, replies" \
	"$?/$(head -n 2 "$TMP/bigv.out" | tr '\n' ' ')" "0/OK OK "
expect_eq "10 MB GET by a moved client: the value" \
	"$(sed -n 3p "$TMP/bigv.out" | md5sum)" "$want"
expect_eq "10 MB value set by a moved client, read over TCP" \
	"$(cli get big:v | md5sum)" "$want"
big_check "10 MB through a moved client"

touch "$TMP/big.stop"
rs_wait_pid "$BIG" 120 "the 10 MB SET/GET loop"
grep -qvx 0 "$TMP/big.runs" &&
	fail "a 10 MB SET/GET run failed: $(tail -n 5 "$TMP/big.log")"
ok "10 MB SET/GET: $(big_runs) runs, all verified"
cli shutdown nosave >/dev/null
rs_wait_exit 20
echo "all $CHECKS checks passed"
