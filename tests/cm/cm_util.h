/* SPDX-License-Identifier: BSD-3-Clause */
/* rdma_cm tests: helpers to wait for events and set up connected id pairs. */
#ifndef CM_UTIL_H
#define CM_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#define CM_TEST_TIMEOUT_MS 5000

/*
 * Wait (bounded) for the next event on @ch; it must be of @type. The event is
 * returned unacked. Fails the test on timeout or another type.
 */
struct rdma_cm_event *cmt_expect(struct rdma_event_channel *ch,
				 enum rdma_cm_event_type type);
/* Same, then ack; returns the event's status. */
int cmt_expect_ack(struct rdma_event_channel *ch, enum rdma_cm_event_type type);
/* True if an event becomes readable on @ch within @ms. */
bool cmt_readable(struct rdma_event_channel *ch, int ms);
/* A listener on 127.0.0.1 with a free port; returns the port (host order). */
uint16_t cmt_listen(struct rdma_event_channel *ch, struct rdma_cm_id **listen);
/* 127.0.0.1:@port. */
void cmt_addr(struct sockaddr_in *sin, const char *ip, uint16_t port);
/* Resolve address and route of a new client id on @ch to 127.0.0.1:@port. */
struct rdma_cm_id *cmt_client(struct rdma_event_channel *ch, uint16_t port);
/* An RC QP with its own CQ of @depth on @id (default PD). */
struct ibv_cq *cmt_qp(struct rdma_cm_id *id, int depth);
/* Poll @cq (bounded) for one completion; returns its status. */
int cmt_poll_one(struct ibv_cq *cq, struct ibv_wc *wc);
/* Free the QP and CQ made by cmt_qp(). */
void cmt_qp_free(struct rdma_cm_id *id, struct ibv_cq *cq);

#endif /* CM_UTIL_H */
