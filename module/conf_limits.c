/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the server's client limits, applied to RDMA clients. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "exec.h"
#include "conf_limits.h"

static struct rdm_obuf_limit obuf;
/* set by the main thread, read by the IO threads' parsers: a plain value,
 * no ordering with anything else */
static _Atomic long long bulk_len;
static _Atomic bool protected_mode; /* protected-mode yes */
static _Atomic unsigned long long query_max; /* client-query-buffer-limit */
static long long idle_timeout;
/* maxclients, and the server's own clients (client change events) */
static _Atomic long long max_clients, server_clients;	    /* timeout, seconds (main thread) */

/* CONFIG GET name: the value's reply (free it), NULL when unknown. */
RedisModuleCallReply *rdm_config_get(RedisModuleCtx *ctx, const char *name,
					const char **val, size_t *len)
{
	RedisModuleCallReply *r = RedisModule_Call(ctx, "CONFIG", "cc", "GET",
						   name);
	RedisModuleCallReply *v;

	*val = NULL;
	if (!r)
		return NULL;
	v = RedisModule_CallReplyType(r) == REDISMODULE_REPLY_ARRAY &&
		    RedisModule_CallReplyLength(r) == 2
		? RedisModule_CallReplyArrayElement(r, 1)
		: NULL;
	if (v)
		*val = RedisModule_CallReplyStringPtr(v, len);
	return r;
}

/* CONFIG GET name as a number; dflt when unknown. */
static long long config_ll(RedisModuleCtx *ctx, const char *name,
			   long long dflt)
{
	const char *v;
	size_t len = 0;
	char num[32];
	RedisModuleCallReply *r = rdm_config_get(ctx, name, &v, &len);

	if (v && len < sizeof(num)) {
		memcpy(num, v, len);
		num[len] = '\0';
		dflt = strtoll(num, NULL, 10);
	}
	if (r)
		RedisModule_FreeCallReply(r);
	return dflt;
}

/* "normal <hard> <soft> <seconds> replica ...": the normal class. */
static void parse_obuf(const char *s, size_t len)
{
	char buf[256], *p, *end;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	p = strstr(buf, "normal ");
	if (!p)
		return;
	p += 7;
	obuf.hard = strtoull(p, &end, 10);
	obuf.soft = strtoull(end, &end, 10);
	obuf.soft_seconds = strtoll(end, &end, 10);
}

void rdm_limits_refresh(RedisModuleCtx *ctx)
{
	RedisModuleCallReply *r;
	const char *v;
	size_t len = 0;

	r = rdm_config_get(ctx, "client-output-buffer-limit", &v, &len);
	if (v)
		parse_obuf(v, len);
	if (r)
		RedisModule_FreeCallReply(r);
	atomic_store_explicit(&bulk_len,
			      config_ll(ctx, "proto-max-bulk-len", 512ll << 20),
			      memory_order_relaxed);
	idle_timeout = config_ll(ctx, "timeout", 0);
	atomic_store_explicit(&max_clients, config_ll(ctx, "maxclients", 0),
			      memory_order_relaxed);
	atomic_store_explicit(
	    &query_max,
	    (unsigned long long)config_ll(ctx, "client-query-buffer-limit", 0),
	    memory_order_relaxed);
	r = rdm_config_get(ctx, "protected-mode", &v, &len);
	atomic_store_explicit(&protected_mode,
			      !v || (len == 3 && !memcmp(v, "yes", 3)),
			      memory_order_relaxed);
	if (r)
		RedisModule_FreeCallReply(r);
}

bool rdm_limits_server_full(uint64_t rdma_clients)
{
	long long max = atomic_load_explicit(&max_clients, memory_order_relaxed);

	/* a moved client is one client: its RDMA connection and its server
	 * client count once together, as its TCP twin would. Between its
	 * socket's connect and ATTACH it still counts twice (a refusal in
	 * that window is conservative); between its server client's close
	 * and its RDMA close it counts once. */
	return max > 0 &&
	       atomic_load_explicit(&server_clients, memory_order_relaxed) +
			   (long long)rdma_clients -
			   rdm_clients_counted_twice() >=
		   max;
}

static void on_client_change(RedisModuleCtx *ctx, RedisModuleEvent eid,
			     uint64_t subevent, void *data)
{
	const RedisModuleClientInfo *ci = data;

	(void)ctx;
	(void)eid;
	if (subevent != REDISMODULE_SUBEVENT_CLIENT_CHANGE_CONNECTED)
		rdm_clients_detached(ci->id);
	atomic_fetch_add_explicit(&server_clients,
				  subevent == REDISMODULE_SUBEVENT_CLIENT_CHANGE_CONNECTED
				      ? 1
				      : -1,
				  memory_order_relaxed);
}

int rdm_limits_start(RedisModuleCtx *ctx)
{
	RedisModuleCallReply *r = RedisModule_Call(ctx, "INFO", "c", "clients");
	const char *info = r ? RedisModule_CallReplyStringPtr(r, NULL) : NULL;
	const char *p = info ? strstr(info, "connected_clients:") : NULL;

	if (p)
		atomic_store(&server_clients, strtoll(p + 18, NULL, 10));
	if (r)
		RedisModule_FreeCallReply(r);
	rdm_limits_refresh(ctx);
	return RedisModule_SubscribeToServerEvent(
		   ctx, (RedisModuleEvent){REDISMODULE_EVENT_CLIENT_CHANGE, 1},
		   on_client_change) == REDISMODULE_OK
		   ? 0
		   : -EIO;
}

unsigned long long rdm_limits_query_max(void)
{
	return atomic_load_explicit(&query_max, memory_order_relaxed);
}

long long rdm_limits_timeout(void)
{
	return idle_timeout;
}

bool rdm_limits_protected(void)
{
	return atomic_load_explicit(&protected_mode, memory_order_relaxed) &&
	       rdm_exec_default_open();
}

const struct rdm_obuf_limit *rdm_limits_obuf(void)
{
	return &obuf;
}

long long rdm_limits_bulk_len(void)
{
	return atomic_load_explicit(&bulk_len, memory_order_relaxed);
}
