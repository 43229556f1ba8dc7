// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring examples: what every example needs (engine start, a done flag). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with -std=c11 too */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "example.h"

struct rring_engine *ex_engine_start(const char *prog,
				     const struct ex_param *params, size_t n,
				     const struct rring_handlers *handlers)
{
	struct rring_params p;
	struct rring_engine *e;
	char err[256];
	size_t i;
	int ret;

	rring_params_init(&p);
	for (i = 0; i < n; i++) {
		/* The message names the key, the value and what is allowed. */
		if (rring_params_set(&p, params[i].key, params[i].value, err,
				     sizeof(err))) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return NULL;
		}
	}
	e = rring_engine_create(&p, handlers);
	if (!e) {
		fprintf(stderr, "%s: rring_engine_create: %s\n", prog,
			strerror(errno));
		return NULL;
	}
	/* Starts the poller (the only thread that calls verbs) and the IO
	 * threads, unless io-threads-external is set. */
	ret = rring_engine_start(e);
	if (ret) {
		fprintf(stderr, "%s: rring_engine_start: %s\n", prog,
			strerror(-ret));
		rring_engine_destroy(e);
		return NULL;
	}
	return e;
}

void ex_log(int level, const char *msg, void *arg)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};

	if (level < 0 || level > 2)
		return; /* debug lines are not interesting here */
	fprintf(stderr, "%s: engine %s: %s\n", (const char *)arg,
		names[level], msg);
}

void ex_done_init(struct ex_done *d)
{
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->set = 0;
	d->status = 0;
}

void ex_done_set(struct ex_done *d, int status)
{
	pthread_mutex_lock(&d->lock);
	if (!d->set) {
		d->set = 1;
		d->status = status;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

int ex_done_wait(struct ex_done *d, int seconds)
{
	struct timespec deadline;
	int ret;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&d->lock);
	while (!d->set)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	ret = d->set ? d->status : -ETIMEDOUT;
	pthread_mutex_unlock(&d->lock);
	return ret;
}
