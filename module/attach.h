/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: single-use tokens that attach a server client to an
 * RDMA client (RDMARING.ATTACH). */
#ifndef RDM_ATTACH_H
#define RDM_ATTACH_H

#include <stdint.h>

#include "redismodule_api.h"

/*
 * An RDMA client that needs a real server client (transactions, blocking,
 * pub/sub, RESP3, per-connection CLIENT commands) moves to a connection its
 * IO thread opens to the server itself (relay.h). That connection proves
 * who it is for with `RDMARING.ATTACH <token>`, its first command: the
 * token was made by the IO thread for that RDMA client (its id and its
 * user, or none when it is not authenticated) and is single-use, 128
 * random bits (getrandom), compared in constant time, and expires after
 * RDM_ATTACH_TTL_MS. ATTACH authenticates the calling client as the user
 * (RedisModule_AuthenticateClientWithACLUser: no password is kept) and
 * records its id for the RDMA client (RDMARING CLIENT LIST server-id=).
 * The table is shared by IO threads and the main thread (a mutex).
 */
#define RDM_ATTACH_TOKEN_HEX 32 /* 16 random bytes in hex */
#define RDM_ATTACH_TTL_MS 60000u

/* rdm_attach_token_new - a token for RDMA client `id` of `user` (NULL:
 * not authenticated, ATTACH leaves the connection as the server made it)
 * into hex (RDM_ATTACH_TOKEN_HEX chars + NUL). 0 or -errno. Any thread. */
int rdm_attach_token_new(uint64_t id, const char *user, char *hex);

/* rdm_attach_register - the RDMARING.ATTACH command. OnLoad. */
int rdm_attach_register(RedisModuleCtx *ctx);

/* rdm_attach_forget - drop every token (unload). */
void rdm_attach_forget(void);

#endif /* RDM_ATTACH_H */
