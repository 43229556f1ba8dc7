#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the main job. Installs what is missing, builds, and runs the best
# end-to-end scenario that exists today: the SPSC ring benchmark against its
# peers (the seed scenario, redis-server with the module, replaces it).
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
. scripts/build.sh

rring_install_deps
rring_build
dir=${RRING_BUILD_DIR:-build}
mkdir -p "$dir/results"
"$dir/bench/rring-bench-ring" --json "$dir/results/ring.json"
echo "rdmaring: results in $dir/results/ring.json"
