#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: configure and build into $RRING_BUILD_DIR (default ./build).
# Environment: RRING_BUILD_DIR, RRING_SANITIZE (address|thread), RRING_WERROR
# (ON|OFF), CC.
set -eu

rring_build() {
	dir=${RRING_BUILD_DIR:-build}
	set -- -DRRING_WERROR="${RRING_WERROR:-OFF}"
	case "${RRING_SANITIZE:-}" in
	"") ;;
	address) set -- "$@" -DRRING_SANITIZE_ADDRESS=ON ;;
	thread) set -- "$@" -DRRING_SANITIZE_THREAD=ON ;;
	*) echo "rdmaring: RRING_SANITIZE='$RRING_SANITIZE': allowed address, thread" >&2
	   exit 2 ;;
	esac
	cmake -S . -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j "$(nproc)"
}
