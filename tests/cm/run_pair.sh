#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdma_cm tool test runner: an unmodified rdma-core server and client over
# LD_PRELOAD=libsoftverbs.so on a free rdma_cm port.
#
# run_pair.sh --lib LIB [--expect-server RE] [--expect-client RE]
#             [--client-lines 'RE=N'] [--retry-if RE] [--server-stays]
#             --server CMD... --client CMD...
# @PORT@ in the commands is replaced by the port. The server is started in
# the background; readiness is its listening abstract socket
# "@softverbs/cm/<ip>:<port>" in /proc/net/unix (bounded wait). Both exit
# statuses must be 0 and the outputs must match. The server is killed on
# every exit path. --retry-if: when a failed client's output matches RE (a
# race inside the tool itself), run the pair again, 3 attempts in all.
# --server-stays: the server never exits by itself (cmtime -b); it is
# killed once the client is done and its exit status is not checked.
set -u

lib= expect_server= expect_client= client_lines= retry_if= server_stays=
server=() client=()
while [ $# -gt 0 ]; do
	case "$1" in
	--lib) lib=$2; shift 2 ;;
	--expect-server) expect_server=$2; shift 2 ;;
	--expect-client) expect_client=$2; shift 2 ;;
	--client-lines) client_lines=$2; shift 2 ;;
	--retry-if) retry_if=$2; shift 2 ;;
	--server-stays) server_stays=1; shift ;;
	--server) shift
		while [ $# -gt 0 ] && [ "$1" != --client ]; do server+=("$1"); shift; done ;;
	--client) shift
		while [ $# -gt 0 ]; do client+=("$1"); shift; done ;;
	*) echo "run_pair.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$lib" ] || [ ${#server[@]} -eq 0 ] || [ ${#client[@]} -eq 0 ]; then
	echo "usage: run_pair.sh --lib LIB --server CMD... --client CMD..." >&2
	exit 2
fi

tmp=$(mktemp -d)
spid=
# The server runs in its own process group (setsid): kill the group, so
# that neither timeout(1) nor the tool survives.
kill_server() {
	[ -n "$spid" ] || return 0
	kill -TERM -- "-$spid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 -- "-$spid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL -- "-$spid" 2>/dev/null
	return 0
}
cleanup() {
	kill_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- server (${server[*]}) output:"
	cat "$tmp/server.out" 2>/dev/null
	echo "--- client (${client[*]}) output:"
	cat "$tmp/client.out" 2>/dev/null
	exit 1
}

# /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path;
# Flags 00010000 (__SO_ACCEPTCON) marks a listening socket.
listening() { # port
	awk -v re="^@softverbs/cm/.*:$1\$" \
		'$4 == "00010000" && $8 ~ re { found = 1 } END { exit !found }' \
		/proc/net/unix
}
bound() { # port: bound or listening
	grep -qE "@softverbs/cm/[^ ]*:$1\$" /proc/net/unix
}

# A port no rdma_cm id of this host uses (the machine may be shared).
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 10000))
	if ! bound "$p"; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free rdma_cm port"

server_t=("${server[@]}")
client_t=("${client[@]}")

run_once() {
	server=("${server_t[@]//@PORT@/$port}")
	client=("${client_t[@]//@PORT@/$port}")

	LD_PRELOAD=$lib setsid timeout 90 "${server[@]}" \
		>"$tmp/server.out" 2>&1 &
	spid=$!

	# Ready when the server's listener shows up (10 s at most).
	for _ in $(seq 1 200); do
		listening "$port" && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	listening "$port" || fail "server did not listen on port $port"

	LD_PRELOAD=$lib timeout 60 "${client[@]}" >"$tmp/client.out" 2>&1
	crc=$?

	# The server exits by itself once the client is done (30 s at most;
	# 2 s after a failed client, which it may still be waiting for).
	local n=600
	[ "$crc" -eq 0 ] || n=40
	if [ -n "$server_stays" ]; then
		kill_server
		wait "$spid"
		src=0
		spid=
		return
	fi
	for _ in $(seq 1 $n); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$spid" 2>/dev/null; then
		[ "$crc" -ne 0 ] ||
			fail "server still running 30 s after the client"
		kill_server
	fi
	wait "$spid"
	src=$?
	spid=
}

for attempt in 1 2 3; do
	run_once
	if [ "$crc" -ne 0 ] && [ -n "$retry_if" ] && [ "$attempt" -lt 3 ] &&
		grep -qE -- "$retry_if" "$tmp/client.out"; then
		echo "attempt $attempt: client hit /$retry_if/, retrying"
		cat "$tmp/client.out"
		port=$((port + 1))
		continue
	fi
	break
done

[ "$crc" -eq 0 ] || fail "client exit status $crc"
[ "$src" -eq 0 ] || fail "server exit status $src"
if [ -n "$expect_server" ] && ! grep -qE -- "$expect_server" "$tmp/server.out"; then
	fail "server output lacks /$expect_server/"
fi
if [ -n "$expect_client" ] && ! grep -qE -- "$expect_client" "$tmp/client.out"; then
	fail "client output lacks /$expect_client/"
fi
if [ -n "$client_lines" ]; then
	re=${client_lines%=*}
	want=${client_lines##*=}
	got=$(grep -cE -- "$re" "$tmp/client.out")
	[ "$got" -eq "$want" ] || fail "client printed $got lines /$re/, want $want"
fi
echo "PASS: port $port; server: ${server[*]}; client: ${client[*]}"
tail -n 3 "$tmp/client.out"
exit 0
