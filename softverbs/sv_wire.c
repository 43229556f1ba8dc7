// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: cross-process transport (abstract unix sockets, their bytes on shared-memory rings or the socket), driven by the NIC thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sv_priv.h"

/*
 * Each QP listens on "@softverbs/qp/<qpn>". At RTR it connects to its
 * destination's socket: that requester connection carries its requests out
 * and the responses back; the peer's connection to us (accepted on our
 * socket) carries the peer's requests in and our responses out. Streams are
 * in order, so message numbers (msn) are per connection and acks cumulative.
 *
 *   request  = header (op = ibv_wr_opcode) [+ payload for SEND/WRITE]
 *   response = ACK(msn) | NAK(msn, status) | READ_RESP(msn) + payload
 *
 * The responder reads a payload straight into the target memory after the
 * key, bounds and receive checks (sv_target_prepare()); when it cannot take a
 * message yet (not RTR, no receive posted) it stops reading the connection,
 * which backs up into the sender: that is the queueing of early data and of
 * RNR with rnr_retry 7. Destroying a QP shuts its sockets down (an explicit
 * close that also works when a forked child holds copies of the fds).
 *
 * The bytes of both streams go through the shared-memory rings of sv_shm.c
 * when the connecting side offered them (SOFTVERBS_TRANSPORT=shm, the
 * default), else through the socket; conn_readv()/conn_writev() hide which.
 * With rings the socket carries only the offer, and its EOF (seen as
 * EPOLLRDHUP) marks the end of the peer's stream.
 *
 * One copy per byte (sv_mrshare.c): over the rings, a SEND, WRITE or READ
 * of at least SV_REF_MIN bytes whose local SGEs all lie in shared pages of
 * their MRs carries references instead of bytes (header nref > 0, then nref
 * struct sv_ref: MR id, offset, length). The requester sends each MR's
 * memfd on the socket before the first request that refers to it, so the
 * responder finds it there when the reference arrives; the responder maps
 * it and, after the same checks as always, copies straight between the
 * requester's memory and the target (a READ response then carries no
 * payload). Everything else carries its bytes through the ring.
 */

enum {
	SV_OP_ACK = 0x80,
	SV_OP_NAK = 0x81,
	SV_OP_READ_RESP = 0x82,
};

/* sv_hdr.flags of a request */
enum {
	SV_HF_SOLICITED = 1,
	/* the requester makes a completion of it: only its ack is worth a
	 * doorbell to a requester that sleeps on its send CQ */
	SV_HF_SIGNALED = 2,
};

struct sv_hdr {
	uint8_t op;
	uint8_t flags;
	uint8_t rnr_retry;
	uint8_t status;
	uint32_t msn;
	uint32_t imm;
	uint32_t rkey;
	uint64_t addr;
	uint32_t len;
	/* request: payload is this many sv_ref, not bytes; READ_RESP: 1 when
	 * the data was placed by the responder */
	uint32_t nref;
};
_Static_assert(sizeof(struct sv_hdr) == 32, "wire header is 32 bytes");

/* A piece of the requester's memory: bytes [off, off + len) of its MR id. */
struct sv_ref {
	uint32_t id;
	uint32_t len;
	uint64_t off;
};

/* Smaller messages go through the ring: two copies of a few bytes are
 * cheaper than the lookups of a reference. */
#define SV_REF_MIN 4096u

struct sv_resp_item {
	struct sv_hdr hdr;
	struct iovec iov;
	struct sv_resp_item *next;
};

struct sv_conn {
	struct sv_ep *ep;
	int fd;
	pid_t pid; /* process that created it: only it may shut it down */
	ino_t ino; /* to notice the fd being closed behind our back */
	bool is_req;
	struct sv_qp *qp; /* NULL once detached */
	/* receive side */
	struct sv_hdr rh;
	size_t rh_off;
	bool in_payload, discard;
	struct iovec riov[SV_MAX_SGE];
	uint32_t riovcnt;
	size_t rleft;
	struct sv_req req; /* responder: request being received */
	struct sv_target tg;
	uint64_t rnr_deadline;
	int nak_status;
	/* transmit side */
	struct sv_hdr th;
	struct iovec tiov[SV_MAX_SGE + 1];
	uint32_t tiovcnt, tfirst;
	size_t tleft;
	bool tbusy, tx_wqe;
	bool draining; /* drain_responses() is reading it */
	uint32_t tx_msn;
	struct sv_resp_item *q_head, *q_tail, *q_cur;
	/* shared-memory rings (sv_shm.c) instead of the socket's bytes */
	struct sv_shm *shm;
	struct sv_ep *bell; /* our doorbell, watched by the NIC thread */
	bool mode_known; /* accepted side: the first bytes were looked at */
	bool peer_eof; /* shm: the socket reported the peer's close */
	uint32_t hot_slot; /* index + 1 in sv.hot, 0 = not on the hot list */
	uint32_t hot_idle; /* the hot list's looks that found nothing since */
	uint32_t acked_seen; /* requester: the peer's ack counter applied */
	bool on_cq; /* requester: counted in its send CQ's shm_reqs */
	/* references (requester): MR ids whose memfd went on the socket */
	struct sv_ref tref[SV_MAX_SGE];
	uint32_t *sent, nsent, sent_cap;
	int peer_same_uid; /* 0 unknown, 1 yes, -1 no: memfds go only to us */
	/* references (responder): the requester's MRs mapped here */
	struct sv_ref rref[SV_MAX_SGE];
	struct sv_peer_mrs *pmrs;
};

