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

# shellcheck source=lib/server.sh
. scripts/lib/server.sh

BUILD=$(realpath "${RRING_BUILD_DIR:-build}")
N=${RRING_SEED_REQUESTS:-120}
SERVER=${RRING_REDIS_SERVER:-/usr/bin/redis-server}
CLI=${RRING_REDIS_CLI:-/usr/bin/redis-cli}
SOFTVERBS=$BUILD/softverbs/libsoftverbs.so
MODULE=$BUILD/module/rdmaring.so
BENCH=$BUILD/bench/rring-bench
RS_FAIL_PREFIX="seed: "
RS_FAIL_FD=2
rs_init seed

for f in "$SOFTVERBS" "$MODULE" "$BENCH" "$SERVER" "$CLI"; do
	[ -e "$f" ] || fail "missing $f (build first: scripts/build.sh)"
done
case $N in
'' | *[!0-9]*) fail "RRING_SEED_REQUESTS must be a positive integer" ;;
esac

PORT=$(free_port) || fail "no free port"
RDMA_PORT=$(free_port) || fail "no free port"
[ "$PORT" != "$RDMA_PORT" ] || RDMA_PORT=$((PORT + 1))

rs_start server "$SOFTVERBS" \
	--loadmodule "$MODULE" bind=127.0.0.1 port="$RDMA_PORT" io-threads=8

# Ready when the TCP port answers and the module serves.
engine_running() {
	[ "$("$CLI" -p "$PORT" info rdmaring 2>/dev/null | tr -d '\r' |
		grep '^rdmaring_engine:')" = "rdmaring_engine:running" ]
}
rs_wait 30 "redis-server ready" engine_running
echo "seed: redis-server $("$SERVER" --version | grep -o 'v=[0-9.]*')" \
	"pid $PID, TCP $PORT, RDMA $RDMA_PORT (softverbs), 8 IO threads"

echo "seed: rring-bench -t set,get -d 10485760 -c 8 --threads 8 --verify -n $N"
LD_PRELOAD=$SOFTVERBS "$BENCH" -h 127.0.0.1 -p "$RDMA_PORT" -t set,get \
	-d 10485760 -c 8 --threads 8 --verify -n "$N" \
	--json "$TMP/seed.json"
rc=$?
[ -f "$TMP/seed.json" ] && echo "seed: $(cat "$TMP/seed.json")"
"$CLI" -p "$PORT" info rdmaring | tr -d '\r' |
	grep -E '^rdmaring_(connected_clients|total_bytes)'
"$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1
rs_wait_exit 20
if [ $rc -ne 0 ]; then
	echo "seed: FAILED (rring-bench exit $rc)"
	exit 1
fi
echo "seed: OK, every reply verified"
exit 0
