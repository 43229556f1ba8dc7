/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: load (arguments, configs, INFO) and unload. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdmaring.h>

#include "attach.h"
#include "token.h"
#include "clients.h"
#include "loopback.h"
#include "rdma.h"
#include "module.h"

#define RDM_EXPORT __attribute__((visibility("default")))

struct rdm_module rdm_mod;

void rdm_log(const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	RedisModule_Log(rdm_mod.log_ctx, level, "%s", msg);
}

/* The log context lives from OnLoad until a successful OnUnload, after
 * every thread that logs has stopped. */
static void log_ctx_release(void)
{
	if (rdm_mod.log_ctx)
		RedisModule_FreeThreadSafeContext(rdm_mod.log_ctx);
	rdm_mod.log_ctx = NULL;
}

/* Load arguments as (pointer, length) pairs for the pure parser. */
static int parse_load_args(RedisModuleCtx *ctx, RedisModuleString **argv,
			   int argc)
{
	const char **ptrs;
	size_t *lens;
	char err[400];
	int i, ret;

	if (argc <= 0)
		return 0;
	ptrs = calloc((size_t)argc, sizeof(*ptrs));
	lens = calloc((size_t)argc, sizeof(*lens));
	if (!ptrs || !lens) {
		ret = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	for (i = 0; i < argc; i++)
		ptrs[i] = RedisModule_StringPtrLen(argv[i], &lens[i]);
	ret = rdm_knobs_parse_args(&rdm_mod.knobs, argc, ptrs, lens, err,
				   sizeof(err));
out:
	if (ret)
		RedisModule_Log(ctx, RDM_LOG_WARNING, "%s; module not loaded",
				err);
	free(ptrs);
	free(lens);
	return ret;
}

static void log_knobs(RedisModuleCtx *ctx)
{
	const long long *n = rdm_mod.knobs.num;

	RedisModule_Log(ctx, RDM_LOG_NOTICE,
			"loaded: bind='%s' port=%lld io-threads=%lld "
			"rx-size=%lld comp-vector=%lld poll-idle-us=%lld "
			"ring-entries=%lld poller-cpu=%lld numa-node=%lld "
			"max-clients=%lld",
			rdm_mod.knobs.bind, n[RDM_KNOB_PORT],
			n[RDM_KNOB_IO_THREADS], n[RDM_KNOB_RX_SIZE],
			n[RDM_KNOB_COMP_VECTOR], n[RDM_KNOB_POLL_IDLE_US],
			n[RDM_KNOB_RING_ENTRIES], n[RDM_KNOB_POLLER_CPU],
			n[RDM_KNOB_NUMA_NODE], n[RDM_KNOB_MAX_CLIENTS]);
	if (!rdm_mod.ops.running)
		RedisModule_Log(ctx, RDM_LOG_NOTICE,
				"port is 0: no RDMA listener, "
				"no clients are served");
}

static bool lb_running(void *priv)
{
	(void)priv;
	return rdm_loopback_running();
}

static int lb_stop(void *priv)
{
	(void)priv;
	return rdm_loopback_stop();
}

static int lb_apply(void *priv, enum rdm_knob_id id, long long value)
{
	(void)priv;
	if (id == RDM_KNOB_MAX_CLIENTS)
		rdm_loopback_set_max_clients((uint64_t)value);
	return 0;
}

static void lb_stats(void *priv, struct rdm_stats *s)
{
	(void)priv;
	rdm_loopback_stats(s);
}

/* The TCP stand-in for the RDMA transport (hidden knob loopback-port). */
static int start_loopback(RedisModuleCtx *ctx)
{
	static const struct rdm_engine_ops ops = {
	    .apply = lb_apply,
	    .running = lb_running,
	    .stop = lb_stop,
	    .stats = lb_stats,
	};
	long long port = rdm_mod.knobs.num[RDM_KNOB_LOOPBACK_PORT];
	int ret;

	if (!port)
		return 0;
	ret = rdm_dispatch_start(ctx);
	if (ret)
		goto err;
	ret = rdm_loopback_start(
	    (uint16_t)port, (size_t)rdm_mod.knobs.num[RDM_KNOB_RX_SIZE],
	    (uint64_t)rdm_mod.knobs.num[RDM_KNOB_MAX_CLIENTS]);
	if (ret) {
		rdm_dispatch_stop();
		goto err;
	}
	rdm_module_set_engine(&ops);
	RedisModule_Log(ctx, RDM_LOG_NOTICE,
			"serving the data path over TCP on 127.0.0.1:%lld "
			"(loopback-port, for tests)",
			port);
	return 0;
err:
	RedisModule_Log(ctx, RDM_LOG_WARNING,
			"cannot serve on loopback-port %lld: %s", port,
			strerror(-ret));
	return ret;
}

/* Where the engine's threads run, read back from them. */
static void log_placement(RedisModuleCtx *ctx)
{
	static struct rdm_stats s; /* main thread; 6 KiB off the stack */
	char line[1024];

	rdm_stats_snapshot(&rdm_mod.ops,
			   (unsigned int)rdm_mod.knobs.num[RDM_KNOB_IO_THREADS],
			   &s);
	rdm_placement_line(&s, line, sizeof(line));
	RedisModule_Log(ctx, RDM_LOG_NOTICE, "placement: %s", line);
}

/* poller-cpu, numa-node and io-thread-cpus against the machine, also when
 * no engine starts (port 0), so that a wrong value fails the load. */
static int check_placement(RedisModuleCtx *ctx)
{
	const struct rdm_knobs *k = &rdm_mod.knobs;
	struct rring_params p;
	char err[512], num[3][32];
	int ret;

	rring_params_init(&p);
	snprintf(num[0], sizeof(num[0]), "%lld", k->num[RDM_KNOB_IO_THREADS]);
	snprintf(num[1], sizeof(num[1]), "%lld", k->num[RDM_KNOB_POLLER_CPU]);
	snprintf(num[2], sizeof(num[2]), "%lld", k->num[RDM_KNOB_NUMA_NODE]);
	ret = rring_params_set(&p, "io-threads", num[0], err, sizeof(err));
	if (!ret)
		ret = rring_params_set(&p, "poller-cpu", num[1], err,
				       sizeof(err));
	if (!ret)
		ret = rring_params_set(&p, "numa-node", num[2], err,
				       sizeof(err));
	if (!ret)
		ret = rring_params_set(&p, "io-thread-cpus", k->io_thread_cpus,
				       err, sizeof(err));
	if (!ret)
		ret = rring_params_check_placement(&p, err, sizeof(err));
	if (ret)
		RedisModule_Log(ctx, RDM_LOG_WARNING, "%s; module not loaded",
				err);
	return ret;
}

/* The RDMA transport on the engine (knob port, 0 = none). */
static int start_rdma(RedisModuleCtx *ctx)
{
	long long port = rdm_mod.knobs.num[RDM_KNOB_PORT];
	char err[300];
	int ret;

	if (!port)
		return 0;
	if (rdm_mod.knobs.num[RDM_KNOB_LOOPBACK_PORT]) {
		RedisModule_Log(ctx, RDM_LOG_WARNING,
				"port and loopback-port cannot both be set; "
				"module not loaded");
		rdm_loopback_stop();
		rdm_dispatch_stop();
		return -EINVAL;
	}
	ret = rdm_dispatch_start(ctx);
	if (ret) {
		snprintf(err, sizeof(err), "cannot start the dispatcher: %s",
			 strerror(-ret));
		goto err;
	}
	ret = rdm_rdma_start(&rdm_mod.knobs, err, sizeof(err));
	if (ret) {
		rdm_dispatch_stop();
		goto err;
	}
	rdm_module_set_engine(rdm_rdma_engine_ops());
	RedisModule_Log(ctx, RDM_LOG_NOTICE,
			"serving RDMA clients on port %lld (bind '%s')", port,
			rdm_mod.knobs.bind);
	log_placement(ctx);
	return 0;
err:
	RedisModule_Log(ctx, RDM_LOG_WARNING, "%s; module not loaded", err);
	return ret;
}

RDM_EXPORT int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv,
				  int argc);
