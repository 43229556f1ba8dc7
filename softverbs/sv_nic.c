// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: execution of work requests on the NIC thread: target checks, in-process path, faults. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sv_priv.h"

/*
 * What orders a copy between this process and a peer process's memory (a
 * ring, or the peer's MR mapped here) with the application's own use of its
 * registered memory is the peer process (its post, the ring index it
 * publishes), which ThreadSanitizer cannot see; over the socket transport
 * the kernel makes the same copies out of its sight. Under TSan these
 * copies are made uninstrumented (volatile, so no memcpy call the runtime
 * would intercept) instead of reporting, or slowly suppressing, every byte.
 */
#if defined(__SANITIZE_THREAD__)
#define SV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SV_TSAN 1
#endif
#endif

#ifdef SV_TSAN
__attribute__((no_sanitize("thread"))) void sv_peer_copy(void *d, const void *s,
							 size_t n)
{
	volatile uint8_t *dst = d;
	const volatile uint8_t *src = s;

	while (n--)
		*dst++ = *src++;
}
#else
void sv_peer_copy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
}
#endif

size_t sv_iov_copy(const struct iovec *dst, uint32_t dcnt,
		   const struct iovec *src, uint32_t scnt, size_t len, bool peer)
{
	size_t doff = 0, soff = 0, done = 0;
	uint32_t d = 0, s = 0;

	while (done < len && d < dcnt && s < scnt) {
		size_t n = dst[d].iov_len - doff;

		if (n > src[s].iov_len - soff)
			n = src[s].iov_len - soff;
		if (n > len - done)
			n = len - done;
		if (peer)
			sv_peer_copy((char *)dst[d].iov_base + doff,
				     (const char *)src[s].iov_base + soff, n);
		else
			memcpy((char *)dst[d].iov_base + doff,
			       (const char *)src[s].iov_base + soff, n);
		done += n;
		doff += n;
		soff += n;
		if (doff == dst[d].iov_len) {
			d++;
			doff = 0;
		}
		if (soff == src[s].iov_len) {
			s++;
			soff = 0;
		}
	}
	return done;
}

/* Remote key check for an RDMA access of @len bytes at @addr. */
static int check_rkey(struct sv_qp *t, const struct sv_req *r,
		      unsigned int need, struct sv_target *tg)
{
	struct sv_mr *mr;

	tg->iovcnt = 0;
	if (!r->len)
		return 0;
	mr = sv_mr_lookup(r->rkey);
	if (!mr || mr->ibv.pd != t->ibv.pd || (mr->access & need) != need ||
	    (t->attr.qp_access_flags & need) != need)
		return -EACCES;
	if (r->addr < mr->iova || r->addr - mr->iova > mr->ibv.length ||
	    r->len > mr->ibv.length - (r->addr - mr->iova))
		return -EACCES;
	tg->iov[0].iov_base = (uint8_t *)mr->ibv.addr + (r->addr - mr->iova);
	tg->iov[0].iov_len = r->len;
	tg->iovcnt = 1;
	return 0;
}

static void rnr_clear(uint64_t *deadline)
{
	if (*deadline) {
		*deadline = 0;
		atomic_fetch_sub(&sv.rnr_waiters, 1);
	}
}

/* No receive posted: wait (rnr_retry 7 = forever) or give up. */
static enum sv_prep rnr(const struct sv_req *r, struct sv_target *tg,
			uint64_t *deadline)
{
	uint64_t now;

	if (r->rnr_retry >= 7)
		return SV_PREP_STALL;
	now = sv_now_ns();
	if (!*deadline) {
		*deadline = now + (r->rnr_retry + 1ull) * SV_RNR_STEP_NS;
		atomic_fetch_add(&sv.rnr_waiters, 1);
		return SV_PREP_STALL;
	}
	if (now < *deadline)
		return SV_PREP_STALL;
	rnr_clear(deadline);
	tg->req_status = IBV_WC_RNR_RETRY_EXC_ERR;
	return SV_PREP_ERR;
}

static enum sv_prep take_recv(struct sv_qp *t, const struct sv_req *r,
			      struct sv_target *tg, uint64_t *deadline)
{
	struct sv_rq *rq = t->srq ? &t->srq->rq : &t->rq;
	uint64_t total;

