/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: ACL checks of an RDMA client's commands, as for TCP. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"

struct rdm_acl_user {
	RedisModuleString *name;
	RedisModuleUser *user;
	int full; /* +@all ~* &*: 1 yes, 0 no, -1 not looked up yet */
};

/* Users resolved in the current batch: a batch rarely has many users. */
#define BATCH_USERS 8
static struct rdm_acl_user users[BATCH_USERS];
static int n_users;
/* Users known to be allowed everything or not, across batches. */
#define KNOWN_USERS 32
static struct {
	RedisModuleString *name;
	bool full;
} known[KNOWN_USERS];
static int n_known;
static bool run_as_user; /* RedisModule_Call "C" runs as the context user */
static char denial[160];

void rdm_acl_batch_end(void)
{
	int i;

	for (i = 0; i < n_users; i++) {
		RedisModule_FreeModuleUser(users[i].user);
		RedisModule_FreeString(NULL, users[i].name);
	}
	n_users = 0;
}

static void forget_known(void)
{
	int i;

	for (i = 0; i < n_known; i++)
		RedisModule_FreeString(NULL, known[i].name);
	n_known = 0;
}

void rdm_acl_auth_may_change(void)
{
	int i;

	forget_known();
	for (i = 0; i < n_users; i++)
		users[i].full = -1;
}

/* Is the user name a exactly (case matters) p[0..len)? */
static bool name_is(RedisModuleString *a, const char *p, size_t len)
{
	size_t alen;
	const char *ap = RedisModule_StringPtrLen(a, &alen);

	return alen == len && !memcmp(ap, p, len);
}

struct rdm_acl_user *rdm_acl_user(const char *name)
{
	size_t len = strlen(name);
	RedisModuleString *str;
	RedisModuleUser *u;
	int i;

	for (i = 0; i < n_users; i++)
		if (name_is(users[i].name, name, len))
			return &users[i];
	str = RedisModule_CreateString(NULL, name, len);
	u = str ? RedisModule_GetModuleUserFromUserName(str) : NULL;
	if (!u) {
		if (str)
			RedisModule_FreeString(NULL, str);
		return NULL;
	}
	/* earlier jobs of the batch are done with theirs */
	if (n_users == BATCH_USERS)
		rdm_acl_batch_end();
	users[n_users] = (struct rdm_acl_user){str, u, -1};
	return &users[n_users++];
}

/* ------------------------------ denials ------------------------------- */

/* The command name as Redis prints it (its table name: lower case). */
static const char *lower_name(RedisModuleString *a, char *buf, size_t size)
{
	size_t i, len;
	const char *p = RedisModule_StringPtrLen(a, &len);

	for (i = 0; i < len && i < size - 1; i++)
		buf[i] = (char)tolower((unsigned char)p[i]);
	buf[i] = '\0';
	return buf;
}

/* ACL LOG: the denied object (quoted in DRYRUN's text) and its kind. */
static void log_denial(RedisModuleCtx *ctx, struct rdm_acl_user *u,
		       const char *txt, size_t len, int reason)
{
	const char *a = memchr(txt, '\'', len), *b;
	RedisModuleString *obj;

	b = a ? memchr(a + 1, '\'', len - (size_t)(a + 1 - txt)) : NULL;
	if (!b)
		return;
	obj = RedisModule_CreateString(NULL, a + 1, (size_t)(b - a - 1));
	RedisModule_ACLAddLogEntry(ctx, u->user, obj, reason);
	RedisModule_FreeString(NULL, obj);
}

/*
 * The words of a denial: RedisModule_ACLCheckCommandPermissions only says
 * "denied", so ask ACL DRYRUN (rare path) whether the command, a key or a
 * channel was refused, and add the ACL LOG entry. DRYRUN also checks the
 * arity first, as TCP does before ACLs: an error reply there means the
 * call itself reports it.
 */
static const char *denial_text(RedisModuleCtx *ctx, struct rdm_acl_user *u,
			       RedisModuleString **argv, int argc)
{
	RedisModuleString **dv;
	RedisModuleCallReply *r;
	const char *txt = NULL, *ret = NULL;
	char name[64];
	size_t len = 0;
	int reason = REDISMODULE_ACL_LOG_KEY;

	dv = malloc(((size_t)argc + 2) * sizeof(*dv));
	if (!dv)
		return "ERR out of memory";
	dv[0] = RedisModule_CreateString(NULL, "DRYRUN", 6);
	dv[1] = u->name;
	memcpy(dv + 2, argv, (size_t)argc * sizeof(*dv));
	r = RedisModule_Call(ctx, "ACL", "Ev", dv, (size_t)argc + 2);
	if (r && RedisModule_CallReplyType(r) == REDISMODULE_REPLY_STRING)
		txt = RedisModule_CallReplyStringPtr(r, &len);
	if (!txt || (len == 2 && !memcmp(txt, "OK", 2))) {
		ret = NULL;
	} else if (memmem(txt, len, "' channel", 9)) {
		ret = "NOPERM this user has no permissions to access one of "
		      "the channels used as arguments";
		reason = REDISMODULE_ACL_LOG_CHANNEL;
	} else if (memmem(txt, len, "' command", 9) ||
		   !memmem(txt, len, "key", 3)) {
		snprintf(denial, sizeof(denial),
			 "NOPERM this user has no permissions to run the '%s' "
			 "command",
			 lower_name(argv[0], name, sizeof(name)));
		ret = denial;
		reason = REDISMODULE_ACL_LOG_CMD;
	} else {
		ret = "NOPERM this user has no permissions to access one of "
		      "the keys used as arguments";
	}
	if (ret)
		log_denial(ctx, u, txt, len, reason);
	if (r)
		RedisModule_FreeCallReply(r);
	RedisModule_FreeString(NULL, dv[0]);
	free(dv);
	return ret;
}

