/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: incremental RESP request parser and RESP2 reply writer. */
#ifndef RDM_RESP_H
#define RDM_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/*
 * Request parser
 * --------------
 * Accepts what a Redis 7.0 server accepts on TCP (networking.c,
 * processMultibulkBuffer / processInlineBuffer): multibulk "*N\r\n$L\r\n..."
 * and inline commands, pipelined, with the same limits and the same error
 * texts. One parser per client, used by the client's owner IO thread only.
 *
 * The caller feeds a byte window (the unconsumed part of its receive
 * buffer). rdm_resp_parse returns
 *   RDM_RESP_CMD   a complete command in p->argv / p->argc; *consumed bytes
 *                  of the window belong to it. Arguments point into the
 *                  window when the command lies in it (zero copy), else
 *                  into the parser's carry buffer. Valid until the next
 *                  rdm_resp_parse / rdm_resp_absorb call.
 *   RDM_RESP_AGAIN the window ends inside a command (or is used up).
 *                  *consumed bytes (skipped empty commands, or input taken
 *                  into the carry buffer) may be released; inside a command
 *                  in direct mode *consumed is 0. Two ways on:
 *                  - keep the bytes and call again with a window that
 *                    starts at the same byte and is longer; parsing resumes
 *                    where it stopped (offsets, not pointers, are kept);
 *                  - or, when the window cannot grow (receive buffer full,
 *                    or p->need exceeds it), hand the rest of the window to
 *                    the parser with rdm_resp_absorb and release it. The
 *                    parser copies it, and later input only as far as the
 *                    command needs, into its carry buffer, sized from the
 *                    bulk length once known, so a 10 MB argument costs one
 *                    allocation and one copy. While bytes are carried
 *                    (rdm_resp_pending > 0) rdm_resp_parse takes input from
 *                    the window; *consumed says how much.
 *                  p->need is a lower bound of the bytes the command needs
 *                  counted from the start of the window (direct mode) or of
 *                  the carried bytes (carry mode), or 0 when unknown.
 *   RDM_RESP_ERROR protocol error. p->err holds the text a TCP client gets
 *                  ("Protocol error: invalid bulk length"); send
 *                  "-ERR <text>\r\n" (rdm_resp_error_reply) after the
 *                  replies of the commands parsed before it, then close the
 *                  connection, as Redis does (CLIENT_CLOSE_AFTER_REPLY).
 *                  p->reason is Redis's log reason. The parser stays in
 *                  the error state.
 * Empty commands ("*0\r\n", "*-1\r\n", blank inline lines) are skipped.
 */

#define RDM_PROTO_INLINE_MAX_SIZE (64 * 1024) /* PROTO_INLINE_MAX_SIZE */
#define RDM_PROTO_MAX_BULK_LEN_DEFAULT (512LL * 1024 * 1024)
#define RDM_RESP_UNAUTH_MBULK_MAX 10   /* args before AUTH */
#define RDM_RESP_UNAUTH_BULK_MAX 16384 /* bulk bytes before AUTH */

enum rdm_resp_status {
	RDM_RESP_ERROR = -1,
	RDM_RESP_AGAIN = 0,
	RDM_RESP_CMD = 1,
};

struct rdm_resp_arg {
	const char *ptr;
	size_t len;
};

/* Argument position while parsing: offset into the current source. */
struct rdm_resp_span {
	size_t off;
	size_t len;
};

struct rdm_resp_parser {
	/* settings, may be changed between calls */
	long long proto_max_bulk_len; /* server's proto-max-bulk-len */
	bool auth_required;	      /* client not authenticated yet */

	/* result of the last RDM_RESP_CMD */
	struct rdm_resp_arg *argv;
	int argc;
	/* after RDM_RESP_AGAIN */
	size_t need;
	/* after RDM_RESP_ERROR */
	char err[96];
	const char *reason;

	/* private: resumable state machine */
	int state;
	long long mbulk_left;
	long long bulk_len;
	size_t pos;	 /* next byte of the source to look at */
	bool in_scratch; /* spans refer to the inline scratch */
	struct rdm_resp_span *spans;
	int nspans, spans_cap, argv_cap;
	/* private: carry buffer, live bytes are [carry_off, carry_len) */
	char *carry;
	size_t carry_off, carry_len, carry_cap;
	/* private: unescaped inline arguments */
	char *scratch;
	size_t scratch_cap;
};

