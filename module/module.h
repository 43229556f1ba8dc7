/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: module-wide state shared by the load, config and INFO code.
 */
#ifndef RDM_MODULE_H
#define RDM_MODULE_H

#include <stdbool.h>

#include "knobs.h"
#include "redismodule_api.h"
#include "exec.h"
#include "runtime.h"

#define RDM_MODULE_NAME "rdmaring"
#define RDM_MODULE_VERSION 100 /* 0.1.0 as major*10000 + minor*100 + patch */

/* Owned by the main thread; the engine sees knobs through ops.apply. */
struct rdm_module {
	struct rdm_knobs knobs;
	bool loading;		     /* OnLoad until LoadConfigs returned */
	/* what CONFIG GET returns for each string knob, by knob id */
	RedisModuleString *str_val[RDM_KNOB_NR];
	bool listen_changed; /* port or bind set, listeners not moved yet */
	struct rdm_engine_ops ops;   /* zero until the engine is connected */
	/* Detached context for log lines from any thread, so that they carry
	 * the module's name ("<rdmaring>"); NULL before OnLoad and after
	 * OnUnload (lines then go out as "<module>"). */
	RedisModuleCtx *log_ctx;
};

extern struct rdm_module rdm_mod;

/* rdm_config_register - register rdmaring.<knob> configs with the current
 * knob values as defaults, then load config-file values. Main thread,
 * OnLoad only. REDISMODULE_OK / REDISMODULE_ERR (logged). */
int rdm_config_register(RedisModuleCtx *ctx);

/* rdm_config_release - free what rdm_config_register allocated. */
void rdm_config_release(void);

/* rdm_info_register - register the INFO section "rdmaring". OnLoad only. */
int rdm_info_register(RedisModuleCtx *ctx);

/* rdm_log - one server log line at level through the module's context
 * (rdm_mod.log_ctx). Any thread. */
void rdm_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* rdm_module_set_engine - plug in (or, with NULL, remove) the engine hooks.
 * Main thread. */
void rdm_module_set_engine(const struct rdm_engine_ops *ops);

#endif /* RDM_MODULE_H */
