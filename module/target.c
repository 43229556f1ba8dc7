/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: where the server itself listens, for moved clients. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf_limits.h"
#include "target.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdm_target current;

static void set_inet(struct rdm_target *t, int family, const char *ip,
		     long long port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;

	if (family == AF_INET) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, ip, &a4->sin_addr) != 1)
			return;
		t->len = sizeof(*a4);
		snprintf(t->desc, sizeof(t->desc), "%s:%lld", ip, port);
	} else {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, ip, &a6->sin6_addr) != 1)
			return;
		t->len = sizeof(*a6);
		snprintf(t->desc, sizeof(t->desc), "[%s]:%lld", ip, port);
	}
}

/* Is addr (without a leading '-') in the bind list? */
static bool bound(const char *bind, const char *addr)
{
	char list[256], *save, *tok;

	snprintf(list, sizeof(list), "%s", bind);
	for (tok = strtok_r(list, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok[0] == '-' ? tok + 1 : tok, addr))
			return true;
	return false;
}

void rdm_target_pick(const char *unixsocket, long long port,
		     const char *bind, struct rdm_target *out)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&out->addr;
	char first[64] = "";

	memset(out, 0, sizeof(*out));
	if (unixsocket && unixsocket[0] &&
	    strlen(unixsocket) < sizeof(un->sun_path)) {
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, unixsocket, strlen(unixsocket) + 1);
		out->len = sizeof(*un);
		snprintf(out->desc, sizeof(out->desc), "unix:%s", unixsocket);
		return;
	}
	if (port <= 0 || port > 65535)
		return;
	/* an empty list is the default "* -::*" */
	if (!bind[0] || bound(bind, "*") || bound(bind, "0.0.0.0") ||
	    bound(bind, "127.0.0.1")) {
		set_inet(out, AF_INET, "127.0.0.1", port);
		return;
	}
	if (bound(bind, "::*") || bound(bind, "::") || bound(bind, "::1")) {
		set_inet(out, AF_INET6, "::1", port);
		return;
	}
	sscanf(bind[0] == '-' ? bind + 1 : bind, "%63s", first);
	set_inet(out, strchr(first, ':') ? AF_INET6 : AF_INET, first, port);
}

/* CONFIG GET name copied into out (empty when unknown). */
static void config_str(RedisModuleCtx *ctx, const char *name, char *out,
		       size_t size)
{
	const char *v;
	size_t len = 0;
	RedisModuleCallReply *r = rdm_config_get(ctx, name, &v, &len);

	snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
	if (r)
		RedisModule_FreeCallReply(r);
}

void rdm_target_refresh(RedisModuleCtx *ctx)
{
	char unixsocket[256], port[32], bind[256];
	struct rdm_target t;

	config_str(ctx, "unixsocket", unixsocket, sizeof(unixsocket));
	config_str(ctx, "port", port, sizeof(port));
	config_str(ctx, "bind", bind, sizeof(bind));
	rdm_target_pick(unixsocket, strtoll(port, NULL, 10), bind, &t);
	pthread_mutex_lock(&lock);
	current = t;
	pthread_mutex_unlock(&lock);
}

void rdm_target_get(struct rdm_target *out)
{
	pthread_mutex_lock(&lock);
	*out = current;
	pthread_mutex_unlock(&lock);
}
