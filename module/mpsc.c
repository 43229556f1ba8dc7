/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: lock-free multi-producer queue with an eventfd wakeup. */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mpsc.h"

int rdm_mpsc_init(struct rdm_mpsc *q)
{
	atomic_init(&q->head, NULL);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return q->efd < 0 ? -errno : 0;
}

void rdm_mpsc_destroy(struct rdm_mpsc *q)
{
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
}

/* Push n; true when the queue was empty. */
static bool push(struct rdm_mpsc *q, struct rdm_mpsc_node *n)
{
	struct rdm_mpsc_node *old =
	    atomic_load_explicit(&q->head, memory_order_relaxed);

	do {
		n->next = old;
		/* release: publishes *n; pairs with the acquire exchange in
		 * rdm_mpsc_take */
	} while (!atomic_compare_exchange_weak_explicit(
	    &q->head, &old, n, memory_order_release, memory_order_relaxed));
	return !old;
}

bool rdm_mpsc_push_quiet(struct rdm_mpsc *q, struct rdm_mpsc_node *n)
{
	return push(q, n);
}

void rdm_mpsc_wake(struct rdm_mpsc *q)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero, which is as good */
	while (write(q->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void rdm_mpsc_push(struct rdm_mpsc *q, struct rdm_mpsc_node *n)
{
	/* empty -> non-empty: one wakeup per batch */
	if (push(q, n))
		rdm_mpsc_wake(q);
}

struct rdm_mpsc_node *rdm_mpsc_drain(struct rdm_mpsc *q)
{
	uint64_t cnt;

	/* clear the wakeup first: a push after this point wakes us again */
	while (read(q->efd, &cnt, sizeof(cnt)) < 0 && errno == EINTR)
		;
	return rdm_mpsc_take(q);
}

struct rdm_mpsc_node *rdm_mpsc_take(struct rdm_mpsc *q)
{
	struct rdm_mpsc_node *n, *next, *fifo = NULL;

	/* acquire: pairs with the release CAS in push */
	n = atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
	for (; n; n = next) {
		next = n->next;
		n->next = fifo;
		fifo = n;
	}
	return fifo;
}

int rdm_mpsc_fd(const struct rdm_mpsc *q)
{
	return q->efd;
}