static bool user_full(RedisModuleCtx *ctx, struct rdm_acl_user *u, bool ask);

const char *rdm_acl_check(RedisModuleCtx *ctx, struct rdm_acl_user *u,
			  RedisModuleString **argv, int argc)
{
	/* nothing to refuse: the check cost as much main-thread time as a
	 * small SET itself (lookup, key extraction per command) */
	if (user_full(ctx, u, false))
		return NULL;
	errno = 0;
	if (RedisModule_ACLCheckCommandPermissions(u->user, argv, argc) ==
	    REDISMODULE_OK)
		return NULL;
	if (errno != EACCES)
		return NULL; /* unknown command: the call reports it */
	return denial_text(ctx, u, argv, argc);
}

/* ------------------- commands that read the caller -------------------- */

static bool field_is(RedisModuleCallReply *r, size_t i, const char *want)
{
	RedisModuleCallReply *e = RedisModule_CallReplyArrayElement(r, i);
	size_t len;
	const char *p = e ? RedisModule_CallReplyStringPtr(e, &len) : NULL;

	return p && len == strlen(want) && !memcmp(p, want, len);
}

/* Is the user named name allowed everything (+@all ~* &*, as ACL GETUSER
 * prints it)? */
static bool getuser_full(RedisModuleCtx *ctx, RedisModuleString *name)
{
	RedisModuleCallReply *r;
	int hits = 0;
	size_t k, n;

	r = RedisModule_Call(ctx, "ACL", "cs", "GETUSER", name);
	if (r && RedisModule_CallReplyType(r) == REDISMODULE_REPLY_ARRAY) {
		n = RedisModule_CallReplyLength(r);
		for (k = 0; k + 1 < n; k += 2) {
			hits += field_is(r, k, "commands") &&
				field_is(r, k + 1, "+@all");
			hits +=
			    field_is(r, k, "keys") && field_is(r, k + 1, "~*");
			hits += field_is(r, k, "channels") &&
				field_is(r, k + 1, "&*");
		}
	}
	if (r)
		RedisModule_FreeCallReply(r);
	return hits == 3;
}

/*
 * Is u allowed everything? ACL GETUSER costs about 200 us of main-thread
 * time, so its answer is kept by name across batches, for up to
 * KNOWN_USERS users, until a command that may change users
 * (rdm_acl_auth_may_change). With ask false an unknown user is not looked
 * up once the list is full: false, and the caller checks each command (a
 * server with more users than that does not pay a lookup per batch).
 */
static bool user_full(RedisModuleCtx *ctx, struct rdm_acl_user *u, bool ask)
{
	RedisModuleString *name;
	const char *p;
	size_t len;
	int i;

	if (u->full >= 0)
		return u->full;
	p = RedisModule_StringPtrLen(u->name, &len);
	for (i = 0; i < n_known; i++)
		if (name_is(known[i].name, p, len))
			return (u->full = known[i].full);
	if (!ask && n_known == KNOWN_USERS)
		return false;
	u->full = getuser_full(ctx, u->name);
	name = n_known < KNOWN_USERS ? RedisModule_CreateString(NULL, p, len)
				     : NULL;
	if (name) {
		known[n_known].name = name;
		known[n_known++].full = u->full;
	}
	return u->full;
}

static const char *const script_cmds[] = {
    "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
};

/* The reason argv's checks read the caller, or NULL when they do not. */
static const char *reads_caller(RedisModuleString **argv, int argc)
{
	size_t i;
	int a;

	for (i = 0; i < sizeof(script_cmds) / sizeof(script_cmds[0]); i++)
		if (rdm_arg_is(argv[0], script_cmds[i]))
			return "its redis.call commands";
	if (!rdm_arg_is(argv[0], "sort") && !rdm_arg_is(argv[0], "sort_ro"))
		return NULL;
	/* a pattern value equal to BY or GET is refused too: fail closed */
	for (a = 2; a < argc; a++)
		if (rdm_arg_is(argv[a], "by") || rdm_arg_is(argv[a], "get"))
			return "the keys of its BY and GET patterns";
	return NULL;
}

const char *rdm_acl_caller_check(RedisModuleCtx *ctx, struct rdm_acl_user *u,
				 RedisModuleString **argv, int argc,
				 bool *as_user)
{
	const char *why;
	char name[64];

	*as_user = run_as_user;
	if (run_as_user) {
		/* every call: module commands and ACL WHOAMI read it too */
		RedisModule_SetContextUser(ctx, u->user);
		return NULL;
	}
	why = reads_caller(argv, argc);
	if (!why || user_full(ctx, u, true))
		return NULL;
	snprintf(denial, sizeof(denial),
		 "NOPERM '%s' is refused on the RDMA port for users without "
		 "+@all ~* &*: this server cannot check %s against the user",
		 lower_name(argv[0], name, sizeof(name)), why);
	return denial;
}

void rdm_acl_call_done(RedisModuleCtx *ctx)
{
	RedisModule_SetContextUser(ctx, NULL);
}

void rdm_acl_init(RedisModuleCtx *ctx)
{
	run_as_user = RedisModule_SetContextUser != NULL;
	RedisModule_Log(ctx, RDM_LOG_NOTICE,
			run_as_user
			    ? "commands of RDMA clients run as their ACL user "
			      "(scripts, functions and SORT patterns checked)"
			    : "this server has no RedisModule_SetContextUser: "
			      "scripts, functions and SORT BY/GET run over RDMA "
			      "only for users with +@all ~* &*");
}
