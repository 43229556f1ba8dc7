// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: cm_id lifecycle, bind, listen, address and route resolution. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_internal.h"

pthread_mutex_t cm_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cm_cond = PTHREAD_COND_INITIALIZER;
static struct cm_id *cm_ids; /* every live id of the process */

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ibv_pd *default_pd; /* librdmacm's per-device PD */
static struct ibv_port_attr port_attr;
static bool port_queried;
static struct ibv_device_attr dev_attr;
static bool dev_queried;

int cm_err(int err)
{
	errno = err;
	return -1;
}

struct cm_id *cm_id_of(struct rdma_cm_id *id)
{
	return (struct cm_id *)id;
}

/* cm_lock held. */
struct cm_id *cm_id_alloc(struct cm_channel *chan, void *context,
			  enum rdma_port_space ps)
{
	struct cm_id *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->chan = chan;
	c->fd = -1;
	c->pid = getpid();
	c->id.channel = &chan->ch;
	c->id.context = context;
	c->id.ps = ps;
	c->id.qp_type = IBV_QPT_RC;
	c->next = cm_ids;
	cm_ids = c;
	return c;
}

/* cm_lock held; the id must be unwatched. */
void cm_id_unlink_free(struct cm_id *c)
{
	struct cm_id **pp;

	for (pp = &cm_ids; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->ep_qp_attr);
	free(c->ep_connect);
	free(c);
}

uint8_t cm_port_mtu(void)
{
	struct ibv_context *ctx;
	uint8_t mtu = IBV_MTU_1024;

	pthread_mutex_lock(&dev_lock);
	if (!port_queried) {
		ctx = sv_cm_context();
		if (ctx && !ibv_query_port(ctx, SV_PORT_NUM, &port_attr))
			port_queried = true;
	}
	if (port_queried)
		mtu = (uint8_t)port_attr.active_mtu;
	pthread_mutex_unlock(&dev_lock);
	return mtu;
}

void cm_dev_limits(uint8_t *max_resp_res, uint8_t *max_init_depth)
{
	struct ibv_context *ctx;

	pthread_mutex_lock(&dev_lock);
	if (!dev_queried) {
		ctx = sv_cm_context();
		if (ctx && !ibv_query_device(ctx, &dev_attr))
			dev_queried = true;
	}
	*max_resp_res = dev_queried ? (uint8_t)dev_attr.max_qp_rd_atom : 16;
	*max_init_depth =
		dev_queried ? (uint8_t)dev_attr.max_qp_init_rd_atom : 16;
	pthread_mutex_unlock(&dev_lock);
}

static struct ibv_pd *get_default_pd(struct ibv_context *ctx)
{
	struct ibv_pd *pd;

	pthread_mutex_lock(&dev_lock);
	if (!default_pd)
		default_pd = ibv_alloc_pd(ctx);
	pd = default_pd;
	pthread_mutex_unlock(&dev_lock);
	return pd;
}

/* Application thread: may allocate the default PD. */
int cm_id_set_device(struct cm_id *c)
{
	struct ibv_context *ctx = sv_cm_context();
	struct ibv_pd *pd;

	if (!ctx)
		return -errno;
	pd = get_default_pd(ctx);
	if (!pd)
		return -errno;
	pthread_mutex_lock(&cm_lock);
	c->id.verbs = ctx;
	if (!c->id.pd)
		c->id.pd = pd;
	c->id.port_num = SV_PORT_NUM;
	cm_local_gid(&c->id.route.addr.addr.ibaddr.sgid);
	c->id.route.addr.addr.ibaddr.pkey = htons(0xffff);
	pthread_mutex_unlock(&cm_lock);
	return 0;
}

/* cm_lock held: the route once the peer's GID is known. */
void cm_id_fill_route(struct cm_id *c)
{
	struct ibv_sa_path_rec *p = &c->path;

	c->id.route.addr.addr.ibaddr.dgid = c->peer_gid;
	memset(p, 0, sizeof(*p));
	cm_local_gid(&p->sgid);
	p->dgid = c->peer_gid;
	p->pkey = htons(0xffff);
	p->hop_limit = CM_HOP_LIMIT;
	p->reversible = 1;
	p->numb_path = 1;
	p->mtu_selector = 2;
	p->mtu = c->peer_mtu ? c->peer_mtu : IBV_MTU_1024;
	p->rate_selector = 2;
	p->rate = 7; /* 40 Gb/s */
	p->packet_life_time_selector = 2;
	p->packet_life_time = 14;
	c->id.route.path_rec = p;
	c->id.route.num_paths = 1;
}

