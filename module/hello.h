/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the reply of HELLO 2 for an RDMA client. */
#ifndef RDM_HELLO_H
#define RDM_HELLO_H

#include <stddef.h>
#include <stdint.h>

#include "redismodule_api.h"

/*
 * HELLO runs in the module: RedisModule_Call("HELLO") answers for the
 * temporary client the call runs on (its id, and NOAUTH under requirepass
 * whatever the RDMA client did). The reply is the one a TCP client gets,
 * with the RDMA client's id. Main thread.
 */

/* rdm_hello_init - read the server's name, version and mode (INFO). */
void rdm_hello_init(RedisModuleCtx *ctx);

/* rdm_hello_reply - the RESP2 reply of HELLO 2 for client id, malloc'd
 * (*len bytes), NULL on allocation failure. */
char *rdm_hello_reply(RedisModuleCtx *ctx, uint64_t id, size_t *len);

/* rdm_hello_name_ok - may name be a client name (SETNAME's rule)? */
int rdm_hello_name_ok(const char *name, size_t len);

#endif /* RDM_HELLO_H */