static uint8_t scratch[65536];

static int qp_sockaddr(uint32_t qpn, struct sockaddr_un *a, socklen_t *len)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, SV_QP_SOCK_FMT,
		     qpn);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)n);
	return 0;
}

/* ---- connection lifetime ---- */

static ino_t fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

/* Larger socket buffers: fewer wakeups per megabyte (best effort). */
static void sock_tune(int fd)
{
	int sz = 4 << 20;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static struct sv_conn *conn_new(int fd, bool is_req, struct sv_qp *qp)
{
	struct sv_conn *c = calloc(1, sizeof(*c));
	struct sv_ep *ep = calloc(1, sizeof(*ep));

	if (!c || !ep) {
		free(c);
		free(ep);
		close(fd);
		return NULL;
	}
	sock_tune(fd);
	c->ino = fd_ino(fd);
	c->fd = fd;
	c->pid = getpid();
	c->is_req = is_req;
	c->mode_known = is_req;
	c->qp = qp;
	c->ep = ep;
	ep->type = SV_EP_CONN;
	ep->fd = fd;
	ep->obj = c;
	sv_nic_add_ep(ep, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	return c;
}

void sv_conn_free(struct sv_conn *c)
{
	struct sv_resp_item *it;

	if (c->rnr_deadline)
		atomic_fetch_sub(&sv.rnr_waiters, 1);
	free(c->q_cur);
	while ((it = c->q_head)) {
		c->q_head = it->next;
		free(it);
	}
	sv_shm_free(c->shm);
	sv_peer_mrs_free(c->pmrs);
	free(c->sent);
	free(c); /* its fd was closed by sv_nic_del_ep() */
}

static void resp_tx(struct sv_conn *c);

/* ---- the hot list (see sv_awake.c) ---- */

/*
 * A hot connection that brought nothing in this many looks before a sleep
 * leaves the list, so the look stays short when other connections carry
 * the traffic; one that brings a message again re-enters it.
 */
#define SV_HOT_IDLE 256

/* @c brought bytes in: keep it on the hot list (when there is room). */
static void hot_touch(struct sv_conn *c)
{
	c->hot_idle = 0;
	if (c->hot_slot || sv.nhot == SV_HOT_MAX || sv_awake_fd() < 0)
		return;
	sv.hot[sv.nhot++] = c;
	c->hot_slot = sv.nhot;
	sv_shm_set_hot(c->shm, true);
}

/* Off the list; true when bytes wait in its ring (see sv_shm_set_hot()). */
static bool hot_remove(struct sv_conn *c)
{
	struct sv_conn *last = sv.hot[--sv.nhot];

	sv.hot[c->hot_slot - 1] = last;
	last->hot_slot = c->hot_slot;
	c->hot_slot = 0;
	return sv_shm_set_hot(c->shm, false);
}

bool sv_wire_hot_check(void)
{
	bool found = false;
	uint32_t i = sv.nhot;

	sv_awake_clear();
	/* downwards: hot_remove() moves the last entry, already looked at */
	while (i--) {
		struct sv_conn *c = sv.hot[i];
		bool news = sv_shm_rx_arrived(c->shm);

		if (news)
			c->hot_idle = 0;
		else if (++c->hot_idle >= SV_HOT_IDLE)
			news = hot_remove(c);
		if (news && c->qp) {
			sv_nic_ready(c->qp);
			found = true;
		}
	}
	if (found)
		sv_awake_set();
	return found;
}

/* Detach @c from its QP and retire it; @shut sends the explicit close. */
static void conn_close(struct sv_conn *c, bool shut)
{
	struct sv_qp *qp;

	if (shut && c->pid == getpid() && !c->is_req)
		resp_tx(c); /* best effort: pending acks go out first */
	qp = c->qp;
	if (qp) {
		if (c->on_cq)
			atomic_fetch_sub(&qp->scq->shm_reqs, 1);
		c->on_cq = false;
		if (qp->req == c)
			qp->req = NULL;
		if (qp->resp == c)
			qp->resp = NULL;
		c->qp = NULL;
	}
	if (shut && c->pid == getpid())
		shutdown(c->fd, SHUT_RDWR);
	sv_nic_del_ep(c->ep);
	if (c->shm) {
		if (c->hot_slot)
			hot_remove(c);
		sv_nic_del_ep(c->bell);
		sv_shm_close(c->shm); /* the doorbells; the rings stay mapped until freed */
	}
}

/* Use the rings of @c->shm from now on: watch our doorbell. */
static void conn_use_shm(struct sv_conn *c)
{
	struct sv_ep *ep = calloc(1, sizeof(*ep));

	if (!ep) {
		sv_shm_free(c->shm);
		c->shm = NULL;
		return;
	}
	ep->type = SV_EP_BELL;
	ep->fd = sv_shm_bell_fd(c->shm);
	ep->obj = c;
	c->bell = ep;
	if (c->is_req && c->qp) {
		/*
		 * Its acks become completions when the CQ is polled. A CQ
		 * armed already gets the doorbell: seq_cst, so either we see
		 * armed here or sv_req_notify_cq() sees shm_reqs and asks.
		 */
		atomic_fetch_add(&c->qp->scq->shm_reqs, 1);
		c->on_cq = true;
		if (atomic_load(&c->qp->scq->armed))
			sv_shm_want_ack(c->shm);
	}
	/* edge-triggered: each ring of the doorbell is an event, never read */
	sv_nic_add_ep(ep, EPOLLIN | EPOLLET);
}

/*
 * Read into @iov like recvmsg(): bytes, 0 at EOF, -1 with errno. An
 * accepted connection first learns whether its peer offers rings.
 */
static ssize_t conn_readv(struct sv_conn *c, struct iovec *iov, uint32_t cnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = cnt };
	ssize_t n;

	if (!c->mode_known) {
		int ret = sv_shm_accept(c->fd, &c->shm);

		if (ret < 0) {
			errno = -ret;
			return -1;
		}
		c->mode_known = true;
		if (c->shm)
			conn_use_shm(c);
	}
	if (!c->shm)
		return recvmsg(c->fd, &m, MSG_DONTWAIT);
	n = sv_shm_readv(c->shm, iov, (int)cnt);
	if (n > 0)
		hot_touch(c);
	if (n >= 0)
		return n;
	if (n == -EAGAIN && c->peer_eof)
		return 0; /* everything the peer wrote before closing was read */
	errno = (int)-n;
	return -1;
}

/* Write @iov like sendmsg(): bytes or -1 with errno. */
static ssize_t conn_writev(struct sv_conn *c, struct iovec *iov, uint32_t cnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = cnt };
	ssize_t n;

	if (!c->shm)
		return sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (c->peer_eof) {
		errno = EPIPE;
		return -1;
	}
	n = sv_shm_writev(c->shm, iov, (int)cnt);
	if (n >= 0)
		return n;
	errno = (int)-n;
	return -1;
}

