/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: a moved client's bytes relayed over a connection to the
 * server itself. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

/* Socket reads per event: one busy subscriber does not starve the other
 * clients of its thread (epoll is level-triggered: it comes back). */
#define READS_PER_EVENT 16

void rdm_relay_init(struct rdm_relay *r, const struct rdm_relay_ops *ops,
		    void *arg)
{
	memset(r, 0, offsetof(struct rdm_relay, in));
	r->ops = ops;
	r->arg = arg;
	r->fd = r->epfd = -1;
	/* the first time it opens, the client's pending input is asked for */
	r->input_short = true;
}

bool rdm_relay_is_open(const struct rdm_relay *r)
{
	return r->state == RDM_RELAY_OPEN;
}

/* Room for n more bytes at the end of out. */
static int out_reserve(struct rdm_relay *r, size_t n)
{
	char *grown = realloc(r->out, r->out_len + n);

	if (!grown)
		return -ENOMEM;
	r->out = grown;
	return 0;
}

static int out_append(struct rdm_relay *r, const char *data, size_t len)
{
	if (out_reserve(r, len))
		return -ENOMEM;
	memcpy(r->out + r->out_len, data, len);
	r->out_len += len;
	return 0;
}

/* "$<len>\r\n<data>\r\n" (or the "*<n>" header when data is NULL). */
static int out_bulk(struct rdm_relay *r, char type, const char *data,
		    size_t len)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%c%zu\r\n", type, len);

	if (out_append(r, head, (size_t)n))
		return -ENOMEM;
	if (!data)
		return 0;
	if (out_append(r, data, len) || out_append(r, "\r\n", 2))
		return -ENOMEM;
	return 0;
}

int rdm_relay_queue_cmd(struct rdm_relay *r, const struct rdm_resp_arg *argv,
			int argc)
{
	int i;

	if (out_bulk(r, '*', NULL, (size_t)argc))
		return -ENOMEM;
	for (i = 0; i < argc; i++)
		if (out_bulk(r, '$', argv[i].ptr, argv[i].len))
			return -ENOMEM;
	return 0;
}

static void set_events(struct rdm_relay *r)
{
	struct epoll_event ev = {.data.ptr = r->tag};
	uint32_t want = 0;
	int op;

	if (r->state == RDM_RELAY_CONNECTING) {
		want = EPOLLOUT;
	} else if (r->state == RDM_RELAY_SETUP || r->state == RDM_RELAY_OPEN) {
		/* nothing waiting for the client (or setup replies) */
		if (!r->eof && (r->state == RDM_RELAY_SETUP || !r->in_len))
			want |= EPOLLIN;
		if (r->out_off < r->out_len ||
		    (r->state == RDM_RELAY_OPEN && r->input_short))
			want |= EPOLLOUT;
	}
	if (want == r->events)
		return;
	/* not registered at all while nothing is wanted: a hang-up would
	 * otherwise be reported again and again */
	op = !want ? EPOLL_CTL_DEL : r->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	ev.events = want;
	if (!epoll_ctl(r->epfd, op, r->fd, &ev))
		r->events = want;
}

