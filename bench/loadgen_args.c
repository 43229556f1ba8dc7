/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench command line (strict numbers, clear messages). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loadgen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rring-bench [options]\n"
		"  -h HOST        server address (default 127.0.0.1)\n"
		"  -p PORT        RDMA port (default 6380)\n"
		"  -a PASSWORD    AUTH before the first command\n"
		"  --user NAME    AUTH as this ACL user (with -a)\n"
		"  -c CLIENTS     parallel connections (default 16, at most "
		"1000)\n"
		"  -n REQUESTS    requests per test (default 100000)\n"
		"  -d SIZE        SET/GET value size in bytes (default 3)\n"
		"  -t TESTS       comma list of ping,set,get (default "
		"ping,set,get)\n"
		"  -P PIPELINE    requests in flight per connection (default "
		"1)\n"
		"  --threads N    engine IO threads (default 1)\n"
		"  --rx-size N    receive buffer per connection (default "
		"1048576)\n"
		"  --verify       own key and random content per request; "
		"check every GET\n"
		"  --timeout S    give up a test after S seconds (default "
		"600, 0 = never)\n"
		"  --json FILE    write the results as JSON\n"
		"  -q             no progress on stderr\n"
		"  --help\n");
}

/* Strict integer in [lo, hi]. */
static int num(const char *name, const char *s, long long lo, long long hi,
	       long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr,
			"rring-bench: bad value '%s' for %s: expected an "
			"integer from %lld to %lld\n",
			s, name, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_tests(struct lg_opts *o, const char *s)
{
	static const char *const names[LG_NR_TESTS] = {"ping", "set", "get"};
	char buf[256], *save, *tok;
	int i;

	memset(o->tests, 0, sizeof(o->tests));
	o->n_order = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < LG_NR_TESTS; i++)
			if (!strcasecmp(tok, names[i]))
				break;
		if (i == LG_NR_TESTS) {
			fprintf(stderr,
				"rring-bench: unknown test '%s' for -t: "
				"expected ping, set or get\n",
				tok);
			return -EINVAL;
		}
		if (!o->tests[i])
			o->order[o->n_order++] = (enum lg_test)i;
		o->tests[i] = true;
	}
	if (!o->n_order) {
		fprintf(stderr, "rring-bench: -t needs at least one test\n");
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_THREADS = 256,
	OPT_VERIFY,
	OPT_JSON,
	OPT_HELP,
	OPT_RX,
	OPT_TMO,
	OPT_USER,
};

static int apply(struct lg_opts *o, int c, const char *arg)
{
	long long v;
	int ret = 0;

	switch (c) {
	case 'h':
		o->host = arg;
		break;
	case 'a':
		o->password = arg;
		break;
	case 't':
		ret = parse_tests(o, arg);
		break;
	case 'q':
		o->quiet = true;
		break;
	case OPT_VERIFY:
		o->verify = true;
		break;
	case OPT_JSON:
		o->json = arg;
		break;
	case OPT_USER:
		o->user = arg;
		break;
	case 'p':
		ret = num("-p", arg, 1, 65535, &v);
		o->port = (unsigned int)v;
		break;
	case 'c':
		ret = num("-c", arg, 1, 1000, &v);
		o->clients = (unsigned int)v;
		break;
	case 'n':
		ret = num("-n", arg, 1, 1000000000LL, &v);
		o->requests = (unsigned long long)v;
		break;
	case 'd':
		ret = num("-d", arg, 1, 512LL << 20, &v);
		o->data_size = (size_t)v;
		break;
	case 'P':
		ret = num("-P", arg, 1, 1024, &v);
		o->pipeline = (unsigned int)v;
		break;
	case OPT_THREADS:
		ret = num("--threads", arg, 1, 64, &v);
		o->threads = (unsigned int)v;
		break;
	case OPT_RX:
		ret = num("--rx-size", arg, 65536, 16 << 20, &v);
		o->rx_size = (size_t)v;
		break;
	case OPT_TMO:
		ret = num("--timeout", arg, 0, 86400, &v);
		o->timeout_s = (unsigned int)v;
		break;
	default:
		usage(stderr);
		return -EINVAL;
	}
	return ret ? -EINVAL : 0;
}

int lg_parse_args(struct lg_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"threads", required_argument, NULL, OPT_THREADS},
	    {"verify", no_argument, NULL, OPT_VERIFY},
	    {"json", required_argument, NULL, OPT_JSON},
	    {"rx-size", required_argument, NULL, OPT_RX},
	    {"timeout", required_argument, NULL, OPT_TMO},
	    {"user", required_argument, NULL, OPT_USER},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c, ret;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 6380;
	o->clients = 16;
	o->requests = 100000;
	o->data_size = 3;
	o->pipeline = 1;
	o->threads = 1;
	o->rx_size = 1 << 20;
	o->timeout_s = 600;
	parse_tests(o, "ping,set,get");
	while ((c = getopt_long(argc, argv, "h:p:a:c:n:d:t:P:q", lopts,
				NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		ret = apply(o, c, optarg);
		if (ret)
			return ret;
	}
	if (o->user && !o->password) {
		fprintf(stderr, "rring-bench: --user needs -a PASSWORD\n");
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "rring-bench: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}
