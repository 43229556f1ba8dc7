/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: server commands of any client the module must notice. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "acl.h"
#include "clients.h"
#include "exec.h"
#include "conf_limits.h"
#include "pause.h"
#include "target.h"
#include "watch.h"

static RedisModuleCtx *watch_ctx;
static RedisModuleCommandFilter *filter;
static bool refresh_armed;

static void refresh(RedisModuleCtx *ctx, void *data)
{
	(void)ctx;
	(void)data;
	refresh_armed = false;
	rdm_exec_auth_refresh();
	rdm_limits_refresh(watch_ctx);
	rdm_target_refresh(watch_ctx); /* port, bind (unixsocket is fixed) */
	rdm_clients_sweep(watch_ctx, false); /* users ACL DELUSER removed */
}

/* Does argv change the default user (ACL, requirepass)? EXEC: a
 * transaction may hold such a command (the timer may fire between). */
static bool changes_auth(RedisModuleString **argv, int argc)
{
	if (rdm_arg_is(argv[0], "exec"))
		return true;
	if (argc < 2)
		return false;
	if (rdm_arg_is(argv[0], "config"))
		return rdm_arg_is(argv[1], "set");
	return rdm_arg_is(argv[0], "acl") &&
	       (rdm_arg_is(argv[1], "setuser") ||
		rdm_arg_is(argv[1], "deluser") || rdm_arg_is(argv[1], "load"));
}

/* The commands changes_auth and rdm_pause_seen act on. This filter runs
 * before every command of every client: any other stops at these five
 * comparisons (a length test each, mostly). */
static const char *const watched[] = {"acl", "exec", "config", "client",
				      "failover"};

static bool is_watched(RedisModuleString *name)
{
	size_t i;

	for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (rdm_arg_is(name, watched[i]))
			return true;
	return false;
}

static void on_command(RedisModuleCommandFilterCtx *fctx)
{
	RedisModuleString *argv[4];
	int argc = RedisModule_CommandFilterArgsCount(fctx), i;

	if (argc < 1)
		return;
	argv[0] = RedisModule_CommandFilterArgGet(fctx, 0);
	if (!is_watched(argv[0]))
		return;
	for (i = 1; i < argc && i < 4; i++)
		argv[i] = RedisModule_CommandFilterArgGet(fctx, i);
	rdm_pause_seen(argv, argc);
	if (!changes_auth(argv, argc))
		return;
	/* it runs right after this returns; the timer fires after it */
	rdm_exec_auth_unknown();
	rdm_acl_auth_may_change();
	if (!refresh_armed) {
		RedisModule_CreateTimer(watch_ctx, 0, refresh, NULL);
		refresh_armed = true;
	}
}

int rdm_watch_start(RedisModuleCtx *ctx)
{
	watch_ctx = ctx;
	/* the module's own calls too: its RDMA clients' CLIENT PAUSE */
	filter = RedisModule_RegisterCommandFilter(ctx, on_command, 0);
	return filter ? 0 : -EIO;
}

void rdm_watch_stop(void)
{
	if (filter)
		RedisModule_UnregisterCommandFilter(watch_ctx, filter);
	filter = NULL;
}