static bool conn_dead(const struct sv_conn *c)
{
	return c->ep->dead || !c->qp;
}

static void req_rx(struct sv_conn *c);

/*
 * Read the responses the peer sent before it went away: a message it
 * acknowledged has completed on RC hardware even if its QP is destroyed
 * afterwards. The peer writes its last ACKs before it shuts its sockets
 * down, so whichever of our two connections shows the loss first, they
 * are in our requester socket by then.
 */
static void drain_responses(struct sv_qp *qp)
{
	struct sv_conn *r = qp->req;

	if (!r || r->draining || conn_dead(r))
		return;
	r->draining = true;
	req_rx(r); /* to EAGAIN, or to EOF (which retires r) */
	r->draining = false;
}

/* The peer went away (EOF, reset, close): the QP loses its peer. */
static void conn_lost_why(struct sv_conn *c, const char *why)
{
	struct sv_qp *qp = c->qp;

	if (fd_ino(c->fd) != c->ino)
		sv_log(SV_LOG_ERR, "QP %u: socket fd %d was closed or replaced behind softverbs' back",
		       qp ? qp->ibv.qp_num : 0, c->fd);
	if (qp && !c->draining) {
		drain_responses(qp);
		if (!c->qp)
			return; /* the drain reached EOF on c and retired it */
	}
	conn_close(c, false);
	if (qp) {
		sv_log(SV_LOG_DEBUG, "QP %u: %s connection lost: %s",
		       qp->ibv.qp_num, c->is_req ? "requester" : "responder",
		       why);
		sv_qp_fatal(qp, true);
	}
}

static void conn_lost(struct sv_conn *c)
{
	conn_lost_why(c, errno ? strerror(errno) : "closed");
}

/* ---- QP sockets ---- */

int sv_wire_listen(struct sv_qp *qp)
{
	struct sockaddr_un a;
	socklen_t len;
	struct sv_ep *ep;
	uint32_t tries;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (tries = 0; tries < 1u << 20; tries++) {
		uint32_t qpn = sv.next_qpn++ & SV_QPN_MAX;

		if (qpn < 2)
			continue;
		qp_sockaddr(qpn, &a, &len);
		if (!bind(fd, (struct sockaddr *)&a, len)) {
			qp->ibv.qp_num = qpn;
			break;
		}
		if (errno != EADDRINUSE)
			goto err_close;
	}
	if (!qp->ibv.qp_num || listen(fd, 16))
		goto err_close;
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		errno = ENOMEM;
		goto err_close;
	}
	ep->type = SV_EP_LISTEN;
	ep->fd = fd;
	ep->obj = qp;
	sv_nic_add_ep(ep, EPOLLIN);
	qp->lep = ep;
	return 0;

err_close:
	tries = (uint32_t)(errno ? errno : EADDRINUSE);
	close(fd);
	return -(int)tries;
}

void sv_wire_unlisten(struct sv_qp *qp)
{
	sv_nic_del_ep(qp->lep); /* closes the listening socket */
	qp->lep = NULL;
}

