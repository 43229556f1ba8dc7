/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: moving a client to a server client, the steps every
 * transport shares. */
#ifndef RDM_MOVE_H
#define RDM_MOVE_H

#include <stdbool.h>
#include <stddef.h>

#include "exec.h"
#include "relay.h"

/*
 * A transport that meets an RDM_CMD_MOVE command (policy.h) on a client:
 *   1. rdm_move_refusal: when the server has no port or unixsocket to
 *      open a server client on, the error for the command; the client
 *      stays on the fast path.
 *   2. otherwise rdm_move_relay (the command copied before its bytes
 *      go), stop parsing;
 *   3. once none of the client's jobs is at the main thread (their
 *      replies go first), rdm_move_start; then relay (relay.h).
 */

/* rdm_move_refusal - the error reply (RESP, "\r\n"-terminated, into buf)
 * for command `name` when the server has no port or unixsocket; 0 when it
 * has one (the client moves). Any thread. */
size_t rdm_move_refusal(const struct rdm_resp_arg *name, char *buf,
			size_t size);

/* rdm_move_relay - a relay (free it) for the client arg with ops, the
 * command argv queued (none when argc is 0: a move at connect); NULL when
 * out of memory. */
struct rdm_relay *rdm_move_relay(const struct rdm_relay_ops *ops, void *arg,
				 const struct rdm_resp_arg *argv, int argc);

/* rdm_move_start - a token for s (its user when authenticated) and the
 * relay's connection (epfd, tag) with s's database. The session's user
 * and db belong to the main thread: call it only while none of s's jobs
 * is there (the reply queue's release/acquire ordered the last one's
 * writes before these reads). 0, or -errno with the reply for the client
 * in err (its length in *err_len). The owner thread. */
int rdm_move_start(struct rdm_relay *r, struct rdm_session *s, int epfd,
		   void *tag, char *err, size_t size, size_t *err_len);

/* rdm_move_set_always - rdmaring.move-clients: always (every new client
 * moves at connect) or on-demand. Main thread. */
void rdm_move_set_always(bool always);

/* rdm_move_always - new clients move at connect. Any thread. */
bool rdm_move_always(void);

#endif /* RDM_MOVE_H */