RDM_EXPORT int RedisModule_OnUnload(RedisModuleCtx *ctx);

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	if (rdm_api_init(ctx, RDM_MODULE_NAME, RDM_MODULE_VERSION,
			 REDISMODULE_APIVER_1) != REDISMODULE_OK)
		return REDISMODULE_ERR;
	memset(&rdm_mod, 0, sizeof(rdm_mod));
	rdm_mod.log_ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
	rdm_knobs_init(&rdm_mod.knobs);
	if (parse_load_args(ctx, argv, argc))
		goto err_release_log;
	if (rdm_config_register(ctx) != REDISMODULE_OK)
		goto err_release_config;
	if (check_placement(ctx))
		goto err_release_config;
	if (rdm_info_register(ctx) != REDISMODULE_OK) {
		RedisModule_Log(ctx, RDM_LOG_WARNING,
				"cannot register the INFO section");
		goto err_release_config;
	}
	if (rdm_clients_register(ctx) != REDISMODULE_OK) {
		RedisModule_Log(ctx, RDM_LOG_WARNING,
				"cannot register the RDMARING command");
		goto err_release_config;
	}
	if (rdm_attach_register(ctx) != REDISMODULE_OK) {
		RedisModule_Log(ctx, RDM_LOG_WARNING,
				"cannot register the RDMARING.ATTACH command");
		goto err_release_config;
	}
	if (start_loopback(ctx) || start_rdma(ctx))
		goto err_release_config;
	log_knobs(ctx);
	return REDISMODULE_OK;

err_release_config:
	rdm_config_release();
err_release_log:
	log_ctx_release();
	return REDISMODULE_ERR;
}

int RedisModule_OnUnload(RedisModuleCtx *ctx)
{
	char msg[300];

	if (rdm_unload_check(&rdm_mod.ops, msg, sizeof(msg))) {
		RedisModule_Log(ctx, RDM_LOG_WARNING, "%s", msg);
		return REDISMODULE_ERR;
	}
	rdm_dispatch_stop();
	rdm_token_forget();
	rdm_module_set_engine(NULL);
	rdm_config_release();
	log_ctx_release();
	RedisModule_Log(ctx, RDM_LOG_NOTICE, "unloaded");
	return REDISMODULE_OK;
}

void rdm_module_set_engine(const struct rdm_engine_ops *ops)
{
	if (ops)
		rdm_mod.ops = *ops;
	else
		memset(&rdm_mod.ops, 0, sizeof(rdm_mod.ops));
}
