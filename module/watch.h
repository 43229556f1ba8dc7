/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: server commands of any client the module must notice. */
#ifndef RDM_WATCH_H
#define RDM_WATCH_H

#include "redismodule_api.h"

/*
 * A command filter sees every command of every client before it runs (the
 * module's own calls included): ACL SETUSER/DELUSER/LOAD, CONFIG SET (and
 * EXEC of a transaction holding one) may change the default user
 * (requirepass), which decides whether a new RDMA client starts
 * authenticated; CLIENT PAUSE/UNPAUSE and FAILOVER pause clients (pause.h).
 * Main thread.
 */

/* rdm_watch_start - register the filter; ctx is detached, kept. 0 or
 * -errno. */
int rdm_watch_start(RedisModuleCtx *ctx);
/* rdm_watch_stop - unregister it. Idempotent. */
void rdm_watch_stop(void);

#endif /* RDM_WATCH_H */
