// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring examples: what every example needs (engine start, a done flag). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with -std=c11 too */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

struct rring_engine *ex_engine_start(const char *prog,
				     const struct ex_param *params, size_t n,
				     ex_event_fn *event)
{
	/* The handlers are copied by rring_engine_create. */
	struct rring_handlers h = {.event = event, .log = ex_log,
				   .arg = (void *)(uintptr_t)prog};
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
	e = rring_engine_create(&p, &h);
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

int ex_listen(const char *prog, struct rring_engine *e, uint16_t port)
{
	/* Blocks until the poller has bound the port. */
	int ret = rring_listen(e, "127.0.0.1", port, NULL);

	if (ret < 0) {
		fprintf(stderr, "%s: listen on port %u: %s\n", prog, port,
			strerror(-ret));
		return ret;
	}
	printf("%s: listening on port %d\n", prog, ret);
	fflush(stdout);
	return ret;
}

int ex_arg(const char *prog, const char *what, const char *s, uint64_t min,
	   uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *out < min ||
	    *out > max) {
		fprintf(stderr,
			"%s: %s '%s': allowed an integer from %" PRIu64
			" to %" PRIu64 "\n",
			prog, what, s, min, max);
		return -EINVAL;
	}
	return 0;
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
