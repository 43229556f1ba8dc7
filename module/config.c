/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: rdmaring.<knob> module configs (CONFIG GET/SET). */
#include <stdio.h>
#include <string.h>

#include "module.h"

static long long get_num(const char *name, void *privdata)
{
	const struct rdm_knob_desc *d = privdata;

	(void)name;
	return rdm_mod.knobs.num[d->id];
}

static RedisModuleString *set_error(const char *msg)
{
	/* The server frees it after copying the text into its reply. */
	return RedisModule_CreateString(NULL, msg, strlen(msg));
}

static int set_num(const char *name, long long val, void *privdata,
		   RedisModuleString **err)
{
	const struct rdm_knob_desc *d = privdata;
	char msg[200];
	bool changed;

	(void)name;
	if (rdm_knob_update(&rdm_mod.knobs, d, val, rdm_mod.loading, &changed,
			    msg, sizeof(msg))) {
		*err = set_error(msg);
		return REDISMODULE_ERR;
	}
	return REDISMODULE_OK;
}

/* Called once per CONFIG SET after every setter succeeded. */
static int apply_num(RedisModuleCtx *ctx, void *privdata,
		     RedisModuleString **err)
{
	const struct rdm_knob_desc *d = privdata;
	long long v = rdm_mod.knobs.num[d->id];
	char msg[200];
	int ret;

	ret = rdm_apply_runtime(&rdm_mod.ops, d->id, v);
	if (ret) {
		snprintf(msg, sizeof(msg),
			 "rdmaring.%s=%lld could not be applied (error %d)",
			 d->name, v, -ret);
		*err = set_error(msg);
		return REDISMODULE_ERR;
	}
	RedisModule_Log(ctx, RDM_LOG_NOTICE, "%s set to %lld", d->name, v);
	return REDISMODULE_OK;
}

static RedisModuleString *get_bind(const char *name, void *privdata)
{
	(void)name;
	(void)privdata;
	return rdm_mod.bind_str;
}

static int set_bind(const char *name, RedisModuleString *val, void *privdata,
		    RedisModuleString **err)
{
	RedisModuleString *copy;
	const char *v;
	char msg[400];
	bool changed;
	size_t len;

	(void)name;
	(void)privdata;
	v = RedisModule_StringPtrLen(val, &len);
	if (rdm_knob_update_bind(&rdm_mod.knobs, v, len, rdm_mod.loading,
				 &changed, msg, sizeof(msg))) {
		*err = set_error(msg);
		return REDISMODULE_ERR;
	}
	if (!changed && rdm_mod.bind_str)
		return REDISMODULE_OK;
	copy = RedisModule_CreateString(NULL, v, len);
	if (rdm_mod.bind_str)
		RedisModule_FreeString(NULL, rdm_mod.bind_str);
	rdm_mod.bind_str = copy;
	return REDISMODULE_OK;
}

static int register_knob(RedisModuleCtx *ctx, const struct rdm_knob_desc *d)
{
	/* Not IMMUTABLE: the setter refuses restart-only changes itself so
	 * that the reply says why, while startup values still apply. */
	unsigned int flags = REDISMODULE_CONFIG_DEFAULT;
	void *priv = (void *)d;

	if (d->flags & RDM_KNOB_F_HIDDEN)
		flags |= REDISMODULE_CONFIG_HIDDEN;

	if (d->type == RDM_KNOB_STR)
		return RedisModule_RegisterStringConfig(
		    ctx, d->name, rdm_mod.knobs.bind, flags, get_bind, set_bind,
		    NULL, priv);
	return RedisModule_RegisterNumericConfig(
	    ctx, d->name, rdm_mod.knobs.num[d->id], flags, d->min, d->max,
	    get_num, set_num,
	    (d->flags & RDM_KNOB_F_RUNTIME) ? apply_num : NULL, priv);
}

int rdm_config_register(RedisModuleCtx *ctx)
{
	const struct rdm_knob_desc *d;
	int i, ret = REDISMODULE_OK;

	rdm_mod.loading = true;
	for (i = 0; i < RDM_KNOB_NR; i++) {
		d = rdm_knob_desc_get((enum rdm_knob_id)i);
		if (register_knob(ctx, d) != REDISMODULE_OK) {
			RedisModule_Log(ctx, RDM_LOG_WARNING,
					"cannot register config "
					"rdmaring.%s",
					d->name);
			ret = REDISMODULE_ERR;
			goto out;
		}
	}
	/* Applies config-file values over the load arguments (logged by the
	 * server when one is refused). */
	if (RedisModule_LoadConfigs(ctx) != REDISMODULE_OK) {
		RedisModule_Log(ctx, RDM_LOG_WARNING,
				"a rdmaring.* value from the config "
				"file was refused");
		ret = REDISMODULE_ERR;
	}
out:
	rdm_mod.loading = false;
	return ret;
}

void rdm_config_release(void)
{
	if (rdm_mod.bind_str)
		RedisModule_FreeString(NULL, rdm_mod.bind_str);
	rdm_mod.bind_str = NULL;
}
