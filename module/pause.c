/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: client pauses (CLIENT PAUSE, FAILOVER) for RDMA clients. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "exec.h"
#include "pause.h"

enum pause_type { PAUSE_NONE, PAUSE_WRITE, PAUSE_ALL }; /* by strength */

static enum pause_type by_client; /* CLIENT PAUSE, until client_end */
static uint64_t client_end;	  /* CLOCK_MONOTONIC ms */
static bool failover;		  /* a FAILOVER may be in progress */


/* The CLIENT PAUSE ends (now, or when its time is up). */
static void expire(bool now)
{
	if (now || (by_client != PAUSE_NONE && rdm_now_ms() >= client_end)) {
		by_client = PAUSE_NONE;
		client_end = 0;
	}
}

/* CLIENT PAUSE timeout [WRITE|ALL]: the server's argument checks. */
static void client_pause(RedisModuleString **argv, int argc)
{
	enum pause_type type = PAUSE_ALL;
	long long ms;

	if (argc != 3 && argc != 4)
		return;
	if (RedisModule_StringToLongLong(argv[2], &ms) != REDISMODULE_OK ||
	    ms < 0)
		return;
	if (argc == 4) {
		if (rdm_arg_is(argv[3], "write"))
			type = PAUSE_WRITE;
		else if (!rdm_arg_is(argv[3], "all"))
			return;
	}
	/* as the server merges pauses: the stronger type and the later end
	 * win */
	if (type > by_client)
		by_client = type;
	if (rdm_now_ms() + (uint64_t)ms > client_end)
		client_end = rdm_now_ms() + (uint64_t)ms;
}

void rdm_pause_seen(RedisModuleString **argv, int argc)
{
	expire(false);
	/* during a pause ALL the server postpones this command too; the
	 * filter sees it again when it really runs */
	if (by_client == PAUSE_ALL)
		return;
	if (rdm_arg_is(argv[0], "failover")) {
		/* FAILOVER ABORT ends one; INFO tells (rdm_pause_active) */
		failover = true;
		return;
	}
	if (!rdm_arg_is(argv[0], "client") || argc < 2)
		return;
	if (rdm_arg_is(argv[1], "pause"))
		client_pause(argv, argc);
	else if (rdm_arg_is(argv[1], "unpause") && argc == 2)
		expire(true);
}

/* Is a failover in progress (INFO replication master_failover_state)? */
static bool failover_on(RedisModuleCtx *ctx)
{
	RedisModuleCallReply *r;
	const char *info;
	size_t len = 0;
	bool on;

	r = RedisModule_Call(ctx, "INFO", "c", "replication");
	info = r ? RedisModule_CallReplyStringPtr(r, &len) : NULL;
	/* unknown (no INFO): keep holding rather than let writes through */
	on = !info || !memmem(info, len, "master_failover_state:no-failover",
			      33);
	if (r)
		RedisModule_FreeCallReply(r);
	return on;
}

static enum pause_type current(RedisModuleCtx *ctx)
{
	expire(false);
	if (failover && !failover_on(ctx))
		failover = false;
	/* a failover pauses writes */
	if (failover && by_client < PAUSE_WRITE)
		return PAUSE_WRITE;
	return by_client;
}

bool rdm_pause_active(RedisModuleCtx *ctx)
{
	return current(ctx) != PAUSE_NONE;
}

/* --------------------- which commands are writes ------------------------ */

#define FLAG_CACHE 64
static struct {
	char name[32];
	bool write; /* flagged write or may_replicate */
} flag_cache[FLAG_CACHE];
static int n_flags;

void rdm_pause_forget(void)
{
	n_flags = 0;
}

static bool has_flag(RedisModuleCallReply *flags, const char *want)
{
	RedisModuleCallReply *e;
	const char *p;
	size_t i, len;

	for (i = 0; i < RedisModule_CallReplyLength(flags); i++) {
		e = RedisModule_CallReplyArrayElement(flags, i);
		p = e ? RedisModule_CallReplyStringPtr(e, &len) : NULL;
		if (p && len == strlen(want) && !memcmp(p, want, len))
			return true;
	}
	return false;
}

/* COMMAND INFO name: is it a write (as the server's pause sees it)? */
static bool is_write(RedisModuleCtx *ctx, RedisModuleString *name)
{
	RedisModuleCallReply *r, *info, *flags;
	size_t len;
	const char *p = RedisModule_StringPtrLen(name, &len);
	bool w = true; /* unknown: hold, as the server would a write */
	int i;

	for (i = 0; i < n_flags; i++)
		if (rdm_arg_is(name, flag_cache[i].name))
			return flag_cache[i].write;
	r = RedisModule_Call(ctx, "COMMAND", "cs", "INFO", name);
	info = r ? RedisModule_CallReplyArrayElement(r, 0) : NULL;
	flags = info ? RedisModule_CallReplyArrayElement(info, 2) : NULL;
	if (flags && RedisModule_CallReplyType(flags) == REDISMODULE_REPLY_ARRAY)
		w = has_flag(flags, "write") || has_flag(flags, "may_replicate");
	if (r)
		RedisModule_FreeCallReply(r);
	if (len < sizeof(flag_cache[0].name)) {
		if (n_flags == FLAG_CACHE)
			n_flags = 0;
		memcpy(flag_cache[n_flags].name, p, len);
		flag_cache[n_flags].name[len] = '\0';
		flag_cache[n_flags++].write = w;
	}
	return w;
}

bool rdm_pause_holds(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	(void)argc;
	switch (current(ctx)) {
	case PAUSE_NONE:
		return false;
	case PAUSE_ALL: /* QUIT is answered before the pause check */
		return !rdm_arg_is(argv[0], "quit");
	case PAUSE_WRITE:
		break;
	}
	return is_write(ctx, argv[0]);
}
