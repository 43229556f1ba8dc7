/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: the relay of a moved client (module/relay.c) against a
 * fake server on a unix socket. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"

#define TOKEN "0123456789abcdef0123456789abcdef"
#define DEADLINE_S 10

static struct {
	int lfd, sfd, epfd; /* listener, the server's side, the relay's epoll */
	char path[64];
	struct rdm_relay r;
	char got[4096]; /* what the client was given */
	size_t got_len;
	bool full;	   /* the client takes nothing */
	unsigned int calls; /* to_client calls */
	const char *pending; /* the client's input not yet taken */
} T;

static size_t to_client(void *arg, const char *data, size_t len)
{
	(void)arg;
	T.calls++;
	if (T.full)
		return 0;
	cr_assert_lt(T.got_len + len, sizeof(T.got));
	memcpy(T.got + T.got_len, data, len);
	T.got_len += len;
	return len;
}

static void want_input(void *arg)
{
	ssize_t n = rdm_relay_write(arg, T.pending, strlen(T.pending));

	cr_assert_geq(n, 0);
	T.pending += n;
}

static const struct rdm_relay_ops ops = {.to_client = to_client,
					 .want_input = want_input};

static void setup(void)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	memset(&T, 0, sizeof(T));
	T.pending = "";
	snprintf(T.path, sizeof(T.path), "/tmp/rring-relay-%d.sock",
		 (int)getpid());
	unlink(T.path);
	memcpy(un.sun_path, T.path, strlen(T.path) + 1);
	T.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(T.lfd, 0);
	cr_assert_eq(bind(T.lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	cr_assert_eq(listen(T.lfd, 4), 0);
	T.epfd = epoll_create1(0);
	cr_assert_geq(T.epfd, 0);
	T.sfd = -1;
}

static void teardown(void)
{
	rdm_relay_close(&T.r);
	if (T.sfd >= 0)
		close(T.sfd);
	close(T.lfd);
	close(T.epfd);
	unlink(T.path);
}

TestSuite(relay, .init = setup, .fini = teardown, .timeout = 30);

/* Start the relay with MULTI queued, db 3; accept its connection. */
static void start(void)
{
	struct rdm_resp_arg multi = {"MULTI", 5};
	struct rdm_target t = {.len = sizeof(struct sockaddr_un)};
	struct sockaddr_un *un = (struct sockaddr_un *)&t.addr;

	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, T.path, strlen(T.path) + 1);
	rdm_relay_init(&T.r, &ops, &T.r);
	cr_assert_eq(rdm_relay_queue_cmd(&T.r, &multi, 1), 0);
	cr_assert_eq(rdm_relay_start(&T.r, &t, T.epfd, &T.r, TOKEN, 3), 0);
	T.sfd = accept(T.lfd, NULL, NULL);
	cr_assert_geq(T.sfd, 0);
}

/* Run the relay's events once (up to 100 ms); the last result. */
static int pump(void)
{
	struct epoll_event ev;
	int n = epoll_wait(T.epfd, &ev, 1, 100), ret = 0;

	if (n == 1) {
		cr_assert_eq(ev.data.ptr, &T.r);
		ret = rdm_relay_event(&T.r, ev.events);
	}
	return ret;
}

/* The server reads exactly want (pumping the relay meanwhile), then
 * nothing (eof: the end of the stream). */
