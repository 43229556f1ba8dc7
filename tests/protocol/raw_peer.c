// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: a scripted raw-verbs peer speaking Valkey's RDMA protocol. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <rdma/rdma_cma.h>
#include <infiniband/verbs.h>

#include "raw_peer.h"
#include "test_support.h"

/*
 * Layout of the command buffer, as in Valkey: NRECV receive slots of 32
 * bytes, then SQ send slots. A send slot is chosen by the work
 * request's sequence number; since at most SEND_QUEUE - 1 requests are ever
 * outstanding, the slot used SQ requests ago has completed.
 */
#define MSG RRING_WIRE_MSG_SIZE
#define NRECV RRING_WIRE_RECV_WRS
#define SQ RRING_WIRE_SEND_QUEUE
#define DATA_BUDGET (SQ - RRING_WIRE_CTRL_RESERVE) /* WRs for writes */
#define RECV_TAG (1ull << 63)			   /* wr_id of receives */
#define POLL_BATCH 32
#define CQ_ACK_BATCH 16
#define STAGE_SIZE RRING_WIRE_RX_SIZE_MAX

enum rp_state {
	RP_IDLE,      /* listening or resolving; no connection yet */
	RP_CONNECTED, /* ESTABLISHED seen, advertised */
	RP_CLOSED,    /* disconnected (either side), flushed or broken */
};

struct raw_peer {
	struct raw_peer_opts o;
	bool server;
	enum rp_state state;
	int err; /* sticky once closed: -ECONNRESET, -EPROTO, -ECONNABORTED */
	enum ibv_wc_status wc_error; /* first error other than a flush */
	const char *violation;

	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen_id;
	struct rdma_cm_id *id;
	bool disconnected; /* rdma_disconnect called or DISCONNECTED seen */

	struct ibv_pd *pd;
	struct ibv_comp_channel *comp;
	struct ibv_cq *cq;
	unsigned int cq_unacked;
	bool qp_made;

	uint8_t *cmd; /* (NRECV + SQ) * MSG */
	struct ibv_mr *cmd_mr;

	/* Our receive buffer: 0 <= rx_rd <= rx_wr <= rx_len. */
	uint8_t *rx;
	uint32_t rx_len;
	struct ibv_mr *rx_mr;
	uint32_t rx_wr, rx_rd;
	bool advertised;

	/* Staging for writes, at the same offset as in the peer's window. */
	uint8_t *tx;
	struct ibv_mr *tx_mr;
	bool win_known, win_waiting;
	uint64_t win_addr;
	uint32_t win_len, win_rkey, win_off;

	/* Send queue: sequence numbers of posted and completed WRs. */
	uint64_t post_seq, done_seq;
	unsigned int unsignaled;

	bool feature_asked, feature_answered;
	uint64_t next_keepalive;

	struct raw_peer_stats st;
	unsigned int ncap;
	struct raw_peer_capture cap[RAW_PEER_CAPTURE_MAX];
};

/* ---- bytes: explicit big-endian loads and stores ---- */

static void put16(uint8_t *b, unsigned int off, uint16_t v)
{
	b[off] = (uint8_t)(v >> 8);
	b[off + 1] = (uint8_t)v;
}

