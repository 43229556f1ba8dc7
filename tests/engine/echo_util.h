/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: echo server and checking client over two engines. */
#ifndef RRING_TEST_ECHO_UTIL_H
#define RRING_TEST_ECHO_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rdmaring.h"

#define ECHO_MAX_MSG 2048
#define ECHO_PENDING 16
#define ECHO_WINDOW 2

/* Shared counters; IO threads update, the test thread waits on them. */
struct echo_counters {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int done;      /* client conns that got every echo */
	atomic_int connected; /* client CONNECTED */
	atomic_int accepted;  /* server ACCEPTED */
	atomic_int closed;    /* CLOSED events (either side) */
	atomic_int client_closed; /* CLOSED events of clients */
	atomic_int errors;    /* any check that failed */
	atomic_llong bytes;   /* payload bytes checked by clients */
	char first_error[256];
};

/* Client connection: owned by its IO thread once connected. */
struct echo_client {
	struct echo_counters *cnt;
	int idx;
	struct rring_conn *conn;
	uint32_t total; /* messages to send and get back */
	uint32_t next_send, next_recv;
	int blocked;	 /* a send got -EAGAIN; retry on SEND_DONE */
	int close_after; /* close after this many echoes (-1 never) */
	int established, closing, closed, close_status;
};

/* Server connection state, allocated on ACCEPTED. */
struct echo_server_conn {
	struct echo_counters *cnt;
	uint32_t received;
	int close_after; /* close after this many messages (-1 never) */
	int closed;
	uint32_t npend;
	uint32_t pend_len[ECHO_PENDING];
	unsigned char pend[ECHO_PENDING][ECHO_MAX_MSG];
	struct echo_server_conn *next_all;
};

struct echo_server {
	struct echo_counters *cnt;
	int close_after;      /* applied to every accepted conn */
	pthread_mutex_t lock; /* protects all (list of every conn) */
	struct echo_server_conn *all;
};

void echo_counters_init(struct echo_counters *c);
void echo_fail(struct echo_counters *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Add one to *v and wake echo_wait (any thread). */
void echo_bump(struct echo_counters *c, atomic_int *v);
/* Wait until *v >= want or ms pass; returns the last value seen. */
int echo_wait(struct echo_counters *c, atomic_int *v, int want, int ms);

/* Event handlers: arg is struct echo_server * / unused for the client. */
void echo_server_event(struct rring_io *io, const struct rring_event *ev,
		       void *arg);
void echo_client_event(struct rring_io *io, const struct rring_event *ev,
		       void *arg);
void echo_server_free(struct echo_server *s);

/* Ready @s for rring_listen() with fresh counters @cnt (initialised here):
 * every accepted connection closes after @close_after messages (-1 never). */
void echo_server_init(struct echo_server *s, struct echo_counters *cnt,
		      int close_after);
/* Ready client @idx for rring_connect(): @total echoes, counted in @cnt;
 * it closes after @close_after of them (-1 never). */
void echo_client_init(struct echo_client *cl, struct echo_counters *cnt,
		      int idx, uint32_t total, int close_after);

/* Parameters for test engines: small buffers, no pinning, quick idle. */
void echo_params(struct rring_params *p, unsigned int io_threads);

/* A started "wire" 1 engine of one IO thread with echo_params and event
 * handler fn; external: io-threads-external. NULL on failure. */
struct rring_engine *echo_wire_engine(void (*fn)(struct rring_io *,
						 const struct rring_event *,
						 void *),
				      int external);

/* srv listens on a free loopback port and cli starts n connections there,
 * the i-th with conn_ctx ctx[i] (NULL: none); 0 or -errno. */
int echo_listen_connect(struct rring_engine *srv, struct rring_engine *cli,
			int n, void *const *ctx);
/* A started engine with parameters p and event handler fn; NULL on
 * failure. */
struct rring_engine *echo_engine(const struct rring_params *p,
				 void (*fn)(struct rring_io *,
					    const struct rring_event *, void *));

/* CPU seconds used so far by this process's engine threads (rring-*). */
double echo_engine_cpu_seconds(void);

#endif /* RRING_TEST_ECHO_UTIL_H */
