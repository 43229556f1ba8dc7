#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the main job. Installs what is missing, builds only what the demo
# runs (rdmaring.so, libsoftverbs.so, rring-bench; no tests), and runs the
# seed scenario (scripts/seed.sh): Debian's redis-server with rdmaring.so
# over softverbs, 8 IO threads, rring-bench SET/GET of 10 MB values from 8
# connections with --verify. Exits 0 only when every reply was verified.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
. scripts/build.sh
rring_install_deps demo
RRING_BUILD_TESTING=OFF rring_build rdmaring_module softverbs rring-bench
exec ./scripts/seed.sh
