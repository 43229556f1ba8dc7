/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench command line (redis-benchmark's options, strict). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench_common.h"
#include "loadgen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rring-bench [options] [command args...]\n"
		"redis-benchmark over RDMA (the Valkey RDMA protocol): the "
		"same options, tests\nand output formats. Without an RDMA "
		"NIC run it with\nLD_PRELOAD=libsoftverbs.so.\n\n"
		"  -h HOST        server address (default 127.0.0.1)\n"
		"  -p PORT        RDMA port (default 6380)\n"
		"  -a PASSWORD    AUTH before the first command\n"
		"  --user NAME    AUTH as this ACL user (with -a)\n"
		"  -c CLIENTS     parallel connections (1..1000, default 50)\n"
		"  -n REQUESTS    requests per test (default 100000)\n"
		"  -d SIZE        value size in bytes of SET, GET, LPUSH, "
		"... (default 3)\n"
		"  --dbnum DB     SELECT this database first (default 0)\n"
		"  -k 1           keep connections alive (the only mode over "
		"RDMA)\n"
		"  -r KEYSPACE    replace __rand_int__ in keys with random "
		"numbers below KEYSPACE\n"
		"  -P PIPELINE    requests in flight per connection (1..1024, "
		"default 1)\n"
		"  -q             quiet: one line per test, requests per "
		"second and p50\n"
		"  --csv          CSV as redis-benchmark --csv\n"
		"  --precision N  decimals of the millisecond latencies "
		"(0..6, default 3)\n"
		"  -l             loop: run the tests forever\n"
		"  -t TESTS       comma list of tests (default: all):\n"
		"                 ping (ping_inline, ping_mbulk), set, get, "
		"incr, lpush, rpush,\n"
		"                 lpop, rpop, sadd, hset, spop, zadd, "
		"zpopmin,\n"
		"                 lrange (lrange_100, lrange_300, lrange_500, "
		"lrange_600), mset\n"
		"  -I             idle mode: open -c connections and wait\n"
		"  command args   run this command instead of the tests; "
		"__rand_int__ as with -r\n"
		"rring-bench only:\n"
		"  --threads N    engine IO threads (1..64, default 1)\n"
		"  --rx-size N    receive buffer per connection (default "
		"1048576)\n"
		"  --poll-idle-us N  busy-poll N us after the last completion "
		"before\n"
		"                 sleeping (0..10000000, default 0: on the "
		"server's host a\n"
		"                 spinning client takes the server's CPU)\n"
		"  --verify       own key and random content per request; "
		"check every reply\n"
		"  --timeout S    give up a test after S seconds (default "
		"600, 0 = never)\n"
		"  --json FILE    write the results as JSON\n"
		"  --version      print the version\n"
		"  --help\n"
		"Latencies come from a fixed-size log-linear histogram: "
		"within 0.8%% above\nthe true value, min and max exact.\n");
}

static int num(const char *name, const char *s, long long lo, long long hi,
	       long long *out)
{
	return bc_parse_ll(LG_PROG, name, s, lo, hi, out);
}

static void add_test(struct lg_opts *o, const struct lg_test *t)
{
	unsigned int i;

	for (i = 0; i < o->n_order; i++)
		if (o->order[i] == t)
			return;
	if (o->n_order < LG_MAX_TESTS)
		o->order[o->n_order++] = t;
}

/* Select by -t name or group; 0 when nothing matched. */
static unsigned int select_test(struct lg_opts *o, const char *tok)
{
	unsigned int n, i, hits = 0;
	const struct lg_test *all = lg_tests(&n);

	for (i = 0; i < n; i++)
		if (!strcasecmp(tok, all[i].id) ||
		    (all[i].group && !strcasecmp(tok, all[i].group))) {
			add_test(o, &all[i]);
			hits++;
		}
	return hits;
}

/* -t keeps redis-benchmark's order, not the order given. */
static int parse_tests(struct lg_opts *o, const char *s)
{
	char buf[512], *save, *tok;
	struct lg_opts sel = {0};
	unsigned int n, i, j;
	const struct lg_test *all = lg_tests(&n);

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!select_test(&sel, tok)) {
			fprintf(stderr,
				"rring-bench: -t: unknown test '%s': expected "
				"ping, ping_inline, ping_mbulk, set, get, "
				"incr, lpush, rpush, lpop, rpop, sadd, hset, "
				"spop, zadd, zpopmin, lrange, lrange_100, "
				"lrange_300, lrange_500, lrange_600 or mset\n",
				tok);
			return -EINVAL;
		}
	if (!sel.n_order) {
		fprintf(stderr, "rring-bench: -t needs at least one test\n");
		return -EINVAL;
	}
	o->n_order = 0;
	for (i = 0; i < n; i++)
		for (j = 0; j < sel.n_order; j++)
			if (sel.order[j] == &all[i])
				add_test(o, &all[i]);
	return 0;
}

enum {
	OPT_THREADS = 256,
	OPT_VERIFY,
	OPT_JSON,
	OPT_HELP,
	OPT_RX,
	OPT_IDLE,
	OPT_TMO,
	OPT_USER,
	OPT_CSV,
	OPT_PRECISION,
	OPT_DBNUM,
	OPT_VERSION,
};

