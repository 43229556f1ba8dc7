#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: configure and build into $RRING_BUILD_DIR (default ./build).
# rring_build [TARGET...] builds only those targets (all when none given).
# Environment: RRING_BUILD_DIR, RRING_SANITIZE (address|thread), RRING_WERROR
# (ON|OFF), RRING_BUILD_TESTING (ON|OFF, default ON: the tests need
# Criterion), CC.
set -eu

rring_build() {
	dir=${RRING_BUILD_DIR:-build}
	targets=""
	for t in "$@"; do
		targets="$targets --target $t"
	done
	set -- -DRRING_WERROR="${RRING_WERROR:-OFF}" \
		-DBUILD_TESTING="${RRING_BUILD_TESTING:-ON}"
	case "${RRING_SANITIZE:-}" in
	"") ;;
	address) set -- "$@" -DRRING_SANITIZE_ADDRESS=ON ;;
	thread) set -- "$@" -DRRING_SANITIZE_THREAD=ON ;;
	*) echo "rdmaring: RRING_SANITIZE='$RRING_SANITIZE': allowed address, thread" >&2
	   exit 2 ;;
	esac
	cmake -S . -B "$dir" "$@" >/dev/null
	# shellcheck disable=SC2086
	cmake --build "$dir" -j "$(nproc)" $targets
}
