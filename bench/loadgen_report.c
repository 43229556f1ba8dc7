/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench output: redis-benchmark's formats, progress, JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "loadgen.h"

/* redis-benchmark 7.0's --csv header, column for column. */
static const char csv_header[] =
    "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\","
    "\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\","
    "\"max_latency_ms\"";

void lg_report_start(const struct lg_opts *o)
{
	if (o->csv)
		printf("%s\n", csv_header);
}

static double ms(double ns)
{
	return ns / 1e6;
}

static void report_csv(const struct lg_opts *o, const struct lg_result *r)
{
	const struct hist_summary *l = &r->lat;
	int p = (int)o->precision;

	printf("\"%s\",\"%.2f\",\"%.*f\",\"%.*f\",\"%.*f\",\"%.*f\",\"%.*f\","
	       "\"%.*f\"\n",
	       r->name, r->rps, p, ms(l->avg), p, ms(l->min), p, ms(l->p50), p,
	       ms(l->p95), p, ms(l->p99), p, ms(l->max));
}

static void report_errors(const struct lg_result *r)
{
	if (!r->errors && !r->conn_errors)
		return;
	printf("  errors: %" PRIu64 " error replies, %u connections lost",
	       r->errors, r->conn_errors);
	if (r->first_error)
		printf(" (first: %s)", strerror(-r->first_error));
	printf("\n");
}

static void report_full(const struct lg_opts *o, const struct lg_result *r)
{
	const struct hist_summary *l = &r->lat;
	int p = (int)o->precision, w = p + 6;

	printf("====== %s ======\n", r->name);
	printf("  %" PRIu64 " requests completed in %.2f seconds\n",
	       r->requests, r->secs);
	printf("  %u parallel clients\n", o->clients);
	printf("  %zu bytes payload\n", o->data_size);
	printf("  keep alive: 1\n");
	printf("  transport: RDMA, %u IO threads, pipeline %u\n", o->threads,
	       o->pipeline);
	if (o->verify)
		printf("  verified %" PRIu64 ", failed %" PRIu64 "\n",
		       r->verified, r->failed);
	report_errors(r);
	printf("\nSummary:\n");
	printf("  throughput summary: %.2f requests per second\n", r->rps);
	/* values moved: none for nil replies, PING or INCR */
	if (r->payload_bytes && r->secs > 0)
		printf("  payload: %.1f MB/s\n",
		       (double)r->payload_bytes / r->secs / 1e6);
	printf("  latency summary (msec):\n");
	printf("    %*s %*s %*s %*s %*s %*s %*s\n", w, "avg", w, "min", w,
	       "p50", w, "p95", w, "p99", w, "p99.9", w, "max");
	printf("    %*.*f %*.*f %*.*f %*.*f %*.*f %*.*f %*.*f\n\n", w, p,
	       ms(l->avg), w, p, ms(l->min), w, p, ms(l->p50), w, p, ms(l->p95),
	       w, p, ms(l->p99), w, p, ms(l->p999), w, p, ms(l->max));
}

void lg_report(const struct lg_opts *o, const struct lg_result *r)
{
	if (o->csv)
		report_csv(o, r);
	else if (o->quiet)
		printf("%s: %.2f requests per second, p50=%.*f msec\n", r->name,
		       r->rps, (int)o->precision, ms(r->lat.p50));
	else
		report_full(o, r);
	fflush(stdout);
}

/* On a terminal one line rewritten in place (as redis-benchmark); else
 * whole lines (logs, pipes), and none with -q or --csv. */
void lg_progress(const struct lg_opts *o, const char *name, uint64_t done,
		 double secs)
{
	double rps = secs > 0 ? (double)done / secs : 0;

	if (o->csv)
		return;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%s: %" PRIu64 "/%llu requests, %.1f rps   ",
			name, done, o->requests, rps);
	else if (!o->quiet)
		fprintf(stderr, "%s: %" PRIu64 "/%llu requests, %.1f rps\n",
			name, done, o->requests, rps);
}

static void json_test(FILE *f, const struct lg_opts *o,
		      const struct lg_result *r)
{
	const struct hist_summary *l = &r->lat;

	/* flat objects: tests grep one test's fields */
	fprintf(f, "{\"name\":");
	bc_json_str(f, r->name);
	fprintf(f,
		",\"requests\":%" PRIu64 ",\"seconds\":%.6f,\"rps\":%.1f,"
		"\"errors\":%" PRIu64 ",\"connection_errors\":%u,"
		"\"verified\":%" PRIu64 ",\"failed\":%" PRIu64
		",\"payload_bytes\":%" PRIu64 ",\"min_us\":%.1f,"
		"\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,"
		"\"p999_us\":%.1f,\"max_us\":%.1f,\"avg_us\":%.1f,"
		"\"data_size\":%zu,\"clients\":%u,\"threads\":%u,"
		"\"pipeline\":%u}",
		r->requests, r->secs, r->rps, r->errors, r->conn_errors,
		r->verified, r->failed, r->payload_bytes, l->min / 1e3,
		l->p50 / 1e3, l->p95 / 1e3, l->p99 / 1e3, l->p999 / 1e3,
		l->max / 1e3, l->avg / 1e3, o->data_size, o->clients,
		o->threads, o->pipeline);
}

int lg_write_json(const struct lg_opts *o, const struct lg_result *res,
		  unsigned int n)
{
	FILE *f = fopen(o->json, "w");
	unsigned int i;

	if (!f) {
		fprintf(stderr, "rring-bench: cannot write %s: %s\n", o->json,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "{");
	bc_json_meta(f, LG_PROG, o->argc, o->argv);
	fprintf(f, "\n\"transport\":\"rdma\",\"histogram\":\"log-linear, 128 "
		   "buckets per power of two: percentiles at most 0.8%% "
		   "high\",\n\"tests\":[");
	for (i = 0; i < n; i++) {
		fprintf(f, "%s\n", i ? "," : "");
		json_test(f, o, &res[i]);
	}
	fprintf(f, "\n]}\n");
	return fclose(f) ? -EIO : 0;
}
