/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: a moved client's bytes relayed over a connection to the
 * server itself. */
#ifndef RDM_RELAY_H
#define RDM_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resp.h"
#include "target.h"

/*
 * A client whose command needs a real server client (policy.h,
 * RDM_CMD_MOVE) moves, for the rest of its life, to a nonblocking socket
 * its transport's thread opens to the server (target.h). That thread owns
 * the socket (in its own epoll; nobody else touches it) and drives this
 * state machine:
 *   CONNECTING  connect in progress (EPOLLOUT)
 *   SETUP       `RDMARING.ATTACH <token>` (attach.h) and `SELECT <db>`
 *               written; their replies are read here and never forwarded;
 *               an error reply fails the move (RDM_RELAY_FAILED, err holds
 *               the line for the client). Nothing of the client's is
 *               written before ATTACH succeeded.
 *   OPEN        the triggering command (queued at the move), then the
 *               client's input as it arrives (rdm_relay_write) -> socket;
 *               socket -> ops->to_client.
 * Back-pressure: when the client cannot take more (to_client took less
 * than offered), the socket is not read (no EPOLLIN) until
 * rdm_relay_resume: the server's output buffer grows and its own limits
 * (client-output-buffer-limit) apply. Input the socket does not take
 * stays with the transport (unconsumed: the RDMA peer stalls) until
 * ops->want_input. The server closing the socket (QUIT, CLIENT KILL, a
 * limit, timeout) is RDM_RELAY_EOF once every byte it sent was taken.
 */
enum rdm_relay_state {
	RDM_RELAY_IDLE,
	RDM_RELAY_CONNECTING,
	RDM_RELAY_SETUP,
	RDM_RELAY_OPEN,
	RDM_RELAY_DONE,
};

/* Results of rdm_relay_event / rdm_relay_resume besides 0 and -errno. */
#define RDM_RELAY_EOF 1	   /* the server closed it; all delivered */
#define RDM_RELAY_FAILED 2 /* setup refused; err holds the reply */

#define RDM_RELAY_IN_MAX (16u << 10)

struct rdm_relay_ops {
	/* the server's bytes for the client: how many it took now (fewer
	 * than len: it is full, rdm_relay_resume once it has room) */
	size_t (*to_client)(void *arg, const char *data, size_t len);
	/* the socket takes input again: offer what is pending with
	 * rdm_relay_write */
	void (*want_input)(void *arg);
};

struct rdm_relay {
	const struct rdm_relay_ops *ops;
	void *arg; /* the transport's client */
	void *tag; /* epoll data.ptr of the socket */
	enum rdm_relay_state state;
	int fd, epfd;
	uint32_t events; /* registered in epfd (0: not registered) */
	/* for the server ahead of the client's stream: setup commands
	 * [0, setup_end), then the triggering command */
	char *out;
	size_t out_len, out_off, setup_end;
	unsigned int setup_left; /* setup replies not read yet */
	bool input_short;	 /* the client's input did not all fit */
	bool eof;		 /* the server closed its side */
	bool finishing;		 /* the client left: out, then SHUT_WR */
	size_t in_off, in_len;	 /* in[in_off, in_len): not delivered */
	char err[256];		 /* RESP error line after RDM_RELAY_FAILED */
	char in[RDM_RELAY_IN_MAX];
};

/* rdm_relay_init - idle relay for the transport's client arg. */
void rdm_relay_init(struct rdm_relay *r, const struct rdm_relay_ops *ops,
		    void *arg);

/* rdm_relay_queue_cmd - append argv as a RESP command (the one that
 * triggered the move; its bytes may have been in the parser's carry).
 * 0 or -ENOMEM. */
int rdm_relay_queue_cmd(struct rdm_relay *r, const struct rdm_resp_arg *argv,
			int argc);

/* rdm_relay_start - connect to t, registered in epfd with data.ptr =
 * tag, and put ATTACH token (and SELECT db unless 0) before what is
 * queued. 0 or -errno (nothing registered). The owner thread. */
int rdm_relay_start(struct rdm_relay *r, const struct rdm_target *t,
		    int epfd, void *tag, const char *token, int db);

/* rdm_relay_write - the client's input: bytes the socket took (the rest
 * waits for ops->want_input; 0 before OPEN), or -errno. */
ssize_t rdm_relay_write(struct rdm_relay *r, const char *data, size_t len);

/* rdm_relay_event - the owner's epoll reported events for r. */
int rdm_relay_event(struct rdm_relay *r, uint32_t events);

/* rdm_relay_finish - the client is gone, data/len the input it sent
 * that the socket did not take yet: write it after what is queued, then
 * shut the socket's sending side, so that the server runs what the
 * client sent and then sees EOF (as over TCP). The transport keeps the
 * relay until its next result (RDM_RELAY_EOF or an error), taking and
 * dropping whatever the server still sends: closing a socket with unread
 * data resets it, and the server would drop the input it holds. 0, or
 * -errno (not connected, no memory): close it. */
int rdm_relay_finish(struct rdm_relay *r, const char *data, size_t len);

/* rdm_relay_resume - the client has room again. */
int rdm_relay_resume(struct rdm_relay *r);

/* rdm_relay_is_open - the client's input goes to the socket now. */
bool rdm_relay_is_open(const struct rdm_relay *r);

/* rdm_relay_close - unregister and close the socket (idempotent); the
 * server sees EOF and frees its client. */
void rdm_relay_close(struct rdm_relay *r);

#endif /* RDM_RELAY_H */
