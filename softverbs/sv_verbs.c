// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: protection domains, memory regions, completion channels, CQs, SRQs and AHs. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sv_priv.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

/* ---- PD ---- */

struct ibv_pd *ibv_alloc_pd(struct ibv_context *context)
{
	struct sv_pd *pd = calloc(1, sizeof(*pd));

	if (!pd) {
		errno = ENOMEM;
		return NULL;
	}
	pd->ibv.context = context;
	sv_strict_touch(&pd->owner, "PD", pd);
	return &pd->ibv;
}

int ibv_dealloc_pd(struct ibv_pd *ibpd)
{
	struct sv_pd *pd = SV_container_of(ibpd, struct sv_pd, ibv);

	sv_strict_touch(&pd->owner, "PD", pd);
	free(pd);
	return 0;
}

/* ---- MR ---- */

static int mr_slot(void)
{
	uint32_t i, cap;

	for (i = 1; i < sv.mrs_cap; i++)
		if (!sv.mrs[i])
			return (int)i;
	cap = sv.mrs_cap ? sv.mrs_cap * 2 : 256;
	if (cap > (1u << 24))
		return -ENOMEM;
	{
		struct sv_mr **m = realloc(sv.mrs, cap * sizeof(*m));
		uint8_t *g;

		if (!m)
			return -ENOMEM;
		sv.mrs = m;
		g = realloc(sv.mr_gen, cap);
		if (!g)
			return -ENOMEM;
		sv.mr_gen = g;
	}
	memset(sv.mrs + sv.mrs_cap, 0, (cap - sv.mrs_cap) * sizeof(*sv.mrs));
	memset(sv.mr_gen + sv.mrs_cap, 0, cap - sv.mrs_cap);
	i = sv.mrs_cap ? sv.mrs_cap : 1;
	sv.mrs_cap = cap;
	return (int)i;
}

struct sv_mr *sv_mr_lookup(uint32_t key)
{
	uint32_t idx = key >> 8;
	struct sv_mr *mr;

	if (idx >= sv.mrs_cap)
		return NULL;
	mr = sv.mrs[idx];
	return mr && mr->ibv.lkey == key ? mr : NULL;
}

struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	struct sv_pd *spd = SV_container_of(pd, struct sv_pd, ibv);
	struct sv_mr *mr;
	int idx;

	sv_strict_touch(&spd->owner, "PD", spd);
	if (((access & IBV_ACCESS_REMOTE_WRITE) &&
	     !(access & IBV_ACCESS_LOCAL_WRITE)) || (!addr && length)) {
		errno = EINVAL;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	if (!mr) {
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * Only memory registered for writing (a receive or READ target, a
	 * peer's WRITE target) is moved onto a memfd: such memory is set aside
	 * for RDMA. Memory registered only to send from (access 0) is often
	 * the application's live data (a server's values, sent in place),
	 * which its other threads write and free while the pages would move.
	 * Before the MR exists: no NIC thread reads the pages while they move.
	 */
	if (sv.cfg.mr_share && access)
		mr->share = sv_mrshare_new(addr, length);
	sv_lock();
	idx = mr_slot();
	if (idx < 0) {
		pthread_mutex_unlock(&sv.lock);
		sv_mrshare_free(mr->share);
		free(mr);
		errno = ENOMEM;
		return NULL;
	}
	sv.mr_gen[idx]++;
	mr->ibv.context = pd->context;
	mr->ibv.pd = pd;
	mr->ibv.addr = addr;
	mr->ibv.length = length;
	mr->ibv.handle = (uint32_t)idx;
	mr->ibv.lkey = (uint32_t)idx << 8 | sv.mr_gen[idx];
	mr->ibv.rkey = mr->ibv.lkey;
	mr->iova = iova;
	mr->access = access;
	sv.mrs[idx] = mr;
	pthread_mutex_unlock(&sv.lock);
	sv_strict_touch(&mr->owner, "MR", mr);
	return &mr->ibv;
}

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr,
				(unsigned int)access);
}

struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, iova, (unsigned int)access);
}

int ibv_dereg_mr(struct ibv_mr *ibmr)
{
	struct sv_mr *mr = SV_container_of(ibmr, struct sv_mr, ibv);

	sv_strict_touch(&mr->owner, "MR", mr);
	sv_lock();
	sv.mrs[ibmr->handle] = NULL;
	if (mr->share)
		sv_wire_mr_gone(sv_mrshare_id(mr->share));
	pthread_mutex_unlock(&sv.lock);
	sv_mrshare_free(mr->share);
	free(mr);
	return 0;
}