void sv_wire_accept(struct sv_ep *ep)
{
	struct sv_qp *qp = ep->obj;
	struct sv_conn *c;
	int fd;

	while ((fd = accept4(ep->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (qp->resp) {
			sv_log(SV_LOG_DEBUG, "QP %u: new peer connection replaces the old",
			       qp->ibv.qp_num);
			conn_close(qp->resp, true); /* a newer peer replaces it */
		}
		c = conn_new(fd, false, qp);
		if (c)
			qp->resp = c;
	}
}

void sv_wire_connect(struct sv_qp *qp)
{
	struct sockaddr_un a;
	socklen_t len;
	int fd;

	if (qp->req || !sv.nic_running)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	qp_sockaddr(qp->dest_qpn, &a, &len);
	if (connect(fd, (struct sockaddr *)&a, len) && errno != EINPROGRESS) {
		sv_log(SV_LOG_DEBUG, "QP %u: connect to QP %u: %s",
		       qp->ibv.qp_num, qp->dest_qpn, strerror(errno));
		close(fd);
		return;
	}
	qp->req = conn_new(fd, true, qp);
	if (qp->req && sv.cfg.shm) {
		qp->req->shm = sv_shm_offer(fd);
		if (qp->req->shm)
			conn_use_shm(qp->req);
	}
}

/*
 * Responder first: its pending ACKs go out before the peer can see EOF on
 * either connection (it drains its requester socket when it does).
 */
void sv_wire_close_qp(struct sv_qp *qp, bool graceful)
{
	if (qp->resp)
		conn_close(qp->resp, graceful);
	if (qp->req)
		conn_close(qp->req, graceful);
}

/* ---- transmit ---- */

/* Write the pending message; 0 when done, -EAGAIN, or -EPIPE. */
static int conn_flush(struct sv_conn *c)
{
	while (c->tleft) {
		ssize_t n = conn_writev(c, &c->tiov[c->tfirst],
					c->tiovcnt - c->tfirst);
		size_t left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -EAGAIN : -EPIPE;
		}
		c->tleft -= (size_t)n;
		left = (size_t)n;
		while (left && c->tfirst < c->tiovcnt) {
			struct iovec *v = &c->tiov[c->tfirst];

			if (left < v->iov_len) {
				v->iov_base = (char *)v->iov_base + left;
				v->iov_len -= left;
				left = 0;
			} else {
				left -= v->iov_len;
				c->tfirst++;
			}
		}
	}
	return 0;
}

static void tx_start(struct sv_conn *c, const struct iovec *iov, uint32_t cnt,
		     size_t payload)
{
	uint32_t i;

	c->tiov[0].iov_base = &c->th;
	c->tiov[0].iov_len = sizeof(c->th);
	for (i = 0; i < cnt; i++)
		c->tiov[i + 1] = iov[i];
	c->tiovcnt = cnt + 1;
	c->tfirst = 0;
	c->tleft = sizeof(c->th) + payload;
	c->tbusy = true;
}

/* Has the memfd of @s gone to the peer of @c? Send it if not; false on failure. */
static bool mr_sent(struct sv_conn *c, const struct sv_mrshare *s)
{
	uint32_t id = sv_mrshare_id(s);

	for (uint32_t i = 0; i < c->nsent; i++)
		if (c->sent[i] == id)
			return true;
	if (c->nsent == c->sent_cap) {
		uint32_t cap = c->sent_cap ? c->sent_cap * 2 : 8;
		uint32_t *v = realloc(c->sent, cap * sizeof(*v));

		if (!v)
			return false;
		c->sent = v;
		c->sent_cap = cap;
	}
	if (sv_mrshare_send(c->fd, s))
		return false;
	c->sent[c->nsent++] = id;
	return true;
}

/* The peer runs as our user (who may map our memory anyway). */
static bool peer_trusted(struct sv_conn *c)
{
	if (!c->peer_same_uid)
		c->peer_same_uid = sv_peer_is_us(c->fd) ? 1 : -1;
	return c->peer_same_uid > 0;
}

/*
 * References to the local memory of @w in c->tref (the lkeys were checked
 * by sv_local_iov()): the count, or 0 when the bytes go through the ring.
 */
static uint32_t refs_build(struct sv_conn *c, const struct sv_swqe *w)
{
	uint32_t i, n = 0;

	if (!c->shm || (w->send_flags & IBV_SEND_INLINE) || w->len < SV_REF_MIN ||
	    !peer_trusted(c))
		return 0;
	for (i = 0; i < w->num_sge; i++) {
		const struct ibv_sge *g = &w->sge[i];
		struct sv_mr *mr;
		uint64_t off;

		if (!g->length)
			continue;
		mr = sv_mr_lookup(g->lkey);
		if (!mr || !mr->share ||
		    !sv_mrshare_offset(mr->share,
				       (uint8_t *)mr->ibv.addr + (g->addr - mr->iova),
				       g->length, &off) ||
		    !mr_sent(c, mr->share))
			return 0;
		c->tref[n++] = (struct sv_ref){ .id = sv_mrshare_id(mr->share),
						.len = g->length, .off = off };
	}
	return n;
}

/* Start transmitting the next posted WQE; false when there is none. */
static bool req_next(struct sv_conn *c)
{
	struct sv_qp *qp = c->qp;
	struct iovec liov[SV_MAX_SGE];
	struct sv_swqe *w;
	uint32_t head, lcnt;

	head = sv_sq_head(qp);
	if (qp->state != IBV_QPS_RTS || qp->sq_tx == head)
		return false;
	w = &qp->sq[qp->sq_tx % qp->sq_cap];
	if (w->status)
		return false; /* completes once everything before it is acked */
	if (sv_local_iov(qp, w, liov, &lcnt)) {
		w->status = IBV_WC_LOC_PROT_ERR;
		return false;
	}
	if (!sv_delay_ready(qp, w, qp->sq_tx))
		return false; /* the NIC thread comes back when it is due */
	memset(&c->th, 0, sizeof(c->th));
	c->th.op = (uint8_t)w->opcode;
	c->th.flags = (w->send_flags & IBV_SEND_SOLICITED ? SV_HF_SOLICITED : 0) |
		      (w->send_flags & IBV_SEND_SIGNALED || qp->sq_sig_all ?
			       SV_HF_SIGNALED : 0);
	c->th.rnr_retry = (uint8_t)qp->attr.rnr_retry;
	c->th.msn = c->tx_msn++;
	c->th.imm = w->imm;
	c->th.rkey = w->rkey;
	c->th.addr = w->raddr;
	c->th.len = w->len;
	w->msn = c->th.msn;
	c->th.nref = refs_build(c, w);
	if (c->th.nref) {
		struct iovec refs = { .iov_base = c->tref,
				      .iov_len = c->th.nref * sizeof(*c->tref) };

		tx_start(c, &refs, 1, refs.iov_len);
	} else if (w->opcode == IBV_WR_RDMA_READ) {
		tx_start(c, NULL, 0, 0);
	} else {
		tx_start(c, liov, lcnt, w->len);
	}
	c->tx_wqe = true;
	return true;
}

static void req_tx(struct sv_conn *c)
{
	while (!conn_dead(c)) {
		int ret;

		if (!c->tbusy && !req_next(c))
			return;
		ret = conn_flush(c);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			conn_lost(c);
			return;
		}
		c->tbusy = false;
		if (c->tx_wqe) {
			struct sv_qp *qp = c->qp;

			c->tx_wqe = false;
			qp->sq_tx++; /* sv.lock: post_send never reads it */
			sv_fault_count(qp);
		}
	}
}

