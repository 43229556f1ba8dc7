/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: multi-producer queue with eventfd wakeup (module/mpsc.c). */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mpsc.h"
#include "test_support.h"

#ifdef TS_SANITIZED
#define ITEMS 20000
#else
#define ITEMS 200000
#endif
#define PRODUCERS 4

struct item {
	struct rdm_mpsc_node node; /* first: node and item share an address */
	int producer;
	int seq;
};

static struct rdm_mpsc q;
static struct item *items[PRODUCERS];

static void *producer(void *arg)
{
	int p = (int)(long)arg, i;

	for (i = 0; i < ITEMS; i++) {
		items[p][i].producer = p;
		items[p][i].seq = i;
		rdm_mpsc_push(&q, &items[p][i].node);
	}
	return NULL;
}

Test(mpsc, order_per_producer_and_no_lost_wakeup, .timeout = 60)
{
	int next[PRODUCERS] = {0}, total = 0, p;
	pthread_t th[PRODUCERS];
	struct pollfd pfd;
	time_t deadline = time(NULL) + 50;

	cr_assert_eq(rdm_mpsc_init(&q), 0);
	for (p = 0; p < PRODUCERS; p++) {
		items[p] = calloc(ITEMS, sizeof(struct item));
		cr_assert_not_null(items[p]);
		cr_assert_eq(
		    pthread_create(&th[p], NULL, producer, (void *)(long)p), 0);
	}
	pfd.fd = rdm_mpsc_fd(&q);
	pfd.events = POLLIN;
	/* only sleep in poll: every item must come with a wakeup */
	while (total < PRODUCERS * ITEMS) {
		struct rdm_mpsc_node *n;

		cr_assert_lt(time(NULL), deadline, "lost wakeup: %d", total);
		if (poll(&pfd, 1, 1000) == 0)
			continue;
		for (n = rdm_mpsc_drain(&q); n; n = n->next) {
			struct item *it = (struct item *)n;

			cr_assert_eq(it->seq, next[it->producer]);
			next[it->producer]++;
			total++;
		}
	}
	for (p = 0; p < PRODUCERS; p++) {
		pthread_join(th[p], NULL);
		cr_assert_eq(next[p], ITEMS);
		free(items[p]);
	}
	cr_assert_null(rdm_mpsc_drain(&q));
	rdm_mpsc_destroy(&q);
}

Test(mpsc, wakeup_only_on_empty_to_nonempty)
{
	struct rdm_mpsc_node a, b;
	struct pollfd pfd;

	cr_assert_eq(rdm_mpsc_init(&q), 0);
	pfd.fd = rdm_mpsc_fd(&q);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 0), 0);
	rdm_mpsc_push(&q, &a);
	rdm_mpsc_push(&q, &b);
	cr_assert_eq(poll(&pfd, 1, 0), 1);
	cr_assert_eq(rdm_mpsc_drain(&q), &a);
	cr_assert_eq(a.next, &b);
	cr_assert_null(b.next);
	cr_assert_eq(poll(&pfd, 1, 0), 0);
	cr_assert_null(rdm_mpsc_drain(&q));
	rdm_mpsc_destroy(&q);
}

Test(mpsc, quiet_push_tells_empty_and_wake_later)
{
	struct rdm_mpsc_node a, b;
	struct pollfd pfd;

	cr_assert_eq(rdm_mpsc_init(&q), 0);
	pfd.fd = rdm_mpsc_fd(&q);
	pfd.events = POLLIN;
	cr_assert(rdm_mpsc_push_quiet(&q, &a), "push onto empty: true");
	cr_assert_not(rdm_mpsc_push_quiet(&q, &b), "second push: false");
	cr_assert_eq(poll(&pfd, 1, 0), 0, "a quiet push does not wake");
	rdm_mpsc_wake(&q);
	cr_assert_eq(poll(&pfd, 1, 0), 1);
	cr_assert_eq(rdm_mpsc_drain(&q), &a);
	cr_assert_eq(a.next, &b);
	cr_assert_null(b.next);
	cr_assert_eq(poll(&pfd, 1, 0), 0);
	rdm_mpsc_destroy(&q);
}
