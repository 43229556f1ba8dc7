/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: where the server itself listens, for moved clients. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_limits.h"
#include "target.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdm_target current;

/* CONFIG GET name copied into out (empty when unknown). */
static void config_str(RedisModuleCtx *ctx, const char *name, char *out,
		       size_t size)
{
	const char *v;
	size_t len = 0;
	RedisModuleCallReply *r = rdm_config_get(ctx, name, &v, &len);

	snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
	if (r)
		RedisModule_FreeCallReply(r);
}

void rdm_target_refresh(RedisModuleCtx *ctx)
{
	char unixsocket[256], port[32], bind[256];
	struct rdm_target t;

	config_str(ctx, "unixsocket", unixsocket, sizeof(unixsocket));
	config_str(ctx, "port", port, sizeof(port));
	config_str(ctx, "bind", bind, sizeof(bind));
	rdm_target_pick(unixsocket, strtoll(port, NULL, 10), bind, &t);
	pthread_mutex_lock(&lock);
	current = t;
	pthread_mutex_unlock(&lock);
}

void rdm_target_get(struct rdm_target *out)
{
	pthread_mutex_lock(&lock);
	*out = current;
	pthread_mutex_unlock(&lock);
}
