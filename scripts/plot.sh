#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the benchmarks' JSON as PNGs (gnuplot). Each file is recognised
# by meta.program:
#   compare_tests.sh (bench/compare_tests.sh)  -> rps.png: requests/s by test and
#                                     pipeline, RDMA against TCP
#   rring-bench                    -> latency.png: min, p50, p95, p99,
#                                     p99.9, max by test
#   rring-bench-ring               -> ring.png: the rings side by side
#   rring-bench-transfer (several) -> transfer.png: MB/s by IO threads, a
#                                     line per connection count, memcpy
# Usage: scripts/plot.sh OUTDIR FILE.json...
# Installs gnuplot-nox and jq (Debian) when missing, as scripts/deps.sh does.
set -eu
[ $# -ge 2 ] || {
	echo "usage: scripts/plot.sh OUTDIR FILE.json..." >&2
	exit 2
}
OUT=$1
shift
mkdir -p "$OUT"
if ! command -v gnuplot >/dev/null || ! command -v jq >/dev/null; then
	# shellcheck source=deps.sh
	. "$(dirname "$0")/deps.sh"
	# the set that builds the benchmarks, plus the plotting tools
	RRING_EXTRA_PACKAGES="gnuplot-nox jq" rring_install_deps demo
fi
TMP=$(mktemp -d /tmp/rdmaring-plot.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# gp OUT.png WIDTH HEIGHT: gnuplot reading the rest of the script on stdin
gp() {
	{
		echo "set terminal pngcairo size $2,$3 font 'Sans,10'"
		echo "set output '$1'"
		echo "set grid ytics lc rgb '#dddddd'"
		echo "set key outside top center horizontal noenhanced"
		echo "set xtics noenhanced"
		cat
	} | gnuplot
	echo "plot: wrote $1" >&2
}

# subtitle FILE: where and when the numbers come from
subtitle() {
	jq -r '"\(.meta.host), \(.meta.time), rdmaring \(.meta.version)"' "$1"
}

# rps.png: clustered bars, one column per (pipeline, transport)
plot_compare() {
	local f=$1 n
	jq -r '
	  def short: split(" ")[0];
	  [.rows[] | select(.test | test("needed") | not)] as $r
	  | ($r | map(.pipeline) | unique) as $ps
	  | (reduce $r[] as $x ([]; if index([$x.test | short]) then .
	     else . + [$x.test | short] end)) as $ts
	  | (["test"] + [$ps[] as $p | ("RDMA", "TCP") | "\(.) -P \($p)"]
	     | @tsv),
	    ($ts[] as $t | [$t] + [$ps[] as $p | ("rdma", "tcp") as $tr
	     | ($r[] | select((.test | short) == $t and .pipeline == $p
	        and .transport == $tr) | .rps) // 0] | @tsv)' \
		"$f" >"$TMP/rps.tsv"
	n=$(head -1 "$TMP/rps.tsv" | awk -F'\t' '{print NF}')
	gp "$OUT/rps.png" 1100 500 <<GP
set title "requests per second, RDMA (rring-bench, softverbs) vs TCP (redis-benchmark), same redis-server\n{/*0.8 $(subtitle "$f"), $(jq -r '"\(.config.clients) clients, \(.config.requests) requests, redis \(.config.redis)"' "$f")}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set xtics rotate by -30 nomirror
set ylabel "requests per second"
set yrange [0:*]
set datafile separator "\t"
plot for [i=2:$n] "$TMP/rps.tsv" using i:xtic(1) title columnheader(i)
GP
}

# latency.png: percentiles by test, log scale
plot_latency() {
	local f=$1
	jq -r '(["test","min","p50","p95","p99","p99.9","max"] | @tsv),
	  (.tests[] | select(.requests > 0 and (.name | test("needed") | not)) | [(.name | split(" ")[0]),
	   .min_us, .p50_us, .p95_us, .p99_us, .p999_us, .max_us] | @tsv)' \
		"$f" >"$TMP/lat.tsv"
	gp "$OUT/latency.png" 1100 500 <<GP
set title "rring-bench latency percentiles (fixed-size log-linear histogram, <= 0.8% high)\n{/*0.8 $(subtitle "$f"), $(jq -r '.tests[0] | "\(.clients) clients, pipeline \(.pipeline), \(.threads) IO threads, \(.data_size)-byte values"' "$f")}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set xtics rotate by -30 nomirror
set logscale y
set ylabel "microseconds (log)"
set datafile separator "\t"
plot for [i=2:7] "$TMP/lat.tsv" using i:xtic(1) title columnheader(i)
GP
}

# ring.png: throughput modes and ping-pong round trip per ring
plot_ring() {
	local f=$1
	jq -r '(["impl","single","batch32"] | @tsv), .results as $r
	  | ([.results[].impl] | reduce .[] as $x ([]; if index([$x]) then .
	     else . + [$x] end))[] as $im
	  | [$im, ($r[] | select(.impl == $im and .mode == "single")
	     | .mops) // 0, ($r[] | select(.impl == $im and .mode ==
	     "batch32") | .mops) // 0] | @tsv' "$f" >"$TMP/ring.tsv"
	jq -r '.results[] | select(.mode == "pingpong") | [.impl, .rtt_ns]
	  | @tsv' \
		"$f" >"$TMP/pp.tsv"
	gp "$OUT/ring.png" 1100 450 <<GP
set multiplot layout 1,2 title "SPSC rings, 8-byte entries, producer and consumer pinned (rring-bench-ring)\n{/*0.8 $(subtitle "$f"), $(jq -r '.config | "ring of \(.size), CPUs \(.cpus[0]),\(.cpus[1]), median of \(.reps)"' "$f")}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set datafile separator "\t"
set title "throughput (higher is better)"
set ylabel "million entries per second"
set yrange [0:*]
plot for [i=2:3] "$TMP/ring.tsv" using i:xtic(1) title columnheader(i)
set title "ping-pong round trip (lower is better)"
set ylabel "nanoseconds (log)"
set logscale y
set yrange [*:*]
set style data boxes
set boxwidth 0.5
set xrange [-0.6:$(($(wc -l <"$TMP/pp.tsv") - 1)).6]
plot "$TMP/pp.tsv" using 0:2:xtic(1) title "round trip" lc 3
unset multiplot
GP
}

# transfer.png: one point per rring-bench-transfer JSON
plot_transfer() {
	local c conns="" plots=""
	jq -rs 'sort_by(.connections, .io_threads)[] | [.connections,
	  .io_threads, .bytes_per_sec / 1e6, .memcpy_bytes_per_sec / 1e6,
	  .size] | @tsv' "$@" >"$TMP/xfer.tsv"
	for c in $(cut -f1 "$TMP/xfer.tsv" | sort -nu); do
		awk -F'\t' -v c="$c" '$1 == c' "$TMP/xfer.tsv" >"$TMP/xfer.$c"
		plots="$plots\"$TMP/xfer.$c\" using 2:3 with linespoints lw 2 pt 7 title \"$c connection(s)\", "
		conns=$c
	done
	gp "$OUT/transfer.png" 900 450 <<GP
set title "large transfers over the Valkey wire layer, two engines over softverbs (rring-bench-transfer)\n{/*0.8 $(subtitle "$1"), $(awk -F'\t' 'NR == 1 {printf "%d-byte messages", $5}' "$TMP/xfer.tsv")}"
set xlabel "IO threads"
set ylabel "MB/s"
set yrange [0:*]
set logscale x 2
set xtics 2
set datafile separator "\t"
plot $plots"$TMP/xfer.$conns" using 2:4 with lines dt 2 lw 2 title "memcpy, one thread"
GP
}

xfer=()
for f in "$@"; do
	case $(jq -r '.meta.program // empty' "$f") in
	compare_tests.sh) plot_compare "$f" ;;
	rring-bench) plot_latency "$f" ;;
	rring-bench-ring) plot_ring "$f" ;;
	rring-bench-transfer) xfer+=("$f") ;;
	*)
		echo "plot: $f: no meta.program of a known benchmark" >&2
		exit 1
		;;
	esac
done
[ ${#xfer[@]} -eq 0 ] || plot_transfer "${xfer[@]}"
