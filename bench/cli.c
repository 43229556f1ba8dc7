/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli, redis-cli's everyday use over RDMA. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <rdmaring.h>

#include "cli.h"
#include "rclient.h"

/*
 * One connection on an engine whose single IO thread is this program's
 * main thread (io-threads-external): a command is encoded, sent, and the
 * main thread processes the IO thread's completions until its whole reply
 * is in, then prints it as redis-cli would. Commands come from argv (one),
 * from stdin lines (not a terminal) or from a prompt.
 */

#define PROG "rring-cli"
#define CONNECT_TIMEOUT_MS 10000

static struct {
	const char *host;
	unsigned int port;
	const char *user, *password;
	long long db;
	enum cli_mode mode;
	bool auth_warning, pass_arg; /* pass_arg: -a given */
} O = {.host = "127.0.0.1", .port = 6380, .auth_warning = true};

enum conn_state { ST_CONNECTING, ST_UP, ST_CLOSED };

static struct {
	struct rring_engine *e;
	struct rring_io *io;
	struct rring_conn *conn;
	enum conn_state state;
	int status;	    /* CLOSED: 0 or -errno */
	unsigned int sends; /* posted, SEND_DONE not yet seen */
	bool broken;	    /* out of memory buffering a reply */
	struct rcl_rbuf rb;
} C;

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		C.conn = ev->conn;
		C.state = ST_UP;
		break;
	case RRING_EVENT_RECV:
		if (rcl_rbuf_add(&C.rb, ev->data, ev->len)) {
			C.broken = true;
			rring_conn_close(ev->conn);
		}
		rring_conn_consume(ev->conn, ev->len);
		break;
	case RRING_EVENT_SEND_DONE:
		C.sends--;
		break;
	case RRING_EVENT_CLOSED:
		C.state = ST_CLOSED;
		C.status = ev->status;
		C.conn = NULL;
		break;
	default:
		break;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Handle what the IO thread has; sleep on its fd (up to ms, -1: no limit)
 * when it has nothing. */
static void pump(int ms)
{
	struct pollfd pfd = {.fd = rring_io_fd(C.io), .events = POLLIN};

	if (rring_io_process(C.io, 256) <= 0)
		poll(&pfd, 1, ms);
}

static int connect_server(void)
{
	struct rcl_engine_opts eo = {.prog = PROG,
				     .threads = 1,
				     .rx_size = RRING_DEFAULT_RX_SIZE,
				     .external = true};
	uint64_t deadline;
	int ret;

	C.e = rcl_engine_start(&eo, on_event);
	if (!C.e)
		return -1;
	C.io = rring_engine_io(C.e, 0);
	ret = rring_connect(C.e, O.host, (uint16_t)O.port, NULL, NULL);
	deadline = now_ms() + CONNECT_TIMEOUT_MS;
	while (!ret && C.state == ST_CONNECTING) {
		if (now_ms() > deadline)
			ret = -ETIMEDOUT;
		else
			pump(100);
	}
	if (!ret && C.state == ST_CLOSED)
		ret = C.status ? C.status : -ECONNRESET;
	if (ret)
		rcl_connect_error(PROG, O.host, O.port, ret);
	return ret;
}

/* Close the connection (bounded wait) and stop the engine. */
static void disconnect(void)
{
	uint64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;

	if (C.conn)
		rring_conn_close(C.conn);
	while (C.state != ST_CLOSED && now_ms() < deadline)
		pump(100);
	if (C.state == ST_CLOSED) /* else the engine still needs us */
		rring_engine_destroy(C.e);
	rcl_rbuf_free(&C.rb);
}

/* Send one command and wait for its reply: 0 with ri and *frame (valid
 * until the next command), -ECONNRESET after printing why otherwise. */
static int request(int argc, const char *const *argv, const size_t *lens,
		   struct rdm_reply_info *ri, const char **frame)
{
	size_t len = rdm_cmd_encode(NULL, argc, argv, lens);
	char *buf = malloc(len);
	int ret = -EAGAIN;

