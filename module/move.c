/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: moving a client to a server client, the steps every
 * transport shares. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "move.h"
#include "target.h"
#include "token.h"

/* set by the main thread, read by the IO threads at accept: a plain flag,
 * no ordering with anything else */
static atomic_bool always;

void rdm_move_set_always(bool on)
{
	atomic_store_explicit(&always, on, memory_order_relaxed);
}

bool rdm_move_always(void)
{
	return atomic_load_explicit(&always, memory_order_relaxed);
}

/* snprintf's length, bounded by the buffer */
static size_t fitted(int n, size_t size)
{
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

size_t rdm_move_refusal(const struct rdm_resp_arg *name, char *buf,
			size_t size)
{
	int len = (int)(name->len < 64 ? name->len : 64);
	struct rdm_target t;

	rdm_target_get(&t);
	if (t.len)
		return 0;
	return fitted(snprintf(buf, size,
			       "-ERR %.*s needs a server client on the RDMA "
			       "port, and this server has no port or "
			       "unixsocket to open one (port 0, unixsocket "
			       "unset); set either to use %.*s over RDMA\r\n",
			       len, name->ptr, len, name->ptr),
		      size);
}

struct rdm_relay *rdm_move_relay(const struct rdm_relay_ops *ops, void *arg,
				 const struct rdm_resp_arg *argv, int argc)
{
	struct rdm_relay *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	rdm_relay_init(r, ops, arg);
	if (argc && rdm_relay_queue_cmd(r, argv, argc)) {
		rdm_relay_close(r);
		free(r);
		return NULL;
	}
	return r;
}

int rdm_move_start(struct rdm_relay *r, struct rdm_session *s, int epfd,
		   void *tag, char *err, size_t size, size_t *err_len)
{
	char token[RDM_TOKEN_HEX + 1];
	struct rdm_target t;
	const char *user;
	int ret;

	user = atomic_load(&s->authenticated) ? rdm_session_user(s) : NULL;
	rdm_target_get(&t);
	ret = t.len ? rdm_token_new(s->id, user, rdm_now_ms(), token)
		    : -ENOTCONN;
	if (!ret)
		ret = rdm_relay_start(r, &t, epfd, tag, token, s->db);
	if (!ret) {
		rdm_log(RDM_LOG_VERBOSE,
			"client id=%llu moves to a server client through %s",
			(unsigned long long)s->id, t.desc);
		return 0;
	}
	*err_len = fitted(snprintf(err, size,
				   "-ERR cannot move the client to a server "
				   "client at %s: %s\r\n",
				   t.len ? t.desc : "(none)", strerror(-ret)),
			  size);
	return ret;
}
