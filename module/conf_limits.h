/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the server's client limits, applied to RDMA clients. */
#ifndef RDM_CONF_LIMITS_H
#define RDM_CONF_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redismodule_api.h"

/*
 * Read from the server's configuration at load and after every CONFIG SET
 * (the command filter, watch.c): proto-max-bulk-len for the parsers,
 * client-query-buffer-limit for an unfinished command, protected-mode for
 * new RDMA clients, maxclients (with the server's clients, followed by
 * client change events), timeout for idle ones (clients.c),
 * and client-output-buffer-limit
 * normal for the replies waiting for a client.
 *
 * Replies: the main thread counts the bytes of a session's replies not yet
 * sent (rdm_session.reply_bytes). Over the hard limit, or over the soft
 * limit for its seconds, the client is closed and logged as Redis does.
 * Without a hard limit the main thread holds a client's next commands
 * while RDM_REPLY_HOLD_BYTES of its replies wait, and the IO thread stops
 * parsing at RDM_CLIENT_INFLIGHT_MAX commands in flight: the sender stalls
 * (RDMA flow control) and the server's memory stays bounded.
 */
#define RDM_REPLY_HOLD_BYTES (16ull << 20)
#define RDM_CLIENT_INFLIGHT_MAX 1024u

struct rdm_obuf_limit {
	unsigned long long hard, soft; /* bytes; 0: none */
	long long soft_seconds;
};

/* rdm_limits_start - read the configuration and the server's client
 * count, follow client connections. Main thread. 0 or -errno. */
int rdm_limits_start(RedisModuleCtx *ctx);

/* rdm_config_get - CONFIG GET name: val and len point into the returned
 * reply (free it), val NULL when the server does not know name. Main
 * thread. */
RedisModuleCallReply *rdm_config_get(RedisModuleCtx *ctx, const char *name,
				     const char **val, size_t *len);

/* rdm_limits_refresh - re-read the configuration. Main thread. */
void rdm_limits_refresh(RedisModuleCtx *ctx);

/* rdm_limits_obuf - client-output-buffer-limit normal. Main thread. */
const struct rdm_obuf_limit *rdm_limits_obuf(void);

/* rdm_limits_server_full - would one more RDMA client (rdma_clients are
 * connected) reach maxclients with the server's own clients? A moved
 * client and its server client count once. Any thread. */
bool rdm_limits_server_full(uint64_t rdma_clients);

/* rdm_limits_query_max - client-query-buffer-limit (0: none). Any
 * thread. */
unsigned long long rdm_limits_query_max(void);

/* rdm_limits_timeout - timeout (idle seconds, 0: none). Main thread. */
long long rdm_limits_timeout(void);

/* rdm_limits_protected - protected mode denies remote clients now
 * (protected-mode yes, default user without password). Any thread. */
bool rdm_limits_protected(void);

/* rdm_limits_bulk_len - proto-max-bulk-len. Any thread. */
long long rdm_limits_bulk_len(void);

#endif /* RDM_CONF_LIMITS_H */
