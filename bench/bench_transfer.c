// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: rring-bench-transfer: wire-layer bandwidth against memcpy. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "rdmaring.h"
#include "xfer_pair.h"

#define PROG "rring-bench-transfer"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"Large messages over the Valkey wire layer between two "
		"engines in one process\n(softverbs), against a "
		"single-thread memcpy of the same sizes.\n\n"
		"  --io-threads N     IO threads of each engine (1..%u, "
		"default 1)\n"
		"  --connections C    connections (1..1024, default: one per IO "
		"thread)\n"
		"  --size BYTES       message size (8..1073741824, default "
		"1048576)\n"
		"  --rx-size BYTES    receive buffer per connection (%u..%u, "
		"default %u)\n"
		"  --count N          messages in all (1..2^40, default 64)\n"
		"  --verify           check every byte of every message\n"
		"  --slow PCT         receivers consume slowly PCT%% of the "
		"time (0..100)\n"
		"  --timeout-ms MS    give up after MS (default 600000)\n"
		"  --poll-idle-us US  the engines' poll-idle-us (0..%u)\n"
		"  --json FILE        also write the results as JSON\n"
		"  --help\n",
		RRING_DEFAULT_IO_THREADS_MAX, RRING_DEFAULT_RX_SIZE_MIN,
		RRING_DEFAULT_RX_SIZE_MAX, RRING_DEFAULT_RX_SIZE,
		RRING_DEFAULT_POLL_IDLE_US_MAX);
}

static int parse_u64(const char *k, const char *s, uint64_t lo, uint64_t hi,
		     uint64_t *out)
{
	long long v;

	if (bc_parse_ll(PROG, k, s, (long long)lo, (long long)hi, &v))
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Single-thread memcpy of size-byte blocks between two 64 MiB spans
 * (sources and destinations rotate, so large blocks come from memory as
 * in the transfer), bytes per second: the best of 20 rounds of at least
 * 50 ms (the best, because a shared machine only ever slows it down). */
static double memcpy_bw(uint32_t size)
{
	size_t span = (size_t)64 << 20, nblk, i = 0;
	unsigned char *src, *dst;
	double t0, t, best = 0;
	uint64_t bytes;
	int round;

	if (span < size)
		span = size;
	nblk = span / size;
	src = malloc(nblk * size);
	dst = malloc(nblk * size);
	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
	}
	memset(src, 0x5a, nblk * size);
	memset(dst, 0, nblk * size);
	for (round = 0; round < 20; round++) {
		bytes = 0;
		t0 = now_s();
		do {
			memcpy(dst + (i % nblk) * size,
			       src + ((i + 1) % nblk) * size, size);
			__asm__ volatile("" : : "r"(dst) : "memory");
			i++;
			bytes += size;
			t = now_s() - t0;
		} while (t < 0.05);
		if ((double)bytes / t > best)
			best = (double)bytes / t;
	}
	free(src);
	free(dst);
	return best;
}

struct args {
	struct xp_opts o;
	const char *json;
	int argc; /* for the JSON */
	char **argv;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	uint64_t v;
	int i;

	memset(a, 0, sizeof(*a));
	a->argc = argc;
	a->argv = argv;
	a->o.io_threads = 1;
	a->o.conns = 0;
	a->o.size = 1 << 20;
	a->o.rx_size = RRING_DEFAULT_RX_SIZE;
	a->o.count = 64;
	a->o.timeout_ms = 600000;
	a->o.progress = 1;
	a->o.poll_idle_us = -1;
	for (i = 1; i < argc; i++) {
		const char *k = argv[i],
			   *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(k, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(k, "--verify")) {
			a->o.verify = 1;
			continue;
		}
		if (!strcmp(k, "--json")) {
			if (!val) {
				fprintf(stderr, PROG ": --json needs a file "
						     "name\n");
				return -EINVAL;
			}
			a->json = val;
		} else if (!strcmp(k, "--io-threads")) {
			if (parse_u64(k, val, 1, RRING_DEFAULT_IO_THREADS_MAX,
				      &v))
				return -EINVAL;
			a->o.io_threads = (unsigned int)v;
		} else if (!strcmp(k, "--connections")) {
			if (parse_u64(k, val, 1, 1024, &v))
				return -EINVAL;
			a->o.conns = (unsigned int)v;
		} else if (!strcmp(k, "--size")) {
			if (parse_u64(k, val, 8, 1u << 30, &v))
				return -EINVAL;
			a->o.size = (uint32_t)v;
		} else if (!strcmp(k, "--rx-size")) {
			if (parse_u64(k, val, RRING_DEFAULT_RX_SIZE_MIN,
				      RRING_DEFAULT_RX_SIZE_MAX, &v))
				return -EINVAL;
			a->o.rx_size = (uint32_t)v;
		} else if (!strcmp(k, "--count")) {
			if (parse_u64(k, val, 1, 1ull << 40, &v))
				return -EINVAL;
			a->o.count = v;
		} else if (!strcmp(k, "--poll-idle-us")) {
			if (parse_u64(k, val, 0, RRING_DEFAULT_POLL_IDLE_US_MAX,
				      &v))
				return -EINVAL;
			a->o.poll_idle_us = (int)v;
		} else if (!strcmp(k, "--slow")) {
			if (parse_u64(k, val, 0, 100, &v))
				return -EINVAL;
			a->o.slow_pct = (unsigned int)v;
		} else if (!strcmp(k, "--timeout-ms")) {
			if (parse_u64(k, val, 1, 86400000, &v))
				return -EINVAL;
			a->o.timeout_ms = (unsigned int)v;
		} else {
			return bc_unknown_option(PROG, k);
		}
		i++;
	}
	if (!a->o.conns) /* one connection per IO thread (max 32) */
		a->o.conns = a->o.io_threads > 32 ? 32 : a->o.io_threads;
	return 0;
}

