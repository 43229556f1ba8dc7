// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: several application threads on one context (as rping does): posting, polling, events. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "svt.h"

#define WINDOW 64

static struct svt_side a, b;
static int iters;
static _Atomic int sent_done, recv_done, errors;

/* Receiver: event-driven like rping's cq_thread: wait on the channel, poll, repost. */
static void *receiver(void *arg)
{
	uint32_t expect = 0;

	(void)arg;
	while (atomic_load(&recv_done) < iters) {
		struct ibv_cq *cq;
		struct ibv_wc wc[16];
		void *ctx;
		int n, k;

		if (ibv_get_cq_event(b.ch, &cq, &ctx)) {
			atomic_fetch_add(&errors, 1);
			return NULL;
		}
		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0))
			atomic_fetch_add(&errors, 1);
		while ((n = ibv_poll_cq(cq, 16, wc)) > 0) {
			for (k = 0; k < n; k++) {
				uint32_t v;
				size_t slot = wc[k].wr_id % (2 * WINDOW);

				memcpy(&v, b.buf + slot * 64, 4);
				if (wc[k].status || v != expect) {
					cr_log_error("recv %lu status %d v %u expect %u",
						     (unsigned long)wc[k].wr_id,
						     wc[k].status, v, expect);
					atomic_fetch_add(&errors, 1);
				}
				expect++;
				slot = (wc[k].wr_id + WINDOW) % (2 * WINDOW);
				if (svt_post_recv(&b, slot * 64, 64,
						  wc[k].wr_id + WINDOW))
					atomic_fetch_add(&errors, 1);
				atomic_fetch_add(&recv_done, 1);
			}
		}
	}
	return NULL;
}

/* Send completions reaped by a thread of their own. */
static void *reaper(void *arg)
{
	struct ibv_wc wc[16];

	(void)arg;
	while (atomic_load(&sent_done) < iters) {
		int n = ibv_poll_cq(a.scq, 16, wc), k;

		for (k = 0; k < n; k++)
			if (wc[k].status)
				atomic_fetch_add(&errors, 1);
		atomic_fetch_add(&sent_done, n);
	}
	return NULL;
}

Test(sv_threads, poster_reaper_and_event_receiver_on_one_context, .timeout = 240)
{
	struct svt_opts o;
	pthread_t r, p;
	int i;

	iters = 20000 / SVT_SCALE / (SVT_SCALE > 1 ? 4 : 1);
	svt_opts_init(&o);
	o.channel = true;
	o.max_wr = 4 * WINDOW;
	svt_pair(&a, &b, &o);
	for (i = 0; i < WINDOW; i++)
		cr_assert_eq(svt_post_recv(&b, (size_t)i * 64, 64, (uint64_t)i), 0);
	cr_assert_eq(ibv_req_notify_cq(b.rcq, 0), 0);
	cr_assert_eq(pthread_create(&r, NULL, receiver, NULL), 0);
	cr_assert_eq(pthread_create(&p, NULL, reaper, NULL), 0);
	for (i = 0; i < iters; i++) {
		size_t slot = (size_t)i % (2 * WINDOW);
		int ret;

		/* stay within the receiver's window (rnr_retry 7 would wait anyway) */
		while (i - atomic_load(&recv_done) >= WINDOW ||
		       i - atomic_load(&sent_done) >= 2 * WINDOW)
			;
		memcpy(a.buf + slot * 64, &i, 4);
		ret = svt_post(&a, IBV_WR_SEND, slot * 64, 64, 0, 0, 0,
			       IBV_SEND_SIGNALED, (uint64_t)i);
		cr_assert_eq(ret, 0, "post_send %d", ret);
	}
	cr_assert_eq(pthread_join(p, NULL), 0);
	cr_assert_eq(pthread_join(r, NULL), 0);
	cr_assert_eq(atomic_load(&errors), 0);
	cr_assert_eq(atomic_load(&recv_done), iters);
	svt_close(&a);
	svt_close(&b);
}
