/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: ACL checks of an RDMA client's commands, as for TCP. */
#ifndef RDM_ACL_H
#define RDM_ACL_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "redismodule_api.h"

/*
 * Every command of an RDMA client is checked against its session's user
 * with RedisModule_ACLCheckCommandPermissions (command, keys, channels: the
 * check processCommand makes for a TCP client) before it runs, the
 * module's own connection commands (SELECT...) included; users allowed
 * everything (+@all ~* &*, looked up once with ACL GETUSER and again after
 * any command that may change users) skip it, as they cannot be refused.
 * The user is resolved by name once per batch and after every ACL command
 * (ACL DELUSER and ACL LOAD free the objects a RedisModuleUser points at),
 * so ACL changes apply to the next command of every client, as on TCP.
 *
 * Some commands are checked by the server against the calling client while
 * they run: scripts and functions (each redis.call) and SORT's BY and GET
 * patterns. RedisModule_Call runs commands on a temporary client, which is
 * the session's user only with RedisModule_SetContextUser and the "C"
 * flag (Redis 7.0.15 has both; so every call runs that way when it
 * exists). Without it those commands run only for users allowed
 * everything, who lose nothing by skipping the inner checks; others get an
 * error naming the command and the reason (fail closed).
 * All functions: main thread.
 */

struct rdm_acl_user; /* a resolved user, valid until rdm_acl_batch_end */

/* rdm_arg_is - is a equal to lit (ASCII case-insensitive)? Any thread.
 * Inline: commands are compared with several literals each, and strlen of
 * a literal folds to a constant. */
static inline bool rdm_arg_is(const RedisModuleString *a, const char *lit)
{
	size_t len;
	const char *p = RedisModule_StringPtrLen(a, &len);

	return len == strlen(lit) && !strncasecmp(p, lit, len);
}

/* rdm_acl_init - decide whether calls can run as a user (run_as_user);
 * logs the choice. */
void rdm_acl_init(RedisModuleCtx *ctx);

/* rdm_acl_user - the user named name, NULL when it does not exist. */
struct rdm_acl_user *rdm_acl_user(const char *name);

/* rdm_acl_check - may u run argv? NULL when allowed (or when the server
 * reports the command itself: unknown command, arity); otherwise the
 * error reply text (no leading '-'), as processCommand words it. */
const char *rdm_acl_check(RedisModuleCtx *ctx, struct rdm_acl_user *u,
			  RedisModuleString **argv, int argc);

/* rdm_acl_caller_check - after rdm_acl_check: NULL when argv can run
 * (*as_user: through RedisModule_Call's "C" flag, with the user set on ctx
 * until rdm_acl_call_done), else the error of a command whose checks read
 * the calling client on a server that cannot run calls as a user. */
const char *rdm_acl_caller_check(RedisModuleCtx *ctx, struct rdm_acl_user *u,
				 RedisModuleString **argv, int argc,
				 bool *as_user);
/* rdm_acl_call_done - undo what rdm_acl_caller_check set on ctx. */
void rdm_acl_call_done(RedisModuleCtx *ctx);

/* rdm_acl_auth_may_change - a command that may change users is about to
 * run (the watch filter): forget which users are allowed everything, so
 * no later check is skipped on what was true before it. Safe during a
 * call: the users themselves stay. */
void rdm_acl_auth_may_change(void);

/* rdm_acl_batch_end - forget the resolved users (end of a batch, and after
 * any ACL command). */
void rdm_acl_batch_end(void);

#endif /* RDM_ACL_H */
