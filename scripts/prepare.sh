#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: the first half of the README's two commands (demo.sh, test.sh),
# sourced from the top of the tree: install what is missing, then build.
# Environment: as deps.sh and build.sh.
. scripts/deps.sh
. scripts/build.sh

rring_install_deps
rring_build