int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr,
		 size_t length, int access)
{
	(void)mr;
	(void)flags;
	(void)pd;
	(void)addr;
	(void)length;
	(void)access;
	errno = EOPNOTSUPP;
	return IBV_REREG_MR_ERR_INPUT;
}

/*
 * Translate local SGEs into iovecs (sv.lock held): each lkey must name an MR
 * of @pd with the @need access bits, covering the whole SGE. Zero-length
 * SGEs are skipped. -EACCES on a violation.
 */
int sv_sge_to_iov(struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t n,
		  unsigned int need, struct iovec *iov, uint32_t *iovcnt,
		  uint64_t *total)
{
	uint32_t i, k = 0;
	uint64_t sum = 0;

	for (i = 0; i < n; i++) {
		struct sv_mr *mr;

		if (!sge[i].length)
			continue;
		mr = sv_mr_lookup(sge[i].lkey);
		if (!mr || mr->ibv.pd != pd || (mr->access & need) != need)
			return -EACCES;
		if (sge[i].addr < mr->iova ||
		    sge[i].addr - mr->iova > mr->ibv.length ||
		    sge[i].length > mr->ibv.length - (sge[i].addr - mr->iova))
			return -EACCES;
		iov[k].iov_base = (uint8_t *)mr->ibv.addr +
				  (sge[i].addr - mr->iova);
		iov[k].iov_len = sge[i].length;
		sum += sge[i].length;
		k++;
	}
	*iovcnt = k;
	*total = sum;
	return 0;
}

/* ---- completion channel ---- */

struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context)
{
	struct sv_channel *ch;
	int p[2];

	if (sv_init()) {
		errno = ENODEV;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC)) {
		free(ch);
		return NULL;
	}
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	ch->ibv.context = context;
	ch->ibv.fd = p[0];
	ch->wfd = p[1];
	sv_strict_touch(&ch->owner, "completion channel", ch);
	return &ch->ibv;
}

int ibv_destroy_comp_channel(struct ibv_comp_channel *channel)
{
	struct sv_channel *ch = SV_container_of(channel, struct sv_channel, ibv);

	sv_strict_touch(&ch->owner, "completion channel", ch);
	sv_lock();
	if (channel->refcnt) {
		pthread_mutex_unlock(&sv.lock);
		return EBUSY;
	}
	pthread_mutex_unlock(&sv.lock);
	close(ch->ibv.fd);
	close(ch->wfd);
	free(ch);
	return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq,
		     void **cq_context)
{
	struct sv_channel *ch = SV_container_of(channel, struct sv_channel, ibv);
	struct ibv_cq *got;
	ssize_t n;

	sv_strict_touch(&ch->owner, "completion channel", ch);
	do
		n = read(channel->fd, &got, sizeof(got));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(got))
		return -1;
	*cq = got;
	*cq_context = got->cq_context;
	return 0;
}

void ibv_ack_cq_events(struct ibv_cq *ibcq, unsigned int nevents)
{
	struct sv_cq *cq = SV_container_of(ibcq, struct sv_cq, ibv);

	sv_strict_touch(&cq->owner, "CQ", cq);
	pthread_mutex_lock(&ibcq->mutex);
	ibcq->comp_events_completed += nevents;
	pthread_cond_signal(&ibcq->cond);
	pthread_mutex_unlock(&ibcq->mutex);
}

/* ---- CQ ---- */

struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe,
			     void *cq_context, struct ibv_comp_channel *channel,
			     int comp_vector)
{
	struct sv_cq *cq;
	uint32_t cap;

	if (cqe < 1 || cqe > SV_MAX_CQE || comp_vector < 0 ||
	    comp_vector >= context->num_comp_vectors) {
		errno = EINVAL;
		return NULL;
	}
	cap = (uint32_t)cqe;
	if (sv.cfg.cq_max && cap > sv.cfg.cq_max)
		cap = sv.cfg.cq_max; /* fault injection: overflow early */
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		goto err;
	cq->ring = calloc(cap, sizeof(*cq->ring));
	if (!cq->ring)
		goto err_free;
	cq->cap = cap;
	cq->refs = 1;
	cq->ctx = sv_ctx(context);
	pthread_mutex_init(&cq->lock, NULL);
	cq->ibv.context = context;
	cq->ibv.channel = channel;
	cq->ibv.cq_context = cq_context;
	cq->ibv.cqe = cqe;
	pthread_mutex_init(&cq->ibv.mutex, NULL);
	pthread_cond_init(&cq->ibv.cond, NULL);
	if (channel) {
		sv_lock();
		channel->refcnt++;
		pthread_mutex_unlock(&sv.lock);
	}
	sv_strict_touch(&cq->owner, "CQ", cq);
	return &cq->ibv;

err_free:
	free(cq);
err:
	errno = ENOMEM;
	return NULL;
}

