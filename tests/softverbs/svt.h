/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs tests: helpers to build connected QPs in-process and across a fork. */
#ifndef SVT_H
#define SVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#include "test_support.h"

#ifdef TS_SANITIZED
#define SVT_SCALE 10
#else
#define SVT_SCALE 1
#endif

/* One end: context, PD, CQs (optionally on a channel), RC QP, one buffer MR. */
struct svt_side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_comp_channel *ch;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;
	uint8_t *buf;
	size_t len;
	struct ibv_mr *mr;
};

/* What a peer needs to reach a side (exchanged over a pipe across fork). */
struct svt_info {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
};

struct svt_opts {
	size_t buflen; /* default 1 MiB */
	int cqe; /* default 256 */
	bool channel;
	unsigned int access; /* MR access; default all */
	unsigned int qp_access; /* QP remote access; default all */
	uint32_t max_wr; /* default 128 */
	uint8_t rnr_retry; /* default 7 */
	int sq_sig_all;
};

void svt_opts_init(struct svt_opts *o);
/* Open the device and build a side with its QP in INIT. */
void svt_open(struct svt_side *s, const struct svt_opts *o);
/* INIT -> RTR -> RTS towards @remote_qpn, as ibv_rc_pingpong does. */
void svt_connect(struct svt_side *s, uint32_t remote_qpn, uint8_t rnr_retry);
/* Two connected in-process sides. */
void svt_pair(struct svt_side *a, struct svt_side *b, const struct svt_opts *o);
void svt_close(struct svt_side *s);
/* svt_close() each of @a and @b that is open (a test's .fini). */
void svt_close_pair(struct svt_side *a, struct svt_side *b);
void svt_info(const struct svt_side *s, struct svt_info *info);

/* Post one WR on @s: local [off, off+len) of s->buf. Returns ibv_post_send's value. */
int svt_post(struct svt_side *s, enum ibv_wr_opcode op, size_t off, uint32_t len,
	     uint64_t raddr, uint32_t rkey, uint32_t imm_be, unsigned int flags,
	     uint64_t wr_id);
/* Post one receive of [off, off+len) (len 0: zero SGEs). */
int svt_post_recv(struct svt_side *s, size_t off, uint32_t len, uint64_t wr_id);
/* Poll until @n completions arrived or @timeout_ms passed; returns how many. */
int svt_poll(struct ibv_cq *cq, struct ibv_wc *wc, int n, int timeout_ms);
/* Current QP state from ibv_query_qp. */
enum ibv_qp_state svt_state(struct ibv_qp *qp);
/* One completion on @cq within 5 s, successful and of opcode @op, into @wc. */
void svt_expect_wc(struct ibv_cq *cq, enum ibv_wc_opcode op, struct ibv_wc *wc);

/* Pipes to a forked peer. */
void svt_write_all(int fd, const void *p, size_t n);
void svt_read_all(int fd, void *p, size_t n);
/* Fork a peer process that runs @peer on its ends of two pipes (and exits
 * if it returns); *@to and *@from get ours. Returns its pid. */
int svt_fork_peer(void (*peer)(int in, int out), int *to, int *from);
/* Wait for a child, return its exit status (or 128 + signal). */
int svt_wait_child(int pid);
uint32_t svt_sum(const uint8_t *p, size_t n);
/* @fd polls readable within @timeout_ms. */
bool svt_readable(int fd, int timeout_ms);
/* The tid of this process's thread called @name (its comm), or -1. */
int svt_thread_tid(const char *name);
/* The number (in @base) after "@field:" in the /proc file @path (fails
 * without one). */
long svt_proc_field(const char *path, const char *field, int base);

#endif /* SVT_H */
