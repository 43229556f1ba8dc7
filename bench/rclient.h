/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: the RESP client role shared by rring-bench and rring-cli. */
#ifndef RRING_RCLIENT_H
#define RRING_RCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <rdmaring.h>

#include "resp_client.h"

/* Received bytes not yet taken as replies. */
struct rcl_rbuf {
	char *buf;
	size_t cap, len, off;
};

/* Append what a RECV handed out. 0 or -ENOMEM. */
int rcl_rbuf_add(struct rcl_rbuf *rb, const void *data, size_t len);

/* Take the next whole reply: 1 with ri filled and *frame (if frame) at its
 * first byte (both valid until the next rcl_rbuf_add), 0 when incomplete,
 * -EPROTO on malformed bytes. */
int rcl_rbuf_next(struct rcl_rbuf *rb, struct rdm_reply_info *ri,
		  const char **frame);

void rcl_rbuf_free(struct rcl_rbuf *rb);

/* How a client engine runs: Valkey's wire protocol, the poller unpinned. */
struct rcl_engine_opts {
	const char *prog; /* prefix of messages */
	unsigned int threads;
	size_t rx_size;
	/* the engine's poll-idle-us: 0 unless asked (a client on the host
	 * of the server it measures takes the server's CPU while it spins,
	 * and redis-benchmark does not spin either) */
	uint32_t poll_idle_us;
	bool external; /* the caller drives the IO thread (rring_io_process) */
	/* keep the engine's warnings until rcl_print_held(): a command-line
	 * client shows them only when they explain its failure (a server that
	 * refuses a client and closes makes the client's racing write fail,
	 * after the reply arrived; redis-cli prints nothing for that) */
	bool hold_warnings;
};

/* Print the held engine warnings (rcl_engine_opts.hold_warnings). */
void rcl_print_held(void);

/* Create and start the engine; NULL after printing why on stderr. */
struct rring_engine *
rcl_engine_start(const struct rcl_engine_opts *o,
		 void (*event)(struct rring_io *io,
			       const struct rring_event *ev, void *arg));

/* Print why connecting to host:port failed (err: -errno), after the held
 * engine warnings, with the hint that a machine without an RDMA NIC needs
 * softverbs. */
void rcl_connect_error(const char *prog, const char *host, unsigned int port,
		       int err);

#endif /* RRING_RCLIENT_H */
