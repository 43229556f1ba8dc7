// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: rdma_getaddrinfo and the rdma_create_ep / rdma_destroy_ep helpers. */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "cm_internal.h"

static struct sockaddr *dup_addr(const struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr *d;

	*len = cm_addr_len(sa);
	if (!*len)
		return NULL;
	d = malloc(*len);
	if (d)
		memcpy(d, sa, *len);
	return d;
}

static void hints_to_gai(const struct rdma_addrinfo *hints, struct addrinfo *h)
{
	memset(h, 0, sizeof(*h));
	h->ai_socktype = SOCK_STREAM;
	if (!hints)
		return;
	if (hints->ai_flags & RAI_PASSIVE)
		h->ai_flags |= AI_PASSIVE;
	if (hints->ai_flags & RAI_NUMERICHOST)
		h->ai_flags |= AI_NUMERICHOST;
	if (hints->ai_family == AF_INET || hints->ai_family == AF_INET6)
		h->ai_family = hints->ai_family;
}

/* Prefer IPv4: the GIDs are IPv4-mapped. */
static const struct addrinfo *pick(const struct addrinfo *ai)
{
	const struct addrinfo *i;

	for (i = ai; i; i = i->ai_next)
		if (i->ai_family == AF_INET)
			return i;
	for (i = ai; i; i = i->ai_next)
		if (i->ai_family == AF_INET6)
			return i;
	return NULL;
}

static int fill_addrs(struct rdma_addrinfo *rai, const char *node,
		      const char *service, const struct rdma_addrinfo *hints)
{
	const struct addrinfo *a;
	struct addrinfo h, *ai;
	int ret;

	hints_to_gai(hints, &h);
	ret = getaddrinfo(node, service, &h, &ai);
	if (ret)
		return ret;
	a = pick(ai);
	if (!a) {
		freeaddrinfo(ai);
		return EAI_FAMILY;
	}
	rai->ai_family = a->ai_family;
	if (rai->ai_flags & RAI_PASSIVE)
		rai->ai_src_addr = dup_addr(a->ai_addr, &rai->ai_src_len);
	else
		rai->ai_dst_addr = dup_addr(a->ai_addr, &rai->ai_dst_len);
	freeaddrinfo(ai);
	if (!rai->ai_src_addr && !rai->ai_dst_addr)
		return EAI_MEMORY;
	return 0;
}

int rdma_getaddrinfo(const char *node, const char *service,
		     const struct rdma_addrinfo *hints,
		     struct rdma_addrinfo **res)
{
	struct rdma_addrinfo *rai;
	int ret = sv_init();

	if (ret)
		return cm_err(-ret);
	if (!res || (!node && !service && !hints))
		return cm_err(EINVAL);
	rai = calloc(1, sizeof(*rai));
	if (!rai)
		return cm_err(ENOMEM);
	rai->ai_flags = hints ? hints->ai_flags : 0;
	rai->ai_qp_type = hints && hints->ai_qp_type ? hints->ai_qp_type :
							IBV_QPT_RC;
	rai->ai_port_space = hints && hints->ai_port_space ?
				     hints->ai_port_space : RDMA_PS_TCP;
	rai->ai_family = hints ? hints->ai_family : 0;
	if (node || service) {
		ret = fill_addrs(rai, node, service, hints);
		if (ret)
			goto err;
	}
	if (hints && hints->ai_src_addr && !rai->ai_src_addr)
		rai->ai_src_addr =
		    dup_addr(hints->ai_src_addr, &rai->ai_src_len);
	if (hints && hints->ai_dst_addr && !rai->ai_dst_addr)
		rai->ai_dst_addr =
		    dup_addr(hints->ai_dst_addr, &rai->ai_dst_len);
	*res = rai;
	return 0;
err:
	rdma_freeaddrinfo(rai);
	return ret;
}

void rdma_freeaddrinfo(struct rdma_addrinfo *res)
{
	struct rdma_addrinfo *next;

	for (; res; res = next) {
		next = res->ai_next;
		free(res->ai_src_addr);
		free(res->ai_dst_addr);
		free(res->ai_src_canonname);
		free(res->ai_dst_canonname);
		free(res->ai_route);
		free(res->ai_connect);
		free(res);
	}
}

static int passive_ep(struct rdma_cm_id *id, struct rdma_addrinfo *res,
		      struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr)
{
	struct cm_id *c = cm_id_of(id);
	struct sockaddr_in any = { .sin_family = AF_INET };
	int ret;

	ret = rdma_bind_addr(id, res->ai_src_addr ? res->ai_src_addr :
						    (struct sockaddr *)&any);
	if (ret)
		return ret;
	if (pd)
		id->pd = pd;
	if (qp_init_attr) {
		c->ep_qp_attr = malloc(sizeof(*qp_init_attr));
		if (!c->ep_qp_attr)
			return cm_err(ENOMEM);
		*c->ep_qp_attr = *qp_init_attr;
		c->ep_qp_attr->qp_type = (enum ibv_qp_type)res->ai_qp_type;
	}
	return 0;
}

static int active_ep(struct rdma_cm_id *id, struct rdma_addrinfo *res,
		     struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr)
{
	struct cm_id *c = cm_id_of(id);
	int ret;

	ret = rdma_resolve_addr(id, res->ai_src_addr, res->ai_dst_addr, 2000);
	if (!ret)
		ret = rdma_resolve_route(id, 2000);
	if (!ret && qp_init_attr) {
		qp_init_attr->qp_type = (enum ibv_qp_type)res->ai_qp_type;
		ret = rdma_create_qp(id, pd, qp_init_attr);
	}
	if (ret)
		return ret;
	if (res->ai_connect_len) {
		c->ep_connect = malloc(res->ai_connect_len);
		if (!c->ep_connect)
			return cm_err(ENOMEM);
		memcpy(c->ep_connect, res->ai_connect, res->ai_connect_len);
		c->ep_connect_len = res->ai_connect_len;
	}
	return 0;
}

int rdma_create_ep(struct rdma_cm_id **id, struct rdma_addrinfo *res,
		   struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr)
{
	struct rdma_cm_id *cm_id;
	int ret;

	if (!id || !res)
		return cm_err(EINVAL);
	ret = rdma_create_id(NULL, &cm_id, NULL,
			     (enum rdma_port_space)res->ai_port_space);
	if (ret)
		return ret;
	if (res->ai_flags & RAI_PASSIVE)
		ret = passive_ep(cm_id, res, pd, qp_init_attr);
	else
		ret = active_ep(cm_id, res, pd, qp_init_attr);
	if (ret) {
		ret = errno;
		rdma_destroy_ep(cm_id);
		return cm_err(ret);
	}
	*id = cm_id;
	return 0;
}

void rdma_destroy_ep(struct rdma_cm_id *id)
{
	if (!id)
		return;
	if (id->qp)
		rdma_destroy_qp(id);
	if (id->srq)
		rdma_destroy_srq(id);
	rdma_destroy_id(id);
}
