/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: server commands of any client the module must notice. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "acl.h"
#include "exec.h"
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
}

static void on_command(RedisModuleCommandFilterCtx *fctx)
{
	RedisModuleString *name;

	if (RedisModule_CommandFilterArgsCount(fctx) < 1)
		return;
	name = RedisModule_CommandFilterArgGet(fctx, 0);
	/* EXEC: a transaction may hold one (the timer may fire between) */
	if (!rdm_arg_is(name, "acl") && !rdm_arg_is(name, "config") &&
	    !rdm_arg_is(name, "exec"))
		return;
	/* it runs right after this returns; the timer fires after it */
	rdm_exec_auth_unknown();
	if (!refresh_armed) {
		RedisModule_CreateTimer(watch_ctx, 0, refresh, NULL);
		refresh_armed = true;
	}
}

int rdm_watch_start(RedisModuleCtx *ctx)
{
	watch_ctx = ctx;
	/* NOSELF: the module's own calls (ACL GETUSER...) would re-arm it */
	filter = RedisModule_RegisterCommandFilter(ctx, on_command,
						   REDISMODULE_CMDFILTER_NOSELF);
	return filter ? 0 : -EIO;
}

void rdm_watch_stop(void)
{
	if (filter)
		RedisModule_UnregisterCommandFilter(watch_ctx, filter);
	filter = NULL;
}
