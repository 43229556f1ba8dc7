/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the reply of HELLO 2 for an RDMA client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"

static char server_name[32] = "redis", version[32], mode[32] = "standalone";

/* Copy the value of "field:" in INFO text into out. */
static void info_field(const char *info, size_t len, const char *field,
		       char *out, size_t size)
{
	size_t flen = strlen(field), i, n;
	const char *p = info, *end = info + len, *eol;

	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > flen && !memcmp(p, field, flen) &&
		    p[flen] == ':') {
			n = (size_t)(eol - p) - flen - 1;
			for (i = 0; i < n && i < size - 1; i++) {
				if (p[flen + 1 + i] == '\r')
					break;
				out[i] = p[flen + 1 + i];
			}
			out[i] = '\0';
			return;
		}
	}
}

void rdm_hello_init(RedisModuleCtx *ctx)
{
	RedisModuleCallReply *r = RedisModule_Call(ctx, "INFO", "c", "server");
	char field[48];
	const char *info;
	size_t len = 0;

	info = r ? RedisModule_CallReplyStringPtr(r, &len) : NULL;
	if (info) {
		/* Valkey names itself (server_name) and its own version */
		info_field(info, len, "server_name", server_name,
			   sizeof(server_name));
		snprintf(field, sizeof(field), "%s_version", server_name);
		info_field(info, len, field, version, sizeof(version));
		info_field(info, len, "redis_mode", mode, sizeof(mode));
	}
	if (r)
		RedisModule_FreeCallReply(r);
}

int rdm_hello_name_ok(const char *name, size_t len)
{
	size_t i;

	/* the server's rule: printable ASCII without spaces */
	for (i = 0; i < len; i++)
		if (name[i] < '!' || name[i] > '~')
			return 0;
	return 1;
}

/* "$<len>\r\n<s>\r\n" */
static int bulk(char *out, size_t size, const char *s)
{
	return snprintf(out, size, "$%zu\r\n%s\r\n", strlen(s), s);
}

char *rdm_hello_reply(RedisModuleCtx *ctx, uint64_t id, size_t *len)
{
	RedisModuleCallReply *mods = RedisModule_Call(ctx, "MODULE", "c", "LIST");
	const char *role, *mp = NULL;
	size_t mlen = 0, n = 0, size;
	char head[512], *out;

	role = RedisModule_GetContextFlags(ctx) & REDISMODULE_CTX_FLAGS_SLAVE
		   ? "replica"
		   : "master";
	if (mods)
		mp = RedisModule_CallReplyProto(mods, &mlen);
	if (!mp) {
		mp = "*0\r\n";
		mlen = 4;
	}
	n += (size_t)snprintf(head, sizeof(head), "*14\r\n");
	n += (size_t)bulk(head + n, sizeof(head) - n, "server");
	n += (size_t)bulk(head + n, sizeof(head) - n, server_name);
	n += (size_t)bulk(head + n, sizeof(head) - n, "version");
	n += (size_t)bulk(head + n, sizeof(head) - n, version);
	n += (size_t)snprintf(head + n, sizeof(head) - n,
			      "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:%llu\r\n",
			      (unsigned long long)id);
	n += (size_t)bulk(head + n, sizeof(head) - n, "mode");
	n += (size_t)bulk(head + n, sizeof(head) - n, mode);
	n += (size_t)bulk(head + n, sizeof(head) - n, "role");
	n += (size_t)bulk(head + n, sizeof(head) - n, role);
	n += (size_t)bulk(head + n, sizeof(head) - n, "modules");
	size = n + mlen;
	out = malloc(size);
	if (out) {
		memcpy(out, head, n);
		memcpy(out + n, mp, mlen);
		*len = size;
	}
	if (mods)
		RedisModule_FreeCallReply(mods);
	return out;
}
