/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring examples: what every example needs (engine start, a done flag). */
#ifndef RRING_EXAMPLE_H
#define RRING_EXAMPLE_H

#include <pthread.h>
#include <stdint.h>

#include <rdmaring.h>

/* One key=value engine parameter, as rring_params_set takes it. */
struct ex_param {
	const char *key, *value;
};

/* The event handler of struct rring_handlers. */
typedef void ex_event_fn(struct rring_io *io, const struct rring_event *ev,
			 void *arg);

/* Create and start an engine with the defaults changed by params[0..n);
 * event runs on the IO threads (arg: the program name), engine log lines
 * go to stderr through ex_log. Prints the reason and returns NULL on
 * error. */
struct rring_engine *ex_engine_start(const char *prog,
				     const struct ex_param *params, size_t n,
				     ex_event_fn *event);

/* Listen on 127.0.0.1:port (0: any free port) and print "PROG: listening
 * on port N" on stdout (scripts wait for that line). The bound port, or a
 * negative errno after printing why. */
int ex_listen(const char *prog, struct rring_engine *e, uint16_t port);

/* Parse the command-line argument `what` = s as an integer in [min, max];
 * 0, or -EINVAL after printing the argument, its value and the range. */
int ex_arg(const char *prog, const char *what, const char *s, uint64_t min,
	   uint64_t max, uint64_t *out);

/* The engine's log lines on stderr, prefixed with the program (arg). */
void ex_log(int level, const char *msg, void *arg);

/*
 * A result that an IO thread hands to the main thread: the event handler
 * calls ex_done_set once, the main thread blocks in ex_done_wait. A mutex
 * and condition variable, so the main thread sleeps instead of polling.
 */
struct ex_done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int set;
	int status; /* 0 success, else a negative errno */
};

void ex_done_init(struct ex_done *d);
void ex_done_set(struct ex_done *d, int status);
/* The status given to ex_done_set, or -ETIMEDOUT after seconds. */
int ex_done_wait(struct ex_done *d, int seconds);

/* Byte number off of the test stream the transfer examples send: it depends
 * on every byte of the offset, so a chunk landing at the wrong place, a
 * repeat or a gap is seen by the receiver. */
static inline unsigned char ex_stream_byte(uint64_t off)
{
	return (unsigned char)(off ^ ((off >> 8) * 7) ^ ((off >> 16) * 13) ^
			       ((off >> 24) * 17));
}

#endif