/* Drop a reference (sv.lock held); the last one frees. */
void sv_cq_put(struct sv_cq *cq)
{
	if (--cq->refs)
		return;
	pthread_mutex_destroy(&cq->lock);
	pthread_mutex_destroy(&cq->ibv.mutex);
	pthread_cond_destroy(&cq->ibv.cond);
	free(cq->ring);
	free(cq);
}

int ibv_destroy_cq(struct ibv_cq *ibcq)
{
	struct sv_cq *cq = SV_container_of(ibcq, struct sv_cq, ibv);

	sv_strict_touch(&cq->owner, "CQ", cq);
	sv_async_quiesce(cq->ctx, &(struct ibv_async_event){
		.element.cq = ibcq, .event_type = IBV_EVENT_CQ_ERR });
	sv_lock();
	pthread_mutex_lock(&cq->lock);
	if (ibcq->channel)
		ibcq->channel->refcnt--;
	ibcq->channel = NULL; /* no more events */
	pthread_mutex_unlock(&cq->lock);
	sv_cq_put(cq);
	pthread_mutex_unlock(&sv.lock);
	return 0;
}

int ibv_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct sv_cq *cq = SV_container_of(ibcq, struct sv_cq, ibv);

	sv_strict_touch(&cq->owner, "CQ", cq);
	if (cqe < 1 || cqe > SV_MAX_CQE)
		return EINVAL;
	if ((uint32_t)cqe > cq->cap && !sv.cfg.cq_max)
		return EOPNOTSUPP;
	ibcq->cqe = cqe;
	return 0;
}

void sv_cq_push(struct sv_cq *cq, const struct ibv_wc *wc, bool solicited)
{
	struct ibv_comp_channel *ch = NULL;
	bool overflow = false;

	pthread_mutex_lock(&cq->lock);
	/* An overflowed CQ is in error, as on a NIC: it takes no completion
	 * after the one it lost, so a consumer never sees a gap followed by
	 * later work (the CQ_ERR event tells it to close). */
	if (cq->overflowed || cq->count == cq->cap) {
		overflow = !cq->overflowed;
		cq->overflowed = true;
	} else {
		cq->ring[(cq->head + cq->count) % cq->cap] = *wc;
		cq->count++;
		if (cq->armed && cq->ibv.channel &&
		    (cq->armed == 1 || solicited || wc->status)) {
			cq->armed = 0;
			ch = cq->ibv.channel;
		}
	}
	if (ch) {
		struct sv_channel *sch = SV_container_of(ch, struct sv_channel,
							 ibv);
		struct ibv_cq *p = &cq->ibv;

		if (write(sch->wfd, &p, sizeof(p)) != sizeof(p))
			sv_log(SV_LOG_WARN, "completion channel full");
	}
	pthread_mutex_unlock(&cq->lock);
	if (overflow) {
		struct ibv_async_event ev = { .event_type = IBV_EVENT_CQ_ERR };

		sv_log(SV_LOG_WARN, "CQ %p overflow (capacity %u)", (void *)cq,
		       cq->cap);
		ev.element.cq = &cq->ibv;
		sv_async_event(cq->ctx, &ev);
	}
}

void sv_cq_reap(struct sv_cq *cq, bool wait)
{
	struct sv_qp *qp;

	if (!atomic_load_explicit(&cq->shm_reqs, memory_order_relaxed))
		return;
	/* a busy lock is a NIC thread pass, which reaps too: never wait
	 * for it on the polling path (no futex) */
	if (wait)
		sv_lock();
	else if (pthread_mutex_trylock(&sv.lock))
		return;
	for (qp = cq->sq_qps; qp; qp = qp->scq_next)
		sv_wire_reap(qp);
	pthread_mutex_unlock(&sv.lock);
}

#define SV_POLL_YIELD 256
static _Thread_local unsigned int empty_polls;

