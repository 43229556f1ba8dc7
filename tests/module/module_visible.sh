#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring tests: moved RDMA clients as the server's clients (rring-cli over
# RDMA, softverbs; redis-cli over TCP on the same redis-server). maxclients:
# moved clients and fast-path clients together reach exactly maxclients
# (a moved client counts once), the next RDMA client gets the server's
# "max number of clients reached" and a freed slot admits one again.
# Usage: module_visible.sh MODULE.so redis-server redis-cli rring-cli
#        libsoftverbs.so
set -u

# shellcheck source=../../scripts/lib/server.sh
. "$(dirname "$0")/../../scripts/lib/server.sh"
rs_rdma_args "$@"
rs_init visible

admin() { timeout 20 "$CLI" -p "$PORT" "$@" 2>&1; }
rcli() { rs_rdma timeout 30 "$RCLI" -p "$RPORT" "$@" 2>&1; }
info_field() {
	admin info rdmaring | tr -d '\r' | sed -n "s/^rdmaring_$1://p"
}

# Sessions (N from 1 to 9): rring-cli N reading commands from fifo N (fd 10+N), replies in
# $TMP/sN.out, so that other commands can run between its commands.
declare -A SPIDS
sess_start() { # N ARGS...
	local n=$1
	shift
	mkfifo "$TMP/s$n.in"
	# without the other sessions' fifo ends, so that each one's end
	# closes only its own
	rcli "$@" <"$TMP/s$n.in" >"$TMP/s$n.out" 11>&- 12>&- 13>&- 14>&- \
		15>&- 16>&- 17>&- 18>&- 19>&- &
	SPIDS[$n]=$!
	RS_PIDS="$RS_PIDS $!"
	eval "exec $((10 + n))>\"\$TMP/s$n.in\""
}
sess_send() { # N LINES...
	local n=$1
	shift
	printf '%s\n' "$@" >&$((10 + n))
}
out_lines() { [ "$(wc -l <"$TMP/s$1.out")" -ge "$2" ]; }
sess_wait() { # N LINES: session N printed LINES lines
	rs_wait 20 "session $1 output of $2 lines" out_lines "$1" "$2"
}
sess_line() { sed -n "$2p" "$TMP/s$1.out"; }
sess_end() { # N
	eval "exec $((10 + $1))>&-"
	wait "${SPIDS[$1]}" 2>/dev/null
	rm -f "$TMP/s$1.in"
}

# ---- maxclients: a moved client counts once ----
rs_two_ports
rs_start limits "$PRELOAD" --maxclients 5 --loadmodule "$MOD" \
	bind=127.0.0.1 port="$RPORT" io-threads=2
rs_wait 30 "server ready" rs_engine_running
for n in 1 2; do
	sess_start $n
	sess_send $n "client setname moved$n"
	sess_wait $n 1
	expect_eq "moved client $n: CLIENT SETNAME" "$(sess_line $n 1)" OK
done
moved_two() { [ "$(info_field clients_moved_now)" = 2 ]; }
rs_wait 20 "two clients moved" moved_two
for n in 3 4 5; do
	sess_start $n
	sess_send $n ping
	sess_wait $n 1
	expect_eq "fast-path client $n: PING" "$(sess_line $n 1)" PONG
done
expect_eq "two moved, three on the fast path: five RDMA clients" \
	"$(info_field connected_clients)" 5
expect_eq "the server's own clients: the two moved ones" \
	"$(admin client list | grep -c 'name=moved')" 2
expect_eq "at maxclients (5) the next RDMA client is refused as TCP is" \
	"$(rcli ping)" "ERR max number of clients reached"
sess_end 3
admitted() { [ "$(rcli ping)" = PONG ]; }
rs_wait 20 "a freed slot admits an RDMA client" admitted
ok "a freed slot admits an RDMA client again"
for n in 1 2 4 5; do sess_end $n; done
admin shutdown nosave >/dev/null
rs_wait_exit 20
echo "1..$CHECKS"
