#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: run an unmodified rdma-core server/client pair over LD_PRELOAD=libsoftverbs.so.
#
# usage: run_pair.sh LIB REGEX SERVER-CMD... ::: CLIENT-CMD...
#   Every @PORT@ in the commands becomes a free TCP port. The server starts
#   first; readiness is a TCP listener on the port (ss), or, for rdma_cm
#   programs that do not listen on TCP, retrying the client until a bounded
#   deadline. Both must exit 0 and both outputs must match REGEX (grep -E).
set -u
lib=$1
regex=$2
shift 2
deadline=${RUN_PAIR_DEADLINE:-30}

# pick a port nobody listens on (TCP)
port=$(( 20000 + ($$ % 20000) ))
while ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; do
	port=$((port + 1))
done

server=""
client=""
side=server
for a in "$@"; do
	if [ "$a" = ":::" ]; then
		side=client
		continue
	fi
	a=$(printf '%s' "$a" | sed "s/@PORT@/$port/g")
	if [ $side = server ]; then
		server="$server '$a'"
	else
		client="$client '$a'"
	fi
done
[ -n "$server" ] && [ -n "$client" ] || { echo "usage: $0 LIB REGEX SERVER ::: CLIENT"; exit 2; }

tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null; rm -rf "$tmp"' EXIT

export LD_PRELOAD="$lib"
eval "timeout $deadline $server" >"$tmp/server.out" 2>&1 &
spid=$!

end=$(( $(date +%s) + deadline ))
tcp=no
while [ "$(date +%s)" -lt "$end" ]; do
	if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
		tcp=yes
		break
	fi
	kill -0 $spid 2>/dev/null || break
	# rdma_cm servers listen on softverbs' abstract sockets, not TCP
	if ss -lxH 2>/dev/null | grep -q "softverbs/cm/.*:$port "; then
		tcp=yes # ready just the same: no retries
		break
	fi
	sleep 0.05
done

crc=1
while :; do
	eval "timeout $deadline $client" >>"$tmp/client.out" 2>&1
	crc=$?
	echo "--- client attempt exit $crc" >>"$tmp/client.out"
	[ $crc -eq 0 ] && break
	[ $tcp = yes ] && break
	kill -0 $spid 2>/dev/null || break
	[ "$(date +%s)" -lt "$end" ] || break
	sleep 0.1
done
wait $spid
src=$?
unset LD_PRELOAD

echo "=== server (exit $src)"
cat "$tmp/server.out"
echo "=== client (exit $crc)"
cat "$tmp/client.out"
[ $src -eq 0 ] || { echo "FAIL: server exit $src"; exit 1; }
[ $crc -eq 0 ] || { echo "FAIL: client exit $crc"; exit 1; }
grep -Eq "$regex" "$tmp/server.out" || { echo "FAIL: server output lacks /$regex/"; exit 1; }
grep -Eq "$regex" "$tmp/client.out" || { echo "FAIL: client output lacks /$regex/"; exit 1; }
echo PASS