int cm_sync_complete(struct cm_id *c)
{
	struct rdma_cm_event *ev;
	int ret;

	if (!c->sync)
		return 0;
	if (c->id.event) {
		rdma_ack_cm_event(c->id.event);
		c->id.event = NULL;
	}
	ret = rdma_get_cm_event(c->id.channel, &c->id.event);
	if (ret)
		return ret;
	ev = c->id.event;
	if (!ev->status)
		return 0;
	if (ev->event == RDMA_CM_EVENT_REJECTED)
		return cm_err(ECONNREFUSED);
	return cm_err(ev->status < 0 ? -ev->status : ev->status);
}

int rdma_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id,
		   void *context, enum rdma_port_space ps)
{
	struct cm_channel *chan;
	struct cm_id *c;
	int ret = sv_init();

	if (ret)
		return cm_err(-ret);
	if (!id)
		return cm_err(EINVAL);
	if (ps != RDMA_PS_TCP && ps != RDMA_PS_IB)
		return cm_err(ENOSYS); /* UD port spaces are not implemented */
	chan = channel ? cm_channel_of(channel) : cm_channel_new();
	if (!chan)
		return -1;
	pthread_mutex_lock(&cm_lock);
	c = cm_id_alloc(chan, context, ps);
	if (c)
		c->sync = !channel;
	pthread_mutex_unlock(&cm_lock);
	if (!c) {
		if (!channel)
			cm_channel_free(chan);
		return cm_err(ENOMEM);
	}
	sv_strict_touch(&c->owner, "cm_id", c);
	*id = &c->id;
	return 0;
}

/* cm_lock held: tell the peer we are going away, as the kernel's CM does. */
static void say_goodbye(struct cm_id *c)
{
	struct cm_msg m;

	/* Sockets inherited across fork() belong to the parent. */
	if (c->fd < 0 || c->peer_gone || c->pid != getpid())
		return;
	if (c->state == CM_REQ_RCVD) {
		cm_msg_init(&m, CM_MSG_REJ, NULL, 0);
		m.status = CM_REJ_CONSUMER_DEFINED;
		cm_send(c, &m);
	} else if (c->state == CM_CONNECTED || c->state == CM_REP_SENT) {
		cm_msg_init(&m, CM_MSG_DREQ, NULL, 0);
		cm_send(c, &m);
	}
}

/* cm_lock held: unlink the listener's unretrieved children onto a list. */
static struct cm_id *take_children(struct cm_id *l)
{
	struct cm_id **pp = &cm_ids, *k, *reap = NULL;

	while ((k = *pp)) {
		if (k->listen != l || k->user_owned) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		k->destroying = true;
		k->next = reap;
		reap = k;
	}
	return reap;
}

static void reap_children(struct cm_id *reap)
{
	struct cm_id *k, *next;

	for (k = reap; k; k = k->next)
		cm_unwatch(k->fd);
	pthread_mutex_lock(&cm_lock);
	for (k = reap; k; k = next) {
		next = k->next;
		say_goodbye(k);
		cm_channel_drop(k->chan, k);
		k->next = NULL;
		if (k->fd >= 0)
			close(k->fd);
		free(k);
	}
	pthread_mutex_unlock(&cm_lock);
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
	struct cm_id *c = cm_id_of(id), *reap;
	struct cm_channel *priv = NULL;

	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	if (c->sync && id->event) {
		rdma_ack_cm_event(id->event);
		id->event = NULL;
	}
	pthread_mutex_lock(&cm_lock);
	c->destroying = true;
	reap = take_children(c);
	cm_channel_drop(c->chan, c);
	say_goodbye(c);
	pthread_mutex_unlock(&cm_lock);

	cm_unwatch(c->fd);
	reap_children(reap);

	pthread_mutex_lock(&cm_lock);
	while (c->acked < c->reported)
		pthread_cond_wait(&cm_cond, &cm_lock);
	if (c->sync)
		priv = c->chan;
	cm_id_unlink_free(c);
	pthread_mutex_unlock(&cm_lock);
	if (priv)
		cm_channel_free(priv);
	return 0;
}

/* cm_lock held: bind a socket of @c to @ss (updated to the address bound)
 * and make that @c's source address. */
