// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: the connection table (cds_lfht by id), the routes by qp_num, owners. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

/*
 * The poller is the only writer. Lookups by id (the poller's, and any
 * other thread's) run under rcu_read_lock (urcu memb flavour); a removed
 * connection is freed by call_rcu, so a reader that found it may use it
 * until rcu_read_unlock.
 *
 * Routes by qp_num are the poller's alone (only it polls CQs): an open
 * addressing table with linear probing, at most half full, doubled when it
 * would be more, and removal by shifting later entries back (no
 * tombstones). A lookup reads one or two cache lines at any connection
 * count, and the entry holds the owner and state, so routing a completion
 * does not read the connection. (A cds_lfht lookup per completion walked a
 * chain of connections: at 16384 connections it was 85% of the routing
 * time, and the ratio to the ring alone fell to 0.2.)
 */

#define RR_ROUTES_MIN 64

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

/* ---- Routes ------------------------------------------------------------- */

static uint32_t route_home(const struct rring_engine *e, uint32_t qpn)
{
	return (uint32_t)mix64(qpn) & e->routes_mask;
}

/* Index of qpn's entry, or of the empty entry that ends its probe. */
static uint32_t route_index(const struct rring_engine *e, uint32_t qpn)
{
	uint32_t i = route_home(e, qpn);

	while (e->routes[i].conn && e->routes[i].qp_num != qpn)
		i = (i + 1) & e->routes_mask;
	return i;
}

/* A table of n entries (a power of two) holding the current routes. */
static int routes_resize(struct rring_engine *e, uint32_t n)
{
	struct rr_route *old = e->routes, *t = calloc(n, sizeof(*t));
	uint32_t i, old_n = old ? e->routes_mask + 1 : 0;

	if (!t)
		return -ENOMEM;
	e->routes = t;
	e->routes_mask = n - 1;
	for (i = 0; i < old_n; i++)
		if (old[i].conn)
			t[route_index(e, old[i].qp_num)] = old[i];
	free(old);
	return 0;
}

/* Empty entry i: move back each later entry of the run whose probe from
 * its home passes i, so that no lookup stops early at the hole. */
static void route_remove(struct rring_engine *e, uint32_t i)
{
	uint32_t j = i, m = e->routes_mask;

	for (;;) {
		j = (j + 1) & m;
		if (!e->routes[j].conn)
			break;
		if (((j - route_home(e, e->routes[j].qp_num)) & m) >=
		    ((j - i) & m)) {
			e->routes[i] = e->routes[j];
			i = j;
		}
	}
	memset(&e->routes[i], 0, sizeof(e->routes[i]));
	e->n_routes--;
}

/* Poller: the route of a QP number, or NULL. */
const struct rr_route *rr_table_route(const struct rring_engine *e,
				      uint32_t qpn)
{
	const struct rr_route *r = &e->routes[route_index(e, qpn)];

	return r->conn ? r : NULL;
}

/* Poller: every change of c->state goes through here (the route's copy). */
void rr_conn_set_state(struct rring_engine *e, struct rring_conn *c,
		       enum rr_conn_state state)
{
	c->state = state;
	if (c->in_qp_table)
		e->routes[route_index(e, c->qp_num)].state = (uint8_t)state;
}

/* ---- Table -------------------------------------------------------------- */

int rr_table_init(struct rring_engine *e)
{
	int flags = CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING;

	e->by_id = cds_lfht_new(64, 64, 0, flags, NULL);
	if (!e->by_id || routes_resize(e, RR_ROUTES_MIN)) {
		rr_table_fini(e);
		return -ENOMEM;
	}
	return 0;
}

void rr_table_fini(struct rring_engine *e)
{
	if (e->by_id)
		cds_lfht_destroy(e->by_id, NULL);
	e->by_id = NULL;
	free(e->routes);
	e->routes = NULL;
	e->n_routes = 0;
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

/* Route c's qp_num (unique among the engine's QPs) to c. */
int rr_table_add_qp(struct rring_engine *e, struct rring_conn *c)
{
	struct rr_route *r;
	int ret;

	if (2 * (e->n_routes + 1) > e->routes_mask + 1) {
		ret = routes_resize(e, 2 * (e->routes_mask + 1));
		if (ret)
			return ret;
	}
	r = &e->routes[route_index(e, c->qp_num)];
	r->conn = c;
	r->qp_num = c->qp_num;
	r->owner = (uint16_t)c->owner->idx;
	r->state = (uint8_t)c->state;
	e->n_routes++;
	c->in_qp_table = 1;
	return 0;
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
	cds_lfht_del(e->by_id, &c->id_node);
	rcu_read_unlock();
	if (c->in_qp_table)
		route_remove(e, route_index(e, c->qp_num));
	c->in_qp_table = 0;
	c->owner->n_conns--;
	e->n_conns--;
	atomic_store_explicit(&e->st_conns, e->n_conns, memory_order_relaxed);
	/* Release pairs with the acquire in conn_free_rcu. */
	atomic_store_explicit(&c->retired, 1, memory_order_release);
	call_rcu(&c->rcu, conn_free_rcu);
}

unsigned int rr_owners_for_cpus(unsigned int n_io, int cpus)
{
	if (cpus <= 2)
		return 1;
	return (unsigned int)cpus - 1 < n_io ? (unsigned int)cpus - 1 : n_io;
}

unsigned int rr_owners_in_use(const struct rring_engine *e)
{
	cpu_set_t set;

	/* The main thread's (tid = pid) affinity stands for the process's:
	 * the poller, which asks, may be pinned to one CPU. */
	if (!e->p.io_fit_cpus ||
	    sched_getaffinity(getpid(), sizeof(set), &set))
		return e->n_io;
	return rr_owners_for_cpus(e->n_io, CPU_COUNT(&set));
}

/* Least-loaded IO thread of those in use; ties go round-robin from the
 * last choice. */
struct rring_io *rr_pick_owner(struct rring_engine *e)
{
	unsigned int i, n = rr_owners_in_use(e), best = e->rr_next % n;

	for (i = 0; i < n; i++) {
		unsigned int k = (e->rr_next + i) % n;

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
