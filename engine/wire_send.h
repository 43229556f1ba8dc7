/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: per-connection sender state machine (peer window writes). */
#ifndef RRING_WIRE_SEND_H
#define RRING_WIRE_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include "wire_msg.h"

/*
 * Pure logic, no verbs: addresses, lengths and keys are plain integers.
 * One instance per connection, used only by the connection's owner IO
 * thread (no locking, no atomics). See wire_send.c and docs/wire.md for the
 * state table.
 */

#define RRING_WIRE_MAX_SGE 4u /* scatter entries per write action */
/* Largest single write: the receiver sees a write's bytes only when it
 * completes, so cutting big values lets the consumer start sooner. */
#define RRING_WIRE_DEFAULT_MAX_WRITE (1u << 20)

enum rring_wire_send_state {
	/* No RegisterXferMemory from the peer yet: nothing may be written. */
	RRING_WIRE_SEND_WAIT_PEER_BUFFER,
	/* Peer window known and not written to its end. */
	RRING_WIRE_SEND_READY,
	/* Window written exactly to its end; waiting for re-advertisement. */
	RRING_WIRE_SEND_WINDOW_FULL,
	/* Closed in order; requests not acknowledged are reported failed. */
	RRING_WIRE_SEND_CLOSED,
	/* Protocol violation or transport error; same reporting as CLOSED. */
	RRING_WIRE_SEND_ERROR,
	RRING_WIRE_SEND_NR_STATES
};

/* One piece of caller-owned registered memory. */
struct rring_wire_iov {
	uint64_t addr;
	uint32_t len;
	uint32_t lkey;
};

/* Action: one RDMA_WRITE_WITH_IMM to post (fields map 1:1 onto
 * ibv_send_wr: wr_id, sg_list, wr.rdma.remote_addr/rkey, imm_data,
 * IBV_SEND_SIGNALED). */
struct rring_wire_write {
	uint64_t wr_id; /* hand back to rring_wire_send_on_write_done() */
	struct rring_wire_iov sge[RRING_WIRE_MAX_SGE];
	uint32_t num_sge;
	uint32_t length; /* sum of sge[].len */
	uint64_t remote_addr;
	uint32_t rkey;
	uint32_t imm_data; /* length, big-endian (network order) */
	bool signaled;
	bool fence; /* zero bytes, no immediate: plain RDMA_WRITE, signaled */
	uint32_t requests; /* requests whose last byte this write carries */
};

/* Outcome of one send request, in submission order. */
struct rring_wire_send_result {
	uint64_t cookie;
	int status; /* 0 delivered (write completed), else negative errno */
};

struct rring_wire_send_params {
	uint32_t max_requests; /* queued + in-flight requests, power of two */
	uint32_t max_iovs;     /* queued iovecs not yet written, power of two */
	uint32_t max_inflight; /* writes posted and not completed */
	uint32_t signal_every; /* signal at least one write in this many */
	uint32_t max_sge;      /* 1..RRING_WIRE_MAX_SGE */
	uint32_t max_write;    /* bytes per write, 1..RX_SIZE_MAX */
	/* false: the last write before the sender runs out of queued bytes
	 * is signaled, so every request is reported without further help.
	 * true: it is not; the owner calls rring_wire_send_fence once the
	 * connection has gone quiet. The owner may change it between calls
	 * (the engine sets it while a signaled write is recent). */
	bool lazy_tail;
};

/* rring_wire_send_queue_flags: signal the write that ends this request
 * (its memory must be reported free soon, not at some later completion). */
#define RRING_WIRE_SEND_F_SIGNAL 0x1u

struct rring_wire_sreq {
	uint64_t cookie;
	uint64_t end; /* stream offset just past the request's last byte */
	bool signal;  /* RRING_WIRE_SEND_F_SIGNAL */
};

struct rring_wire_inflight {
	uint64_t end; /* stream offset just past this write */
	bool signaled;
};

struct rring_wire_send_stats {
	uint64_t writes;
	uint64_t signaled;
	uint64_t windows; /* advertisements accepted */
	uint64_t bytes_posted;
	uint64_t bytes_acked;
	uint64_t requests_done;
	uint64_t requests_failed;
	uint64_t coalesced; /* requests that ended in a write with another */
	uint64_t fences;    /* zero-byte writes that retired unsignaled ones */
};

struct rring_wire_send {
	enum rring_wire_send_state state;
	int err;	    /* status reported for failed requests */
	const char *reason; /* static text for the close log line */
	struct rring_wire_send_params p;

	/* The peer's current window. */
	uint64_t win_addr;
	uint32_t win_len;
	uint32_t win_rkey;
	uint32_t win_off;

