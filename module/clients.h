/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the table of RDMA clients (RDMARING CLIENT, timeout). */
#ifndef RDM_CLIENTS_H
#define RDM_CLIENTS_H

#include <stdbool.h>

#include "exec.h"

/*
 * Every session is in one table (a mutex: IO threads add and remove, the
 * main thread reads) from its connection's start to its free. The main
 * thread closes a client by setting its close reason and pushing an
 * RDM_JOB_KILL to its IO thread's reply queue; the IO thread closes every
 * connection of its own with a reason set (rdm_session_close_reason).
 * INFO counts the clients closed per reason.
 */

/* rdm_clients_add - s is served by IO thread `io`, its replies arrive on
 * reply_q, addr is the peer ("?:0" when unknown). Owner IO thread. */
void rdm_clients_add(struct rdm_session *s, struct rdm_mpsc *reply_q,
		     unsigned int io, const char *addr);
/* rdm_clients_remove - before s is freed; counts its close reason. */
void rdm_clients_remove(struct rdm_session *s);

/* rdm_clients_attached - RDMA client `id` moved to server client
 * server_id (counted in INFO; the sweep leaves it to the server). Main
 * thread; nothing when id is gone. */
void rdm_clients_attached(uint64_t id, uint64_t server_id);

/* rdm_clients_detached - server client server_id disconnected; when an
 * RDMA client had moved to it, that client now counts once. Main thread
 * (client change events). */
void rdm_clients_detached(uint64_t server_id);

/* rdm_clients_counted_twice - RDMA clients whose server client is
 * connected: each is both an RDMA client and one of the server's clients.
 * Any thread. */
long long rdm_clients_counted_twice(void);

/* rdm_clients_kill - close s for reason (main thread, s in the table). */
void rdm_clients_kill(struct rdm_session *s, enum rdm_close_reason reason);

/* rdm_clients_sweep - idle: close clients idle longer than the server's
 * timeout (as its clientsCron); otherwise close clients whose user was
 * deleted (after ACL changes; TCP closes them in ACL DELUSER). Main
 * thread. */
void rdm_clients_sweep(RedisModuleCtx *ctx, bool idle);

/* rdm_clients_register - the RDMARING command (CLIENT LIST, CLIENT KILL).
 * OnLoad. */
int rdm_clients_register(RedisModuleCtx *ctx);

/* rdm_clients_info - INFO fields: clients closed per reason, clients
 * moved to a server client (ever, and now). */
void rdm_clients_info(RedisModuleInfoCtx *ctx);

#endif /* RDM_CLIENTS_H */
