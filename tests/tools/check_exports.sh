#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: every public libibverbs/librdmacm entry point is exported by libsoftverbs in the same version node.
#
# usage: check_exports.sh LIBSOFTVERBS
# LD_PRELOAD interposes only symbols in exactly rdma-core's version nodes, and a
# call that falls through to the real library crashes on softverbs objects.
set -u
lib=$1
dir=/usr/lib/x86_64-linux-gnu
[ -e "$dir/libibverbs.so.1" ] || dir=$(dirname "$(ldconfig -p | awk '/libibverbs.so.1 /{print $NF; exit}')")

syms() {
	# default-version definitions only: "(NODE)" marks a compat version
	objdump -T "$@" | awk 'NF >= 7 && $4 != "*UND*" && $(NF-1) !~ /^\(/ \
		{ print $NF "@" $(NF-1) }' | sort -u
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
syms "$dir/libibverbs.so.1" "$dir/librdmacm.so.1" |
	grep -E '^(ibv_|_ibv_|mult_to_|mbps_to_|rdma_)' |
	grep -v '@IBVERBS_PRIVATE_' >"$tmp/want"
syms "$lib" >"$tmp/have"
missing=$(comm -23 "$tmp/want" "$tmp/have")
if [ -n "$missing" ]; then
	echo "libsoftverbs lacks (symbol@version):"
	echo "$missing"
	exit 1
fi
# the private-node symbol perftest uses
grep -qx 'ibv_query_gid_type@IBVERBS_PRIVATE_34' "$tmp/have" || {
	echo "libsoftverbs lacks ibv_query_gid_type@IBVERBS_PRIVATE_34"
	exit 1
}
echo "PASS: $(wc -l <"$tmp/want") entry points in rdma-core's version nodes"
