#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the seed scenario. Debian's redis-server with rdmaring.so over
# softverbs (8 IO threads), rring-bench SET/GET of 10 MB values from 8
# connections on 8 IO threads with --verify; exits 0 only when every reply
# was verified. RRING_BUILD_DIR (default build) holds a finished build;
# RRING_SEED_REQUESTS overrides -n (default 120, about a minute on two
# shared cores).
set -u
cd "$(dirname "$0")/.."

BUILD=$(realpath "${RRING_BUILD_DIR:-build}")
N=${RRING_SEED_REQUESTS:-120}
SERVER=${RRING_REDIS_SERVER:-/usr/bin/redis-server}
CLI=${RRING_REDIS_CLI:-/usr/bin/redis-cli}
SOFTVERBS=$BUILD/softverbs/libsoftverbs.so
MODULE=$BUILD/module/rdmaring.so
BENCH=$BUILD/bench/rring-bench
TMP=$(mktemp -d /tmp/rdmaring-seed.XXXXXX)
PID=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -9 "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

die() {
	echo "seed: $*" >&2
	[ -f "$TMP/server.log" ] && tail -n 20 "$TMP/server.log" >&2
	exit 1
}

for f in "$SOFTVERBS" "$MODULE" "$BENCH" "$SERVER" "$CLI"; do
	[ -e "$f" ] || die "missing $f (build first: scripts/build.sh)"
done
case $N in
'' | *[!0-9]*) die "RRING_SEED_REQUESTS must be a positive integer" ;;
esac

# A port free for TCP and for softverbs' rdma_cm names (abstract sockets).
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		grep -q "@softverbs/cm/.*:$p\$" /proc/net/unix && continue
		echo "$p"
		return 0
	done
	return 1
}

TCP_PORT=$(free_port) || die "no free port"
RDMA_PORT=$(free_port) || die "no free port"
[ "$TCP_PORT" != "$RDMA_PORT" ] || RDMA_PORT=$((TCP_PORT + 1))

LD_PRELOAD=$SOFTVERBS "$SERVER" --port "$TCP_PORT" --bind 127.0.0.1 \
	--dir "$TMP" --save '' --appendonly no --logfile "$TMP/server.log" \
	--loadmodule "$MODULE" bind=127.0.0.1 port="$RDMA_PORT" io-threads=8 &
PID=$!

# Ready when the TCP port answers and the module serves (bounded wait).
deadline=$((SECONDS + 30))
until [ "$("$CLI" -p "$TCP_PORT" info rdmaring 2>/dev/null |
	tr -d '\r' | grep '^rdmaring_engine:')" = "rdmaring_engine:running" ]; do
	kill -0 "$PID" 2>/dev/null || die "redis-server exited"
	[ $SECONDS -lt $deadline ] || die "redis-server not ready in 30 s"
	sleep 0.2
done
echo "seed: redis-server $("$SERVER" --version | grep -o 'v=[0-9.]*')" \
	"pid $PID, TCP $TCP_PORT, RDMA $RDMA_PORT (softverbs), 8 IO threads"

echo "seed: rring-bench -t set,get -d 10485760 -c 8 --threads 8 --verify -n $N"
LD_PRELOAD=$SOFTVERBS "$BENCH" -h 127.0.0.1 -p "$RDMA_PORT" -t set,get \
	-d 10485760 -c 8 --threads 8 --verify -n "$N" \
	--json "$TMP/seed.json"
rc=$?
[ -f "$TMP/seed.json" ] && echo "seed: $(cat "$TMP/seed.json")"
"$CLI" -p "$TCP_PORT" info rdmaring | tr -d '\r' |
	grep -E '^rdmaring_(connected_clients|total_bytes)'
"$CLI" -p "$TCP_PORT" shutdown nosave >/dev/null 2>&1
deadline=$((SECONDS + 20))
while kill -0 "$PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 0.2
done
kill -0 "$PID" 2>/dev/null && die "redis-server did not stop"
wait "$PID" 2>/dev/null
PID=
if [ $rc -ne 0 ]; then
	echo "seed: FAILED (rring-bench exit $rc)"
	exit 1
fi
echo "seed: OK, every reply verified"
exit 0