	if (!buf) {
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", PROG, len);
		return -ENOMEM;
	}
	rdm_cmd_encode(buf, argc, argv, lens);
	while (C.state == ST_UP &&
	       (ret = rring_conn_send(C.conn, buf, (uint32_t)len, 0)) ==
		   -EAGAIN)
		pump(-1);
	if (!ret)
		C.sends++;
	/* large commands go from buf itself: keep it until SEND_DONE */
	while (C.state == ST_UP && C.sends)
		pump(-1);
	free(buf);
	while (!C.broken && (ret = rcl_rbuf_next(&C.rb, ri, frame)) == 0 &&
	       C.state != ST_CLOSED)
		pump(-1);
	if (ret == 1)
		return 0;
	if (ret == -EPROTO)
		fprintf(stderr,
			"Error: Protocol error in the server's reply\n");
	else
		fprintf(stderr, "Error: Server closed the connection%s%s\n",
			C.status ? ": " : "",
			C.status ? strerror(-C.status) : "");
	return -ECONNRESET;
}

/* AUTH and SELECT as redis-cli sends them after connecting. */
static int handshake(void)
{
	const char *argv[3] = {"AUTH"};
	size_t lens[3] = {4};
	struct rdm_reply_info ri;
	const char *frame;
	char db[24];
	int argc = 1;

	if (O.password) {
		if (O.user) {
			argv[argc] = O.user;
			lens[argc++] = strlen(O.user);
		}
		argv[argc] = O.password;
		lens[argc++] = strlen(O.password);
		if (request(argc, argv, lens, &ri, &frame))
			return -1;
		if (ri.type == RDM_REPLY_ERROR)
			fprintf(stderr, "AUTH failed: %.*s\n", (int)ri.len,
				ri.str);
	}
	if (!O.db)
		return 0;
	argv[0] = "SELECT";
	lens[0] = 6;
	argv[1] = db;
	lens[1] = (size_t)snprintf(db, sizeof(db), "%lld", O.db);
	if (request(2, argv, lens, &ri, &frame))
		return -1;
	if (ri.type == RDM_REPLY_ERROR)
		fprintf(stderr, "SELECT %lld failed: %.*s\n", O.db, (int)ri.len,
			ri.str);
	return 0;
}

/* Run one command and print its reply. */
static int run_command(int argc, const char *const *argv, const size_t *lens)
{
	struct rdm_reply_info ri;
	const char *frame;

	if (request(argc, argv, lens, &ri, &frame))
		return -1;
	if (cli_print_reply(stdout, frame, ri.frame_len, O.mode))
		fprintf(stderr, "Error: reply nested deeper than %d levels\n",
			CLI_MAX_DEPTH);
	fflush(stdout);
	/* the prompt shows the database, as redis-cli's does */
	if (argc == 2 && lens[0] == 6 && !strncasecmp(argv[0], "select", 6) &&
	    ri.type == RDM_REPLY_STATUS)
		O.db = strtoll(argv[1], NULL, 10);
	return 0;
}

static void prompt(void)
{
	if (O.db)
		printf("%s:%u[%lld]> ", O.host, O.port, O.db);
	else
		printf("%s:%u> ", O.host, O.port);
	fflush(stdout);
}