/* rdm_resp_parser_init - empty parser; proto_max_bulk_len <= 0 = default. */
void rdm_resp_parser_init(struct rdm_resp_parser *p,
			  long long proto_max_bulk_len);
/* rdm_resp_parser_destroy - free the parser's buffers (idempotent). */
void rdm_resp_parser_destroy(struct rdm_resp_parser *p);
/* rdm_resp_parse - see above. */
int rdm_resp_parse(struct rdm_resp_parser *p, const char *buf, size_t len,
		   size_t *consumed);
/* rdm_resp_absorb - after RDM_RESP_AGAIN with consumed 0: copy the same
 * window (buf, len) into the parser; the caller may then drop the bytes.
 * 0 or -ENOMEM. */
int rdm_resp_absorb(struct rdm_resp_parser *p, const char *buf, size_t len);
/* rdm_resp_pending - bytes held in the carry buffer (0: direct mode). */
size_t rdm_resp_pending(const struct rdm_resp_parser *p);
/* rdm_resp_error_reply - "-ERR <p->err>\r\n" into out (NUL-terminated);
 * returns its length. */
size_t rdm_resp_error_reply(const struct rdm_resp_parser *p, char *out,
			    size_t outlen);

/*
 * Reply writer
 * ------------
 * Builds RESP2 replies as an iovec: headers and small payloads are copied
 * into the writer's buffer, payloads of at least ref_min bytes are
 * referenced (their memory must live until the iovec has been sent, e.g.
 * an RM_Call reply freed after the send completes). Errors are sticky:
 * after an allocation failure every call returns -ENOMEM.
 */

struct rdm_resp_seg {
	const char *ext; /* referenced memory, or NULL: own buffer at off */
	size_t off;
	size_t len;
};

struct rdm_resp_writer {
	size_t ref_min;
	size_t total; /* bytes of reply so far */
	int err;
	char *buf;
	size_t buf_len, buf_cap;
	struct rdm_resp_seg *segs;
	int nsegs, segs_cap;
	struct iovec *iov;
	int iov_cap;
};

#define RDM_RESP_REF_MIN_DEFAULT 4096

void rdm_resp_writer_init(struct rdm_resp_writer *w, size_t ref_min);
void rdm_resp_writer_destroy(struct rdm_resp_writer *w);
/* rdm_resp_writer_reset - empty the writer, keep its memory. */
void rdm_resp_writer_reset(struct rdm_resp_writer *w);
/* "+s\r\n" (s must not contain CR or LF). */
int rdm_resp_add_simple(struct rdm_resp_writer *w, const char *s, size_t len);
/* "-s\r\n": s starts with the error code ("ERR ...", "NOAUTH ..."); CR and
 * LF inside are replaced by spaces, as addReplyErrorFormat does. */
int rdm_resp_add_error(struct rdm_resp_writer *w, const char *s, size_t len);
int rdm_resp_add_integer(struct rdm_resp_writer *w, long long v);
/* "$len\r\n<data>\r\n", data referenced when len >= ref_min. */
int rdm_resp_add_bulk(struct rdm_resp_writer *w, const void *data, size_t len);
int rdm_resp_add_null(struct rdm_resp_writer *w);	/* "$-1\r\n" */
int rdm_resp_add_null_array(struct rdm_resp_writer *w); /* "*-1\r\n" */
/* "*n\r\n": the n elements follow (nesting is just more calls). */
int rdm_resp_add_array(struct rdm_resp_writer *w, long long n);
/* Raw protocol bytes (e.g. RedisModule_CallReplyProto), referenced when
 * len >= ref_min. */
int rdm_resp_add_raw(struct rdm_resp_writer *w, const void *data, size_t len);
/* rdm_resp_writer_iov - the reply as an iovec (valid until the next add or
 * reset); NULL with *cnt 0 when empty or on error. */
const struct iovec *rdm_resp_writer_iov(struct rdm_resp_writer *w, int *cnt);

#endif /* RDM_RESP_H */