int rdm_relay_start(struct rdm_relay *r, const struct rdm_target *t,
		    int epfd, void *tag, const char *token, int db)
{
	size_t queued = r->out_len;
	char num[16];
	struct rdm_resp_arg attach[2] = {{"RDMARING.ATTACH", 15},
					 {token, strlen(token)}},
			    select[2] = {{"SELECT", 6}, {num, 0}};
	int one = 1, ret;

	/* the setup commands go first: built at the end, then rotated */
	ret = rdm_relay_queue_cmd(r, attach, 2);
	r->setup_left = 1;
	if (!ret && db) {
		select[1].len = (size_t)snprintf(num, sizeof(num), "%d", db);
		ret = rdm_relay_queue_cmd(r, select, 2);
		r->setup_left = 2;
	}
	if (ret || out_reserve(r, queued))
		return -ENOMEM;
	r->setup_end = r->out_len - queued;
	memcpy(r->out + r->out_len, r->out, queued);
	memmove(r->out, r->out + queued, r->out_len);
	r->fd = socket(t->addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -errno;
	if (t->addr.ss_family != AF_UNIX)
		setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->epfd = epfd;
	r->tag = tag;
	r->state = RDM_RELAY_SETUP;
	if (connect(r->fd, (const struct sockaddr *)&t->addr, t->len)) {
		if (errno != EINPROGRESS) {
			ret = -errno;
			close(r->fd);
			r->fd = -1;
			r->state = RDM_RELAY_DONE;
			return ret;
		}
		r->state = RDM_RELAY_CONNECTING;
	}
	set_events(r);
	if (!r->events) {
		rdm_relay_close(r);
		return -EIO;
	}
	return 0;
}

/* Send what the socket takes of data: the bytes sent (fewer than len when
 * it is full), or -errno. */
static ssize_t send_some(int fd, const char *data, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(fd, data + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Write out up to where the state allows; 0 or -errno. */
static int flush_out(struct rdm_relay *r)
{
	size_t end = r->state == RDM_RELAY_SETUP ? r->setup_end : r->out_len;
	ssize_t n = send_some(r->fd, r->out + r->out_off, end - r->out_off);

	if (n < 0)
		return (int)n;
	r->out_off += (size_t)n;
	if (r->state == RDM_RELAY_OPEN && r->out_off == r->out_len) {
		free(r->out);
		r->out = NULL;
		r->out_len = r->out_off = 0;
		/* the last of a departed client's input: the server runs it,
		 * then reads EOF and closes */
		if (r->finishing && shutdown(r->fd, SHUT_WR))
			return -errno;
		r->finishing = false;
	}
	return 0;
}

int rdm_relay_finish(struct rdm_relay *r, const char *data, size_t len)
{
	if (r->state != RDM_RELAY_CONNECTING && r->state != RDM_RELAY_SETUP &&
	    r->state != RDM_RELAY_OPEN)
		return -ENOTCONN;
	if (len && out_append(r, data, len))
		return -ENOMEM;
	r->finishing = true;
	r->input_short = false; /* nothing more will come */
	/* open with nothing queued: shut the sending side now */
	if (r->state == RDM_RELAY_OPEN && flush_out(r))
		return -EIO;
	set_events(r);
	return 0;
}

/* Offer the client's input again once nothing of ours is ahead of it. */
static void ask_input(struct rdm_relay *r)
{
	if (r->state == RDM_RELAY_OPEN && r->input_short && !r->out_len)
		r->ops->want_input(r->arg);
}

ssize_t rdm_relay_write(struct rdm_relay *r, const char *data, size_t len)
{
	ssize_t done;

	if (r->state != RDM_RELAY_OPEN || r->out_len) {
		r->input_short = true;
		return 0;
	}
	done = send_some(r->fd, data, len);
	if (done < 0)
		return done;
	r->input_short = (size_t)done < len;
	set_events(r);
	return done;
}

/* The replies to ATTACH and SELECT: "+OK" each, or the move fails. */
static int read_setup(struct rdm_relay *r)
{
	const char *line, *eol;
	size_t len;

	while (r->setup_left) {
		line = r->in + r->in_off;
		eol = memmem(line, r->in_len - r->in_off, "\r\n", 2);
		if (!eol)
			return r->in_len == sizeof(r->in) ? -EPROTO : 0;
		len = (size_t)(eol - line);
		if (!len || line[0] != '+') {
			if (len && line[0] == '-')
				snprintf(r->err, sizeof(r->err), "%.*s\r\n",
					 (int)(len < 250 ? len : 250), line);
			else
				snprintf(r->err, sizeof(r->err),
					 "-ERR unexpected reply from the "
					 "server while moving the client\r\n");
			r->state = RDM_RELAY_DONE;
			return RDM_RELAY_FAILED;
		}
		r->in_off += len + 2;
		r->setup_left--;
	}
	r->state = RDM_RELAY_OPEN;
	return flush_out(r);
}

/* Hand what was read to the client; true when all of it was taken. */
static bool deliver(struct rdm_relay *r)
{
	size_t n;

	while (r->in_off < r->in_len) {
		n = r->ops->to_client(r->arg, r->in + r->in_off,
				      r->in_len - r->in_off);
		if (!n)
			break;
		r->in_off += n;
	}
	if (r->in_off < r->in_len)
		return false;
	r->in_off = r->in_len = 0;
	return true;
}

static int read_in(struct rdm_relay *r)
{
	ssize_t n;
	int i, ret;

	for (i = 0; i < READS_PER_EVENT && !r->eof; i++) {
		if (r->state == RDM_RELAY_OPEN && !deliver(r))
			return 0; /* the client is full: stop reading */
		if (r->in_off) {
			memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
			r->in_len -= r->in_off;
			r->in_off = 0;
		}
		n = recv(r->fd, r->in + r->in_len, sizeof(r->in) - r->in_len,
			 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (!n) {
			r->eof = true;
			break;
		}
		r->in_len += (size_t)n;
		if (r->state == RDM_RELAY_SETUP) {
			ret = read_setup(r);
			if (ret)
				return ret;
		}
	}
	if (r->state == RDM_RELAY_OPEN)
		deliver(r);
	return 0;
}

/* After any step: the server gone, or the events to wait for. */
static int finish(struct rdm_relay *r, int ret)
{
	if (!ret && r->eof && r->state != RDM_RELAY_OPEN)
		ret = -ECONNRESET; /* closed before the move was complete */
	if (!ret && r->eof && !r->in_len)
		ret = RDM_RELAY_EOF;
	if (ret)
		r->state = RDM_RELAY_DONE;
	else
		set_events(r);
	if (!ret)
		ask_input(r);
	return ret;
}

int rdm_relay_event(struct rdm_relay *r, uint32_t events)
{
	int err = 0, ret;
	socklen_t len = sizeof(err);

	if (r->state == RDM_RELAY_CONNECTING) {
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (err)
			return finish(r, -err);
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return 0;
		r->state = RDM_RELAY_SETUP;
	}
	if (r->state != RDM_RELAY_SETUP && r->state != RDM_RELAY_OPEN)
		return 0;
	ret = flush_out(r);
	if (!ret && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		ret = read_in(r);
	return finish(r, ret);
}

int rdm_relay_resume(struct rdm_relay *r)
{
	if (r->state != RDM_RELAY_OPEN)
		return 0;
	deliver(r);
	return finish(r, 0);
}

void rdm_relay_close(struct rdm_relay *r)
{
	if (r->fd >= 0) {
		if (r->events)
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->fd, NULL);
		close(r->fd);
	}
	r->fd = -1;
	r->events = 0;
	r->state = RDM_RELAY_DONE;
	free(r->out);
	r->out = NULL;
	r->out_len = r->out_off = 0;
}
