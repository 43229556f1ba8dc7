/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: single-use tokens naming an RDMA client and its user. */
#ifndef RDM_TOKEN_H
#define RDM_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The proof a server connection gives in RDMARING.ATTACH (attach.h) that
 * it was opened by the module for one RDMA client: 128 random bits
 * (getrandom), handed out once in hex, single-use (taken out of the table
 * when presented, valid or not), compared in constant time, expiring after
 * RDM_TOKEN_TTL_MS. One table, shared by IO threads (new) and the main
 * thread (take) under a mutex. Times are the caller's rdm_now_ms().
 */
#define RDM_TOKEN_HEX 32 /* 16 random bytes in hex */
#define RDM_TOKEN_TTL_MS 60000u

/* rdm_token_new - a token for RDMA client id of user (NULL: not
 * authenticated) into hex (RDM_TOKEN_HEX chars + NUL); expired tokens are
 * dropped. 0 or -errno. Any thread. */
int rdm_token_new(uint64_t id, const char *user, uint64_t now_ms, char *hex);

/* rdm_token_take - the token hex/len names, out of the table: 0 with *id
 * and *user (the caller frees it; NULL: not authenticated); -ENOENT when
 * no token matches (malformed, used, never made); -ETIMEDOUT when it
 * expired. Any thread. */
int rdm_token_take(const char *hex, size_t len, uint64_t now_ms, uint64_t *id,
		   char **user);

/* rdm_token_forget - drop every token (unload, tests). */
void rdm_token_forget(void);

#endif /* RDM_TOKEN_H */