/* Commands from stdin, one a line; a prompt when stdin is a terminal. */
static int repl(void)
{
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL, **argv;
	size_t cap = 0, *lens;
	ssize_t n;
	int argc, ret = 0;

	for (;;) {
		if (tty)
			prompt();
		n = getline(&line, &cap, stdin);
		if (n < 0)
			break;
		argc = cli_split_line(line, (size_t)n, &argv, &lens);
		if (argc == -EINVAL)
			printf("Invalid argument(s)\n");
		if (argc <= 0)
			continue;
		if (!strcasecmp(argv[0], "quit") ||
		    !strcasecmp(argv[0], "exit"))
			argc = 0;
		else
			ret =
			    run_command(argc, (const char *const *)argv, lens);
		free(argv);
		if (!argc || ret)
			break;
	}
	free(line);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " PROG " [options] [command [arg ...]]\n"
	    "redis-cli over RDMA (Valkey's RDMA protocol, e.g. rdmaring.so's "
	    "port).\n"
	    "  -h HOST            server address (default 127.0.0.1)\n"
	    "  -p PORT            RDMA port (default 6380)\n"
	    "  -a PASSWORD        AUTH after connecting (or REDISCLI_AUTH)\n"
	    "  --user NAME        AUTH as this ACL user (with -a)\n"
	    "  -n DB              SELECT this database\n"
	    "  --raw              raw replies (the default when stdout is "
	    "not a terminal)\n"
	    "  --no-raw           formatted replies (the default on a "
	    "terminal)\n"
	    "  --no-auth-warning  no warning about -a on the command line\n"
	    "  --help\n"
	    "Without a command, reads commands from stdin, one a line (a "
	    "prompt on a terminal).\n"
	    "Without an RDMA NIC, run it (and the server) with "
	    "LD_PRELOAD=libsoftverbs.so.\n");
}

/* Strict integer in [lo, hi]. */
static int num(const char *opt, const char *s, long long lo, long long hi,
	       long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (!errno && end != s && !*end && *out >= lo && *out <= hi)
		return 0;
	fprintf(stderr,
		PROG ": bad value '%s' for %s: expected an integer from %lld "
		     "to %lld\n",
		s, opt, lo, hi);
	return -EINVAL;
}

enum { OPT_USER = 256, OPT_RAW, OPT_NO_RAW, OPT_NO_WARN, OPT_HELP };

/* Options up to the first command word; returns its index, or -1. */
static int parse_args(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"user", required_argument, NULL, OPT_USER},
	    {"pass", required_argument, NULL, 'a'},
	    {"raw", no_argument, NULL, OPT_RAW},
	    {"no-raw", no_argument, NULL, OPT_NO_RAW},
	    {"no-auth-warning", no_argument, NULL, OPT_NO_WARN},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0}};
	long long v;
	int c;

	O.mode = isatty(STDOUT_FILENO) ? CLI_TTY : CLI_RAW;
	O.password = getenv("REDISCLI_AUTH");
	/* '+': stop at the command, whose words may look like options */
	while ((c = getopt_long(argc, argv, "+h:p:a:n:", longs, NULL)) != -1) {
		switch (c) {
		case 'h':
			O.host = optarg;
			break;
		case 'p':
			if (num("-p", optarg, 1, 65535, &v))
				return -1;
			O.port = (unsigned int)v;
			break;
		case 'a':
			O.password = optarg;
			O.pass_arg = true;
			break;
		case 'n':
			if (num("-n", optarg, 0, 1 << 30, &O.db))
				return -1;
			break;
		case OPT_USER:
			O.user = optarg;
			break;
		case OPT_RAW:
		case OPT_NO_RAW:
			O.mode = c == OPT_RAW ? CLI_RAW : CLI_TTY;
			break;
		case OPT_NO_WARN:
			O.auth_warning = false;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	int first = parse_args(argc, argv), ret, i;
	size_t *lens;

	if (first < 0)
		return 1;
	if (O.pass_arg && O.auth_warning)
		fprintf(stderr, "Warning: Using a password with '-a' or '-u' "
				"option on the command line interface may not "
				"be safe.\n");
	if (connect_server())
		return 1;
	ret = handshake();
	if (!ret && first < argc) {
		lens = calloc((size_t)(argc - first), sizeof(*lens));
		for (i = first; lens && i < argc; i++)
			lens[i - first] = strlen(argv[i]);
		ret = lens
			  ? run_command(argc - first,
					(const char *const *)argv + first, lens)
			  : -ENOMEM;
		free(lens);
	} else if (!ret) {
		ret = repl();
	}
	disconnect();
	return ret ? 1 : 0;
}