static void resp_push(struct sv_conn *c, uint8_t op, uint32_t msn, int status,
		      const struct iovec *iov)
{
	struct sv_resp_item *it;

	/*
	 * Rings: an ack is the counter in the control page, once every
	 * earlier response is in the ring (the requester reads those first);
	 * c->pid: a forked child never writes to the parent's rings.
	 */
	if (op == SV_OP_ACK && c->shm && !c->q_head && !c->tbusy &&
	    c->pid == sv.pid) {
		/* an ack is always of the request in c->rh */
		sv_shm_ack(c->shm, msn, c->rh.flags & SV_HF_SIGNALED);
		return;
	}
	if (op == SV_OP_ACK && c->q_tail && c->q_tail->hdr.op == SV_OP_ACK) {
		c->q_tail->hdr.msn = msn; /* cumulative: coalesce */
		return;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		conn_lost(c);
		return;
	}
	it->hdr.op = op;
	it->hdr.msn = msn;
	it->hdr.status = (uint8_t)status;
	if (iov) {
		it->iov = *iov;
		it->hdr.len = (uint32_t)iov->iov_len;
	}
	if (c->q_tail)
		c->q_tail->next = it;
	else
		c->q_head = it;
	c->q_tail = it;
}

static void resp_tx(struct sv_conn *c)
{
	while (!conn_dead(c)) {
		struct sv_resp_item *it;
		int ret;

		if (!c->tbusy) {
			it = c->q_head;
			if (!it)
				return;
			c->q_head = it->next;
			if (!c->q_head)
				c->q_tail = NULL;
			c->q_cur = it;
			c->th = it->hdr;
			tx_start(c, &it->iov, it->iov.iov_len ? 1 : 0,
				 it->iov.iov_len);
		}
		ret = conn_flush(c);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			conn_lost(c);
			return;
		}
		c->tbusy = false;
		free(c->q_cur);
		c->q_cur = NULL;
	}
}

/* ---- receive ---- */

