#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: install the Debian packages that are missing (as root), or print the
# one apt-get line to run and fail (as another user).
set -eu

RRING_PACKAGES="build-essential cmake pkg-config libibverbs-dev librdmacm-dev \
liburcu-dev libnuma-dev libcriterion-dev libck-dev libdpdk-dev \
redis-server redis-tools rdmacm-utils ibverbs-utils perftest"

rring_missing_packages() {
	missing=""
	for pkg in $RRING_PACKAGES ${RRING_EXTRA_PACKAGES:-}; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		case "$status" in
		*"install ok installed"*) ;;
		*) missing="$missing $pkg" ;;
		esac
	done
	echo "$missing"
}

rring_install_deps() {
	missing=$(rring_missing_packages)
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