	if (!sv_rq_take(rq, &tg->rwqe, tg->rsge))
		return rnr(r, tg, deadline);
	rnr_clear(deadline);
	tg->has_rwqe = true;
	if (t->srq)
		sv_srq_check_limit(t->srq);
	if (r->op == IBV_WR_RDMA_WRITE_WITH_IMM)
		return SV_PREP_OK;
	if (sv_sge_to_iov(t->ibv.pd, tg->rwqe.sge, tg->rwqe.num_sge,
			  IBV_ACCESS_LOCAL_WRITE, tg->iov, &tg->iovcnt,
			  &total)) {
		tg->recv_status = IBV_WC_LOC_PROT_ERR;
		tg->req_status = IBV_WC_REM_OP_ERR;
		return SV_PREP_ERR;
	}
	if (total < r->len) {
		tg->recv_status = IBV_WC_LOC_LEN_ERR;
		tg->req_status = IBV_WC_REM_INV_REQ_ERR;
		return SV_PREP_ERR;
	}
	return SV_PREP_OK;
}

/*
 * Decide what the target QP @t does with request @r (sv.lock held): OK with
 * tg->iov naming target memory (destination, or source for READ), STALL (not
 * ready or no receive posted: try again later) or ERR with the statuses set.
 */
enum sv_prep sv_target_prepare(struct sv_qp *t, const struct sv_req *r,
			       struct sv_target *tg, uint64_t *rnr_deadline)
{
	tg->req_status = IBV_WC_SUCCESS;
	tg->recv_status = IBV_WC_SUCCESS;
	tg->has_rwqe = false;
	tg->iovcnt = 0;
	if (!t || t->state == IBV_QPS_ERR || t->state == IBV_QPS_RESET) {
		/* nobody answers: the requester's retries run out */
		rnr_clear(rnr_deadline);
		tg->req_status = IBV_WC_RETRY_EXC_ERR;
		return SV_PREP_ERR;
	}
	if (t->state == IBV_QPS_INIT)
		return SV_PREP_STALL; /* data before RTR waits */
	switch (r->op) {
	case IBV_WR_RDMA_READ:
		if (check_rkey(t, r, IBV_ACCESS_REMOTE_READ, tg))
			goto access_err;
		return SV_PREP_OK;
	case IBV_WR_RDMA_WRITE:
		if (check_rkey(t, r, IBV_ACCESS_REMOTE_WRITE, tg))
			goto access_err;
		return SV_PREP_OK;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		if (check_rkey(t, r, IBV_ACCESS_REMOTE_WRITE, tg))
			goto access_err;
		return take_recv(t, r, tg, rnr_deadline);
	default:
		return take_recv(t, r, tg, rnr_deadline);
	}
access_err:
	rnr_clear(rnr_deadline);
	tg->req_status = IBV_WC_REM_ACCESS_ERR;
	return SV_PREP_ERR;
}

/* After the payload landed (or an error): complete the consumed receive. */
void sv_target_finish(struct sv_qp *t, const struct sv_req *r,
		      struct sv_target *tg)
{
	struct ibv_wc wc;

	if (!tg->has_rwqe)
		return;
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = tg->rwqe.wr_id;
	wc.status = (enum ibv_wc_status)tg->recv_status;
	wc.qp_num = t->ibv.qp_num;
	wc.src_qp = t->dest_qpn;
	wc.opcode = r->op == IBV_WR_RDMA_WRITE_WITH_IMM ?
			    IBV_WC_RECV_RDMA_WITH_IMM :
			    IBV_WC_RECV;
	if (!tg->recv_status) {
		wc.byte_len = r->len;
		if (r->op == IBV_WR_RDMA_WRITE_WITH_IMM ||
		    r->op == IBV_WR_SEND_WITH_IMM) {
			wc.wc_flags = IBV_WC_WITH_IMM;
			wc.imm_data = r->imm;
		}
	}
	tg->has_rwqe = false;
	sv_cq_push(t->rcq, &wc, r->solicited);
	if (tg->recv_status)
		sv_qp_set_err(t);
}

/* Count an executed message for fault injection. */
void sv_fault_count(struct sv_qp *qp)
{
	qp->nmsgs++;
	if (sv.cfg.qp_error_after && qp->nmsgs == sv.cfg.qp_error_after) {
		struct ibv_async_event ev = { .event_type = IBV_EVENT_QP_FATAL };

		sv_log(SV_LOG_INFO, "fault injection: QP %u to error",
		       qp->ibv.qp_num);
		ev.element.qp = &qp->ibv;
		sv_async_event(qp->ctx, &ev);
		sv_qp_set_err(qp);
		return;
	}
	if (sv.cfg.drop_after && qp->nmsgs == sv.cfg.drop_after)
		sv_qp_drop(qp);
}

