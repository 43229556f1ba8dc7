// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: the cm progress thread, an epoll loop over the cm sockets. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pthread_setname_np */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cm_internal.h"

/*
 * Callbacks run on the progress thread with the dispatch lock held, so once
 * cm_unwatch() has taken that lock no callback for the fd is running, and the
 * generation stored in the epoll data keeps a stale event from reaching a
 * later watcher of a reused fd number. Callbacks may call cm_watch() and
 * cm_unwatch() themselves (the lock is not taken again on this thread).
 */

struct watch {
	uint32_t gen; /* matches the epoll data of live registrations */
	bool on;
	cm_watch_fn fn;
	void *arg;
};

static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watch *watches; /* indexed by fd */
static int nwatches;
static uint32_t next_gen = 1;
static int epfd = -1;
static bool thread_started;
static bool atfork_done;
static _Thread_local bool in_dispatch;

static void dispatch_one(const struct epoll_event *e)
{
	int fd = (int)(e->data.u64 & 0xffffffffu);
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	struct watch *w;

	pthread_mutex_lock(&dispatch_lock);
	w = fd < nwatches ? &watches[fd] : NULL;
	if (w && w->on && w->gen == gen)
		w->fn(w->arg, e->events);
	pthread_mutex_unlock(&dispatch_lock);
}

static void *progress_main(void *arg)
{
	struct epoll_event evs[32];
	int ep = (int)(intptr_t)arg;
	int i, n;

	in_dispatch = true;
	for (;;) {
		n = epoll_wait(ep, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sv_log(SV_LOG_ERR, "cm: epoll_wait: %s",
			       strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++)
			dispatch_one(&evs[i]);
	}
	return NULL;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&dispatch_lock);
	pthread_mutex_lock(&cm_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&cm_lock);
	pthread_mutex_unlock(&dispatch_lock);
}

/* The child has no progress thread and must not read inherited sockets. */
static void atfork_child(void)
{
	pthread_mutex_init(&cm_lock, NULL);
	pthread_cond_init(&cm_cond, NULL);
	pthread_mutex_init(&dispatch_lock, NULL);
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
	thread_started = false;
	if (watches)
		memset(watches, 0, sizeof(*watches) * (size_t)nwatches);
}

static int start_thread(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!atfork_done) {
		ret = pthread_atfork(atfork_prepare, atfork_parent,
				     atfork_child);
		if (ret)
			return -ret;
		atfork_done = true;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	ret = -sv_thread_attr_init(&attr);
	if (!ret) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = pthread_create(&t, &attr, progress_main,
				     (void *)(intptr_t)epfd);
		pthread_attr_destroy(&attr);
	}
	if (ret) {
		close(epfd);
		epfd = -1;
		return -ret;
	}
	pthread_setname_np(t, "softverbs-cm");
	thread_started = true;
	return 0;
}

static int grow(int fd)
{
	struct watch *w;
	int n = nwatches ? nwatches : 64;

	while (n <= fd)
		n *= 2;
	w = realloc(watches, sizeof(*w) * (size_t)n);
	if (!w)
		return -ENOMEM;
	memset(w + nwatches, 0, sizeof(*w) * (size_t)(n - nwatches));
	watches = w;
	nwatches = n;
	return 0;
}

static int watch_locked(int fd, cm_watch_fn fn, void *arg)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP };
	uint32_t gen;
	int ret;

	if (!thread_started) {
		ret = start_thread();
		if (ret)
			return ret;
	}
	if (fd >= nwatches) {
		ret = grow(fd);
		if (ret)
			return ret;
	}
	gen = next_gen++;
	e.data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd;
	watches[fd] = (struct watch){ .gen = gen, .on = true, .fn = fn,
				      .arg = arg };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e)) {
		ret = -errno;
		watches[fd].on = false;
		return ret;
	}
	return 0;
}

int cm_watch(int fd, cm_watch_fn fn, void *arg)
{
	int ret;

	if (in_dispatch)
		return watch_locked(fd, fn, arg);
	pthread_mutex_lock(&dispatch_lock);
	ret = watch_locked(fd, fn, arg);
	pthread_mutex_unlock(&dispatch_lock);
	return ret;
}

static void unwatch_locked(int fd)
{
	if (fd < 0 || fd >= nwatches || !watches[fd].on)
		return;
	watches[fd].on = false;
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

void cm_unwatch(int fd)
{
	if (in_dispatch) {
		unwatch_locked(fd);
		return;
	}
	pthread_mutex_lock(&dispatch_lock);
	unwatch_locked(fd);
	pthread_mutex_unlock(&dispatch_lock);
}