/* Read the header; 1 when complete, 0 on EAGAIN, -1 when the conn died. */
static int read_hdr(struct sv_conn *c)
{
	while (c->rh_off < sizeof(c->rh)) {
		struct iovec v = { .iov_base = (char *)&c->rh + c->rh_off,
				   .iov_len = sizeof(c->rh) - c->rh_off };
		ssize_t n = conn_readv(c, &v, 1);

		if (n > 0) {
			c->rh_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		conn_lost_why(c, n ? strerror(errno) : "EOF");
		return -1;
	}
	return 1;
}

/* Read the payload into riov (or discard it); same returns as read_hdr. */
static int read_payload(struct sv_conn *c)
{
	while (c->rleft) {
		ssize_t n;

		if (c->discard) {
			struct iovec v = {
				.iov_base = scratch,
				.iov_len = c->rleft < sizeof(scratch) ?
						   c->rleft : sizeof(scratch),
			};

			n = conn_readv(c, &v, 1);
		} else {
			n = conn_readv(c, c->riov, c->riovcnt);
		}
		if (n > 0) {
			size_t left = (size_t)n;

			c->rleft -= left;
			while (!c->discard && left) {
				if (left < c->riov[0].iov_len) {
					c->riov[0].iov_base =
						(char *)c->riov[0].iov_base + left;
					c->riov[0].iov_len -= left;
					left = 0;
				} else {
					left -= c->riov[0].iov_len;
					memmove(c->riov, c->riov + 1,
						--c->riovcnt * sizeof(*c->riov));
				}
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		conn_lost(c);
		return -1;
	}
	return 1;
}

/* Set up reception of @len payload bytes into @iov (NULL: discard). */
static void payload_start(struct sv_conn *c, const struct iovec *iov,
			  uint32_t cnt, size_t len)
{
	c->in_payload = true;
	c->discard = !iov;
	c->rleft = len;
	c->riovcnt = 0;
	if (iov) {
		size_t left = len;
		uint32_t i;

		/*
		 * Clip to the payload: a receive larger than the message must
		 * not read the next message's header out of the stream.
		 */
		memcpy(c->riov, iov, cnt * sizeof(*iov));
		for (i = 0; i < cnt && left; i++) {
			if (c->riov[i].iov_len > left)
				c->riov[i].iov_len = left;
			left -= c->riov[i].iov_len;
		}
		c->riovcnt = i;
	}
}

/* Requester: complete WQEs acknowledged up to @msn. */
static void ack_upto(struct sv_qp *qp, uint32_t msn)
{
	while (qp->sq_done != qp->sq_tx) {
		struct sv_swqe *w = &qp->sq[qp->sq_done % qp->sq_cap];

		if ((int32_t)(w->msn - msn) > 0)
			break;
		sv_sq_complete(qp, IBV_WC_SUCCESS);
	}
}

static struct sv_swqe *oldest_with_msn(struct sv_qp *qp, uint32_t msn)
{
	struct sv_swqe *w;

	if (qp->sq_done == qp->sq_tx)
		return NULL;
	w = &qp->sq[qp->sq_done % qp->sq_cap];
	return w->msn == msn ? w : NULL;
}

static void req_got_hdr(struct sv_conn *c)
{
	struct sv_qp *qp = c->qp;
	struct iovec liov[SV_MAX_SGE];
	struct sv_swqe *w;
	uint32_t lcnt;

	switch (c->rh.op) {
	case SV_OP_ACK:
		ack_upto(qp, c->rh.msn);
		break;
	case SV_OP_NAK:
		ack_upto(qp, c->rh.msn - 1);
		if (oldest_with_msn(qp, c->rh.msn)) {
			sv_sq_complete(qp, c->rh.status);
			sv_qp_set_err(qp);
		}
		break;
	case SV_OP_READ_RESP:
		ack_upto(qp, c->rh.msn - 1);
		w = oldest_with_msn(qp, c->rh.msn);
		if (!w || w->opcode != IBV_WR_RDMA_READ ||
		    sv_local_iov(qp, w, liov, &lcnt)) {
			payload_start(c, NULL, 0, c->rh.nref ? 0 : c->rh.len);
			break;
		}
		/* nref: the responder wrote the data into our memory */
		payload_start(c, liov, lcnt, c->rh.nref ? 0 : c->rh.len);
		break;
	default:
		sv_log(SV_LOG_ERR, "QP %u: bad response op %u", qp->ibv.qp_num,
		       c->rh.op);
		conn_lost(c);
	}
}

/*
 * Requester: complete what the responder's ack counter covers, when no
 * response waits in the ring before it (a NAK or READ response of an
 * earlier message must be read first). Between messages only.
 */
static void apply_acked(struct sv_conn *c)
{
	uint32_t upto;

	while (c->shm && !c->in_payload && !c->rh_off && c->qp &&
	       sv_shm_acked(c->shm, &upto) && upto != c->acked_seen) {
		c->acked_seen = upto;
		ack_upto(c->qp, upto - 1);
		/* still armed (those sends were unsignaled): the doorbell
		 * again for the next ack, then look once more */
		if (c->qp && atomic_load(&c->qp->scq->armed))
			sv_shm_want_ack(c->shm);
	}
}

static void req_rx(struct sv_conn *c)
{
	while (!conn_dead(c)) {
		if (!c->in_payload) {
			apply_acked(c);
			if (read_hdr(c) <= 0)
				return;
			c->rh_off = 0;
			req_got_hdr(c);
			continue;
		}
		if (read_payload(c) <= 0)
			return;
		c->in_payload = false;
		if (!c->discard && c->qp && oldest_with_msn(c->qp, c->rh.msn))
			sv_sq_complete(c->qp, IBV_WC_SUCCESS);
	}
}

/* Responder: a request header is in c->rh; false when stalled. */
static bool resp_got_hdr(struct sv_conn *c)
{
	struct sv_req *r = &c->req;
	size_t payload;

	r->op = c->rh.op;
	r->solicited = !!(c->rh.flags & SV_HF_SOLICITED);
	r->rnr_retry = c->rh.rnr_retry;
	r->imm = c->rh.imm;
	r->rkey = c->rh.rkey;
	r->addr = c->rh.addr;
	r->len = c->rh.len;
	payload = r->op == IBV_WR_RDMA_READ ? 0 : r->len;
	if (c->rh.nref)
		payload = c->rh.nref * sizeof(struct sv_ref);
	if (r->op > IBV_WR_RDMA_READ || c->rh.nref > SV_MAX_SGE ||
	    (c->rh.nref && !c->shm)) {
		conn_lost_why(c, "bad request");
		return false;
	}
	switch (sv_target_prepare(c->qp, r, &c->tg, &c->rnr_deadline)) {
	case SV_PREP_STALL:
		return false;
	case SV_PREP_ERR:
		c->nak_status = c->tg.req_status;
		payload_start(c, NULL, 0, payload);
		break;
	case SV_PREP_OK:
		c->nak_status = 0;
		if (c->rh.nref) {
			struct iovec refs = { .iov_base = c->rref,
					      .iov_len = payload };

			payload_start(c, &refs, 1, payload); /* see refs_copy() */
		} else if (r->op == IBV_WR_RDMA_READ) {
			struct iovec none = { 0 };

			resp_push(c, SV_OP_READ_RESP, c->rh.msn, 0,
				  c->tg.iovcnt ? &c->tg.iov[0] : &none);
			payload_start(c, NULL, 0, 0);
			c->nak_status = -1; /* no ack: the response is it */
		} else {
			payload_start(c, c->tg.iov, c->tg.iovcnt, payload);
		}
		break;
	}
	c->rh_off = 0;
	return true;
}

/*
 * Responder: the references of the request are in c->rref; copy between
 * the requester's memory they name and the target. 0, or -EPROTO when one
 * does not name memory the requester gave us (the connection is broken).
 */
static int refs_copy(struct sv_conn *c)
{
	struct iovec src[SV_MAX_SGE];
	uint64_t total = 0;
	uint32_t i;

	for (i = 0; i < c->rh.nref; i++) {
		const struct sv_ref *f = &c->rref[i];
		uint8_t *p = sv_peer_mrs_find(c->pmrs, f->id, f->off, f->len);

		/* a new MR's memfd was sent just before the request */
		if (!p && !sv_peer_mrs_recv(c->fd, &c->pmrs))
			p = sv_peer_mrs_find(c->pmrs, f->id, f->off, f->len);
		if (!p)
			return -EPROTO;
		src[i].iov_base = p;
		src[i].iov_len = f->len;
		total += f->len;
	}
	if (total != c->rh.len)
		return -EPROTO;
	if (c->req.op == IBV_WR_RDMA_READ) {
		sv_iov_copy(src, i, c->tg.iov, c->tg.iovcnt, total, true);
		resp_push(c, SV_OP_READ_RESP, c->rh.msn, 0, NULL);
		if (c->q_tail)
			c->q_tail->hdr.nref = 1; /* the data is in place */
		c->nak_status = -1; /* no ack: the response is it */
	} else {
		sv_iov_copy(c->tg.iov, c->tg.iovcnt, src, i, total, true);
	}
	sv.shm_moved += total;
	return 0;
}

/*
 * The request is complete. A successful receive completion is in the CQ
 * before the acknowledgement leaves: a requester that sees its send
 * acknowledged may disconnect at once, and our application, told of the
 * disconnect, polls its CQ one last time and must find the data there (it
 * found it missing about once in 300 runs of a 50 MB transfer when the
 * NIC thread was preempted between the two). The application that sees
 * that completion and destroys the QP still cannot cut the ack off: the
 * destroy waits for sv.lock, held until the ack is out. A failed receive
 * moves the QP to ERR, so its completion comes after the NAK.
 */
static void resp_done(struct sv_conn *c)
{
	bool cqe_first = c->qp && !c->tg.recv_status;

	c->in_payload = false;
	if (cqe_first)
		sv_target_finish(c->qp, &c->req, &c->tg);
	if (c->nak_status > 0)
		resp_push(c, SV_OP_NAK, c->rh.msn, c->nak_status, NULL);
	else if (!c->nak_status)
		resp_push(c, SV_OP_ACK, c->rh.msn, 0, NULL);
	resp_tx(c);
	if (!cqe_first && c->qp)
		sv_target_finish(c->qp, &c->req, &c->tg);
}

static void resp_rx(struct sv_conn *c)
{
	while (!conn_dead(c)) {
		if (!c->in_payload) {
			if (c->rh_off < sizeof(c->rh) && read_hdr(c) <= 0)
				return;
			if (!resp_got_hdr(c))
				return;
		}
		if (read_payload(c) <= 0)
			return;
		if (c->rh.nref && !c->discard && refs_copy(c)) {
			conn_lost_why(c, "bad memory reference");
			return;
		}
		resp_done(c);
	}
}

/* ---- NIC thread entry points ---- */

struct sv_qp *sv_wire_event(struct sv_ep *ep, uint32_t events)
{
	struct sv_conn *c = ep->obj;
	struct sv_qp *qp = c->qp;

	/* rings: the socket only reports the end (after the peer's last bytes) */
	if (ep == c->ep && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		c->peer_eof = true;
	/* the requester's MR memfds, and which to forget (deregistered);
	 * the accepting side's awake page */
	if (ep == c->ep && (events & EPOLLIN) && c->shm &&
	    (c->is_req ? sv_shm_recv_awake(c->shm, c->fd) :
			 sv_peer_mrs_recv(c->fd, &c->pmrs))) {
		conn_lost_why(c, "bad control message");
		return qp;
	}
	if (c->is_req) {
		req_rx(c);
		req_tx(c);
	} else {
		/*
		 * Acks for our own requests first: the peer wrote them before
		 * it could post what arrives here, as one wire would order
		 * them (ibv_send_lat with a send queue of 1 relies on it).
		 */
		if (c->qp && c->qp->req)
			req_rx(c->qp->req);
		resp_rx(c);
		resp_tx(c);
	}
	return qp;
}

/*
 * Application thread, right after a post: transmit the new WQEs of @qp on
 * its shared-memory connection itself, as a NIC's doorbell write starts
 * the hardware, instead of waking the NIC thread (a kick and an epoll_wait
 * of the NIC thread saved per post). Only when sv.lock comes free soon and
 * nothing needs the NIC thread's timing (delays); true when every posted
 * WQE is on the ring, false when the NIC thread must carry on (ring full,
 * a local error to complete, no connection yet, a lost one).
 */
bool sv_wire_post(struct sv_qp *qp)
{
	struct sv_conn *c;
	bool done = false;

	if (sv.cfg.delay_us || !sv_trylock_spin())
		return false;
	c = qp->req;
	/* c->pid: not a connection a forked child inherited (rings unmapped) */
	if (c && c->shm && c->pid == sv.pid && !conn_dead(c) &&
	    qp->state == IBV_QPS_RTS) {
		req_tx(c);
		pthread_mutex_lock(&qp->lock);
		done = qp->req == c && !c->tbusy && qp->sq_tx == qp->sq_head;
		pthread_mutex_unlock(&qp->lock);
	}
	pthread_mutex_unlock(&sv.lock);
	return done;
}

static void check_blocked(struct sv_qp *qp);

/*
 * Application thread (sv.lock held): turn what the peer acknowledged on
 * the rings into send completions now, as a NIC's poll_cq reads the CQEs
 * the hardware wrote, instead of the NIC thread waking for each ack.
 */
void sv_wire_reap(struct sv_qp *qp)
{
	struct sv_conn *c = qp->req;

	if (!c || !c->shm || c->pid != sv.pid || conn_dead(c) ||
	    !sv_shm_rx_news(c->shm, c->acked_seen))
		return; /* nothing new: no lock, no fence, no flag written */
	req_rx(c);
	if (qp->state == IBV_QPS_RTS && !qp->peer)
		check_blocked(qp);
}

/* Before the application moves @qp to ERR: what the peer acknowledged
 * completed successfully (its ack is as good as a CQE already written). */
void sv_wire_reap_acks(struct sv_qp *qp)
{
	struct sv_conn *c = qp->req;

	if (c && c->pid == sv.pid && !conn_dead(c))
		apply_acked(c);
}

/*
 * Application thread arming @qp's send CQ (sv.lock held): from now on the
 * peer rings our doorbell for an ack, so the NIC thread produces the
 * completion (and the event) while the application sleeps.
 */
void sv_wire_want_ack(struct sv_qp *qp)
{
	struct sv_conn *c = qp->req;

	if (!c || !c->shm || c->pid != sv.pid || conn_dead(c))
		return;
	sv_shm_want_ack(c->shm);
	apply_acked(c); /* an ack stored before the flag was seen */
}

/* A WQE that failed locally completes once everything before it did. */
static void check_blocked(struct sv_qp *qp)
{
	struct sv_swqe *w;
	uint32_t head;

	head = sv_sq_head(qp);
	if (qp->sq_done != qp->sq_tx || qp->sq_tx == head)
		return;
	w = &qp->sq[qp->sq_tx % qp->sq_cap];
	if (w->status) {
		sv_sq_complete(qp, w->status);
		sv_qp_set_err(qp);
	}
}

static void ensure_requester(struct sv_qp *qp)
{
	uint32_t head;

	if (qp->req || qp->peer)
		return;
	qp->peer = sv_qp_lookup(qp->dest_qpn);
	if (qp->peer) {
		sv_kick();
		return;
	}
	head = sv_sq_head(qp);
	if (qp->sq_done == head)
		return;
	sv_wire_connect(qp);
	if (!qp->req) {
		/* nobody at that QP number: retries exhausted */
		sv_sq_complete(qp, IBV_WC_RETRY_EXC_ERR);
		sv_qp_set_err(qp);
	}
}

void sv_wire_progress(struct sv_qp *qp)
{
	if (qp->state == IBV_QPS_RTS && qp->connected &&
	    !atomic_load(&qp->peer_gone))
		ensure_requester(qp);
	if (qp->req) {
		req_rx(qp->req);
		if (qp->req)
			req_tx(qp->req);
	}
	if (qp->state == IBV_QPS_RTS && !qp->peer)
		check_blocked(qp);
	if (qp->resp) {
		resp_rx(qp->resp);
		if (qp->resp)
			resp_tx(qp->resp);
	}
}

void sv_wire_mr_gone(uint32_t id)
{
	for (struct sv_qp *qp = sv.qps; qp; qp = qp->next) {
		struct sv_conn *c = qp->req;

		for (uint32_t i = 0; c && i < c->nsent; i++) {
			if (c->sent[i] != id)
				continue;
			c->sent[i] = c->sent[--c->nsent];
			/* best effort: else the peer unmaps it when the
			 * connection ends (the pages are no longer ours) */
			sv_mrshare_send_drop(c->fd, id);
			break;
		}
	}
}