/*
 * A message goes SOFTVERBS_DELAY_US after it was posted or after the QP's
 * previous message was due, whichever is later: per QP a link that takes
 * that long per message (RC order kept), while the other QPs go on. The due
 * time stays with the message if it then stalls (RNR): no second delay.
 */
bool sv_delay_ready(struct sv_qp *qp, const struct sv_swqe *w, uint32_t seq)
{
	uint64_t start;

	if (!sv.cfg.delay_us)
		return true;
	if (!qp->delay_set || qp->delay_seq != seq) {
		start = w->post_ns;
		if (qp->delay_set && qp->delay_due > start)
			start = qp->delay_due;
		qp->delay_due = start + sv.cfg.delay_us * 1000ull;
		qp->delay_seq = seq;
		qp->delay_set = true;
	}
	if (sv_now_ns() >= qp->delay_due)
		return true;
	if (!sv.wake_at || qp->delay_due < sv.wake_at)
		sv.wake_at = qp->delay_due;
	return false;
}

static void req_from_wqe(struct sv_qp *qp, const struct sv_swqe *w,
			 struct sv_req *r)
{
	r->op = (uint8_t)w->opcode;
	r->solicited = w->send_flags & IBV_SEND_SOLICITED;
	r->rnr_retry = (uint8_t)qp->attr.rnr_retry;
	r->imm = w->imm;
	r->rkey = w->rkey;
	r->addr = w->raddr;
	r->len = w->len;
}

/* The requester's own memory for @w: gather (send/write) or scatter (read). */
static int local_iov(struct sv_qp *qp, struct sv_swqe *w, struct iovec *iov,
		     uint32_t *cnt)
{
	uint64_t total;

	if (w->send_flags & IBV_SEND_INLINE) {
		iov[0].iov_base = w->inl;
		iov[0].iov_len = w->len;
		*cnt = w->len ? 1 : 0;
		return 0;
	}
	return sv_sge_to_iov(qp->ibv.pd, w->sge, w->num_sge,
			     w->opcode == IBV_WR_RDMA_READ ?
				     IBV_ACCESS_LOCAL_WRITE : 0,
			     iov, cnt, &total);
}

int sv_local_iov(struct sv_qp *qp, struct sv_swqe *w, struct iovec *iov,
		 uint32_t *cnt)
{
	return local_iov(qp, w, iov, cnt);
}

/* Execute the oldest posted WQE against the in-process peer; false = stalled. */
static bool exec_local(struct sv_qp *qp, struct sv_swqe *w)
{
	struct iovec liov[SV_MAX_SGE];
	struct sv_target tg;
	struct sv_req r;
	uint32_t lcnt;

	if (local_iov(qp, w, liov, &lcnt)) {
		sv_sq_complete(qp, IBV_WC_LOC_PROT_ERR);
		sv_qp_set_err(qp);
		return false;
	}
	if (!sv_delay_ready(qp, w, qp->sq_done))
		return false;
	req_from_wqe(qp, w, &r);
	switch (sv_target_prepare(qp->peer, &r, &tg, &w->rnr_deadline)) {
	case SV_PREP_STALL:
		return false;
	case SV_PREP_ERR:
		sv_target_finish(qp->peer, &r, &tg);
		sv_sq_complete(qp, tg.req_status);
		sv_qp_set_err(qp);
		return false;
	case SV_PREP_OK:
		break;
	}
	if (r.op == IBV_WR_RDMA_READ)
		sv_iov_copy(liov, lcnt, tg.iov, tg.iovcnt, r.len, false);
	else
		sv_iov_copy(tg.iov, tg.iovcnt, liov, lcnt, r.len, false);
	sv_target_finish(qp->peer, &r, &tg);
	sv_sq_complete(qp, IBV_WC_SUCCESS);
	sv_fault_count(qp);
	return qp->state == IBV_QPS_RTS;
}

/* Make progress on one QP (NIC thread, sv.lock held). */
void sv_qp_progress(struct sv_qp *qp)
{
	uint32_t head;

	if (qp->state == IBV_QPS_ERR) {
		sv_qp_flush(qp);
		sv_wire_progress(qp);
		return;
	}
	sv_qp_check_gone(qp);
	if (qp->state == IBV_QPS_RTS && qp->peer) {
		head = sv_sq_head(qp);
		while (qp->sq_done != head && qp->peer &&
		       exec_local(qp, &qp->sq[qp->sq_done % qp->sq_cap]))
			;
	}
	sv_wire_progress(qp);
}
