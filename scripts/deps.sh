#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: install the Debian packages a command needs that are missing (as
# root), or print the one apt-get line to run and fail (as another user).
# Sourced (rring_install_deps SET) or run (./scripts/deps.sh SET), SET one of:
#   demo   build the module, softverbs and rring-bench; run redis-server
#   test   everything the test suite runs (rdma-core tools, perftest)
#   bench  the ring benchmark's peers (ck_ring, DPDK's rte_ring: ~200 packages)
# RRING_EXTRA_PACKAGES adds packages to any set.
set -eu

RRING_PKGS_BUILD="build-essential cmake pkg-config libibverbs-dev \
librdmacm-dev liburcu-dev libnuma-dev"
RRING_PKGS_SERVER="redis-server redis-tools"

# rring_packages SET: the Debian packages of SET.
rring_packages() {
	case "$1" in
	demo) echo "$RRING_PKGS_BUILD $RRING_PKGS_SERVER" ;;
	test) echo "$RRING_PKGS_BUILD $RRING_PKGS_SERVER libcriterion-dev" \
		"rdmacm-utils ibverbs-utils perftest" ;;
	bench) echo "$RRING_PKGS_BUILD libck-dev libdpdk-dev" ;;
	*) echo "rdmaring: package set '$1': allowed demo, test, bench" >&2
	   return 2 ;;
	esac
}

rring_missing_packages() {
	pkgs=$(rring_packages "$1") || return 2
	missing=""
	for pkg in $pkgs ${RRING_EXTRA_PACKAGES:-}; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		case "$status" in
		*"install ok installed"*) ;;
		*) missing="$missing $pkg" ;;
		esac
	done
	echo "$missing"
}

# rring_install_deps SET
rring_install_deps() {
	missing=$(rring_missing_packages "$1") || exit 2
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "rdmaring: missing Debian packages. Run as root:" >&2
		echo "  apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
	echo "rdmaring: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Run as a program: install one set.
case "$0" in
*deps.sh)
	[ $# -eq 1 ] || { echo "usage: $0 demo|test|bench" >&2; exit 2; }
	rring_install_deps "$1"
	;;
esac