static void put32(uint8_t *b, unsigned int off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[off + i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *b, unsigned int off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[off + i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint16_t get16(const uint8_t *b, unsigned int off)
{
	return (uint16_t)(b[off] << 8 | b[off + 1]);
}

static uint32_t get32(const uint8_t *b, unsigned int off)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | b[off + i];
	return v;
}

static uint64_t get64(const uint8_t *b, unsigned int off)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[off + i];
	return v;
}

/* ---- time ---- */

uint64_t raw_peer_deadline(unsigned int ms)
{
	return ts_now_ns() + (uint64_t)ms * 1000000ull;
}

/* Milliseconds until @deadline, rounded up, capped for poll(2). */
static int ms_left(uint64_t deadline)
{
	uint64_t now = ts_now_ns();

	if (now >= deadline)
		return 0;
	if (deadline - now > 60000ull * 1000000ull)
		return 60000;
	return (int)((deadline - now + 999999) / 1000000);
}

void raw_peer_opts_init(struct raw_peer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->rx_size = RRING_WIRE_DEFAULT_RX_SIZE;
	o->keepalive_ms = RRING_WIRE_KEEPALIVE_MS; /* as Valkey's server */
	o->consume_chunk = 4096;
	o->consume_delay_us = 1000;
}

/* ---- memory ---- */

static void *map_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static struct ibv_mr *map_reg(struct ibv_pd *pd, uint8_t **buf, size_t len,
			      int access)
{
	struct ibv_mr *mr;

	*buf = map_pages(len);
	if (!*buf)
		return NULL;
	mr = ibv_reg_mr(pd, *buf, len, access);
	if (!mr) {
		munmap(*buf, len);
		*buf = NULL;
	}
	return mr;
}

static void unreg_unmap(struct ibv_mr **mr, uint8_t **buf, size_t len)
{
	if (*mr)
		ibv_dereg_mr(*mr);
	if (*buf)
		munmap(*buf, len);
	*mr = NULL;
	*buf = NULL;
}

/* ---- closing ---- */

static void do_disconnect(struct raw_peer *p)
{
	if (p->id && !p->disconnected && p->state == RP_CONNECTED)
		rdma_disconnect(p->id);
	p->disconnected = true;
}

static void set_closed(struct raw_peer *p, int err)
{
	if (!p->err)
		p->err = err;
	p->state = RP_CLOSED;
}

/* The peer broke the protocol: record it and, unless tolerated, close. */
static int violate(struct raw_peer *p, const char *why)
{
	if (!p->violation)
		p->violation = why;
	if (p->o.tolerate)
		return -EPROTO;
	do_disconnect(p);
	set_closed(p, -EPROTO);
	return -EPROTO;
}

/* ---- posting ---- */

static uint64_t outstanding(const struct raw_peer *p)
{
	return p->post_seq - p->done_seq;
}

static int post_one(struct raw_peer *p, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	int ret;

	wr->wr_id = p->post_seq + 1;
	ret = ibv_post_send(p->id->qp, wr, &bad);
	if (ret)
		return -ret; /* ibv_post_send returns a positive errno */
	p->post_seq++;
	if (wr->send_flags & IBV_SEND_SIGNALED)
		p->unsignaled = 0;
	else
		p->unsignaled++;
	return 0;
}

int raw_peer_send_ctrl(struct raw_peer *p, const uint8_t *msg, uint32_t len)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr;
	uint8_t *slot;

	if (p->state != RP_CONNECTED)
		return p->err ? p->err : -ENOTCONN;
	if (len > MSG)
		return -EINVAL;
	if (outstanding(p) >= SQ - 1)
		return -EAGAIN;
	slot = p->cmd + (NRECV + (p->post_seq + 1) % SQ) * MSG;
	memcpy(slot, msg, len);
	sge = (struct ibv_sge){
	    .addr = (uintptr_t)slot, .length = len, .lkey = p->cmd_mr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED; /* as Valkey: every control send */
	return post_one(p, &wr);
}

static int send_adv(struct raw_peer *p, uint64_t addr, uint32_t len,
		    uint32_t rkey)
{
	uint8_t m[MSG] = {0};
	int ret;

	put16(m, RRING_WIRE_OFF_OPCODE, RRING_WIRE_OP_REGISTER_XFER_MEMORY);
	put64(m, RRING_WIRE_OFF_ADDR, addr);
	put32(m, RRING_WIRE_OFF_LENGTH, len);
	put32(m, RRING_WIRE_OFF_RKEY, rkey);
	ret = raw_peer_send_ctrl(p, m, MSG);
	if (!ret)
		p->st.adv_sent++;
	return ret;
}

static int advertise(struct raw_peer *p)
{
	uint32_t len = p->rx_len, rkey = p->rx_mr->rkey;

	p->rx_wr = 0;
	p->rx_rd = 0;
	p->advertised = true;
	if (p->o.misbehave == RAW_PEER_ADV_BAD_LENGTH)
		len = p->o.misbehave_value ? p->o.misbehave_value : 32u << 10;
	else if (p->o.misbehave == RAW_PEER_ADV_ZERO_RKEY)
		rkey = 0;
	return send_adv(p, (uintptr_t)p->rx, len, rkey);
}

static int send_feature(struct raw_peer *p, uint16_t opcode, uint16_t select,
			uint64_t features)
{
	uint8_t m[MSG] = {0};

	put16(m, RRING_WIRE_OFF_OPCODE, opcode);
	put16(m, RRING_WIRE_OFF_SELECT, select);
	put64(m, RRING_WIRE_OFF_FEATURES, features);
	return raw_peer_send_ctrl(p, m, MSG);
}

static int send_keepalive(struct raw_peer *p, uint32_t len)
{
	uint8_t m[MSG] = {0};
	int ret;

	put16(m, RRING_WIRE_OFF_OPCODE, RRING_WIRE_OP_KEEPALIVE);
	ret = raw_peer_send_ctrl(p, m, len);
	if (!ret)
		p->st.keepalive_sent++;
	return ret;
}

/* One RDMA_WRITE_WITH_IMM of @n staged bytes at window offset @woff, with
 * immediate @imm (host order). */
static int post_write(struct raw_peer *p, uint32_t woff, uint32_t n,
		      uint32_t imm, bool signal)
{
	struct ibv_sge sge = {.addr = (uintptr_t)(p->tx + woff),
			      .length = n,
			      .lkey = p->tx_mr->lkey};
	struct ibv_send_wr wr;
	int ret;

	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.imm_data = htonl(imm);
	wr.wr.rdma.remote_addr = p->win_addr + woff;
	wr.wr.rdma.rkey = p->win_rkey;
	/* Signal the last WR of a batch, one in 512, and the one taking the
	 * last slot of the budget, so the budget is always freed. */
	if (signal || p->unsignaled + 1 >= RRING_WIRE_SIGNAL_EVERY ||
	    outstanding(p) + 1 >= DATA_BUDGET)
		wr.send_flags = IBV_SEND_SIGNALED;
	ret = post_one(p, &wr);
	if (!ret)
		p->st.writes_posted++;
	return ret;
}

static int repost_recv(struct raw_peer *p, unsigned int i)
{
	struct ibv_sge sge = {.addr = (uintptr_t)(p->cmd + i * MSG),
			      .length = MSG,
			      .lkey = p->cmd_mr->lkey};
	struct ibv_recv_wr wr = {
	    .wr_id = RECV_TAG | i, .sg_list = &sge, .num_sge = 1};
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(p->id->qp, &wr, &bad);
}

/* ---- completions ---- */

static int on_adv(struct raw_peer *p, const uint8_t *m)
{
	uint64_t addr = get64(m, RRING_WIRE_OFF_ADDR);
	uint32_t len = get32(m, RRING_WIRE_OFF_LENGTH);
	uint32_t rkey = get32(m, RRING_WIRE_OFF_RKEY);

	p->st.adv_received++;
	if (len < RRING_WIRE_RX_SIZE_MIN || len > RRING_WIRE_RX_SIZE_MAX)
		return violate(p, "advertised length outside 64 KiB..16 MiB");
	if (!rkey)
		return violate(p, "advertised rkey 0");
	/* A Valkey receiver advertises once when established, then only a
	 * buffer that was written to its end and consumed. */
	if (p->win_known && p->win_off != p->win_len)
		return violate(p, "re-advertisement of a window not written "
				  "to its end");
	p->win_addr = addr;
	p->win_len = len;
	p->win_rkey = rkey;
	p->win_off = 0;
	p->win_known = true;
	p->win_waiting = false;
	return 0;
}

static int on_get_feature(struct raw_peer *p, const uint8_t *m)
{
	uint16_t select = get16(m, RRING_WIRE_OFF_SELECT);

	p->st.get_feature_received++;
	if (p->server) {
		/* Valkey's answer: same opcode and select, features 0. */
		if (send_feature(p, RRING_WIRE_OP_GET_SERVER_FEATURE, select,
				 0))
			return violate(p, "cannot answer GetServerFeature");
		return 0;
	}
	if (!p->feature_asked || p->feature_answered ||
	    select != p->o.feature_select)
		return violate(p, "unexpected GetServerFeature answer");
	if (get64(m, RRING_WIRE_OFF_FEATURES))
		return violate(p, "GetServerFeature answer with features");
	p->feature_answered = true;
	return 0;
}

static int on_ctrl(struct raw_peer *p, const uint8_t *m, uint32_t byte_len)
{
	struct raw_peer_capture *c;

	p->st.ctrl_received++;
	if (p->ncap < RAW_PEER_CAPTURE_MAX) {
		c = &p->cap[p->ncap++];
		c->byte_len = byte_len;
		memset(c->bytes, 0, MSG);
		memcpy(c->bytes, m, byte_len < MSG ? byte_len : MSG);
	}
	if (byte_len != MSG)
		return violate(p, "control message byte_len != 32");
	switch (get16(m, RRING_WIRE_OFF_OPCODE)) {
	case RRING_WIRE_OP_GET_SERVER_FEATURE:
		return on_get_feature(p, m);
	case RRING_WIRE_OP_SET_CLIENT_FEATURE:
		p->st.set_feature_received++;
		if (!p->server)
			return violate(p, "SetClientFeature sent to a client");
		if (get64(m, RRING_WIRE_OFF_FEATURES))
			return violate(p, "SetClientFeature with non-zero "
					  "features");
		return 0;
	case RRING_WIRE_OP_KEEPALIVE:
		p->st.keepalive_received++;
		return 0;
	case RRING_WIRE_OP_REGISTER_XFER_MEMORY:
		return on_adv(p, m);
	default:
		return violate(p, "unknown control opcode");
	}
}

static int on_write_imm(struct raw_peer *p, uint32_t count, uint32_t byte_len)
{
	p->st.writes_received++;
	if (!p->advertised)
		return violate(p, "write-with-imm before our advertisement");
	if (count > p->rx_len)
		return violate(p, "immediate larger than our buffer");
	if (p->rx_wr + count > p->rx_len)
		return violate(p, "write overruns our window");
	if (count != byte_len)
		return violate(p, "immediate differs from byte_len");
	p->rx_wr += count;
	p->st.bytes_received += count;
	return 0;
}

static int on_recv(struct raw_peer *p, const struct ibv_wc *wc)
{
	unsigned int i = (unsigned int)(wc->wr_id & ~RECV_TAG);
	int ret = 0;

	if (wc->opcode == IBV_WC_RECV)
		ret = on_ctrl(p, p->cmd + i * MSG, wc->byte_len);
	else if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM)
		ret = on_write_imm(p, ntohl(wc->imm_data), wc->byte_len);
	if (p->state == RP_CLOSED)
		return ret;
	ret = repost_recv(p, i);
	if (ret)
		set_closed(p, ret);
	return ret;
}

