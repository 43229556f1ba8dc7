/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli, redis-cli's everyday use over RDMA. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
 * from stdin lines (not a terminal) or from a prompt. Replies are RESP2, or
 * RESP3 after -3 (cli_resp3.c scans both); a RESP3 push that comes while a
 * reply is awaited is printed (--show-pushes) and counted, not taken as the
 * reply. After (P|S)SUBSCRIBE or MONITOR every frame is a message, as in
 * redis-cli's pub/sub and monitor modes, until the connection closes or
 * --count-pushes messages came.
 */

#define PROG "rring-cli"
#define CONNECT_TIMEOUT_MS 10000
#define TAG_IN_PLACE 1 /* a send whose buffer must live until SEND_DONE */

static struct {
	const char *host;
	unsigned int port;
	const char *user, *password;
	long long db;
	enum cli_mode mode;
	bool auth_warning, pass_arg; /* pass_arg: -a given */
	bool resp3, show_pushes;
	long long count_pushes; /* 0: no limit */
} O = {.host = "127.0.0.1", .port = 6380, .auth_warning = true};

enum conn_state { ST_CONNECTING, ST_UP, ST_CLOSED };

static struct {
	struct rring_engine *e;
	struct rring_io *io;
	struct rring_conn *conn;
	enum conn_state state;
	int status;	    /* CLOSED: 0 or -errno */
	unsigned int sends; /* sent in place, SEND_DONE not yet seen */
	bool broken;	    /* out of memory buffering a reply */
	bool streamed;	    /* pub/sub or monitor mode ended */
	unsigned long long pushes; /* messages and pushes received */
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
		C.sends -= ev->tag == TAG_IN_PLACE;
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
				     .external = true,
				     .hold_warnings = true};
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

/* Send one command (the whole of it has left when this returns): 0, or
 * -ECONNRESET after printing why. */
static int send_command(int argc, const char *const *argv, const size_t *lens)
{
	size_t len = rdm_cmd_encode(NULL, argc, argv, lens);
	char *buf = malloc(len);
	int ret = -ECONNRESET;
	uint64_t tag;

	if (!buf) {
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", PROG, len);
		return -ENOMEM;
	}
	rdm_cmd_encode(buf, argc, argv, lens);
	/* Above RRING_XFER_COPY_MAX a command goes from buf itself: keep it
	 * until its SEND_DONE. A smaller one is copied at once; its SEND_DONE
	 * may come late (a quiet connection's writes are acknowledged by a
	 * fence), so it is not waited for. */
	tag = len > RRING_XFER_COPY_MAX ? TAG_IN_PLACE : 0;
	while (C.state == ST_UP &&
	       (ret = rring_conn_send(C.conn, buf, (uint32_t)len, tag)) ==
		   -EAGAIN)
		pump(-1);
	if (!ret && tag == TAG_IN_PLACE)
		C.sends++;
	while (C.state == ST_UP && C.sends)
		pump(-1);
	free(buf);
	if (ret)
		rcl_print_held();
	if (ret && C.state == ST_UP)
		fprintf(stderr, "Error: cannot send a %zu-byte command: %s\n",
			len, strerror(-ret));
	else if (ret)
		fprintf(stderr, "Error: Server closed the connection\n");
	return ret ? -ECONNRESET : 0;
}

/* The next whole frame, reply or push: 0 with *frame and *len (valid
 * until the next pump), -ECONNRESET after printing why otherwise. */
static int next_frame(const char **frame, size_t *len)
{
	int ret = 0;

	for (;;) {
		if (!C.broken && C.rb.len > C.rb.off)
			ret = cli_frame_scan(C.rb.buf + C.rb.off,
					     C.rb.len - C.rb.off, len);
		if (ret == 1) {
			*frame = C.rb.buf + C.rb.off;
			C.rb.off += *len;
			return 0;
		}
		if (ret || C.broken || C.state == ST_CLOSED)
			break;
		pump(-1);
	}
	rcl_print_held();
	if (ret == -EPROTO)
		fprintf(stderr,
			"Error: Protocol error in the server's reply\n");
	else
		fprintf(stderr, "Error: Server closed the connection%s%s\n",
			C.status ? ": " : "",
			C.status ? strerror(-C.status) : "");
	return -ECONNRESET;
}

