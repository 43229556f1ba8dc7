/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: which commands can run through RM_Call for an RDMA client.
 */
#include <string.h>

#include "policy.h"

#define TXN(n, N)                                                              \
	{                                                                      \
		n, RDM_CMD_MOVE,                                               \
		    "ERR " N                                                   \
		    " is not supported on the RDMA port: commands run one by " \
		    "one through the module API, so a transaction cannot "     \
		    "span commands "                                           \
		    "(use EVAL/FCALL, or TCP)"                                 \
	}
#define BLOCKING(n, N, alt)                                                    \
	{                                                                      \
		n, RDM_CMD_MOVE,                                               \
		    "ERR " N                                                   \
		    " is not supported on the RDMA port: a blocking command "  \
		    "cannot block through the module API (use " alt            \
		    ", or TCP)"                                                \
	}
#define PUBSUB(n, N)                                                           \
	{                                                                      \
		n, RDM_CMD_MOVE,                                               \
		    "ERR " N                                                   \
		    " is not supported on the RDMA port: pushed messages "     \
		    "cannot reach a module client (use TCP)"                   \
	}
#define REPL(n, N)                                                             \
	{                                                                      \
		n, RDM_CMD_DENY,                                               \
		    "ERR " N                                                   \
		    " is not supported on the RDMA port: replication links "   \
		    "use TCP"                                                  \
	}
#define CLUSTER_CONN(n, N)                                                     \
	{                                                                      \
		n, RDM_CMD_MOVE,                                               \
		    "ERR " N                                                   \
		    " is not supported on the RDMA port: per-connection "      \
		    "cluster state is not kept for module clients"             \
	}
#define LOCAL(n)                                                               \
	{                                                                      \
		n, RDM_CMD_LOCAL, NULL                                         \
	}

/* Sorted by name (strcmp order): rdm_cmd_policy() searches it by halves,
 * as it runs for every command an RDMA client sends. */
static const struct rdm_cmd_rule rules[] = {
    CLUSTER_CONN("asking", "ASKING"),
    LOCAL("auth"),
    BLOCKING("blmove", "BLMOVE", "LMOVE"),
    BLOCKING("blmpop", "BLMPOP", "LMPOP"),
    BLOCKING("blpop", "BLPOP", "LPOP"),
    BLOCKING("brpop", "BRPOP", "RPOP"),
    BLOCKING("brpoplpush", "BRPOPLPUSH", "RPOPLPUSH"),
    BLOCKING("bzmpop", "BZMPOP", "ZMPOP"),
    BLOCKING("bzpopmax", "BZPOPMAX", "ZPOPMAX"),
    BLOCKING("bzpopmin", "BZPOPMIN", "ZPOPMIN"),
    {"client", RDM_CMD_ARGS, NULL},
    TXN("discard", "DISCARD"),
    TXN("exec", "EXEC"),
    {"hello", RDM_CMD_ARGS, NULL},
    {"monitor", RDM_CMD_MOVE,
     "ERR MONITOR is not supported on the RDMA port: the command stream "
     "cannot be pushed to a module client (use TCP)"},
    TXN("multi", "MULTI"),
    PUBSUB("psubscribe", "PSUBSCRIBE"),
    {"psync", RDM_CMD_DENY,
     "ERR PSYNC is not supported on the RDMA port: replication links use "
     "TCP"},
    PUBSUB("punsubscribe", "PUNSUBSCRIBE"),
    LOCAL("quit"),
    /* only for a server client of its own (relay.h) */
    {"rdmaring.attach", RDM_CMD_DENY,
     "ERR RDMARING.ATTACH is for the module's own server connections"},
    CLUSTER_CONN("readonly", "READONLY"),
    CLUSTER_CONN("readwrite", "READWRITE"),
    REPL("replconf", "REPLCONF"),
    LOCAL("reset"),
    LOCAL("select"),
    PUBSUB("ssubscribe", "SSUBSCRIBE"),
    PUBSUB("subscribe", "SUBSCRIBE"),
    PUBSUB("sunsubscribe", "SUNSUBSCRIBE"),
    REPL("sync", "SYNC"),
    PUBSUB("unsubscribe", "UNSUBSCRIBE"),
    TXN("unwatch", "UNWATCH"),
    {"wait", RDM_CMD_MOVE,
     "ERR WAIT is not supported on the RDMA port: it blocks, and the "
     "replication offset of a module call is not tracked per client "
     "(use TCP)"},
    {"waitaof", RDM_CMD_MOVE,
     "ERR WAITAOF is not supported on the RDMA port: it blocks through "
     "the module API (use TCP)"},
    TXN("watch", "WATCH"),
    {"xread", RDM_CMD_ARGS, NULL},
    {"xreadgroup", RDM_CMD_ARGS, NULL},
};