static int on_wc(struct raw_peer *p, const struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_SUCCESS) {
		/* Flushes after a disconnect, or a transport error. */
		if (wc->status != IBV_WC_WR_FLUSH_ERR && !p->wc_error)
			p->wc_error = wc->status;
		if (!(wc->wr_id & RECV_TAG) && wc->wr_id > p->done_seq)
			p->done_seq = wc->wr_id;
		set_closed(p, -ECONNRESET);
		return -ECONNRESET;
	}
	if (wc->wr_id & RECV_TAG)
		return on_recv(p, wc);
	/* SEND or RDMA_WRITE: RC completes in order, so a signaled WR
	 * also completes every earlier unsignaled one. */
	if (wc->wr_id > p->done_seq)
		p->done_seq = wc->wr_id;
	return 0;
}

static int drain_cq(struct raw_peer *p)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, total = 0;

	if (!p->cq)
		return 0;
	while ((n = ibv_poll_cq(p->cq, POLL_BATCH, wc)) > 0) {
		for (int i = 0; i < n; i++)
			on_wc(p, &wc[i]);
		total += n;
	}
	if (n < 0)
		set_closed(p, -EIO);
	return total;
}

/* ---- rdma_cm events ---- */

static int get_cm_event(struct raw_peer *p, struct rdma_cm_event **ev)
{
	if (rdma_get_cm_event(p->ch, ev))
		return errno == EAGAIN ? -EAGAIN : -errno;
	return 0;
}