static void server_expect_end(const char *want, bool eof)
{
	size_t len = strlen(want), got = 0;
	time_t end = time(NULL) + DEADLINE_S;
	char buf[512];
	ssize_t n;

	cr_assert_lt(len, sizeof(buf));
	while (got < len) {
		cr_assert_lt(time(NULL), end, "server got %zu of %zu bytes",
			     got, len);
		cr_assert_eq(pump(), 0);
		n = recv(T.sfd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	cr_assert_arr_eq(buf, want, len, "%.*s", (int)len, buf);
	/* and nothing more */
	cr_assert_eq(pump(), 0);
	n = recv(T.sfd, buf, sizeof(buf), MSG_DONTWAIT);
	cr_assert_eq(n, eof ? 0 : -1, "recv %zd", n);
}

static void server_expect(const char *want)
{
	server_expect_end(want, false);
}

static void server_send(const char *s)
{
	cr_assert_eq(send(T.sfd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* Pump until the client was given want in all. */
static void client_expect(const char *want)
{
	time_t end = time(NULL) + DEADLINE_S;

	while (T.got_len < strlen(want)) {
		cr_assert_lt(time(NULL), end, "client got '%.*s'",
			     (int)T.got_len, T.got);
		cr_assert_eq(pump(), 0);
	}
	cr_assert_eq(T.got_len, strlen(want));
	cr_assert_arr_eq(T.got, want, T.got_len);
}

static const char setup_cmds[] =
    "*2\r\n$15\r\nRDMARING.ATTACH\r\n$32\r\n" TOKEN "\r\n"
    "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n";

Test(relay, setup_first_then_the_command_and_the_input)
{
	T.pending = "INCR a\r\n";
	start();
	/* nothing of the client's before ATTACH succeeded */
	server_expect(setup_cmds);
	cr_assert_not(rdm_relay_is_open(&T.r));
	server_send("+OK\r\n+OK\r\n+OK\r\n");
	server_expect("*1\r\n$5\r\nMULTI\r\nINCR a\r\n");
	cr_assert(rdm_relay_is_open(&T.r));
	/* the setup replies were not forwarded, MULTI's was */
	client_expect("+OK\r\n");
}

Test(relay, refused_attach_fails_with_its_error)
{
	int ret = 0;
	time_t end = time(NULL) + DEADLINE_S;

	start();
	server_expect(setup_cmds);
	server_send("-ERR RDMARING.ATTACH: invalid or used token\r\n+OK\r\n");
	while (!ret) {
		cr_assert_lt(time(NULL), end);
		ret = pump();
	}
	cr_assert_eq(ret, RDM_RELAY_FAILED);
	cr_assert_str_eq(T.r.err,
			 "-ERR RDMARING.ATTACH: invalid or used token\r\n");
	cr_assert_eq(T.got_len, 0);
	/* MULTI was never written */
	{
		char buf[64];

		cr_assert_leq(recv(T.sfd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	}
}

Test(relay, full_client_stops_reading_then_eof_after_delivery)
{
	unsigned int calls;
	time_t end = time(NULL) + DEADLINE_S;
	int ret = 0;

	start();
	server_expect(setup_cmds);
	server_send("+OK\r\n+OK\r\n");
	server_expect("*1\r\n$5\r\nMULTI\r\n");
	T.full = true;
	server_send("+first\r\n");
	while (!T.calls) {
		cr_assert_lt(time(NULL), end);
		cr_assert_eq(pump(), 0);
	}
	/* the socket is not read while the client is full */
	cr_assert_eq(T.r.events & EPOLLIN, 0);
	calls = T.calls;
	server_send("+second\r\n");
	close(T.sfd);
	T.sfd = -1;
	cr_assert_eq(pump(), 0);
	cr_assert_eq(T.calls, calls);
	/* room again: what was held, the rest, then EOF */
	T.full = false;
	ret = rdm_relay_resume(&T.r);
	while (!ret) {
		cr_assert_lt(time(NULL), end);
		ret = pump();
	}
	cr_assert_eq(ret, RDM_RELAY_EOF);
	cr_assert_eq(T.got_len, strlen("+first\r\n+second\r\n"));
	cr_assert_arr_eq(T.got, "+first\r\n+second\r\n", T.got_len);
}

Test(relay, finish_writes_the_rest_then_shuts_down)
{
	time_t end = time(NULL) + DEADLINE_S;
	int ret = 0;

	start();
	server_expect(setup_cmds);
	/* the client leaves during setup: its input follows the command */
	cr_assert_eq(rdm_relay_finish(&T.r, "SET x 1\r\n", 9), 0);
	server_send("+OK\r\n+OK\r\n");
	/* then EOF: the server runs it and closes */
	server_expect_end("*1\r\n$5\r\nMULTI\r\nSET x 1\r\n", true);
	server_send("+OK\r\n+QUEUED\r\n");
	close(T.sfd);
	T.sfd = -1;
	while (!ret) {
		cr_assert_lt(time(NULL), end);
		ret = pump();
	}
	cr_assert_eq(ret, RDM_RELAY_EOF);
	cr_assert_eq(T.got_len, strlen("+OK\r\n+QUEUED\r\n"));
}
