/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: two engines over the wire layer moving checked messages. */
#ifndef RRING_TEST_XFER_PAIR_H
#define RRING_TEST_XFER_PAIR_H

#include <stdint.h>

/*
 * A server engine and a client engine ("wire" 1) in one process over
 * softverbs. Each client connection sends its share of count messages of
 * size bytes, from XP_BUFS registered buffers sent in place (zero copy;
 * sizes <= RRING_XFER_COPY_MAX are copied); word 0 of a message is
 * (connection << 40 | message number), every other 8-byte word a pattern of
 * (connection, buffer, word). The server checks every byte as it arrives in
 * its receive buffer and consumes it (slow_pct percent of RECV events sleep
 * 200..1200 us first: a slow consumer). Used by test_xfer_stress and
 * rring-bench-transfer.
 */

#define XP_BUFS 4 /* messages in flight per connection */

struct xp_opts {
	unsigned int io_threads; /* per engine */
	unsigned int conns;
	uint32_t size;	  /* bytes per message, >= 8 */
	uint32_t rx_size; /* receive window */
	uint64_t count;	  /* messages, all connections */
	int verify;	  /* check every byte */
	unsigned int slow_pct;
	unsigned int timeout_ms;
	int progress;	      /* report on stderr every second */
	unsigned int idle_ms; /* after the run, measure idle CPU this long */
	int poll_idle_us;     /* engines' "poll-idle-us"; < 0: default */
	int faults; /* connections may die (fault injection): stop when every
		     * sender is done or closed */
	uint32_t ring_entries; /* engines' "ring-entries"; 0: default */
};

struct xp_result {
	uint64_t messages; /* received completely */
	uint64_t verified; /* ... and every byte matched */
	uint64_t corrupt;  /* messages with a wrong byte or header */
	uint64_t bytes;	   /* payload bytes received */
	uint64_t send_done, send_failed;
	double secs; /* first byte received to last message (deadline: all) */
	double idle_cpu;   /* CPU share (1.0 = one core) while idle after */
	uint64_t overflow; /* completions that waited on overflow (both) */
	int err;	   /* 0, -ETIMEDOUT, or a setup error */
	char first_error[200];
};

int xp_run(const struct xp_opts *o, struct xp_result *r);

/* CPU seconds (user + system) this process has used. */
double xp_cpu_seconds(void);

#endif /* RRING_TEST_XFER_PAIR_H */