	/* Requests: [req_head, req_tail) not yet reported; req_post is the
	 * first whose last byte has not been written. */
	struct rring_wire_sreq *reqs;
	uint32_t req_head, req_post, req_tail;
	/* Iovecs: [seg_head, seg_tail) not yet fully written. */
	struct rring_wire_iov *segs;
	uint32_t seg_head, seg_tail;
	uint32_t seg_off; /* bytes of segs[seg_head] already written */

	/* Stream offsets: queued >= posted >= acked. */
	uint64_t queued, posted, acked;

	/* Writes in flight: [infl_head, infl_tail), wr_id == index. */
	struct rring_wire_inflight *infl;
	uint32_t infl_mask;
	uint64_t infl_head, infl_tail;
	uint32_t since_signal;

	struct rring_wire_send_stats stats;
};

/* Any thread. Defaults: 1024 requests, 4096 iovecs, SEND_QUEUE minus
 * CTRL_RESERVE writes in flight, signal one in 512, 4 sges, 1 MiB writes,
 * no lazy tail. */
void rring_wire_send_params_init(struct rring_wire_send_params *p);

/* Owner thread. -EINVAL (bad params), -ENOMEM. Starts in WAIT_PEER_BUFFER;
 * after a failure the machine is CLOSED and destroy is still allowed. */
int rring_wire_send_init(struct rring_wire_send *s,
			 const struct rring_wire_send_params *p);
/* Owner thread. Idempotent; leaves the machine CLOSED with nothing to
 * reap (reap requests first to learn their outcome). */
void rring_wire_send_destroy(struct rring_wire_send *s);

/* Owner thread. Event: queue one request of @iovcnt iovecs (zero-length
 * ones skipped, total > 0). Memory stays caller-owned until the request is
 * reaped. -EAGAIN queue full, -EINVAL empty, -E2BIG more iovecs than
 * max_iovs, -EPIPE closed. */
int rring_wire_send_queue(struct rring_wire_send *s,
			  const struct rring_wire_iov *iov, unsigned int iovcnt,
			  uint64_t cookie);
/* Owner thread. The same with RRING_WIRE_SEND_F_* @flags. */
int rring_wire_send_queue_flags(struct rring_wire_send *s,
				const struct rring_wire_iov *iov,
				unsigned int iovcnt, uint64_t cookie,
				unsigned int flags);

/* Owner thread. Event: the peer advertised (addr, len, rkey) (already
 * validated by the codec). -EPROTO (and ERROR) if it re-advertises while
 * part of the current window is written but not all of it. */
int rring_wire_send_on_peer_buffer(struct rring_wire_send *s, uint64_t addr,
				   uint32_t len, uint32_t rkey);

/* Owner thread. Action: fill @w with the next write to post. 0, -EAGAIN
 * (nothing may be posted now: no data, no window, or no send budget), or
 * -EPIPE (closed). */
int rring_wire_send_next(struct rring_wire_send *s, struct rring_wire_write *w);

/* Owner thread. True when the last write posted is unsignaled: the requests
 * it ends are reported only after a later signaled completion. */
bool rring_wire_send_unsignaled(const struct rring_wire_send *s);

/* Owner thread. Action: fill @w with a fence (fence set, zero bytes,
 * signaled) whose completion retires the unsignaled writes before it.
 * 0, or -EAGAIN when the last write posted is signaled (nothing to retire),
 * -EPIPE closed. */
int rring_wire_send_fence(struct rring_wire_send *s, struct rring_wire_write *w);

/* Owner thread. Event: the signaled write @wr_id completed successfully;
 * it and every earlier write count as delivered. -EINVAL if @wr_id is not
 * a signaled write in flight (state unchanged). */
int rring_wire_send_on_write_done(struct rring_wire_send *s, uint64_t wr_id);

/* Owner thread. Event: orderly close (@err 0, requests fail with
 * -ECONNRESET) or transport error (@err < 0). Idempotent; the first
 * reason wins. */
void rring_wire_send_close(struct rring_wire_send *s, int err,
			   const char *reason);

/* Owner thread. Report up to @max finished requests in order: delivered
 * ones while open; after close, every remaining one (failed unless its
 * last write had completed). Returns how many were written to @res. */
unsigned int rring_wire_send_reap(struct rring_wire_send *s,
				  struct rring_wire_send_result *res,
				  unsigned int max);

/* Owner thread. True when requests remain to be reaped or written. */
bool rring_wire_send_busy(const struct rring_wire_send *s);

/* Any thread. Name of a state for log lines. */
const char *rring_wire_send_state_str(enum rring_wire_send_state st);

#endif /* RRING_WIRE_SEND_H */
