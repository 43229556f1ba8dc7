/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: command policy (module/policy.c). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "policy.h"

static const struct rdm_cmd_rule *by_args(int argc, const char *const *a)
{
	struct rdm_resp_arg argv[8];
	int i;

	for (i = 0; i < argc; i++) {
		argv[i].ptr = a[i];
		argv[i].len = strlen(a[i]);
	}
	return rdm_cmd_policy_args(argv, argc);
}

/* The error (refused, or a transport that cannot move the client) must
 * name the command (upper case) and say why. */
static void expect_rule(const char *name, enum rdm_cmd_action action,
			const char *why)
{
	const struct rdm_cmd_rule *r = rdm_cmd_policy(name, strlen(name));
	char upper[32];
	size_t i;

	cr_assert_not_null(r, "%s", name);
	cr_assert_eq(r->action, action, "%s", name);
	for (i = 0; name[i] && i < sizeof(upper) - 1; i++)
		upper[i] = (char)toupper((unsigned char)name[i]);
	upper[i] = '\0';
	cr_assert(!strncmp(r->error, "ERR ", 4), "%s", r->error);
	cr_assert_not_null(strstr(r->error, upper), "%s", r->error);
	cr_assert_not_null(strstr(r->error, why), "%s", r->error);
	cr_assert_null(strpbrk(r->error, "\r\n"));
}

#define expect_move(name, why) expect_rule(name, RDM_CMD_MOVE, why)
#define expect_deny(name, why) expect_rule(name, RDM_CMD_DENY, why)

Test(policy, moved_and_denied_commands_name_command_and_reason)
{
	static const char *const txn[] = {"multi", "exec", "discard", "watch",
					  "unwatch"};
	static const char *const blk[] = {"blpop",    "brpop",	"brpoplpush",
					  "blmove",   "blmpop", "bzpopmin",
					  "bzpopmax", "bzmpop"};
	static const char *const ps[] = {"subscribe",	 "psubscribe",
					 "ssubscribe",	 "unsubscribe",
					 "punsubscribe", "sunsubscribe"};
	size_t i;

	for (i = 0; i < sizeof(txn) / sizeof(txn[0]); i++)
		expect_move(txn[i], "transaction");
	for (i = 0; i < sizeof(blk) / sizeof(blk[0]); i++)
		expect_move(blk[i], "blocking");
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		expect_move(ps[i], "pushed messages");
	expect_move("monitor", "pushed");
	expect_move("wait", "blocks");
	expect_move("asking", "cluster");
	expect_deny("sync", "replication");
	expect_deny("psync", "replication");
	expect_deny("rdmaring.attach", "server connections");
}

Test(policy, case_insensitive_and_exact)
{
	cr_assert_not_null(rdm_cmd_policy("MuLtI", 5));
	cr_assert_null(rdm_cmd_policy("multix", 6));
	cr_assert_null(rdm_cmd_policy("mult", 4));
	cr_assert_null(rdm_cmd_policy("get", 3));
	cr_assert_null(rdm_cmd_policy("SET", 3));
	cr_assert_null(rdm_cmd_policy("eval", 4));
	cr_assert_null(rdm_cmd_policy("publish", 7));
}

Test(policy, connection_state_is_local)
{
	static const char *const local[] = {"auth", "select", "quit", "reset"};
	size_t i;

	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		const struct rdm_cmd_rule *r =
		    rdm_cmd_policy(local[i], strlen(local[i]));

		cr_assert_not_null(r);
		cr_assert_eq(r->action, RDM_CMD_LOCAL);
	}
}

Test(policy, hello_3_moves)
{
	const struct rdm_cmd_rule *r;

	r = by_args(2, (const char *const[]){"HELLO", "3"});
	cr_assert_not_null(r);
	cr_assert_eq(r->action, RDM_CMD_MOVE);
	cr_assert(!strncmp(r->error, "NOPROTO ", 8), "%s", r->error);
	r = by_args(2, (const char *const[]){"hello", "2"});
	cr_assert_not_null(r);
	cr_assert_eq(r->action, RDM_CMD_LOCAL);
	r = by_args(1, (const char *const[]){"hello"});
	cr_assert_not_null(r);
	cr_assert_eq(r->action, RDM_CMD_LOCAL);
}

Test(policy, client_subcommands)
{
	const struct rdm_cmd_rule *r;

	r = by_args(3, (const char *const[]){"CLIENT", "SETNAME", "x"});
	cr_assert_not_null(r);
	cr_assert_eq(r->action, RDM_CMD_MOVE);
	cr_assert_not_null(strstr(r->error, "CLIENT SETNAME"), "%s", r->error);
	cr_assert_not_null(by_args(2, (const char *const[]){"client", "id"}));
	cr_assert_not_null(
	    by_args(3, (const char *const[]){"client", "tracking", "on"}));
	cr_assert_null(by_args(2, (const char *const[]){"CLIENT", "LIST"}));
	cr_assert_null(by_args(1, (const char *const[]){"CLIENT"}));
	cr_assert_eq(rdm_cmd_policy("client", 6)->action, RDM_CMD_ARGS);
}

Test(policy, xread_only_with_block)
{
	const struct rdm_cmd_rule *r;

	r = by_args(6, (const char *const[]){"XREAD", "COUNT", "1", "BLOCK",
					     "0", "STREAMS"});
	cr_assert_not_null(r);
	cr_assert_not_null(strstr(r->error, "XREAD BLOCK"));
	cr_assert_null(by_args(
	    4, (const char *const[]){"xread", "streams", "block", "0"}));
	cr_assert_null(
	    by_args(5, (const char *const[]){"xreadgroup", "group", "block",
					     "c", "streams"}));
	r = by_args(7, (const char *const[]){"xreadgroup", "group", "g", "c",
					     "block", "10", "streams"});
	cr_assert_not_null(r);
	cr_assert_not_null(strstr(r->error, "XREADGROUP BLOCK"));
}

Test(policy, table_is_consistent)
{
	const struct rdm_cmd_rule *r;
	size_t n, i;

	r = rdm_cmd_rules(&n);
	cr_assert_gt(n, 20);
	for (i = 0; i < n; i++) {
		char up[64];
		size_t k, len = strlen(r[i].name);

		/* the lookup searches by halves */
		if (i)
			cr_assert_lt(strcmp(r[i - 1].name, r[i].name), 0,
				     "%s before %s", r[i - 1].name, r[i].name);
		cr_assert_eq(rdm_cmd_policy(r[i].name, len), &r[i]);
		cr_assert_lt(len, sizeof(up));
		for (k = 0; k < len; k++)
			up[k] = (char)toupper((unsigned char)r[i].name[k]);
		cr_assert_eq(rdm_cmd_policy(up, len), &r[i], "%.*s", (int)len,
			     up);
		/* one byte more or less is another command */
		cr_assert_null(rdm_cmd_policy(r[i].name, len - 1));
		up[len] = 'x';
		cr_assert_neq(rdm_cmd_policy(up, len + 1), &r[i]);
		cr_assert_eq(r[i].action == RDM_CMD_DENY ||
				 r[i].action == RDM_CMD_MOVE,
			     r[i].error != NULL, "%s", r[i].name);
	}
}
