// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the wire layer under injected QP errors. */
#include <stdio.h>

#include <criterion/criterion.h>

#include "rdmaring.h"
#include "xfer_pair.h"

/*
 * SOFTVERBS_QP_ERROR_AFTER (set by CMake) forces every QP to the error state
 * after a number of messages, in the middle of 1 MiB transfers through 64 KiB
 * windows. Every send is reported exactly once (SEND_DONE, in order, never a
 * success after a failure), nothing after CLOSED, every received byte is
 * right, and no sender is told a message was delivered that its receiver
 * did not check completely.
 */

Test(xfer_fault, qp_errors_mid_transfer, .timeout = 120)
{
	const struct xp_opts o = {
	    .io_threads = 2,
	    .conns = 8,
	    .poll_idle_us = -1,
	    .size = 1u << 20,
	    .rx_size = 64u << 10,
	    .count = 256,
	    .verify = 1,
	    .timeout_ms = 60000,
	    .faults = 1,
	};
	struct xp_result r;
	int ret;

	ret = xp_run(&o, &r);
	fprintf(stderr,
		"fault: %llu messages received, %llu sends ok, "
		"%llu failed\n",
		(unsigned long long)r.messages, (unsigned long long)r.send_done,
		(unsigned long long)r.send_failed);
	cr_assert_eq(ret, 0, "xp_run: %d %s", ret, r.first_error);
	cr_assert_eq(r.corrupt, 0);
	cr_assert_gt(r.send_failed, 0, "no fault was injected");
	cr_assert_leq(r.send_done, r.messages);
}
