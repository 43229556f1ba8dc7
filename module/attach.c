/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: RDMARING.ATTACH, which makes a server connection the
 * real client of an RDMA client. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "clients.h"
#include "exec.h"
#include "token.h"

static int attach_cmd(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	uint64_t id = 0;
	char *user = NULL, err[320];
	const char *hex;
	size_t len;
	int ret;

	if (argc != 2)
		return RedisModule_ReplyWithError(
		    ctx, "ERR wrong number of arguments for "
			 "'rdmaring.attach' command");
	if (RedisModule_GetContextFlags(ctx) &
	    (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA))
		return RedisModule_ReplyWithError(
		    ctx, "ERR RDMARING.ATTACH is not allowed in a transaction "
			 "or a script");
	hex = RedisModule_StringPtrLen(argv[1], &len);
	ret = rdm_token_take(hex, len, rdm_now_ms(), &id, &user);
	if (ret)
		return RedisModule_ReplyWithError(
		    ctx, ret == -ETIMEDOUT
			     ? "ERR RDMARING.ATTACH: the token expired"
			     : "ERR RDMARING.ATTACH: invalid or used token");
	/* refused for a module's own client, and for a user deleted or
	 * disabled since the token was made */
	if (user && RedisModule_AuthenticateClientWithACLUser(
			ctx, user, strlen(user), NULL, NULL, NULL) !=
			REDISMODULE_OK) {
		snprintf(err, sizeof(err),
			 "ERR RDMARING.ATTACH: user '%.200s' of RDMA client "
			 "%llu no longer exists or is disabled",
			 user, (unsigned long long)id);
		free(user);
		return RedisModule_ReplyWithError(ctx, err);
	}
	free(user);
	rdm_clients_attached(id, RedisModule_GetClientId(ctx));
	return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int rdm_attach_register(RedisModuleCtx *ctx)
{
	return RedisModule_CreateCommand(ctx, "rdmaring.attach", attach_cmd,
					 "no-auth deny-script fast", 0, 0, 0);
}
