// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: the connection table (cds_lfht by id and by qp_num) and owners. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * The poller is the only writer. Lookups (the poller's, and any other
 * thread's) run under rcu_read_lock (urcu memb flavour); a removed
 * connection is freed by call_rcu, so a reader that found it may use it
 * until rcu_read_unlock. The poller keeps a direct-mapped qp_num cache in
 * front of the qp table (poller-private, cleared on removal).
 */

static unsigned long mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (unsigned long)k;
}

static int match_id(struct cds_lfht_node *node, const void *key)
{
	struct rring_conn *c =
	    caa_container_of(node, struct rring_conn, id_node);

	return c->id == *(const uint64_t *)key;
}

static int match_qpn(struct cds_lfht_node *node, const void *key)
{
	struct rring_conn *c =
	    caa_container_of(node, struct rring_conn, qp_node);

	return c->qp_num == *(const uint32_t *)key;
}

int rr_table_init(struct rring_engine *e)
{
	int flags = CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING;

	e->by_id = cds_lfht_new(64, 64, 0, flags, NULL);
	e->by_qpn = cds_lfht_new(64, 64, 0, flags, NULL);
	if (!e->by_id || !e->by_qpn) {
		rr_table_fini(e);
		return -ENOMEM;
	}
	return 0;
}

void rr_table_fini(struct rring_engine *e)
{
	if (e->by_id)
		cds_lfht_destroy(e->by_id, NULL);
	if (e->by_qpn)
		cds_lfht_destroy(e->by_qpn, NULL);
	e->by_id = NULL;
	e->by_qpn = NULL;
}

struct rring_conn *rr_conn_new(struct rring_engine *e, uint64_t id,
			       struct rring_io *owner)
{
	struct rring_conn *c;

	if (posix_memalign((void **)&c, RRING_CACHELINE, sizeof(*c)))
		return NULL;
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->e = e;
	c->owner = owner;
	cds_lfht_node_init(&c->id_node);
	cds_lfht_node_init(&c->qp_node);
	owner->n_conns++;
	e->n_conns++;
	atomic_store_explicit(&e->st_conns, e->n_conns, memory_order_relaxed);
	return c;
}

void rr_table_add(struct rring_engine *e, struct rring_conn *c)
{
	rcu_read_lock();
	cds_lfht_add(e->by_id, mix64(c->id), &c->id_node);
	rcu_read_unlock();
}

void rr_table_add_qp(struct rring_engine *e, struct rring_conn *c)
{
	rcu_read_lock();
	cds_lfht_add(e->by_qpn, mix64(c->qp_num), &c->qp_node);
	rcu_read_unlock();
	c->in_qp_table = 1;
	e->qpn_cache[c->qp_num % RR_QPN_CACHE] = c;
}

static void conn_free_rcu(struct rcu_head *head)
{
	struct rring_conn *c = caa_container_of(head, struct rring_conn, rcu);

	/* Acquire pairs with the release in rr_table_del: the grace period
	 * already orders them; this makes it visible to ThreadSanitizer,
	 * which cannot see urcu's membarrier-based ordering. */
	(void)atomic_load_explicit(&c->retired, memory_order_acquire);
	free(c->send_stack);
	free(c->send_tag);
	free(c->send_len);
	free(c);
}

/* Remove c from both tables and free it after a grace period. */
void rr_table_del(struct rring_engine *e, struct rring_conn *c)
{
	rcu_read_lock();
	if (c->in_qp_table)
		cds_lfht_del(e->by_qpn, &c->qp_node);
	cds_lfht_del(e->by_id, &c->id_node);
	rcu_read_unlock();
	if (c->in_qp_table && e->qpn_cache[c->qp_num % RR_QPN_CACHE] == c)
		e->qpn_cache[c->qp_num % RR_QPN_CACHE] = NULL;
	c->in_qp_table = 0;
	c->owner->n_conns--;
	e->n_conns--;
	atomic_store_explicit(&e->st_conns, e->n_conns, memory_order_relaxed);
	/* Release pairs with the acquire in conn_free_rcu. */
	atomic_store_explicit(&c->retired, 1, memory_order_release);
	call_rcu(&c->rcu, conn_free_rcu);
}

/* Poller, inside rcu_read_lock: the connection of a QP number or NULL. */
struct rring_conn *rr_table_by_qpn(struct rring_engine *e, uint32_t qpn)
{
	struct rring_conn *c = e->qpn_cache[qpn % RR_QPN_CACHE];
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	if (rring_likely(c && c->qp_num == qpn))
		return c;
	cds_lfht_lookup(e->by_qpn, mix64(qpn), match_qpn, &qpn, &it);
	node = cds_lfht_iter_get_node(&it);
	if (!node)
		return NULL;
	c = caa_container_of(node, struct rring_conn, qp_node);
	e->qpn_cache[qpn % RR_QPN_CACHE] = c;
	return c;
}

/* Least-loaded IO thread; ties go round-robin from the last choice. */
struct rring_io *rr_pick_owner(struct rring_engine *e)
{
	unsigned int i, best = e->rr_next % e->n_io;

	for (i = 0; i < e->n_io; i++) {
		unsigned int k = (e->rr_next + i) % e->n_io;

		if (e->io[k]->n_conns < e->io[best]->n_conns)
			best = k;
	}
	e->rr_next = best + 1;
	return e->io[best];
}

/* ---- Lookups from any thread -------------------------------------------- */

static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	rcu_unregister_thread();
}

static void rcu_key_init(void)
{
	pthread_key_create(&rcu_key, rcu_thread_exit);
}

/* Register the calling thread with urcu once (unregistered at exit). */
static void rcu_ensure_registered(void)
{
	pthread_once(&rcu_key_once, rcu_key_init);
	if (pthread_getspecific(rcu_key))
		return;
	rcu_register_thread();
	pthread_setspecific(rcu_key, (void *)1);
}

int rring_engine_conn_info(struct rring_engine *e, uint64_t id,
			   struct rring_conn_info *out)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct rring_conn *c;
	int ret = -ENOENT;

	if (!e || !out)
		return -EINVAL;
	rcu_ensure_registered();
	rcu_read_lock();
	cds_lfht_lookup(e->by_id, mix64(id), match_id, &id, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node) {
		c = caa_container_of(node, struct rring_conn, id_node);
		out->id = c->id;
		out->io_index = c->owner->idx;
		out->outbound = c->outbound;
		out->qp_num = c->qp_num;
		ret = 0;
	}
	rcu_read_unlock();
	return ret;
}
