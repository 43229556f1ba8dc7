/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: rdmaring.<knob> module configs (CONFIG GET/SET). */
#include <stdio.h>
#include <string.h>

#include "module.h"
#include "move.h"

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
	if (changed && !rdm_mod.loading && d->id == RDM_KNOB_PORT)
		rdm_mod.listen_changed = true;
	return REDISMODULE_OK;
}

/* Port or bind, once per CONFIG SET that changed either (the server calls
 * each knob's apply; the first one moves the listeners to both values). */
static int apply_listen(RedisModuleString **err)
{
	const struct rdm_knobs *k = &rdm_mod.knobs;
	char msg[400];

	if (!rdm_mod.listen_changed)
		return REDISMODULE_OK;
	rdm_mod.listen_changed = false;
	if (rdm_listen_runtime(&rdm_mod.ops, k->bind, k->num[RDM_KNOB_PORT],
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

	if (d->id == RDM_KNOB_PORT)
		return apply_listen(err);
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

static RedisModuleString *get_str(const char *name, void *privdata)
{
	const struct rdm_knob_desc *d = privdata;

	(void)name;
	return rdm_mod.str_val[d->id];
}

static int set_str(const char *name, RedisModuleString *val, void *privdata,
		   RedisModuleString **err)
{
	const struct rdm_knob_desc *d = privdata;
	RedisModuleString *copy;
	const char *v;
	char msg[400];
	bool changed;
	size_t len;

	(void)name;
	v = RedisModule_StringPtrLen(val, &len);
	if (rdm_knob_update_str(&rdm_mod.knobs, d, v, len, rdm_mod.loading,
				&changed, msg, sizeof(msg))) {
		*err = set_error(msg);
		return REDISMODULE_ERR;
	}
	if (changed && !rdm_mod.loading && d->id == RDM_KNOB_BIND)
		rdm_mod.listen_changed = true;
	if (d->id == RDM_KNOB_MOVE_CLIENTS) /* applies to the next client */
		rdm_move_set_always(len == 6 && !memcmp(v, "always", 6));
	if (!changed && rdm_mod.str_val[d->id])
		return REDISMODULE_OK;
	copy = RedisModule_CreateString(NULL, v, len);
	if (rdm_mod.str_val[d->id])
		RedisModule_FreeString(NULL, rdm_mod.str_val[d->id]);
	rdm_mod.str_val[d->id] = copy;
	return REDISMODULE_OK;
}

static int apply_str(RedisModuleCtx *ctx, void *privdata,
		     RedisModuleString **err)
{
	const struct rdm_knob_desc *d = privdata;

	(void)ctx;
	/* move-clients took effect in its setter */
	return d->id == RDM_KNOB_BIND ? apply_listen(err) : REDISMODULE_OK;
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
		    ctx, d->name, rdm_knob_str(&rdm_mod.knobs, d->id), flags,
		    get_str, set_str,
		    (d->flags & RDM_KNOB_F_RUNTIME) ? apply_str : NULL, priv);
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
	/* the value the setters left (load argument, config file) */
	rdm_move_set_always(!strcmp(rdm_mod.knobs.move_clients, "always"));
out:
	rdm_mod.loading = false;
	return ret;
}

void rdm_config_release(void)
{
	int i;

	for (i = 0; i < RDM_KNOB_NR; i++) {
		if (rdm_mod.str_val[i])
			RedisModule_FreeString(NULL, rdm_mod.str_val[i]);
		rdm_mod.str_val[i] = NULL;
	}
}
