/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: the Valkey RDMA wire data layer (large transfers), internal. */
#ifndef RRING_XFER_H
#define RRING_XFER_H

#include <stdint.h>

#include "engine.h"

/*
 * xfer.c implements struct rr_layer_ops on top of the wire state machines
 * (wire_send.h, wire_recv.h): per connection a registered receive buffer
 * advertised with RegisterXferMemory, 1024 posted 32-byte control
 * receives, control send slots, a staging buffer for small copied sends
 * and a registration cache for large zero-copy sends. Selected by the
 * "wire" parameter (engine.c).
 */

extern const struct rr_layer_ops rr_xfer_layer;

#define RR_XFER_CTRL_SLOTS 64u		/* control send slots (signaled) */
#define RR_XFER_STAGE_SIZE (256u << 10) /* staging buffer per connection */
#define RR_XFER_MR_CACHE 16u  /* registrations cached per connection */
#define RR_XFER_TICK_MS 1000u /* keepalive timer granularity */
/* The last write before a connection runs out of data is signaled only if
 * its previous signal is this old: a busy connection signals about once
 * per period, whatever its request rate. */
#define RR_XFER_SIGNAL_MS 10u
/* A connection whose last write went unsignaled gets a fence (a zero-byte
 * signaled write) this long after, if no signaled write came meanwhile:
 * the bound on how late SEND_DONE of a quiet connection is reported. Twice
 * the signal period, so that a busy connection's next tail signal comes
 * first and the fence is left to connections that really went quiet. */
#define RR_XFER_QUIET_MS (2 * RR_XFER_SIGNAL_MS)

/* Owner: the "send" of the message API routed to the wire (one iovec). */
int rr_xfer_send(struct rring_conn *c, const void *data, uint32_t len,
		 uint64_t tag);

/* Owner: fences for quiet connections, keepalive timer of every connection
 * of io; returns the delay in ms until it wants to run again (UINT32_MAX:
 * no connection). */
uint32_t rr_xfer_tick(struct rring_io *io, uint64_t now_ms);

#endif /* RRING_XFER_H */
