/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: what every benchmark program shares (arguments, warnings, JSON). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

const char *bc_version(void)
{
	return RRING_BENCH_VERSION; /* from CMake, see common.cmake */
}

int bc_parse_ll(const char *prog, const char *name, const char *s, long long lo,
		long long hi, long long *out)
{
	char *end;
	long long v;

	if (!s) {
		fprintf(stderr,
			"%s: %s needs a value: an integer from %lld "
			"to %lld\n",
			prog, name, lo, hi);
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr,
			"%s: %s: '%s' is not an integer from %lld to %lld\n",
			prog, name, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int bc_unknown_option(const char *prog, const char *arg)
{
	fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", prog, arg,
		prog);
	return -EINVAL;
}

bool bc_short_sample(const char *prog, const char *what, double secs,
		     uint64_t ops, uint64_t min_ops)
{
	if (secs >= BC_MIN_SAMPLE_SECS && ops >= min_ops)
		return false;
	fprintf(stderr,
		"%s: warning: %s: %.1f ms for %llu operations, under %.0f ms",
		prog, what, secs * 1e3, (unsigned long long)ops,
		BC_MIN_SAMPLE_SECS * 1e3);
	if (min_ops)
		fprintf(stderr, " or %llu operations",
			(unsigned long long)min_ops);
	fprintf(stderr, ": too short to mean anything (ask for more)\n");
	return true;
}

void bc_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void bc_json_meta(FILE *f, const char *prog, int argc, char **argv)
{
	char host[256] = "unknown", when[32] = "";
	time_t t = time(NULL);
	struct tm tm;
	int i;

	if (gethostname(host, sizeof(host)))
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "\"meta\":{\"program\":");
	bc_json_str(f, prog);
	fprintf(f, ",\"version\":");
	bc_json_str(f, bc_version());
	fprintf(f, ",\"time\":\"%s\",\"host\":", when);
	bc_json_str(f, host);
	fprintf(f, ",\"argv\":[");
	for (i = 0; i < argc; i++) {
		if (i)
			fputc(',', f);
		bc_json_str(f, argv[i]);
	}
	fprintf(f, "]},");
}