int sv_poll_cq(struct ibv_cq *ibcq, int n, struct ibv_wc *wc)
{
	struct sv_cq *cq = SV_container_of(ibcq, struct sv_cq, ibv);
	int i;

	sv_strict_touch(&cq->owner, "CQ", cq);
	if (n < 0)
		return -EINVAL;
	sv_cq_reap(cq, false);
	i = 0;
	/* acquire: pairs with the increment in sv_cq_push() */
	if (atomic_load_explicit(&cq->count, memory_order_acquire)) {
		pthread_mutex_lock(&cq->lock);
		for (; i < n && cq->count; i++) {
			wc[i] = cq->ring[cq->head];
			cq->head = (cq->head + 1) % cq->cap;
			cq->count--;
		}
		pthread_mutex_unlock(&cq->lock);
	}
	/*
	 * Let the NIC threads run on a busy machine, but not at the price of
	 * a syscall per empty poll (a NIC's CQ costs none): every
	 * SV_POLL_YIELD empty polls in a row of this thread. A woken NIC
	 * thread preempts a busy poller anyway; the yield is for a machine
	 * whose every CPU is busy.
	 */
	if (i)
		empty_polls = 0;
	else if (++empty_polls % SV_POLL_YIELD == 0)
		sched_yield();
	return i;
}

int sv_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	struct sv_cq *cq = SV_container_of(ibcq, struct sv_cq, ibv);

	sv_strict_touch(&cq->owner, "CQ", cq);
	pthread_mutex_lock(&cq->lock);
	if (cq->armed != 1)
		cq->armed = solicited_only ? 2 : 1;
	pthread_mutex_unlock(&cq->lock);
	/* acks on rings ring our doorbell from now on (the application is
	 * about to sleep), so that the NIC thread makes the completions */
	/* seq_cst after the store of armed: see conn_use_shm() */
	if (atomic_load(&cq->shm_reqs)) {
		struct sv_qp *qp;

		sv_lock();
		for (qp = cq->sq_qps; qp; qp = qp->scq_next)
			sv_wire_want_ack(qp);
		pthread_mutex_unlock(&sv.lock);
	}
	return 0;
}

/* ---- receive queues ---- */

int sv_rq_init(struct sv_rq *rq, uint32_t cap, uint32_t max_sge)
{
	memset(rq, 0, sizeof(*rq));
	if (!cap)
		return 0;
	rq->wqe = calloc(cap, sizeof(*rq->wqe));
	rq->sges = calloc((size_t)cap * (max_sge ? max_sge : 1),
			  sizeof(*rq->sges));
	if (!rq->wqe || !rq->sges) {
		free(rq->wqe);
		free(rq->sges);
		return -ENOMEM;
	}
	rq->cap = cap;
	rq->max_sge = max_sge;
	pthread_mutex_init(&rq->lock, NULL);
	return 0;
}

void sv_rq_fini(struct sv_rq *rq)
{
	if (!rq->cap)
		return;
	pthread_mutex_destroy(&rq->lock);
	free(rq->wqe);
	free(rq->sges);
}

int sv_rq_post(struct sv_rq *rq, struct ibv_recv_wr *wr,
	       struct ibv_recv_wr **bad, bool *was_empty)
{
	int ret = 0;

	pthread_mutex_lock(&rq->lock);
	*was_empty = !rq->count;
	for (; wr; wr = wr->next) {
		uint32_t slot;
		struct sv_rwqe *w;

		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > rq->max_sge) {
			ret = EINVAL;
			break;
		}
		if (rq->count == rq->cap) {
			ret = ENOMEM;
			break;
		}
		slot = (rq->head + rq->count) % rq->cap;
		w = &rq->wqe[slot];
		w->wr_id = wr->wr_id;
		w->num_sge = (uint32_t)wr->num_sge;
		w->sge = &rq->sges[(size_t)slot * rq->max_sge];
		if (wr->num_sge)
			memcpy(w->sge, wr->sg_list,
			       (size_t)wr->num_sge * sizeof(*w->sge));
		rq->count++;
	}
	pthread_mutex_unlock(&rq->lock);
	if (ret && bad)
		*bad = wr;
	return ret;
}

/* Pop the oldest receive into @out, its SGEs copied into @sges. */
bool sv_rq_take(struct sv_rq *rq, struct sv_rwqe *out, struct ibv_sge *sges)
{
	struct sv_rwqe *w;

	if (!rq->cap)
		return false;
	pthread_mutex_lock(&rq->lock);
	if (!rq->count) {
		pthread_mutex_unlock(&rq->lock);
		return false;
	}
	w = &rq->wqe[rq->head];
	*out = *w;
	if (w->num_sge)
		memcpy(sges, w->sge, w->num_sge * sizeof(*sges));
	out->sge = sges;
	rq->head = (rq->head + 1) % rq->cap;
	rq->count--;
	pthread_mutex_unlock(&rq->lock);
	return true;
}

/* ---- SRQ ---- */

struct ibv_srq *ibv_create_srq(struct ibv_pd *pd,
			       struct ibv_srq_init_attr *init)
{
	struct sv_srq *srq;