static bool pushes_done(void)
{
	return O.count_pushes && C.pushes >= (unsigned long long)O.count_pushes;
}

static void print_frame(const char *frame, size_t len, bool push)
{
	int ret = push ? cli_print_push(stdout, frame, len, O.mode)
		       : cli_print_reply(stdout, frame, len, O.mode);

	if (ret)
		fprintf(stderr, "Error: reply nested deeper than %d levels\n",
			CLI_MAX_DEPTH);
	fflush(stdout);
}

/* A RESP3 push outside pub/sub mode (client tracking's invalidations):
 * printed as redis-cli's push handler does with --show-pushes yes, and
 * counted either way. */
static void on_push(const char *frame, size_t len)
{
	if (O.show_pushes)
		print_frame(frame, len, true);
	C.pushes++;
}

/* The reply to a command, after the pushes that came before it. */
static int next_reply(const char **frame, size_t *len)
{
	for (;;) {
		if (next_frame(frame, len))
			return -ECONNRESET;
		if (!cli_frame_is_push(*frame, *len))
			return 0;
		on_push(*frame, *len);
	}
}

/* Send one command and wait for its reply (see next_reply). */
static int request(int argc, const char *const *argv, const size_t *lens,
		   const char **frame, size_t *len)
{
	if (send_command(argc, argv, lens))
		return -ECONNRESET;
	return next_reply(frame, len);
}

/* An error reply: its text in *e. */
static bool is_error(const char *frame, size_t len, struct cli_elem *e)
{
	return cli_elem_head(frame, len, e) == 1 && e->type == '-';
}

/* AUTH, SELECT and HELLO 3 (-3) as redis-cli sends them after connecting. */
static int handshake(void)
{
	const char *argv[3] = {"AUTH"};
	size_t lens[3] = {4}, len;
	struct cli_elem e;
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
		if (request(argc, argv, lens, &frame, &len))
			return -1;
		if (is_error(frame, len, &e))
			fprintf(stderr, "AUTH failed: %.*s\n", (int)e.len,
				e.str);
	}
	if (O.db) {
		argv[0] = "SELECT";
		lens[0] = 6;
		argv[1] = db;
		lens[1] = (size_t)snprintf(db, sizeof(db), "%lld", O.db);
		if (request(2, argv, lens, &frame, &len))
			return -1;
		if (is_error(frame, len, &e))
			fprintf(stderr, "SELECT %lld failed: %.*s\n", O.db,
				(int)e.len, e.str);
	}
	if (!O.resp3)
		return 0;
	argv[0] = "HELLO";
	lens[0] = 5;
	argv[1] = "3";
	lens[1] = 1;
	if (request(2, argv, lens, &frame, &len))
		return -1;
	if (is_error(frame, len, &e))
		fprintf(stderr, "HELLO 3 failed: %.*s\n", (int)e.len, e.str);
	return 0;
}

static bool is_word(const char *arg, size_t len, const char *word)
{
	return len == strlen(word) && !strncasecmp(arg, word, len);
}

/* redis-cli's pub/sub and monitor modes: how many replies the command has
 * (a subscribe's one per channel) before every frame is a message; 0 for
 * other commands. */
static int stream_replies(int argc, const char *const *argv,
			  const size_t *lens, bool *pubsub)
{
	static const char *const subs[] = {"subscribe", "psubscribe",
					   "ssubscribe"};
	size_t i;

	*pubsub = false;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (is_word(argv[0], lens[0], subs[i])) {
			*pubsub = true;
			return argc > 1 ? argc - 1 : 1;
		}
	return is_word(argv[0], lens[0], "monitor");
}

/*
 * Messages until the connection closes (an error, as in redis-cli) or
 * --count-pushes is reached: in pub/sub or monitor mode (stream) every frame,
 * printed as a reply; otherwise (after the last command, with --count-pushes)
 * pushes, handled as while a reply is awaited.
 */
static int messages(bool stream)
{
	const char *frame;
	size_t len;

	while (!pushes_done()) {
		if (next_frame(&frame, &len))
			return -1;
		if (!stream) {
			on_push(frame, len);
			continue;
		}
		print_frame(frame, len, false);
		C.pushes++;
	}
	return 0;
}

