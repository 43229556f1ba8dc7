// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: application-driven IO threads that sleep at random points. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo_util.h"
#include "engine.h"
#include "test_support.h"

/*
 * Both engines run with io-threads-external=1: the test's own threads
 * drive each IO thread with rring_io_fd + rring_io_process, process small
 * random batches and sleep (poll on the fd, or a short nap) at random
 * points. A poll that times out while the completion ring holds entries is
 * a lost wakeup and fails the test; every echo is checked as usual.
 */

#ifdef TS_SANITIZED
#define MSGS 10
#else
#define MSGS 300
#endif
#define NCONN 30
#define DEADLINE_MS 60000

struct driver {
	struct rring_io *io;
	struct echo_counters *cnt;
	unsigned int seed;
	pthread_t th;
};

static void nap(unsigned int *seed)
{
	struct timespec ts = {0, (long)(rand_r(seed) % 300) * 1000};

	nanosleep(&ts, NULL); /* a slow consumer, not synchronisation */
}

static void *driver_main(void *arg)
{
	struct driver *d = arg;
	struct pollfd pfd = {.fd = rring_io_fd(d->io), .events = POLLIN};
	int n;

	for (;;) {
		n = rring_io_process(d->io,
				     1 + (unsigned)rand_r(&d->seed) % 16);
		if (n == -ESHUTDOWN)
			break;
		if (rand_r(&d->seed) % 8 == 0)
			nap(&d->seed);
		if (n > 0)
			continue;
		if (poll(&pfd, 1, 3000) == 0 && rring_spsc_count(d->io->cq))
			echo_fail(d->cnt, "io %u: lost wakeup (%u entries)",
				  rring_io_index(d->io),
				  rring_spsc_count(d->io->cq));
	}
	return NULL;
}

static struct rring_engine *
engine(unsigned int nio,
       void (*fn)(struct rring_io *, const struct rring_event *, void *),
       void *arg, struct driver *drv, struct echo_counters *cnt,
       unsigned int seed)
{
	struct rring_params p;
	struct rring_handlers h = {.event = fn, .arg = arg};
	struct rring_engine *e;
	unsigned int i;

	echo_params(&p, nio);
	p.io_external = 1;
	p.poll_idle_us = 0; /* sleep as soon as idle: most wakeups */
	p.ring_entries = 8; /* and overflow often */
	e = rring_engine_create(&p, &h);
	cr_assert(e);
	cr_assert_eq(rring_engine_start(e), 0);
	for (i = 0; i < nio; i++) {
		drv[i].io = rring_engine_io(e, i);
		drv[i].cnt = cnt;
		drv[i].seed = seed + i;
		cr_assert_eq(
		    pthread_create(&drv[i].th, NULL, driver_main, &drv[i]), 0);
	}
	return e;
}

static void stop(struct rring_engine *e, struct driver *drv, unsigned int n)
{
	unsigned int i;

	/* Drivers keep processing during stop (closes need their acks). */
	cr_assert_eq(rring_engine_stop(e), 0);
	for (i = 0; i < n; i++)
		pthread_join(drv[i].th, NULL);
	rring_engine_destroy(e);
}

Test(wakeup, external_drivers_sleeping_at_random_points, .timeout = 120)
{
	static struct echo_counters cnt;
	static struct echo_server srv;
	static struct echo_client cl[NCONN];
	struct driver sd[2], cd[3];
	struct rring_engine *se, *ce;
	struct rring_stats st;
	int port, i, done;

	echo_server_init(&srv, &cnt, -1);
	se = engine(2, echo_server_event, &srv, sd, &cnt, 100);
	port = rring_listen(se, "127.0.0.1", 0, &srv);
	cr_assert_gt(port, 0);
	ce = engine(3, echo_client_event, NULL, cd, &cnt, 200);
	for (i = 0; i < NCONN; i++) {
		echo_client_init(&cl[i], &cnt, i, MSGS, -1);
		cr_assert_eq(rring_connect(ce, "127.0.0.1", (uint16_t)port,
					   &cl[i], NULL),
			     0);
	}
	done = echo_wait(&cnt, &cnt.done, NCONN, DEADLINE_MS);
	cr_assert_eq(atomic_load(&cnt.errors), 0, "%s", cnt.first_error);
	cr_assert_eq(done, NCONN, "%d of %d finished", done, NCONN);
	cr_assert_eq(rring_engine_stats(se, &st), 0);
	cr_assert_gt(st.io[0].wakeups + st.io[1].wakeups, 0);
	cr_assert_gt(st.poller.sleeps, 0);
	stop(ce, cd, 3);
	stop(se, sd, 2);
	cr_assert_eq(atomic_load(&cnt.errors), 0, "%s", cnt.first_error);
	cr_assert_eq(atomic_load(&cnt.closed), 2 * NCONN);
	echo_server_free(&srv);
}
