#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the ctest install_examples. Installs BUILD_DIR into a temporary
# prefix, builds the examples from that prefix twice (pkg-config, and the
# find_package project examples/CMakeLists.txt), runs both sets over the
# installed libsoftverbs.so, checking what each example verified, then
# loads the installed module into redis-server and runs the installed
# rring-bench against it with --verify.
# Usage: check_install.sh BUILD_DIR
set -u
EX=$(cd "$(dirname "$0")" && pwd)
BUILD=$(realpath "${1:?usage: check_install.sh BUILD_DIR}")
EXAMPLES="echo_server echo_client xfer_send xfer_recv embed_loop"
# An odd size and chunk: a short last send, writes that end mid-word.
XFER_BYTES=50000017
XFER_CHUNK=3000017

# shellcheck source=scripts/lib/server.sh
. "$EX/../scripts/lib/server.sh"
rs_init examples
P=$TMP/prefix

cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 ||
	fail "cmake --install $BUILD --prefix $P"
pc=$(find "$P" -name rdmaring.pc)
SV=$(find "$P" -name libsoftverbs.so)
for f in "$pc" "$SV" "$(find "$P" -name rdmaring.so)" "$P/bin/rring-bench" \
	"$P/include/rdmaring.h"; do
	if [ -z "$f" ] || [ ! -e "$f" ]; then
		fail "not installed: $f"
	fi
done
ok "installed: library, header, rdmaring.pc, module, softverbs, tools"

# pkg-config: the prefix is the one given to cmake --install.
export PKG_CONFIG_PATH=${pc%/*}
expect_eq "rdmaring.pc prefix" "$(pkg-config --variable=prefix rdmaring)" "$P"
libdir=$(pkg-config --variable=libdir rdmaring)
# shellcheck disable=SC2207 # flags are words
flags=($(pkg-config --cflags --libs rdmaring)) || fail "pkg-config rdmaring"
mkdir -p "$TMP/pc"
for ex in $EXAMPLES; do
	cc -std=c11 -Wall -Wextra -Werror -o "$TMP/pc/$ex" "$EX/$ex.c" \
		"$EX/example.c" "${flags[@]}" -pthread -Wl,-rpath,"$libdir" \
		>>"$TMP/pc.log" 2>&1 || fail "pkg-config build of $ex"
done
ok "examples built with pkg-config"

# find_package(rdmaring) in a separate project.
{ cmake -S "$EX" -B "$TMP/cm" -DCMAKE_PREFIX_PATH="$P" \
	-DCMAKE_C_FLAGS=-Werror && cmake --build "$TMP/cm" -j 2; } \
	>"$TMP/cmake.log" 2>&1 || fail "find_package build of the examples"
ok "examples built with find_package(rdmaring)"

# start_server NAME ARGS...: NAME in the background over softverbs (PID);
# its listening port in PORT once printed.
start_server() {
	local name=$1
	shift
	LD_PRELOAD=$SV "$@" >"$TMP/$name.log" 2>&1 &
	# shellcheck disable=SC2034 # rs_wait and rs_wait_exit watch PID
	PID=$!
	rs_wait 60 "$name listening" grep -q "listening on port" "$TMP/$name.log"
	PORT=$(sed -n 's/.*listening on port //p' "$TMP/$name.log")
}

# run_examples DIR WHAT: every example of DIR, each result checked.
run_examples() {
	local dir=$1 what=$2 out

	start_server "echo_server-$what" "$dir/echo_server"
	out=$(LD_PRELOAD=$SV timeout 120 "$dir/echo_client" "$PORT" 1000 2>&1) ||
		fail "$what echo_client: $out"
	expect_has "$what echo_client" "$out" \
		"1000 messages echoed and verified"
	rs_wait_exit 60
	expect_eq "$what echo_server exit" "$RC" 0
	expect_has "$what echo_server" "$(cat "$TMP/echo_server-$what.log")" \
		"echoed 1000 messages"

	start_server "xfer_recv-$what" "$dir/xfer_recv" "$XFER_BYTES"
	out=$(LD_PRELOAD=$SV timeout 120 "$dir/xfer_send" "$PORT" \
		"$XFER_BYTES" "$XFER_CHUNK" 2>&1) || fail "$what xfer_send: $out"
	expect_has "$what xfer_send" "$out" \
		"$XFER_BYTES bytes sent and acknowledged"
	rs_wait_exit 60
	expect_eq "$what xfer_recv exit" "$RC" 0
	expect_has "$what xfer_recv" "$(cat "$TMP/xfer_recv-$what.log")" \
		"$XFER_BYTES bytes received, all verified"

	out=$(LD_PRELOAD=$SV timeout 120 "$dir/embed_loop" 200 2>&1) ||
		fail "$what embed_loop: $out"
	expect_has "$what embed_loop" "$out" "200 ping-pongs verified"
}

run_examples "$TMP/pc" pkg-config
run_examples "$TMP/cm" find_package

# The installed module in redis-server, and the installed rring-bench
# against it, both over the installed softverbs.
SERVER=${RRING_REDIS_SERVER:-/usr/bin/redis-server}
CLI=${RRING_REDIS_CLI:-/usr/bin/redis-cli}
PORT=$(free_port) || fail "no free port"
RDMA_PORT=$(free_port) || fail "no free port"
[ "$PORT" != "$RDMA_PORT" ] || RDMA_PORT=$((PORT + 1))
rs_start server "$SV" --loadmodule "$(find "$P" -name rdmaring.so)" \
	bind=127.0.0.1 port="$RDMA_PORT"
engine_running() {
	"$CLI" -p "$PORT" info rdmaring 2>/dev/null | tr -d '\r' |
		grep -qx 'rdmaring_engine:running'
}
rs_wait 30 "installed module serving" engine_running
ok "installed module loaded by redis-server"
out=$(LD_PRELOAD=$SV timeout 120 "$P/bin/rring-bench" -h 127.0.0.1 \
	-p "$RDMA_PORT" -t set,get -n 200 -d 1000 -c 2 --verify 2>&1) ||
	fail "installed rring-bench: $out"
ok "installed rring-bench: 200 SET and 200 GET verified"
"$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1
rs_wait_exit 30
echo "install_examples: all $CHECKS checks passed"
