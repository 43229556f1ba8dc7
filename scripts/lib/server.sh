# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: redis-server helpers shared by the module tests and the seed
# scenario (sourced by bash scripts): a temporary directory removed on exit,
# free ports, raw RESP exchanges (raw), starting redis-server (with the
# module), bounded waits, the check helpers, RDMA clients under softverbs
# (rs_rdma, rs_rdma_bg) and rring-cli against redis-cli (rs_same).
#
# Set SERVER (the redis-server binary) before rs_start. Variables: TMP (the
# temporary directory), PID (the server, killed on exit if still running),
# RS_PIDS (more processes to kill on exit), RC (the server's exit status
# after rs_wait_exit), CHECKS (checks passed). RS_FAIL_PREFIX (default
# "FAIL: ") and RS_FAIL_FD (default 1) shape what fail prints. The RDMA
# helpers read SV (libsoftverbs.so), RCLI (rring-cli), CLI (redis-cli),
# PORT and RPORT.

# shellcheck disable=SC2034 # set here, read by the sourcing script
PID=
RS_PIDS=
RC=
CHECKS=0

rs_cleanup() {
	local p
	for p in $RS_PIDS $PID; do
		if kill -0 "$p" 2>/dev/null; then
			kill -9 "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# rs_init NAME: TMP=/tmp/rdmaring-NAME.XXXXXX, cleaned up on exit.
rs_init() {
	TMP=$(mktemp -d "/tmp/rdmaring-$1.XXXXXX") || exit 2
	trap rs_cleanup EXIT
	trap 'exit 2' INT TERM
}

# fail MSG: MSG and the tail of every log in $TMP, then exit 1.
fail() {
	local f fd=${RS_FAIL_FD:-1}
	{
		echo "${RS_FAIL_PREFIX-FAIL: }$*"
		for f in "$TMP"/*.log; do
			[ -f "$f" ] && echo "--- $f" && tail -n 30 "$f"
		done
	} >&"$fd"
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

expect_eq() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	ok "$1"
}

expect_has() { # what text needle
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) fail "$1: '$2' does not contain '$3'" ;;
	esac
}

# raw PORT FILE: send FILE to 127.0.0.1:PORT, print everything until the
# server closes (20 s at most).
raw() {
	timeout 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		cat "$2" >&3; cat <&3' _ "$1" "$2" 2>/dev/null
}

# free_port: a port free for TCP and for softverbs' rdma_cm names (abstract
# unix sockets), so that it serves as either. It is outside the kernel's
# ephemeral range, which every client connection of the machine draws its
# local port from (a port only checked for a listener could be taken by one
# before the server binds it), and no TCP socket uses it as its local port.
free_port() {
	local lo hi p _ range=/proc/sys/net/ipv4/ip_local_port_range
	read -r lo hi 2>/dev/null <"$range" || { lo=32768 hi=60999; }
	for _ in $(seq 1 100); do
		if [ "$lo" -gt 12000 ]; then
			p=$((10000 + RANDOM % (lo - 10000)))
		else
			p=$((hi + 1 + RANDOM % (65535 - hi)))
		fi
		# local address column of /proc/net/tcp*: ADDR:PORT in hex
		grep -qi "^ *[0-9]*: [0-9A-F]*:$(printf '%04X' "$p") " \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		grep -q "@softverbs/cm/.*:$p\$" /proc/net/unix && continue
		echo "$p"
		return 0
	done
	return 1
}

# rs_rdma_args MODULE.so redis-server redis-cli rring-cli libsoftverbs.so:
# the arguments of the scripts that drive rring-cli against a server with
# the module, as MOD, SERVER, CLI, RCLI, SV and PRELOAD (the server's
# LD_PRELOAD: RRING_SERVER_PRELOAD, e.g. a sanitizer runtime, then SV).
rs_rdma_args() {
	[ $# -ge 5 ] || {
		echo "usage: $0 MODULE.so redis-server redis-cli rring-cli" \
			"libsoftverbs.so" >&2
		exit 2
	}
	# shellcheck disable=SC2034 # read by the sourcing script
	MOD=$(realpath "$1") SERVER=$2 CLI=$3 RCLI=$(realpath "$4")
	SV=$(realpath "$5")
	# shellcheck disable=SC2034
	PRELOAD="${RRING_SERVER_PRELOAD:+$RRING_SERVER_PRELOAD }$SV"
	PORT= RPORT=
}

# rs_two_ports: PORT (TCP) and RPORT (the module's RDMA port), distinct.
rs_two_ports() {
	PORT=$(free_port) || fail "no free port"
	RPORT=$(free_port) || fail "no free port"
	# shellcheck disable=SC2034 # read by the sourcing script
	[ "$PORT" != "$RPORT" ] || RPORT=$((PORT + 1))
}

# rs_engine_running: the module's INFO says its engine runs (uses CLI, the
# redis-cli binary, and PORT).
rs_engine_running() {
	[ "$(timeout 20 "$CLI" -p "$PORT" info rdmaring | tr -d '\r' |
		sed -n 's/^rdmaring_engine://p')" = running ]
}

# rs_start LOG PRELOAD ARGS...: redis-server on 127.0.0.1:$PORT in the
# background (PID), no persistence, log in $TMP/LOG.log, PRELOAD (may be
# empty) as LD_PRELOAD; ARGS come last and override the defaults.
rs_start() {
	local log=$1 preload=$2
	shift 2
	env ${preload:+LD_PRELOAD="$preload"} "$SERVER" --port "$PORT" \
		--bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
		--daemonize no --logfile "$TMP/$log.log" "$@" &
	PID=$!
}

# rs_wait SECONDS WHAT CMD...: poll until CMD succeeds; fail when the
# server exits or SECONDS pass first.
rs_wait() {
	local limit=$1 what=$2
	local deadline=$((SECONDS + limit))
	shift 2
	until "$@"; do
		kill -0 "$PID" 2>/dev/null || fail "redis-server exited ($what)"
		[ $SECONDS -lt $deadline ] || fail "$what: not within $limit s"
		sleep 0.05
	done
}

# rs_wait_pid PID SECONDS WHAT: our child PID ends within SECONDS (else
# fail: "WHAT: still running after SECONDS s"); its exit status in ST.
# (Not in a $(...) subshell: only this shell can reap its child.)
rs_wait_pid() {
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "$3: still running after $2 s"
		sleep 0.05
	done
	wait "$1"
	# shellcheck disable=SC2034 # read by the sourcing script
	ST=$?
}

# rs_wait_exit [SECONDS]: the server ends (default 10 s); its status in RC.
rs_wait_exit() {
	rs_wait_pid "$PID" "${1:-10}" "redis-server (asked to exit)"
	# shellcheck disable=SC2034 # read by the sourcing script
	RC=$ST
	PID=
}

# rs_module_running: the module's engine serves (INFO rdmaring over TCP on
# $PORT, asked with $CLI).
rs_module_running() {
	"$CLI" -p "$PORT" info rdmaring 2>/dev/null | tr -d '\r' |
		grep -qx 'rdmaring_engine:running'
}

# rs_start_module PRELOAD MODULE ARGS...: free ports in PORT (TCP) and
# RPORT (RDMA), redis-server with MODULE bind=127.0.0.1 port=$RPORT ARGS
# (module arguments), returning once the engine serves. Needs CLI.
rs_start_module() {
	local preload=$1 module=$2
	shift 2
	PORT=$(free_port) || fail "no free port"
	RPORT=$(free_port) || fail "no free port"
	[ "$PORT" != "$RPORT" ] || RPORT=$((PORT + 1))
	rs_start server "$preload" --loadmodule "$module" bind=127.0.0.1 \
		port="$RPORT" "$@"
	rs_wait 30 "redis-server with the module ready" rs_module_running
}

# rs_rdma CMD ARGS...: CMD with softverbs ($SV) preloaded, ASan's check of
# the library order off (the preload comes first).
rs_rdma() {
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		LD_PRELOAD="$SV" "$@"
}

# rs_rdma_bg OUT CMD ARGS...: rs_rdma in the background, stdout and stderr
# in OUT, stdin the caller's (not /dev/null, as bash gives background
# commands); BG is CMD's own pid (env runs it in place), killed on exit.
rs_rdma_bg() {
	local out=$1
	shift
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		LD_PRELOAD="$SV" "$@" <&0 >"$out" 2>&1 &
	BG=$!
	RS_PIDS="$RS_PIDS $BG"
}

# rs_expect_same NAME TCP OTHER [WHAT]: OTHER, the output of a check through
# the module (WHAT: rdma by default), is TCP's output of the same check, and
# TCP gave some.
rs_expect_same() {
	[ -n "$2" ] || fail "$1: no TCP output"
	[ "$2" = "$3" ] || fail "$1: outputs differ
--- tcp
$2
--- ${4:-rdma}
$3"
	ok "$1: same as TCP"
}

# rs_same NAME [-i INPUT] ARGS...: rring-cli ($RCLI) over RDMA ($RPORT) and
# redis-cli ($CLI) over TCP ($PORT), same options, ARGS and stdin, give the
# same stdout, stderr and exit status (20 s at most each).
rs_same() {
	local name=$1 input=/dev/null a b
	shift
	if [ "$1" = -i ]; then
		input=$2
		shift 2
	fi
	rs_rdma timeout 20 "$RCLI" -p "$RPORT" "$@" <"$input" \
		>"$TMP/r.out" 2>"$TMP/r.err"
	a=$?
	timeout 20 "$CLI" -p "$PORT" "$@" <"$input" >"$TMP/t.out" 2>"$TMP/t.err"
	b=$?
	cmp -s "$TMP/r.out" "$TMP/t.out" ||
		fail "$name: stdout differs: RDMA $(od -c "$TMP/r.out" | head -n 8)" \
			"TCP $(od -c "$TMP/t.out" | head -n 8)"
	cmp -s "$TMP/r.err" "$TMP/t.err" ||
		fail "$name: stderr differs: RDMA '$(cat "$TMP/r.err")'" \
			"TCP '$(cat "$TMP/t.err")'"
	[ "$a" = "$b" ] || fail "$name: exit status $a over RDMA, $b over TCP"
	[ -s "$TMP/t.out" ] || [ -s "$TMP/t.err" ] || fail "$name: no output"
	ok "$name"
}
