/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: client-side reply scanner (module/resp_client.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resp_client.h"

static const char nested[] = "*4\r\n:7\r\n$5\r\nhe\r\no\r\n*2\r\n+OK\r\n$-1\r\n"
			     "-ERR x\r\n";

Test(resp_client, every_prefix_incomplete_then_complete)
{
	size_t len = sizeof(nested) - 1, i;
	struct rdm_reply_info ri;

	for (i = 0; i < len; i++) {
		cr_assert_eq(rdm_reply_scan(nested, i, &ri), 0, "prefix %zu",
			     i);
		cr_assert_gt(ri.need, i);
	}
	cr_assert_eq(rdm_reply_scan(nested, len, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_ARRAY);
	cr_assert_eq(ri.integer, 4);
	cr_assert_eq(ri.frame_len, len);
}

Test(resp_client, scalar_types)
{
	struct rdm_reply_info ri;

	cr_assert_eq(rdm_reply_scan("+PONG\r\n+x", 9, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_STATUS);
	cr_assert_eq(ri.len, 4);
	cr_assert_eq(memcmp(ri.str, "PONG", 4), 0);
	cr_assert_eq(ri.frame_len, 7);
	cr_assert_eq(
	    rdm_reply_scan("-NOAUTH Authentication required.\r\n", 34, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_ERROR);
	cr_assert_eq(rdm_reply_scan(":-9223372036854775808\r\n", 23, &ri), 1);
	cr_assert_eq(ri.integer, -9223372036854775807LL - 1);
	cr_assert_eq(rdm_reply_scan("$-1\r\n", 5, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_NIL);
	cr_assert_eq(rdm_reply_scan("*-1\r\n", 5, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_NIL);
	cr_assert_eq(rdm_reply_scan("$0\r\n\r\n", 6, &ri), 1);
	cr_assert_eq(ri.type, RDM_REPLY_BULK);
	cr_assert_eq(ri.len, 0);
}

Test(resp_client, big_bulk_need_known_from_header)
{
	struct rdm_reply_info ri;

	cr_assert_eq(rdm_reply_scan("$10485760\r\nabc", 14, &ri), 0);
	cr_assert_eq(ri.need, 11 + 10485760 + 2);
}

Test(resp_client, malformed)
{
	struct rdm_reply_info ri;

	cr_assert_eq(rdm_reply_scan("?x\r\n", 4, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan(":1x\r\n", 5, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan(":\r\n", 3, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan("$-2\r\n", 5, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan("$3\r\nabcXY", 9, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan("+OK\rX", 5, &ri), -EPROTO);
	cr_assert_eq(rdm_reply_scan("*1\r\n?\r\n", 7, &ri), -EPROTO);
}

Test(resp_client, head_walks_a_nested_reply)
{
	size_t len = sizeof(nested) - 1, pos = 0, n = 0;
	static const enum rdm_reply_type want[] = {
	    RDM_REPLY_ARRAY, RDM_REPLY_INTEGER, RDM_REPLY_BULK,
	    RDM_REPLY_ARRAY, RDM_REPLY_STATUS,	RDM_REPLY_NIL,
	    RDM_REPLY_ERROR};
	struct rdm_reply_info ri;

	while (pos < len) {
		cr_assert_eq(rdm_reply_head(nested + pos, len - pos, &ri), 1);
		cr_assert_lt(n, sizeof(want) / sizeof(want[0]));
		cr_assert_eq(ri.type, want[n], "element %zu", n);
		pos += ri.frame_len;
		n++;
	}
	cr_assert_eq(n, 7);
	cr_assert_eq(pos, len);
	cr_assert_eq(rdm_reply_head("$5\r\nhe", 6, &ri), 0);
}

Test(resp_client, cmd_encode_round_trip)
{
	const char *argv[] = {"SET", "k", "a\r\nb", ""};
	size_t lens[] = {3, 1, 4, 0}, n;
	char buf[128];
	static const char want[] =
	    "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n";

	n = rdm_cmd_encode(NULL, 4, argv, lens);
	cr_assert_eq(n, sizeof(want) - 1);
	cr_assert_eq(rdm_cmd_encode(buf, 4, argv, lens), n);
	cr_assert_eq(memcmp(buf, want, n), 0);
}
