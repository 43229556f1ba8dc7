#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: scripts/plot.sh turns the committed benchmark JSON
# (docs/img/data: compare_tests.sh, rring-bench, rring-bench-ring, rring-bench-
# transfer runs) into four PNGs, and refuses a JSON it does not know. Skipped (77) when
# gnuplot or jq is absent (apt-get install gnuplot-nox jq).
# Usage: bench_plot.sh plot.sh JSON_DIR
set -u
PLOT=$1
SAMPLES=$2
for p in gnuplot jq; do
	if ! command -v $p >/dev/null; then
		echo "skip: $p not installed (apt-get install gnuplot-nox jq)"
		exit 77
	fi
done
TMP=$(mktemp -d /tmp/rdmaring-plot-test.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT

"$PLOT" "$TMP/png" "$SAMPLES"/*.json >"$TMP/log" 2>&1 || {
	echo "FAIL: plot.sh: $(cat "$TMP/log")"
	exit 1
}
for png in rps latency ring transfer; do
	f=$TMP/png/$png.png
	[ -s "$f" ] || {
		echo "FAIL: no $png.png: $(cat "$TMP/log")"
		exit 1
	}
	# the PNG signature, and more than an empty canvas
	[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '211PNG' ] || {
		echo "FAIL: $png.png is not a PNG"
		exit 1
	}
	[ "$(stat -c %s "$f")" -gt 10000 ] || {
		echo "FAIL: $png.png has almost nothing drawn"
		exit 1
	}
	echo "ok - $png.png"
done
echo '{"meta":{"program":"nope"}}' >"$TMP/unknown.json"
if "$PLOT" "$TMP/png2" "$TMP/unknown.json" >"$TMP/log2" 2>&1; then
	echo "FAIL: an unknown JSON was accepted"
	exit 1
fi
grep -q "no meta.program of a known benchmark" "$TMP/log2" || {
	echo "FAIL: unknown JSON: $(cat "$TMP/log2")"
	exit 1
}
echo "ok - an unknown JSON is refused"
