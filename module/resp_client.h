/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: client-side RESP2: reply scanner and command encoder (rring-bench,
 * rring-cli, tests). */
#ifndef RDM_RESP_CLIENT_H
#define RDM_RESP_CLIENT_H

#include <stddef.h>

enum rdm_reply_type {
	RDM_REPLY_STATUS,  /* +text */
	RDM_REPLY_ERROR,   /* -text */
	RDM_REPLY_INTEGER, /* :n */
	RDM_REPLY_BULK,	   /* $n payload */
	RDM_REPLY_NIL,	   /* $-1 or *-1 */
	RDM_REPLY_ARRAY,   /* *n, elements follow */
};

/* The top-level reply of a frame. */
struct rdm_reply_info {
	enum rdm_reply_type type;
	long long integer; /* INTEGER value, BULK length, ARRAY count */
	const char *str;   /* STATUS/ERROR text or BULK payload, in buf */
	size_t len;	   /* bytes at str */
	size_t frame_len;  /* bytes of the whole reply, nested ones included */
	size_t need;	   /* incomplete: lower bound of bytes needed */
};

/*
 * rdm_reply_scan - look at the reply at the start of buf (any thread, no
 * allocation). Returns 1 with ri filled when a whole reply (arrays with
 * all their elements) is in buf, 0 when more bytes are needed (ri->need is
 * a lower bound of the total, e.g. a 10 MB bulk's full size once its
 * header arrived), -EPROTO on malformed input.
 */
int rdm_reply_scan(const char *buf, size_t len, struct rdm_reply_info *ri);

/*
 * rdm_reply_head - like rdm_reply_scan, but for the one element at the start
 * of buf: an array's header only (its elements follow at ri->frame_len),
 * a bulk with its payload. Walks a reply rdm_reply_scan found complete.
 */
int rdm_reply_head(const char *buf, size_t len, struct rdm_reply_info *ri);

/*
 * rdm_cmd_encode - the command argv[0..argc) (lens[i] bytes each) as a RESP
 * array of bulk strings into out (NULL: only measure). Returns its length.
 */
size_t rdm_cmd_encode(char *out, int argc, const char *const *argv,
		      const size_t *lens);

#endif /* RDM_RESP_CLIENT_H */
