/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: where the server itself listens, for moved clients. */
#ifndef RDM_TARGET_H
#define RDM_TARGET_H

#include <stdbool.h>
#include <sys/socket.h>

#include "redismodule_api.h"

/*
 * A moved RDMA client (relay.h) is relayed over a connection to the server
 * itself: its unixsocket when one is configured, else TCP on `port` at
 * 127.0.0.1 (or ::1, or the first bind address, when loopback is not
 * bound). The main thread reads it at load and after CONFIG SET; IO
 * threads copy it under a mutex when a client moves.
 */
struct rdm_target {
	struct sockaddr_storage addr;
	socklen_t len; /* 0: the server has neither port nor unixsocket */
	char desc[128]; /* for messages: "unix:/path", "127.0.0.1:6379" */
};

/* rdm_target_refresh - re-read unixsocket, port and bind. Main thread. */
void rdm_target_refresh(RedisModuleCtx *ctx);

/* rdm_target_get - the current target (len 0: none). Any thread. */
void rdm_target_get(struct rdm_target *out);

/* rdm_target_pick - pure: the target for unixsocket (may be empty), port
 * and the bind list ("addr [-addr ...]"). Exposed for tests. */
void rdm_target_pick(const char *unixsocket, long long port,
		     const char *bind, struct rdm_target *out);

#endif /* RDM_TARGET_H */