/* Events after the connection is set up. */
static int drain_cm(struct raw_peer *p)
{
	struct rdma_cm_event *ev;
	int n = 0;

	while (get_cm_event(p, &ev) == 0) {
		n++;
		switch (ev->event) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			/* one connection per raw peer */
			rdma_reject(ev->id, NULL, 0);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			if (ev->id == p->id) {
				p->disconnected = true;
				set_closed(p, -ECONNRESET);
			}
			break;
		default:
			break;
		}
		rdma_ack_cm_event(ev);
	}
	return n;
}

/* Wait for the next rdma_cm event during setup; it must be @want. */
static int expect_cm(struct raw_peer *p, enum rdma_cm_event_type want,
		     struct rdma_cm_id **id, uint64_t deadline)
{
	struct pollfd pfd = {.fd = p->ch->fd, .events = POLLIN};
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type got;
	int ret;

	for (;;) {
		ret = get_cm_event(p, &ev);
		if (ret == 0)
			break;
		if (ret != -EAGAIN)
			return ret;
		if (ts_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, ms_left(deadline)) < 0 && errno != EINTR)
			return -errno;
	}
	got = ev->event;
	if (id)
		*id = ev->id;
	ret = ev->status;
	rdma_ack_cm_event(ev);
	if (got != want)
		return got == RDMA_CM_EVENT_REJECTED ? -ECONNREFUSED
						     : -ECONNABORTED;
	return ret < 0 ? ret : 0;
}

/* ---- progress ---- */

static int keepalive_tick(struct raw_peer *p)
{
	uint64_t now;

	if (!p->server || !p->o.keepalive_ms || p->state != RP_CONNECTED)
		return 0;
	now = ts_now_ns();
	if (now < p->next_keepalive)
		return 0;
	p->next_keepalive = now + (uint64_t)p->o.keepalive_ms * 1000000ull;
	send_keepalive(p, MSG); /* skipped when the send queue is full */
	return 0;
}

static int handle_pending(struct raw_peer *p)
{
	int n = drain_cq(p);

	n += drain_cm(p);
	keepalive_tick(p);
	return n;
}

static void ack_cq_events(struct raw_peer *p, unsigned int min)
{
	if (p->cq && p->cq_unacked >= min && p->cq_unacked) {
		ibv_ack_cq_events(p->cq, p->cq_unacked);
		p->cq_unacked = 0;
	}
}

/* Block in poll(2) on the completion and rdma_cm channels. */
static int wait_channels(struct raw_peer *p, uint64_t deadline)
{
	struct pollfd pfd[2] = {
	    {.fd = p->ch->fd, .events = POLLIN},
	    {.fd = p->comp ? p->comp->fd : -1, .events = POLLIN},
	};
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	uint64_t until = deadline;

	if (p->server && p->o.keepalive_ms && p->state == RP_CONNECTED &&
	    p->next_keepalive < until)
		until = p->next_keepalive;
	if (poll(pfd, 2, ms_left(until)) < 0 && errno != EINTR)
		return -errno;
	if (p->comp && (pfd[1].revents & POLLIN) &&
	    ibv_get_cq_event(p->comp, &ev_cq, &ev_ctx) == 0) {
		p->cq_unacked++;
		p->st.cq_events++;
		ack_cq_events(p, CQ_ACK_BATCH);
	}
	return 0;
}