static int bind_locked(struct cm_id *c, struct sockaddr_storage *ss)
{
	int fd = cm_bind_socket(ss);

	if (fd < 0)
		return fd;
	c->fd = fd;
	c->bound = true;
	memcpy(&c->id.route.addr.src_storage, ss, sizeof(*ss));
	return 0;
}

int rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	struct cm_id *c = cm_id_of(id);
	struct sockaddr_storage ss = { 0 };
	socklen_t len = cm_addr_len(addr);
	int ret = 0;

	if (!id || !len)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	if (!cm_addr_is_local(addr))
		return cm_err(EADDRNOTAVAIL);
	memcpy(&ss, addr, len);
	pthread_mutex_lock(&cm_lock);
	if (c->state != CM_IDLE || c->bound) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ret = bind_locked(c, &ss);
	if (!ret)
		c->state = CM_ADDR_BOUND;
out_unlock:
	pthread_mutex_unlock(&cm_lock);
	if (ret)
		return cm_err(-ret);
	/* A listener bound to a specific address has its device. */
	if (!cm_addr_is_any(addr)) {
		ret = cm_id_set_device(c);
		if (ret)
			return cm_err(-ret);
	}
	return 0;
}

static int listen_locked(struct cm_id *c)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct sockaddr_storage ss = { 0 };
	int ret;

	if (c->state == CM_LISTEN)
		return 1; /* already listening: nothing to watch */
	if (c->state != CM_IDLE && c->state != CM_ADDR_BOUND)
		return -EINVAL;
	if (!c->bound) {
		memcpy(&ss, &any, sizeof(any));
		ret = bind_locked(c, &ss);
		if (ret)
			return ret;
	}
	if (listen(c->fd, CM_LISTEN_BACKLOG))
		return -errno;
	c->state = CM_LISTEN;
	return 0;
}

int rdma_listen(struct rdma_cm_id *id, int backlog)
{
	struct cm_id *c = cm_id_of(id);
	int ret;

	(void)backlog; /* the socket always gets CM_LISTEN_BACKLOG */
	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	ret = listen_locked(c);
	pthread_mutex_unlock(&cm_lock);
	if (ret == 1)
		return 0;
	if (!ret)
		ret = cm_watch(c->fd, cm_listen_ready, c);
	return ret ? cm_err(-ret) : 0;
}

/* cm_lock held: bind the source address for a connection to @dst. */
static int bind_source(struct cm_id *c, struct sockaddr *src,
		       struct sockaddr *dst)
{
	struct sockaddr_storage ss;

	if (c->bound) {
		/* A wildcard bind reports the address that reaches @dst. */
		if (cm_addr_is_any(&c->id.route.addr.src_addr)) {
			cm_addr_source_for(dst, &ss);
			cm_addr_set_port(
			    (struct sockaddr *)&ss,
			    cm_addr_port(&c->id.route.addr.src_addr));
			memcpy(&c->id.route.addr.src_storage, &ss, sizeof(ss));
		}
		return 0;
	}
	if (src) {
		if (!cm_addr_is_local(src))
			return -EADDRNOTAVAIL;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, src, cm_addr_len(src));
		if (cm_addr_is_any(src))
			cm_addr_source_for(dst, &ss);
	} else {
		cm_addr_source_for(dst, &ss);
	}
	return bind_locked(c, &ss);
}

/* cm_lock held; 1 if the address is not on this host (ADDR_ERROR). */
static int resolve_locked(struct cm_id *c, struct sockaddr *src,
			  struct sockaddr *dst)
{
	struct sockaddr_storage d = { 0 };
	int ret;

	if (c->state != CM_IDLE && c->state != CM_ADDR_BOUND &&
	    c->state != CM_ADDR_RESOLVED)
		return -EINVAL;
	memcpy(&d, dst, cm_addr_len(dst));
	if (cm_addr_is_any(dst)) {
		cm_addr_source_for(dst, &d);
		cm_addr_set_port((struct sockaddr *)&d, cm_addr_port(dst));
	}
	memcpy(&c->id.route.addr.dst_storage, &d, sizeof(d));
	if (!cm_addr_is_local(dst))
		return 1;
	ret = bind_source(c, src, (struct sockaddr *)&d);
	if (ret)
		return ret;
	c->state = CM_ADDR_RESOLVED;
	return 0;
}

