// SPDX-License-Identifier: BSD-3-Clause
/* rdma_cm tests: helpers to wait for events and set up connected id pairs. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>

#include "cm_util.h"

bool cmt_readable(struct rdma_event_channel *ch, int ms)
{
	struct pollfd p = { .fd = ch->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

struct rdma_cm_event *cmt_expect(struct rdma_event_channel *ch,
				 enum rdma_cm_event_type type)
{
	struct rdma_cm_event *ev = NULL;

	cr_assert(cmt_readable(ch, CM_TEST_TIMEOUT_MS), "no event (wanted %s)",
		  rdma_event_str(type));
	cr_assert_eq(rdma_get_cm_event(ch, &ev), 0, "rdma_get_cm_event: %s",
		     strerror(errno));
	cr_assert_eq(ev->event, type, "got %s (status %d), wanted %s",
		     rdma_event_str(ev->event), ev->status,
		     rdma_event_str(type));
	return ev;
}

int cmt_expect_ack(struct rdma_event_channel *ch, enum rdma_cm_event_type type)
{
	struct rdma_cm_event *ev = cmt_expect(ch, type);
	int status = ev->status;

	rdma_ack_cm_event(ev);
	return status;
}

void cmt_addr(struct sockaddr_in *sin, const char *ip, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

uint16_t cmt_listen(struct rdma_event_channel *ch, struct rdma_cm_id **listen)
{
	struct sockaddr_in sin;

	cmt_addr(&sin, "127.0.0.1", 0);
	cr_assert_eq(rdma_create_id(ch, listen, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(rdma_bind_addr(*listen, (struct sockaddr *)&sin), 0,
		     "bind: %s", strerror(errno));
	cr_assert_eq(rdma_listen(*listen, 8), 0, "listen: %s",
		     strerror(errno));
	cr_assert_neq(rdma_get_src_port(*listen), 0);
	return ntohs(rdma_get_src_port(*listen));
}

struct rdma_cm_id *cmt_client(struct rdma_event_channel *ch, uint16_t port)
{
	struct rdma_cm_id *id;
	struct sockaddr_in sin;

	cmt_addr(&sin, "127.0.0.1", port);
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(rdma_resolve_addr(id, NULL, (struct sockaddr *)&sin, 2000),
		     0);
	cr_assert_eq(cmt_expect_ack(ch, RDMA_CM_EVENT_ADDR_RESOLVED), 0);
	cr_assert_not_null(id->verbs, "verbs set after ADDR_RESOLVED");
	cr_assert_eq(rdma_resolve_route(id, 2000), 0);
	cr_assert_eq(cmt_expect_ack(ch, RDMA_CM_EVENT_ROUTE_RESOLVED), 0);
	return id;
}

struct ibv_cq *cmt_qp(struct rdma_cm_id *id, int depth)
{
	struct ibv_qp_init_attr attr;
	struct ibv_cq *cq = ibv_create_cq(id->verbs, depth, NULL, NULL, 0);

	cr_assert_not_null(cq, "ibv_create_cq: %s", strerror(errno));
	memset(&attr, 0, sizeof(attr));
	attr.send_cq = cq;
	attr.recv_cq = cq;
	attr.qp_type = IBV_QPT_RC;
	attr.cap.max_send_wr = (uint32_t)depth / 2;
	attr.cap.max_recv_wr = (uint32_t)depth / 2;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	cr_assert_eq(rdma_create_qp(id, NULL, &attr), 0, "rdma_create_qp: %s",
		     strerror(errno));
	cr_assert_not_null(id->qp);
	return cq;
}

int cmt_poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	struct timespec now, end;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += CM_TEST_TIMEOUT_MS / 1000;
	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		cr_assert_geq(n, 0, "ibv_poll_cq");
		if (n == 1)
			return wc->status;
		clock_gettime(CLOCK_MONOTONIC, &now);
		cr_assert(now.tv_sec < end.tv_sec ||
				  (now.tv_sec == end.tv_sec &&
				   now.tv_nsec < end.tv_nsec),
			  "no completion");
		sched_yield();
	}
}

void cmt_qp_free(struct rdma_cm_id *id, struct ibv_cq *cq)
{
	rdma_destroy_qp(id);
	ibv_destroy_cq(cq);
}