static int write_json(const char *path, const struct args *a,
		      const struct xp_result *r, double bw, double mbw)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "{");
	bc_json_meta(f, PROG, a->argc, a->argv);
	fprintf(f,
		"\n\"io_threads\":%u,\"connections\":%u,\"size\":%u,"
		"\"rx_size\":%u,\"count\":%" PRIu64 ",\"seconds\":%.6f,"
		"\"bytes_per_sec\":%.0f,\"memcpy_bytes_per_sec\":%.0f,"
		"\"messages\":%" PRIu64 ",\"verified_messages\":%" PRIu64
		",\"corrupt\":%" PRIu64 ",\"error\":%d,\"poll_idle_us\":%d}\n",
		a->o.io_threads, a->o.conns, a->o.size, a->o.rx_size,
		a->o.count, r->secs, bw, mbw, r->messages, r->verified,
		r->corrupt, r->err,
		a->o.poll_idle_us < 0 ? RRING_DEFAULT_POLL_IDLE_US
				      : a->o.poll_idle_us);
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct xp_result r;
	struct args a;
	double bw, mbw, t;
	int ret;

	if (parse_args(argc, argv, &a))
		return 2;
	fprintf(stderr,
		"transfer: %u IO threads, %u connections, %u-byte "
		"messages, rx-size %u, %" PRIu64 " messages%s\n",
		a.o.io_threads, a.o.conns, a.o.size, a.o.rx_size, a.o.count,
		a.o.verify ? ", verified" : "");
	if (a.o.poll_idle_us < 0)
		fprintf(stderr, "transfer: poll-idle-us: engine default (%u)\n",
			RRING_DEFAULT_POLL_IDLE_US);
	else
		fprintf(stderr, "transfer: poll-idle-us %d\n",
			a.o.poll_idle_us);
	mbw = memcpy_bw(a.o.size);
	ret = xp_run(&a.o, &r);
	bw = r.secs > 0 ? (double)r.bytes / r.secs : 0;
	t = memcpy_bw(a.o.size); /* before and after: the better one */
	if (t > mbw)
		mbw = t;
	printf("%-12s %8s %10s %10s %9s %9s %8s %12s %12s %6s\n", "io-threads",
	       "conns", "size", "rx-size", "messages", "verified", "corrupt",
	       "MB/s", "memcpy MB/s", "ratio");
	printf("%-12u %8u %10u %10u %9" PRIu64 " %9" PRIu64 " %8" PRIu64
	       " %12.1f %12.1f %6.3f\n",
	       a.o.io_threads, a.o.conns, a.o.size, a.o.rx_size, r.messages,
	       r.verified, r.corrupt, bw / 1e6, mbw / 1e6,
	       mbw > 0 ? bw / mbw : 0);
	if (!ret)
		bc_short_sample(PROG, "transfer", r.secs, r.messages, 16);
	if (ret)
		fprintf(stderr, "transfer: error %d (%s) %s\n", ret,
			strerror(-ret), r.first_error);
	if (a.json && write_json(a.json, &a, &r, bw, mbw))
		fprintf(stderr, "transfer: cannot write %s\n", a.json);
	return ret ? 1 : 0;
}