/* CLIENT subcommands that act on the calling connection. */
#define CLIENT_CONN(sub, SUB)                                                  \
	{                                                                      \
		"client|" sub, RDM_CMD_MOVE,                                   \
		    "ERR CLIENT " SUB                                          \
		    " is not supported on the RDMA port: it acts on "          \
		    "the calling connection, and module calls run on a "       \
		    "temporary "                                               \
		    "server client"                                            \
	}

static const struct rdm_cmd_rule client_rules[] = {
    CLIENT_CONN("caching", "CACHING"),
    CLIENT_CONN("getname", "GETNAME"),
    CLIENT_CONN("getredir", "GETREDIR"),
    CLIENT_CONN("id", "ID"),
    CLIENT_CONN("info", "INFO"),
    CLIENT_CONN("no-evict", "NO-EVICT"),
    CLIENT_CONN("no-touch", "NO-TOUCH"),
    CLIENT_CONN("reply", "REPLY"),
    CLIENT_CONN("setinfo", "SETINFO"),
    CLIENT_CONN("setname", "SETNAME"),
    CLIENT_CONN("tracking", "TRACKING"),
    CLIENT_CONN("trackinginfo", "TRACKINGINFO"),
};

static const struct rdm_cmd_rule hello_local = LOCAL("hello");
static const struct rdm_cmd_rule hello_resp3 = {
    "hello", RDM_CMD_MOVE,
    "NOPROTO RESP3 is not supported on this transport (use HELLO 2, the "
    "RDMA port, or TCP)"};

static const struct rdm_cmd_rule xread_block =
    BLOCKING("xread", "XREAD BLOCK", "XREAD without BLOCK");
static const struct rdm_cmd_rule xreadgroup_block =
    BLOCKING("xreadgroup", "XREADGROUP BLOCK", "XREADGROUP without BLOCK");

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* How @a (@alen bytes, any case) sorts against the lower-case @lit: < 0,
 * 0 or > 0, as strcmp() of @a in lower case. ASCII only, as command names
 * are: no locale. */
static int cmp_nocase(const char *a, size_t alen, const char *lit)
{
	size_t i;

	for (i = 0; i < alen && lit[i]; i++) {
		int c = (unsigned char)a[i];

		c += c >= 'A' && c <= 'Z' ? 'a' - 'A' : 0;
		if (c != (unsigned char)lit[i])
			return c - (unsigned char)lit[i];
	}
	return i < alen ? 1 : lit[i] ? -1 : 0;
}

static bool eq_nocase(const char *a, size_t alen, const char *lit)
{
	return !cmp_nocase(a, alen, lit);
}

const struct rdm_cmd_rule *rdm_cmd_policy(const char *name, size_t len)
{
	size_t lo = 0, hi = ARRAY_SIZE(rules);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_nocase(name, len, rules[mid].name);

		if (!c)
			return &rules[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct rdm_cmd_rule *client_policy(const struct rdm_resp_arg *sub)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(client_rules); i++)
		if (eq_nocase(sub->ptr, sub->len, client_rules[i].name + 7))
			return &client_rules[i];
	return NULL;
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS ...: options come before STREAMS;
 * XREADGROUP GROUP g c [...]: the group and consumer names are skipped. */
static bool has_block_option(const struct rdm_resp_arg *argv, int argc,
			     int first)
{
	int i;

	for (i = first; i < argc; i++) {
		if (eq_nocase(argv[i].ptr, argv[i].len, "streams"))
			return false;
		if (eq_nocase(argv[i].ptr, argv[i].len, "block"))
			return true;
	}
	return false;
}

const struct rdm_cmd_rule *rdm_cmd_policy_args(const struct rdm_resp_arg *argv,
					       int argc)
{
	const struct rdm_cmd_rule *r;

	if (argc < 1)
		return NULL;
	r = rdm_cmd_policy(argv[0].ptr, argv[0].len);
	if (!r || r->action != RDM_CMD_ARGS)
		return r;
	if (!strcmp(r->name, "client"))
		return argc >= 2 ? client_policy(&argv[1]) : NULL;
	if (!strcmp(r->name, "hello"))
		return argc >= 2 && eq_nocase(argv[1].ptr, argv[1].len, "3")
			   ? &hello_resp3
			   : &hello_local;
	if (!strcmp(r->name, "xread"))
		return has_block_option(argv, argc, 1) ? &xread_block : NULL;
	if (!has_block_option(argv, argc, 4))
		return NULL;
	return &xreadgroup_block;
}

const struct rdm_cmd_rule *rdm_cmd_rules(size_t *count)
{
	*count = ARRAY_SIZE(rules);
	return rules;
}
