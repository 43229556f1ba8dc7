// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the seed scenario, reduced for CI, over the wire layer. */
#include <stdio.h>

#include <criterion/criterion.h>

#include "rdmaring.h"
#include "xfer_pair.h"
#include "test_support.h"

/*
 * Two engines with 8 IO threads each over softverbs with added latency
 * (SOFTVERBS_DELAY_US, set by CMake), 16 connections (two per IO thread),
 * 10 MB messages through 64 KiB and 1 MiB windows, a few percent of the
 * receiver's RECV events slowed down at random; every byte checked, every
 * send acknowledged, a bounded deadline, then the idle engines use (almost)
 * no CPU.
 */

#ifdef TS_SANITIZED
#define MSG_SIZE (1u << 20)
#define MSGS 16
#else
#define MSG_SIZE (10u << 20)
#define MSGS 32
#endif

static void seed(uint32_t window)
{
	const struct xp_opts o = {
	    .io_threads = 8,
	    .conns = 16,
	    .poll_idle_us = -1,
	    .size = MSG_SIZE,
	    .rx_size = window,
	    .count = MSGS,
	    .verify = 1,
	    .slow_pct = 3,
	    .timeout_ms = 90000,
	    .idle_ms = 500,
	};
	struct xp_result r;
	int ret;

	ret = xp_run(&o, &r);
	fprintf(stderr,
		"seed window %u: %llu/%d messages in %.2f s (%.0f MB/s), "
		"idle CPU %.3f\n",
		window, (unsigned long long)r.messages, MSGS, r.secs,
		(double)r.bytes / r.secs / 1e6, r.idle_cpu);
	cr_assert_eq(ret, 0, "xp_run: %d %s", ret, r.first_error);
	cr_assert_eq(r.messages, MSGS);
	cr_assert_eq(r.verified, MSGS);
	cr_assert_eq(r.corrupt, 0);
	cr_assert_eq(r.send_done, MSGS);
	cr_assert_eq(r.send_failed, 0);
	cr_assert_eq(r.bytes, (uint64_t)MSGS * MSG_SIZE);
	/* 16 engine threads, 2 pollers and softverbs asleep: a few percent
	 * of one core at most (keepalive ticks, softverbs housekeeping). */
	cr_assert_lt(r.idle_cpu, 0.05, "idle CPU %.3f", r.idle_cpu);
}

/* Completion rings of 4 entries: the poller parks completions on its
 * overflow lists and the stream still arrives intact and in order. */
Test(xfer_stress, tiny_rings_overflow, .timeout = 120)
{
	const struct xp_opts o = {
	    .io_threads = 1,
	    .conns = 8,
	    .poll_idle_us = -1,
	    .ring_entries = 4,
	    .size = 1u << 20,
	    .rx_size = 1u << 20,
	    .count = 32,
	    .verify = 1,
	    .timeout_ms = 60000,
	};
	struct xp_result r;
	int ret;

	ret = xp_run(&o, &r);
	cr_assert_eq(ret, 0, "xp_run: %d %s", ret, r.first_error);
	cr_assert_eq(r.verified, 32);
	cr_assert_eq(r.send_done, 32);
	cr_assert_gt(r.overflow, 0, "rings never overflowed");
}

Test(xfer_stress, seed_64k, .timeout = 180)
{
	seed(64u << 10);
}

Test(xfer_stress, seed_1m, .timeout = 180)
{
	seed(1u << 20);
}
