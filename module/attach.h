/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: RDMARING.ATTACH, which makes a server connection the
 * real client of an RDMA client. */
#ifndef RDM_ATTACH_H
#define RDM_ATTACH_H

#include "redismodule_api.h"

/*
 * An RDMA client that needs a real server client (transactions, blocking,
 * pub/sub, RESP3, per-connection CLIENT commands) moves to a connection its
 * IO thread opens to the server itself (relay.h). That connection's first
 * command is `RDMARING.ATTACH <token>` (token.h: made by the IO thread for
 * that RDMA client and its user). ATTACH authenticates the calling client
 * as the user (RedisModule_AuthenticateClientWithACLUser: no password is
 * kept; a client that was not authenticated stays as the server made it)
 * and records its id for the RDMA client (RDMARING CLIENT LIST
 * server-id=). Flagged no-auth (the connection may start unauthenticated
 * under requirepass: the token is the proof), refused in scripts and
 * transactions, and on the fast path (policy.c).
 */

/* rdm_attach_register - the RDMARING.ATTACH command. OnLoad. */
int rdm_attach_register(RedisModuleCtx *ctx);

#endif /* RDM_ATTACH_H */
