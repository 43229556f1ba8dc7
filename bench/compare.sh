#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: rring-bench over RDMA against redis-benchmark over TCP on the same
# redis-server (and, with --base REV, against a build of REV), interleaved.
#
#   bench/compare.sh [--base REV] [--reps N] [--quick] [--json FILE]
#
# One redis-server with rdmaring.so (io-threads 8, softverbs preloaded) per
# build; each repetition runs every test once per peer, one after the other:
# rring-bench over RDMA (this build), rring-bench over RDMA (REV's build, its
# own server), redis-benchmark over TCP (this build's server). Tests, each
# SET then GET in one client process (rring-bench's --verify keys live in
# one run): 16 B -c 50 -P 1 and -P 16; 10 MB -c 8 --threads 8 (rring-bench
# with --verify). Prints per test the median SET and GET rates of each peer,
# the ratios to TCP, and the CPU per request (SET and GET together) of the
# server's threads (from
# /proc/PID/task/*/stat, grouped by thread name, digits dropped) and of the
# client process, in microseconds. RRING_BUILD_DIR (default build) holds a
# finished build; REV is built in a temporary directory (git worktree).
set -u
cd "$(dirname "$0")/.." || exit 2

# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh

BUILD=$(realpath "${RRING_BUILD_DIR:-build}")
SERVER=${RRING_REDIS_SERVER:-/usr/bin/redis-server}
CLI=${RRING_REDIS_CLI:-/usr/bin/redis-cli}
RB=${RRING_REDIS_BENCHMARK:-/usr/bin/redis-benchmark}
BASE="" REPS=3 QUICK=0 JSON=""
RS_FAIL_PREFIX="compare: "
RS_FAIL_FD=2

usage() {
	echo "usage: $0 [--base REV] [--reps N (1..20)] [--quick] [--json FILE]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--base) [ $# -ge 2 ] || usage; BASE=$2; shift 2 ;;
	--reps) [ $# -ge 2 ] || usage; REPS=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--json) [ $# -ge 2 ] || usage; JSON=$2; shift 2 ;;
	*) usage ;;
	esac
done
case $REPS in
[1-9] | 1[0-9] | 20) ;;
*) echo "compare: --reps '$REPS': allowed 1..20" >&2; exit 2 ;;
esac
rs_init compare
for f in "$BUILD/softverbs/libsoftverbs.so" "$BUILD/module/rdmaring.so" \
	"$BUILD/bench/rring-bench" "$SERVER" "$CLI" "$RB"; do
	[ -e "$f" ] || fail "missing $f (build first: scripts/build.sh)"
done

# ---- builds and servers ---------------------------------------------------

# build_rev REV DIR: REV's module, softverbs and rring-bench in DIR/build.
build_rev() {
	git worktree add --detach "$2/src" "$1" >/dev/null 2>&1 ||
		fail "cannot check out '$1'"
	RS_WORKTREE=$2/src
	echo "compare: building $1 in $2 ..." >&2
	if ! cmake -S "$2/src" -B "$2/build" >"$2/cmake.log" 2>&1 ||
		! nice cmake --build "$2/build" -j2 --target rdmaring_module \
			softverbs rring-bench >>"$2/cmake.log" 2>&1; then
		fail "building $1 failed (log $2/cmake.log)"
	fi
}

cleanup_worktree() {
	[ -n "${RS_WORKTREE:-}" ] && git worktree remove --force "$RS_WORKTREE"
	rs_cleanup
}
trap cleanup_worktree EXIT

# start_server NAME BUILDDIR: sets SV_PID, SV_PORT, SV_RDMA.
start_server() {
	local port rdma
	port=$(free_port) || fail "no free port"
	rdma=$(free_port) || fail "no free port"
	[ "$port" != "$rdma" ] || rdma=$((port + 1))
	PORT=$port
	rs_start "server-$1" "$2/softverbs/libsoftverbs.so" \
		--loadmodule "$2/module/rdmaring.so" bind=127.0.0.1 \
		port="$rdma" io-threads=8
	RS_PIDS="$RS_PIDS $PID"
	rs_wait 30 "redis-server $1 ready" engine_running "$port"
	SV_PID=$PID SV_PORT=$port SV_RDMA=$rdma
	PID=
}

