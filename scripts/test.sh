#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: install what is missing, build, and run the whole test suite.
# Environment: RRING_BUILD_DIR, RRING_SANITIZE, RRING_WERROR (see build.sh) and
# RRING_TEST_ARGS (extra ctest arguments, e.g. "-L threaded").
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
. scripts/build.sh
rring_install_deps test
rring_build
# shellcheck disable=SC2086
ctest --test-dir "${RRING_BUILD_DIR:-build}" --output-on-failure \
	${RRING_TEST_ARGS:-}