	if (!init->attr.max_wr || init->attr.max_wr > SV_MAX_QP_WR ||
	    init->attr.max_sge > SV_MAX_SGE) {
		errno = EINVAL;
		return NULL;
	}
	srq = calloc(1, sizeof(*srq));
	if (!srq || sv_rq_init(&srq->rq, init->attr.max_wr,
			       init->attr.max_sge ? init->attr.max_sge : 1)) {
		free(srq);
		errno = ENOMEM;
		return NULL;
	}
	srq->rq.limit = init->attr.srq_limit;
	srq->ctx = sv_ctx(pd->context);
	srq->ibv.context = pd->context;
	srq->ibv.srq_context = init->srq_context;
	srq->ibv.pd = pd;
	pthread_mutex_init(&srq->ibv.mutex, NULL);
	pthread_cond_init(&srq->ibv.cond, NULL);
	init->attr.max_sge = srq->rq.max_sge;
	sv_strict_touch(&srq->owner, "SRQ", srq);
	return &srq->ibv;
}

int ibv_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		   int mask)
{
	struct sv_srq *srq = SV_container_of(ibsrq, struct sv_srq, ibv);

	sv_strict_touch(&srq->owner, "SRQ", srq);
	if (mask & ~(IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT))
		return EINVAL;
	if ((mask & IBV_SRQ_MAX_WR) && attr->max_wr > srq->rq.cap)
		return EINVAL;
	if (mask & IBV_SRQ_LIMIT) {
		if (attr->srq_limit > srq->rq.cap)
			return EINVAL;
		pthread_mutex_lock(&srq->rq.lock);
		srq->rq.limit = attr->srq_limit;
		pthread_mutex_unlock(&srq->rq.lock);
	}
	return 0;
}

int ibv_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct sv_srq *srq = SV_container_of(ibsrq, struct sv_srq, ibv);

	sv_strict_touch(&srq->owner, "SRQ", srq);
	pthread_mutex_lock(&srq->rq.lock);
	attr->max_wr = srq->rq.cap;
	attr->max_sge = srq->rq.max_sge;
	attr->srq_limit = srq->rq.limit;
	pthread_mutex_unlock(&srq->rq.lock);
	return 0;
}

int ibv_destroy_srq(struct ibv_srq *ibsrq)
{
	struct sv_srq *srq = SV_container_of(ibsrq, struct sv_srq, ibv);
	struct sv_qp *qp;

	sv_strict_touch(&srq->owner, "SRQ", srq);
	sv_lock();
	for (qp = sv.qps; qp; qp = qp->next) {
		if (qp->srq == srq) {
			pthread_mutex_unlock(&sv.lock);
			return EBUSY;
		}
	}
	pthread_mutex_unlock(&sv.lock);
	sv_async_quiesce(srq->ctx, &(struct ibv_async_event){
		.element.srq = ibsrq, .event_type = IBV_EVENT_SRQ_ERR });
	sv_rq_fini(&srq->rq);
	pthread_mutex_destroy(&ibsrq->mutex);
	pthread_cond_destroy(&ibsrq->cond);
	free(srq);
	return 0;
}

int sv_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		     struct ibv_recv_wr **bad)
{
	struct sv_srq *srq = SV_container_of(ibsrq, struct sv_srq, ibv);
	bool was_empty;
	int ret;

	sv_strict_touch(&srq->owner, "SRQ", srq);
	ret = sv_rq_post(&srq->rq, wr, bad, &was_empty);
	if (was_empty)
		sv_kick(); /* see sv_post_recv() */
	return ret;
}

/* After a receive was taken from the SRQ: fire the limit event once. */
void sv_srq_check_limit(struct sv_srq *srq)
{
	struct ibv_async_event ev = { .event_type = IBV_EVENT_SRQ_LIMIT_REACHED };
	bool fire = false;

	pthread_mutex_lock(&srq->rq.lock);
	if (srq->rq.limit && srq->rq.count < srq->rq.limit) {
		srq->rq.limit = 0;
		fire = true;
	}
	pthread_mutex_unlock(&srq->rq.lock);
	if (fire) {
		ev.element.srq = &srq->ibv;
		sv_async_event(srq->ctx, &ev);
	}
}

/* ---- address handles (RC needs none; kept for completeness) ---- */

struct ibv_ah *ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct ibv_ah *ah;

	(void)attr;
	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}
	ah->context = pd->context;
	ah->pd = pd;
	return ah;
}

int ibv_destroy_ah(struct ibv_ah *ah)
{
	free(ah);
	return 0;
}