/* Run one command and print its reply (in pub/sub or monitor mode, then
 * its messages). */
static int run_command(int argc, const char *const *argv, const size_t *lens)
{
	bool pubsub;
	int stream = stream_replies(argc, argv, lens, &pubsub), i;
	const char *frame;
	struct cli_elem e;
	size_t len;

	if (send_command(argc, argv, lens))
		return -1;
	if (pubsub && O.mode == CLI_TTY)
		printf("Reading messages... (press Ctrl-C to quit)\n");
	for (i = 0; i < (stream ? stream : 1); i++) {
		/* a RESP3 subscribe's confirmations are pushes */
		if (stream ? next_frame(&frame, &len)
			   : next_reply(&frame, &len))
			return -1;
		print_frame(frame, len, false);
		if (is_error(frame, len, &e)) {
			stream = 0;
			break;
		}
	}
	if (stream) {
		C.streamed = true;
		return messages(true);
	}
	/* the prompt shows the database, as redis-cli's does */
	if (argc == 2 && is_word(argv[0], lens[0], "select") &&
	    frame[0] == '+')
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
		if (!argc || ret || C.streamed)
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
	    "  -3                 HELLO 3 after connecting: RESP3 replies\n"
	    "  --show-pushes yes|no  print RESP3 pushes (client tracking's "
	    "invalidations;\n"
	    "                     default: yes on a terminal)\n"
	    "  --count-pushes N   exit (status 0) once N messages arrived: "
	    "pushes, or\n"
	    "                     after (P|S)SUBSCRIBE or MONITOR the "
	    "messages after its\n"
	    "                     replies; status 1 if the connection ends "
	    "first.\n"
	    "                     (rring-cli only: redis-cli has no such "
	    "option)\n"
	    "  --help\n"
	    "Without a command, reads commands from stdin, one a line (a "
	    "prompt on a terminal).\n"
	    "After (P|S)SUBSCRIBE or MONITOR, prints every message until the "
	    "connection\n"
	    "closes (status 1, as redis-cli) or --count-pushes is reached.\n"
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

enum {
	OPT_USER = 256,
	OPT_RAW,
	OPT_NO_RAW,
	OPT_NO_WARN,
	OPT_SHOW_PUSHES,
	OPT_COUNT_PUSHES,
	OPT_HELP
};

/* redis-cli's yes/no arguments. */
static int yes_no(const char *opt, const char *s, bool *out)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "no")) {
		*out = !strcasecmp(s, "yes");
		return 0;
	}
	fprintf(stderr, PROG ": bad value '%s' for %s: expected yes or no\n",
		s, opt);
	return -EINVAL;
}

/* Options up to the first command word; returns its index, or -1. */
static int parse_args(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"user", required_argument, NULL, OPT_USER},
	    {"pass", required_argument, NULL, 'a'},
	    {"raw", no_argument, NULL, OPT_RAW},
	    {"no-raw", no_argument, NULL, OPT_NO_RAW},
	    {"no-auth-warning", no_argument, NULL, OPT_NO_WARN},
	    {"show-pushes", required_argument, NULL, OPT_SHOW_PUSHES},
	    {"count-pushes", required_argument, NULL, OPT_COUNT_PUSHES},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0}};
	long long v;
	int c;

	O.mode = isatty(STDOUT_FILENO) ? CLI_TTY : CLI_RAW;
	O.show_pushes = O.mode == CLI_TTY;
	O.password = getenv("REDISCLI_AUTH");
	/* '+': stop at the command, whose words may look like options */
	while ((c = getopt_long(argc, argv, "+h:p:a:n:3", longs, NULL)) != -1) {
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
		case '3':
			O.resp3 = true;
			break;
		case OPT_USER:
			O.user = optarg;
			break;
		case OPT_SHOW_PUSHES:
			if (yes_no("--show-pushes", optarg, &O.show_pushes))
				return -1;
			break;
		case OPT_COUNT_PUSHES:
			if (num("--count-pushes", optarg, 1, LLONG_MAX,
				&O.count_pushes))
				return -1;
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
	if (!ret && !C.streamed && O.count_pushes)
		ret = messages(false);
	disconnect();
	return ret ? 1 : 0;
}