engine_running() {
	[ "$("$CLI" -p "$1" info rdmaring 2>/dev/null | tr -d '\r' |
		grep '^rdmaring_engine:')" = "rdmaring_engine:running" ]
}

start_server cur "$BUILD"
cur_PID=$SV_PID cur_PORT=$SV_PORT cur_RDMA=$SV_RDMA
base_PID="" base_PORT="" base_RDMA=""
PEERS="rdma tcp"
if [ -n "$BASE" ]; then
	build_rev "$BASE" "$TMP/base"
	start_server base "$TMP/base/build"
	base_PID=$SV_PID base_PORT=$SV_PORT base_RDMA=$SV_RDMA
	PEERS="rdma base tcp"
fi

# ---- measuring ------------------------------------------------------------

# cpu_snap PID: "name ticks" per thread (utime + stime), name without digits;
# the main thread is "main" (module threads may share its name).
cpu_snap() {
	local f
	for f in /proc/"$1"/task/*/stat; do
		# comm may hold spaces: fields count from the last ')'.
		sed 's/^\([0-9]*\) (\(.*\)) /\1\t\2\t/' "$f" 2>/dev/null
	done | awk -F'\t' -v pid="$1" '{ split($3, a, " "); n = $2;
		if ($1 == pid) n = "main"; gsub(/[0-9]+/, "", n);
		gsub(/ /, "_", n); print n, a[12] + a[13] }'
}

# cpu_delta BEFORE AFTER REQUESTS: "group us_per_request ..." summed by name.
cpu_delta() {
	local hz
	hz=$(getconf CLK_TCK)
	awk -v hz="$hz" -v n="$3" '
		NR == FNR { b[$1] += $2; next }
		{ a[$1] += $2 }
		END { t = 0; for (k in a) { d = a[k] - b[k]; t += d;
			if (d > 0) printf "%s=%.2f ", k, d * 1e6 / hz / n }
			printf "total=%.2f\n", t * 1e6 / hz / n }' "$1" "$2"
}

# test table: name rring-bench-options redis-benchmark-options requests
small=200000 big=48
[ "$QUICK" = 1 ] && small=20000 big=16
TESTS=(
	"16B_P1|-d 16 -c 50 -P 1|-d 16 -c 50 -P 1|$((small / 2))"
	"16B_P16|-d 16 -c 50 -P 16|-d 16 -c 50 -P 16|$small"
	"10MB|-d 10485760 -c 8 --threads 8 --verify|-d 10485760 -c 8 --threads 8|$big"
)

# run_one PEER OPTS_RDMA OPTS_TCP N OUT: lines "SET-rps GET-rps errors",
# "server group=us ...", "client total=us" (CPU per request of 2N).
run_one() {
	local peer=$1 ordma=$2 otcp=$3 n=$4 out=$5 pid bench sv port rps t0 t1
	local tm="$TMP/time.$$"
	case $peer in
	rdma | tcp) pid=$cur_PID port=$cur_RDMA bench=$BUILD/bench/rring-bench
		sv=$BUILD/softverbs/libsoftverbs.so ;;
	base) pid=$base_PID port=$base_RDMA
		bench=$TMP/base/build/bench/rring-bench
		sv=$TMP/base/build/softverbs/libsoftverbs.so ;;
	esac
	cpu_snap "$pid" >"$TMP/cpu0"
	if [ "$peer" = tcp ]; then
		# shellcheck disable=SC2086 # options split on purpose
		/usr/bin/time -f '%U %S' -o "$tm" "$RB" -h 127.0.0.1 \
			-p "$cur_PORT" -t set,get $otcp -n "$n" --csv \
			>"$TMP/rb.csv" 2>/dev/null
		rps=$(awk -F'","' 'NR > 1 { printf "%s ", $2 }' "$TMP/rb.csv")
		echo "${rps:-0 0 }0" >"$out"
	else
		# shellcheck disable=SC2086
		rm -f "$TMP/rr.json"
		LD_PRELOAD=$sv /usr/bin/time -f '%U %S' -o "$tm" "$bench" \
			-h 127.0.0.1 -p "$port" -t set,get $ordma -n "$n" -q \
			--json "$TMP/rr.json" >/dev/null 2>"$TMP/rr.err"
		rps=$(grep -o '"rps":[0-9.]*' "$TMP/rr.json" 2>/dev/null |
			cut -d: -f2 | tr '\n' ' ')
		t0=$(grep -o '"errors":[0-9]*' "$TMP/rr.json" 2>/dev/null |
			cut -d: -f2 | awk '{ s += $1 } END { print NR ? s : 1 }')
		echo "${rps:-0 0 }${t0:-1}" >"$out"
	fi
	cpu_snap "$pid" >"$TMP/cpu1"
	echo "server $(cpu_delta "$TMP/cpu0" "$TMP/cpu1" $((2 * n)))" >>"$out"
	t1=$(awk -v n=$((2 * n)) '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$tm")
	echo "client total=$t1" >>"$out"
}

echo "compare: $REPS repetitions, peers: $PEERS (machine may be shared)" >&2
for r in $(seq 1 "$REPS"); do
	for t in "${TESTS[@]}"; do
		IFS='|' read -r name ordma otcp n <<<"$t"
		for peer in $PEERS; do
			echo "compare: rep $r $name $peer" >&2
			run_one "$peer" "$ordma" "$otcp" "$n" "$TMP/res.$name.$peer.$r"
		done
	done
done

# ---- report ---------------------------------------------------------------

# median_rps COL FILES...: median of column COL (1 SET, 2 GET) of line 1.
median_rps() {
	local c=$1 f
	shift
	for f in "$@"; do awk -v c="$c" 'NR == 1 { print $c }' "$f"; done |
		sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
median_cpu() { # role key files...
	local role=$1 key=$2 f
	shift 2
	for f in "$@"; do
		awk -v r="$role" -v k="$key" '$1 == r { for (i = 2; i <= NF; i++) {
			split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$f"
	done | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}
errors_sum() {
	local f
	for f in "$@"; do awk 'NR == 1 { print $3 }' "$f"; done |
		awk '{ s += $1 } END { print s + 0 }'
}

printf '%-8s %-5s %10s %10s %6s %6s %9s %9s %9s %9s %6s\n' test peer \
	"SET rps" "GET rps" "SET/t" "GET/t" "srv us/r" "main us/r" \
	"poll us/r" "cli us/r" errors
json="{\"reps\":$REPS,\"base\":\"$BASE\",\"tests\":["
sep=
for t in "${TESTS[@]}"; do
	IFS='|' read -r name _ _ n <<<"$t"
	tset=$(median_rps 1 "$TMP"/res."$name".tcp.*)
	tget=$(median_rps 2 "$TMP"/res."$name".tcp.*)
	for peer in $PEERS; do
		files=("$TMP"/res."$name"."$peer".*)
		set=$(median_rps 1 "${files[@]}")
		get=$(median_rps 2 "${files[@]}")
		srv=$(median_cpu server total "${files[@]}")
		main=$(median_cpu server main "${files[@]}")
		pol=$(median_cpu server rring-poller "${files[@]}")
		cli=$(median_cpu client total "${files[@]}")
		err=$(errors_sum "${files[@]}")
		rset=$(awk -v a="$set" -v b="$tset" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		rget=$(awk -v a="$get" -v b="$tget" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		printf '%-8s %-5s %10.1f %10.1f %6s %6s %9s %9s %9s %9s %6s\n' \
			"$name" "$peer" "$set" "$get" "$rset" "$rget" "$srv" \
			"$main" "$pol" "$cli" "$err"
		groups=$(for f in "${files[@]}"; do sed -n 's/^server //p' "$f"; done |
			tr ' ' '\n' | cut -d= -f1 | sort -u | grep -v '^$' |
			while read -r g; do
				printf '"%s":%s,' "$g" "$(median_cpu server "$g" "${files[@]}")"
			done)
		json+="$sep{\"test\":\"$name\",\"peer\":\"$peer\",\"requests\":$n,"
		json+="\"set_rps\":$set,\"get_rps\":$get,\"set_to_tcp\":$rset,"
		json+="\"get_to_tcp\":$rget,\"errors\":$err,"
		json+="\"client_cpu_us_per_req\":$cli,"
		json+="\"server_cpu_us_per_req\":{${groups%,}}}"
		sep=,
	done
done
json+="]}"
if [ -n "$JSON" ]; then
	echo "$json" >"$JSON"
else
	echo "$json"
fi
for p in $cur_PORT $base_PORT; do
	"$CLI" -p "$p" shutdown nosave >/dev/null 2>&1
done
exit 0