int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr,
		      struct sockaddr *dst_addr, int timeout_ms)
{
	struct cm_id *c = cm_id_of(id);
	int ret;

	(void)timeout_ms; /* resolution is immediate here */
	if (!id || !cm_addr_len(dst_addr) ||
	    (src_addr && !cm_addr_len(src_addr)))
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	ret = resolve_locked(c, src_addr, dst_addr);
	if (ret == 1) {
		ret = cm_queue_event(c, c, RDMA_CM_EVENT_ADDR_ERROR,
				     -EHOSTUNREACH, NULL, 0);
		pthread_mutex_unlock(&cm_lock);
		return ret ? cm_err(-ret) : cm_sync_complete(c);
	}
	pthread_mutex_unlock(&cm_lock);
	if (ret)
		return cm_err(-ret);
	ret = cm_id_set_device(c);
	if (ret)
		return cm_err(-ret);
	pthread_mutex_lock(&cm_lock);
	ret = cm_queue_event(c, c, RDMA_CM_EVENT_ADDR_RESOLVED, 0, NULL, 0);
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : cm_sync_complete(c);
}

int rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	struct cm_id *c = cm_id_of(id);
	const struct sockaddr_in *dst;
	int ret = 0;

	(void)timeout_ms;
	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	if (c->state != CM_ADDR_RESOLVED && c->state != CM_ROUTE_RESOLVED) {
		pthread_mutex_unlock(&cm_lock);
		return cm_err(EINVAL);
	}
	/* The peer's GID is the one of its address until it tells us. */
	dst = &id->route.addr.dst_sin;
	if (dst->sin_family == AF_INET)
		sv_gid_from_ipv4(dst->sin_addr.s_addr, &c->peer_gid);
	else
		cm_local_gid(&c->peer_gid);
	c->peer_mtu = cm_port_mtu();
	cm_id_fill_route(c);
	c->state = CM_ROUTE_RESOLVED;
	ret = cm_queue_event(c, c, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL, 0);
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : cm_sync_complete(c);
}

int rdma_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *channel)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_channel *to, *old = NULL;

	if (!id || (c->sync && !channel))
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	to = channel ? cm_channel_of(channel) : cm_channel_new();
	if (!to)
		return -1;
	if (c->sync && id->event) {
		rdma_ack_cm_event(id->event);
		id->event = NULL;
	}
	pthread_mutex_lock(&cm_lock);
	/* Events already retrieved from the old channel must be acked. */
	while (c->acked < c->reported)
		pthread_cond_wait(&cm_cond, &cm_lock);
	if (c->sync)
		old = c->chan;
	cm_channel_move(c, to);
	c->sync = !channel;
	pthread_mutex_unlock(&cm_lock);
	if (old)
		cm_channel_free(old);
	return 0;
}

int rdma_set_option(struct rdma_cm_id *id, int level, int optname,
		    void *optval, size_t optlen)
{
	struct cm_id *c = cm_id_of(id);

	(void)optval;
	(void)optlen;
	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	/* TOS, REUSEADDR, AFONLY, ACK_TIMEOUT, IB path: accepted, no effect. */
	if (level == RDMA_OPTION_ID &&
	    (optname == RDMA_OPTION_ID_TOS ||
	     optname == RDMA_OPTION_ID_REUSEADDR ||
	     optname == RDMA_OPTION_ID_AFONLY ||
	     optname == RDMA_OPTION_ID_ACK_TIMEOUT))
		return 0;
	if (level == RDMA_OPTION_IB && optname == RDMA_OPTION_IB_PATH)
		return 0;
	return cm_err(ENOSYS);
}

__be16 rdma_get_src_port(struct rdma_cm_id *id)
{
	return htons(cm_addr_port(&id->route.addr.src_addr));
}

__be16 rdma_get_dst_port(struct rdma_cm_id *id)
{
	return htons(cm_addr_port(&id->route.addr.dst_addr));
}

struct ibv_context **rdma_get_devices(int *num_devices)
{
	struct ibv_context **list;
	int ret = sv_init();

	if (ret) {
		errno = -ret;
		return NULL;
	}
	list = calloc(2, sizeof(*list));
	if (!list)
		return NULL;
	list[0] = sv_cm_context();
	if (!list[0]) {
		free(list);
		return NULL;
	}
	if (num_devices)
		*num_devices = 1;
	return list;
}

void rdma_free_devices(struct ibv_context **list)
{
	free(list);
}
