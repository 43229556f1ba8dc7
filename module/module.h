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
	RedisModuleString *bind_str; /* what CONFIG GET rdmaring.bind returns */
	struct rdm_engine_ops ops;   /* zero until the engine is connected */
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

/* rdm_module_set_engine - plug in (or, with NULL, remove) the engine hooks.
 * Main thread. */
void rdm_module_set_engine(const struct rdm_engine_ops *ops);

#endif /* RDM_MODULE_H */
