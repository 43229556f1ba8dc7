/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: lock-free multi-producer queue with an eventfd wakeup. */
#ifndef RDM_MPSC_H
#define RDM_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * Carries jobs between the module's threads: IO threads -> main thread
 * (commands to run) and main thread -> an IO thread (replies to send).
 * Producers push onto a lock-free stack (one CAS); the single consumer
 * takes the whole stack with one exchange and reverses it, so it sees each
 * producer's items in push order. A push onto an empty queue writes the
 * eventfd once; the consumer clears the eventfd before it drains, so a
 * wakeup is never lost (at worst one is spurious). The consumer registers
 * rdm_mpsc_fd with its event loop (RedisModule_EventLoopAdd, epoll).
 *
 *   push  || push     any producers, concurrently
 *   push  || drain    yes
 *   drain || drain    no: one consumer
 */

struct rdm_mpsc_node {
	struct rdm_mpsc_node *next;
};

struct rdm_mpsc {
	_Atomic(struct rdm_mpsc_node *) head;
	int efd;
};

/* rdm_mpsc_init - empty queue with its eventfd. 0 or -errno. */
int rdm_mpsc_init(struct rdm_mpsc *q);
/* rdm_mpsc_destroy - close the eventfd (the queue must be empty). */
void rdm_mpsc_destroy(struct rdm_mpsc *q);
/* rdm_mpsc_push - any thread; wakes the consumer if the queue was empty. */
void rdm_mpsc_push(struct rdm_mpsc *q, struct rdm_mpsc_node *n);
/* rdm_mpsc_push_quiet - any thread; never wakes the consumer: for a queue
 * the consumer takes from when something else woke it, or a producer that
 * calls rdm_mpsc_wake later when this returns true (the queue was empty). */
bool rdm_mpsc_push_quiet(struct rdm_mpsc *q, struct rdm_mpsc_node *n);
/* rdm_mpsc_wake - any thread; wake the consumer (a push_quiet done). */
void rdm_mpsc_wake(struct rdm_mpsc *q);
/* rdm_mpsc_drain - consumer: every queued node in push order (linked by
 * next, NULL-terminated), or NULL. Clears the eventfd first. */
struct rdm_mpsc_node *rdm_mpsc_drain(struct rdm_mpsc *q);
/* rdm_mpsc_take - rdm_mpsc_drain without touching the eventfd. */
struct rdm_mpsc_node *rdm_mpsc_take(struct rdm_mpsc *q);
/* rdm_mpsc_fd - readable when nodes may be queued. */
int rdm_mpsc_fd(const struct rdm_mpsc *q);

#endif /* RDM_MPSC_H */