int raw_peer_poll(struct raw_peer *p, uint64_t deadline)
{
	int n, ret;

	for (;;) {
		n = handle_pending(p);
		if (n)
			return n;
		if (p->err)
			return p->err;
		/* Arm, then look once more to close the race with a
		 * completion that arrived before the arming. */
		if (p->cq && ibv_req_notify_cq(p->cq, 0))
			return -EIO;
		n = drain_cq(p);
		if (n)
			return n;
		if (ts_now_ns() >= deadline)
			return -ETIMEDOUT;
		ret = wait_channels(p, deadline);
		if (ret)
			return ret;
	}
}

int raw_peer_wait(struct raw_peer *p, bool (*pred)(struct raw_peer *, void *),
		  void *arg, uint64_t deadline)
{
	int ret;

	while (!pred(p, arg)) {
		ret = raw_peer_poll(p, deadline);
		if (ret < 0)
			return pred(p, arg) ? 0 : ret;
		if (ts_now_ns() >= deadline && !pred(p, arg))
			return -ETIMEDOUT;
	}
	return 0;
}

/* ---- setup ---- */

static int make_resources(struct raw_peer *p, struct rdma_cm_id *id)
{
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		 IBV_ACCESS_REMOTE_WRITE;
	struct ibv_device_attr dev;
	struct ibv_qp_init_attr qa;
	int fl;

	p->id = id;
	id->context = p;
	if (ibv_query_device(id->verbs, &dev))
		return -EIO;
	p->pd = ibv_alloc_pd(id->verbs);
	if (!p->pd)
		return -errno;
	p->comp = ibv_create_comp_channel(id->verbs);
	if (!p->comp)
		return -errno;
	fl = fcntl(p->comp->fd, F_GETFL);
	if (fl < 0 || fcntl(p->comp->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	p->cq = ibv_create_cq(id->verbs, RRING_WIRE_CQ_DEPTH, p, p->comp, 0);
	if (!p->cq)
		return -errno;
	memset(&qa, 0, sizeof(qa));
	qa.cap.max_send_wr = SQ;
	qa.cap.max_recv_wr = NRECV;
	qa.cap.max_send_sge = dev.max_sge < 4 ? (uint32_t)dev.max_sge : 4;
	qa.cap.max_recv_sge = 1;
	qa.qp_type = IBV_QPT_RC;
	qa.send_cq = p->cq;
	qa.recv_cq = p->cq;
	if (rdma_create_qp(id, p->pd, &qa))
		return -errno;
	p->qp_made = true;
	p->cmd_mr =
	    map_reg(p->pd, &p->cmd, (NRECV + SQ) * MSG, IBV_ACCESS_LOCAL_WRITE);
	if (!p->cmd_mr)
		return -ENOMEM;
	for (unsigned int i = 0; i < NRECV; i++)
		if (repost_recv(p, i))
			return -EIO;
	p->rx_mr = map_reg(p->pd, &p->rx, p->rx_len, rw);
	if (!p->rx_mr)
		return -ENOMEM;
	p->tx_mr = map_reg(p->pd, &p->tx, STAGE_SIZE, IBV_ACCESS_LOCAL_WRITE);
	return p->tx_mr ? 0 : -ENOMEM;
}

/* A zero-length write-with-imm: no SGE, no remote access (rkey 0). */
static int write_before_adv(struct raw_peer *p)
{
	struct ibv_send_wr wr;

	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.imm_data = htonl(4096);
	wr.send_flags = IBV_SEND_SIGNALED;
	return post_one(p, &wr);
}

static int on_established(struct raw_peer *p)
{
	int ret;

	p->state = RP_CONNECTED;
	if (p->o.misbehave == RAW_PEER_WRITE_BEFORE_ADV) {
		ret = write_before_adv(p);
		if (ret)
			return ret;
	}
	ret = advertise(p);
	if (ret)
		return ret;
	if (p->server && p->o.keepalive_ms)
		p->next_keepalive =
		    ts_now_ns() + (uint64_t)p->o.keepalive_ms * 1000000ull;
	if (!p->server && p->o.get_feature) {
		p->feature_asked = true;
		ret = send_feature(p, RRING_WIRE_OP_GET_SERVER_FEATURE,
				   p->o.feature_select, 0);
	}
	return ret;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int peer_new(struct raw_peer **out, const struct raw_peer_opts *o,
		    bool server)
{
	struct raw_peer *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	if (o)
		p->o = *o;
	else
		raw_peer_opts_init(&p->o);
	if (!p->o.rx_size)
		p->o.rx_size = RRING_WIRE_DEFAULT_RX_SIZE;
	if (!p->o.consume_chunk)
		p->o.consume_chunk = 4096;
	if (!p->o.consume_delay_us)
		p->o.consume_delay_us = 1000;
	p->rx_len = p->o.rx_size;
	p->server = server;
	if (p->rx_len < RRING_WIRE_RX_SIZE_MIN ||
	    p->rx_len > RRING_WIRE_RX_SIZE_MAX) {
		free(p);
		return -EINVAL;
	}
	p->ch = rdma_create_event_channel();
	if (!p->ch) {
		ret = -errno;
		free(p);
		return ret;
	}
	ret = set_nonblock(p->ch->fd);
	if (ret) {
		raw_peer_close(p);
		return ret;
	}
	*out = p;
	return 0;
}

static int to_sockaddr(const char *addr, uint16_t port,
		       struct sockaddr_storage *ss)
{
	struct addrinfo hints = {.ai_family = AF_INET,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;

	if (getaddrinfo(addr, NULL, &hints, &ai))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	((struct sockaddr_in *)ss)->sin_port = htons(port);
	freeaddrinfo(ai);
	return 0;
}

int raw_peer_listen(struct raw_peer **out, const char *addr, uint16_t port,
		    const struct raw_peer_opts *o)
{
	struct sockaddr_storage ss;
	struct raw_peer *p;
	int ret;

	ret = to_sockaddr(addr, port, &ss);
	if (ret)
		return ret;
	ret = peer_new(&p, o, true);
	if (ret)
		return ret;
	if (rdma_create_id(p->ch, &p->listen_id, p, RDMA_PS_TCP) ||
	    rdma_bind_addr(p->listen_id, (struct sockaddr *)&ss) ||
	    rdma_listen(p->listen_id, 1)) {
		ret = -errno;
		raw_peer_close(p);
		return ret ? ret : -EIO;
	}
	*out = p;
	return 0;
}

uint16_t raw_peer_port(const struct raw_peer *p)
{
	return p->listen_id ? ntohs(rdma_get_src_port(p->listen_id)) : 0;
}

int raw_peer_accept(struct raw_peer *p, uint64_t deadline)
{
	/* As Valkey's server accepts. rnr_retry_count goes back in the
	 * connect reply and is the one the client's QP uses: with 0 a
	 * client write that finds none of our 1024 receives posted (this
	 * thread slow to repost under load; a 64 KiB window of small
	 * messages is about 1300 writes) failed with RNR retry exceeded. */
	struct rdma_conn_param cp = {.responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7};
	struct rdma_cm_id *id;
	int ret;

	if (!p->server || p->id)
		return -EINVAL;
	ret = expect_cm(p, RDMA_CM_EVENT_CONNECT_REQUEST, &id, deadline);
	if (ret)
		return ret;
	ret = make_resources(p, id);
	if (ret) {
		rdma_reject(id, NULL, 0);
		return ret;
	}
	if (rdma_accept(id, &cp))
		return -errno;
	ret = expect_cm(p, RDMA_CM_EVENT_ESTABLISHED, NULL, deadline);
	if (ret)
		return ret;
	return on_established(p);
}

int raw_peer_connect(struct raw_peer **out, const char *addr, uint16_t port,
		     const struct raw_peer_opts *o, uint64_t deadline)
{
	struct rdma_conn_param cp = {.responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7};
	struct sockaddr_storage ss;
	struct rdma_cm_id *id;
	struct raw_peer *p;
	int ret;

	ret = to_sockaddr(addr, port, &ss);
	if (ret)
		return ret;
	ret = peer_new(&p, o, false);
	if (ret)
		return ret;
	if (rdma_create_id(p->ch, &id, p, RDMA_PS_TCP)) {
		ret = -errno;
		goto err_close;
	}
	p->id = id;
	ret = -EIO;
	if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&ss, 2000))
		goto err_close;
	ret = expect_cm(p, RDMA_CM_EVENT_ADDR_RESOLVED, NULL, deadline);
	if (ret)
		goto err_close;
	ret = -EIO;
	if (rdma_resolve_route(id, 2000))
		goto err_close;
	ret = expect_cm(p, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL, deadline);
	if (ret)
		goto err_close;
	ret = make_resources(p, id);
	if (ret)
		goto err_close;
	ret = -EIO;
	if (rdma_connect(id, &cp))
		goto err_close;
	ret = expect_cm(p, RDMA_CM_EVENT_ESTABLISHED, NULL, deadline);
	if (!ret)
		ret = on_established(p);
	if (ret)
		goto err_close;
	*out = p;
	return 0;

err_close:
	raw_peer_close(p);
	return ret;
}

/* ---- data ---- */

static bool can_write(struct raw_peer *p, void *arg)
{
	(void)arg;
	return p->err || (p->win_known && p->win_off < p->win_len &&
			  outstanding(p) < DATA_BUDGET - 1);
}

/* Wait until there is window and send-queue room. */
static int wait_window(struct raw_peer *p, uint64_t deadline)
{
	int ret;

	if (p->win_known && p->win_off == p->win_len && !p->win_waiting) {
		p->win_waiting = true;
		p->st.window_waits++;
	}
	ret = raw_peer_wait(p, can_write, NULL, deadline);
	if (!ret && p->err)
		ret = p->err;
	return ret;
}

static bool all_done(struct raw_peer *p, void *arg)
{
	(void)arg;
	return p->err || p->done_seq == p->post_seq;
}

int raw_peer_flush(struct raw_peer *p, uint64_t deadline)
{
	int ret = raw_peer_wait(p, all_done, NULL, deadline);

	if (!ret && p->done_seq != p->post_seq)
		ret = p->err;
	return ret;
}

/* DISCONNECT_MID: stop at disconnect_after stream bytes. */
static int stop_mid(struct raw_peer *p, uint64_t deadline)
{
	int ret = raw_peer_flush(p, deadline);

	if (ret)
		return ret;
	do_disconnect(p);
	set_closed(p, -ECONNABORTED);
	return -ECONNABORTED;
}

int raw_peer_send(struct raw_peer *p, const void *buf, size_t len,
		  uint64_t deadline)
{
	const uint8_t *src = buf;
	bool mid = p->o.misbehave == RAW_PEER_DISCONNECT_MID;
	uint32_t n;
	size_t off = 0;
	int ret;

	while (off < len) {
		if (p->err)
			return p->err;
		if (mid && p->st.bytes_sent >= p->o.disconnect_after)
			return stop_mid(p, deadline);
		if (!can_write(p, NULL)) {
			ret = wait_window(p, deadline);
			if (ret)
				return ret;
			continue;
		}
		n = p->win_len - p->win_off;
		if (len - off < n)
			n = (uint32_t)(len - off);
		if (mid && p->o.disconnect_after - p->st.bytes_sent < n)
			n = (uint32_t)(p->o.disconnect_after -
				       p->st.bytes_sent);
		memcpy(p->tx + p->win_off, src + off, n);
		ret = post_write(
		    p, p->win_off, n, n,
		    off + n == len ||
			(mid && p->st.bytes_sent + n == p->o.disconnect_after));
		if (ret)
			return ret;
		p->win_off += n;
		p->st.bytes_sent += n;
		off += n;
	}
	if (mid && p->st.bytes_sent >= p->o.disconnect_after)
		return stop_mid(p, deadline);
	return 0;
}

static void consume_delay(const struct raw_peer *p)
{
	struct timespec ts = {
	    .tv_sec = p->o.consume_delay_us / 1000000,
	    .tv_nsec = (long)(p->o.consume_delay_us % 1000000) * 1000};

	/* the misbehaviour itself (a slow application), not a wait */
	nanosleep(&ts, NULL);
}

/* Take up to @len bytes out of our buffer; re-advertise when it is full and
 * completely consumed (Valkey's rule). */
static size_t consume(struct raw_peer *p, uint8_t *dst, size_t len)
{
	uint32_t n = p->rx_wr - p->rx_rd;

	if (len < n)
		n = (uint32_t)len;
	if (p->o.misbehave == RAW_PEER_SLOW_CONSUMER) {
		if (n > p->o.consume_chunk)
			n = p->o.consume_chunk;
		consume_delay(p);
	}
	memcpy(dst, p->rx + p->rx_rd, n);
	p->rx_rd += n;
	p->st.bytes_consumed += n;
	if (p->rx_rd == p->rx_len && p->state == RP_CONNECTED) {
		if (advertise(p) == 0)
			p->st.readv_sent++;
		else
			set_closed(p, -EIO);
	}
	return n;
}

ssize_t raw_peer_recv(struct raw_peer *p, void *buf, size_t len,
		      uint64_t deadline)
{
	uint8_t *dst = buf;
	size_t got = 0;
	int ret;

	while (got < len) {
		if (p->rx_rd < p->rx_wr) {
			got += consume(p, dst + got, len - got);
			continue;
		}
		ret = raw_peer_poll(p, deadline);
		if (ret >= 0 && ts_now_ns() >= deadline)
			ret = -ETIMEDOUT;
		if (ret < 0 && p->rx_rd == p->rx_wr)
			return got ? (ssize_t)got : ret;
	}
	return (ssize_t)got;
}

static bool closed_pred(struct raw_peer *p, void *arg)
{
	(void)arg;
	return p->state == RP_CLOSED;
}

int raw_peer_wait_closed(struct raw_peer *p, uint64_t deadline)
{
	return raw_peer_wait(p, closed_pred, NULL, deadline);
}

int raw_peer_disconnect(struct raw_peer *p)
{
	if (p->state != RP_CONNECTED)
		return p->err ? p->err : -ENOTCONN;
	do_disconnect(p);
	set_closed(p, -ECONNABORTED);
	return 0;
}

/* ---- misbehaviour ---- */

static bool window_room(struct raw_peer *p, void *arg)
{
	uint32_t need = *(uint32_t *)arg;

	return p->err || (p->win_known && p->win_len - p->win_off >= need);
}

static int overrun(struct raw_peer *p, uint64_t deadline)
{
	uint32_t need = 4096, n;
	int ret;

	if (p->win_off < 4096) {
		ret = raw_peer_wait(p, window_room, &need, deadline);
		if (ret || p->err)
			return ret ? ret : p->err;
		memset(p->tx + p->win_off, 0x5a, 4096);
		ret = post_write(p, p->win_off, 4096, 4096, true);
		if (ret)
			return ret;
		p->win_off += 4096;
		p->st.bytes_sent += 4096;
	}
	/* The staging bytes below may still be read by the NIC. */
	ret = raw_peer_flush(p, deadline);
	if (ret)
		return ret;
	/* Inside the peer's MR (from its start), but past its window. */
	n = p->win_len - p->win_off + 4096;
	memset(p->tx, 0xa5, n);
	return post_write(p, 0, n, n, true);
}

static int imm_too_large(struct raw_peer *p, uint64_t deadline)
{
	uint32_t need = 1;
	int ret = raw_peer_wait(p, window_room, &need, deadline);

	if (ret || p->err)
		return ret ? ret : p->err;
	p->tx[p->win_off] = 0x77;
	return post_write(p, p->win_off, 1, p->win_len + (64u << 10), true);
}

int raw_peer_misbehave(struct raw_peer *p, uint64_t deadline)
{
	uint8_t m[MSG] = {0};
	uint16_t op;

	switch (p->o.misbehave) {
	case RAW_PEER_BAD_BYTE_LEN:
		return send_keepalive(p, MSG / 2);
	case RAW_PEER_UNKNOWN_OPCODE:
		op = p->o.misbehave_value ? (uint16_t)p->o.misbehave_value : 7;
		put16(m, RRING_WIRE_OFF_OPCODE, op);
		return raw_peer_send_ctrl(p, m, MSG);
	case RAW_PEER_ADV_BAD_LENGTH:
	case RAW_PEER_ADV_ZERO_RKEY:
		return advertise(p);
	case RAW_PEER_WRITE_OVERRUN:
		return overrun(p, deadline);
	case RAW_PEER_IMM_TOO_LARGE:
		return imm_too_large(p, deadline);
	case RAW_PEER_WRITE_BEFORE_ADV:
		return write_before_adv(p);
	default:
		return -EINVAL;
	}
}

bool raw_peer_misbehaves_at_establishment(enum raw_peer_misbehave mb)
{
	return mb == RAW_PEER_ADV_BAD_LENGTH || mb == RAW_PEER_ADV_ZERO_RKEY ||
	       mb == RAW_PEER_WRITE_BEFORE_ADV;
}

/* ---- accessors ---- */

uint32_t raw_peer_rx_pending(const struct raw_peer *p)
{
	return p->rx_wr - p->rx_rd;
}

bool raw_peer_window_known(const struct raw_peer *p)
{
	return p->win_known;
}

void raw_peer_window(const struct raw_peer *p, uint64_t *addr, uint32_t *len,
		     uint32_t *rkey)
{
	*addr = p->win_addr;
	*len = p->win_len;
	*rkey = p->win_rkey;
}

void raw_peer_rx_buffer(const struct raw_peer *p, uint64_t *addr, uint32_t *len,
			uint32_t *rkey)
{
	*addr = (uintptr_t)p->rx;
	*len = p->rx_len;
	*rkey = p->rx_mr ? p->rx_mr->rkey : 0;
}

bool raw_peer_closed(const struct raw_peer *p)
{
	return p->state == RP_CLOSED;
}

int raw_peer_error(const struct raw_peer *p)
{
	return p->err;
}

int raw_peer_wc_error(const struct raw_peer *p)
{
	return (int)p->wc_error;
}

const char *raw_peer_violation(const struct raw_peer *p)
{
	return p->violation;
}

const struct raw_peer_stats *raw_peer_stats(const struct raw_peer *p)
{
	return &p->st;
}

unsigned int raw_peer_capture_count(const struct raw_peer *p)
{
	return p->ncap;
}

const struct raw_peer_capture *raw_peer_capture(const struct raw_peer *p,
						unsigned int i)
{
	return i < p->ncap ? &p->cap[i] : NULL;
}

/* ---- teardown ---- */

void raw_peer_close(struct raw_peer *p)
{
	if (!p)
		return;
	do_disconnect(p);
	drain_cq(p);
	if (p->qp_made)
		rdma_destroy_qp(p->id);
	unreg_unmap(&p->tx_mr, &p->tx, STAGE_SIZE);
	unreg_unmap(&p->rx_mr, &p->rx, p->rx_len);
	unreg_unmap(&p->cmd_mr, &p->cmd, (NRECV + SQ) * MSG);
	ack_cq_events(p, 1);
	if (p->cq)
		ibv_destroy_cq(p->cq);
	if (p->comp)
		ibv_destroy_comp_channel(p->comp);
	if (p->pd)
		ibv_dealloc_pd(p->pd);
	if (p->ch)
		drain_cm(p);
	if (p->id)
		rdma_destroy_id(p->id);
	if (p->listen_id)
		rdma_destroy_id(p->listen_id);
	if (p->ch)
		rdma_destroy_event_channel(p->ch);
	free(p);
}