static int apply_flag(struct lg_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'h':
		o->host = arg;
		return 0;
	case 'a':
		o->password = arg;
		return 0;
	case 't':
		return parse_tests(o, arg);
	case 'q':
		o->quiet = true;
		return 0;
	case 'l':
		o->loop = true;
		return 0;
	case 'I':
		o->idle = true;
		return 0;
	case OPT_CSV:
		o->csv = true;
		return 0;
	case OPT_VERIFY:
		o->verify = true;
		return 0;
	case OPT_JSON:
		o->json = arg;
		return 0;
	case OPT_USER:
		o->user = arg;
		return 0;
	default:
		return -ENOENT; /* a numeric option */
	}
}

static int apply_num(struct lg_opts *o, int c, const char *arg)
{
	long long v = 0;
	int ret;

	switch (c) {
	case 'p':
		ret = num("-p", arg, 1, 65535, &v);
		o->port = (unsigned int)v;
		return ret;
	case 'c':
		ret = num("-c", arg, 1, 1000, &v);
		o->clients = (unsigned int)v;
		return ret;
	case 'n':
		ret = num("-n", arg, 1, 999999999999LL, &v);
		o->requests = (unsigned long long)v;
		return ret;
	case 'd':
		ret = num("-d", arg, 1, 512LL << 20, &v);
		o->data_size = (size_t)v;
		return ret;
	case 'P':
		ret = num("-P", arg, 1, 1024, &v);
		o->pipeline = (unsigned int)v;
		return ret;
	case 'r':
		ret = num("-r", arg, 1, 999999999999LL, &v);
		o->keyspace = (unsigned long long)v;
		return ret;
	case 'k':
		ret = num("-k", arg, 0, 1, &v);
		if (!ret && !v) {
			fprintf(stderr,
				"rring-bench: -k 0 (reconnect for every "
				"request) is not supported over RDMA: only "
				"-k 1\n");
			ret = -EINVAL;
		}
		return ret;
	case OPT_DBNUM:
		ret = num("--dbnum", arg, 0, 1 << 20, &v);
		o->dbnum = (int)v;
		return ret;
	case OPT_PRECISION:
		ret = num("--precision", arg, 0, 6, &v);
		o->precision = (unsigned int)v;
		return ret;
	case OPT_THREADS:
		ret = num("--threads", arg, 1, 64, &v);
		o->threads = (unsigned int)v;
		return ret;
	case OPT_RX:
		ret = num("--rx-size", arg, 65536, 16 << 20, &v);
		o->rx_size = (size_t)v;
		return ret;
	case OPT_IDLE:
		ret = num("--poll-idle-us", arg, 0, 10000000, &v);
		o->poll_idle_us = (uint32_t)v;
		return ret;
	case OPT_TMO:
		ret = num("--timeout", arg, 0, 86400, &v);
		o->timeout_s = (unsigned int)v;
		return ret;
	default:
		return -EINVAL;
	}
}

static void set_defaults(struct lg_opts *o, int argc, char **argv)
{
	unsigned int n, i;
	const struct lg_test *all = lg_tests(&n);

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 6380;
	o->clients = 50;
	o->requests = 100000;
	o->data_size = 3;
	o->pipeline = 1;
	o->threads = 1;
	o->rx_size = 1 << 20;
	o->timeout_s = 600;
	o->dbnum = -1;
	o->precision = 3;
	o->argc = argc;
	o->argv = argv;
	for (i = 0; i < n; i++)
		add_test(o, &all[i]);
}

/* The words after the options: a command, named by its words joined. */
static void take_command(struct lg_opts *o, int argc, char **argv)
{
	size_t len = 0;
	int i;

	o->command = argv + optind;
	o->command_argc = argc - optind;
	for (i = 0; i < o->command_argc; i++)
		len += (size_t)snprintf(o->command_name + len,
					len < sizeof(o->command_name)
					    ? sizeof(o->command_name) - len
					    : 0,
					"%s%s", i ? " " : "", o->command[i]);
}

int lg_parse_args(struct lg_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"threads", required_argument, NULL, OPT_THREADS},
	    {"verify", no_argument, NULL, OPT_VERIFY},
	    {"json", required_argument, NULL, OPT_JSON},
	    {"rx-size", required_argument, NULL, OPT_RX},
	    {"poll-idle-us", required_argument, NULL, OPT_IDLE},
	    {"timeout", required_argument, NULL, OPT_TMO},
	    {"user", required_argument, NULL, OPT_USER},
	    {"csv", no_argument, NULL, OPT_CSV},
	    {"precision", required_argument, NULL, OPT_PRECISION},
	    {"dbnum", required_argument, NULL, OPT_DBNUM},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c, ret;

	set_defaults(o, argc, argv);
	opterr = 0; /* our own messages, naming the option */
	/* "+": options end at the first word, the command's own words may
	 * start with '-' */
	while ((c = getopt_long(argc, argv, "+h:p:a:c:n:d:t:P:r:k:qlI", lopts,
				NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("rring-bench %s\n", bc_version());
			return 1;
		}
		if (c == '?' || c == ':') {
			if (optopt && strchr("hpacndtPrk", optopt))
				fprintf(stderr,
					"rring-bench: -%c needs a value (see "
					"rring-bench --help)\n",
					optopt);
			else
				bc_unknown_option(LG_PROG, argv[optind - 1]);
			return -EINVAL;
		}
		ret = apply_flag(o, c, optarg);
		if (ret == -ENOENT)
			ret = apply_num(o, c, optarg);
		if (ret)
			return -EINVAL;
	}
	if (o->user && !o->password) {
		fprintf(stderr, "rring-bench: --user needs -a PASSWORD\n");
		return -EINVAL;
	}
	if (optind < argc)
		take_command(o, argc, argv);
	return 0;
}
