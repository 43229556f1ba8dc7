/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: client pauses (CLIENT PAUSE, FAILOVER) for RDMA clients. */
#ifndef RDM_PAUSE_H
#define RDM_PAUSE_H

#include <stdbool.h>

#include "redismodule_api.h"

/*
 * The 7.0 module API neither says whether clients are paused nor pauses
 * RedisModule_Call. So the module follows the commands that pause: the
 * command filter hands it every CLIENT PAUSE, CLIENT UNPAUSE and FAILOVER
 * of any client (rdm_pause_seen), checked as the server checks their
 * arguments; a FAILOVER lasts while INFO replication says a failover is
 * in progress. While paused, the main thread holds the commands a TCP
 * client would have held (every command for ALL; for WRITE those the
 * server flags write or may_replicate), and every later command of the
 * same client, and runs them in order when the pause ends.
 * All functions: main thread.
 */

/* rdm_pause_seen - a command about to run (argv[0] is its name; argc is
 * its whole count, argv holds at least min(argc, 4) of them). */
void rdm_pause_seen(RedisModuleString **argv, int argc);

/* rdm_pause_holds - must argv wait? (refreshes an expired pause) */
bool rdm_pause_holds(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* rdm_pause_active - is any pause still on? */
bool rdm_pause_active(RedisModuleCtx *ctx);

/* rdm_pause_forget - module stop: drop the cached command flags. */
void rdm_pause_forget(void);

#endif /* RDM_PAUSE_H */
