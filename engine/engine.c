// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: engine lifecycle, control requests, listen/connect and stats. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "xfer.h"

uint64_t rr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rr_wake_fd(int fd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: awake enough. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

/* ---- Rings -------------------------------------------------------------- */

static size_t ring_block_size(const struct rring_params *p)
{
	return 2 * sizeof(struct rring_spsc) +
	       rring_spsc_mem_size(p->ring_entries, sizeof(struct rr_cqe)) +
	       rring_spsc_mem_size(p->ring_entries, sizeof(struct rr_sqe));
}

static int io_alloc_rings(struct rring_io *io, const struct rring_params *p,
			  int node)
{
	unsigned char *m;
	size_t cq_bytes;

	io->mem_size = ring_block_size(p);
	io->mem = rr_mem_alloc(io->mem_size, node);
	if (!io->mem)
		return -ENOMEM;
	m = io->mem;
	io->cq = (struct rring_spsc *)m;
	io->sq = (struct rring_spsc *)(m + sizeof(struct rring_spsc));
	m += 2 * sizeof(struct rring_spsc);
	cq_bytes = rring_spsc_mem_size(p->ring_entries, sizeof(struct rr_cqe));
	if (rring_spsc_init(io->cq, m, p->ring_entries,
			    sizeof(struct rr_cqe)) ||
	    rring_spsc_init(io->sq, m + cq_bytes, p->ring_entries,
			    sizeof(struct rr_sqe)))
		return -EINVAL;
	return 0;
}

int rr_engine_alloc_rings(struct rring_engine *e, int node)
{
	unsigned int i;
	int ret;

	for (i = 0; i < e->n_io; i++) {
		ret = io_alloc_rings(e->io[i], &e->p, node);
		if (ret)
			return ret;
	}
	return 0;
}

void rr_engine_free_rings(struct rring_engine *e)
{
	unsigned int i;

	for (i = 0; i < e->n_io; i++) {
		struct rring_io *io = e->io[i];

		rr_mem_free(io->mem, io->mem_size);
		io->mem = NULL;
		free(io->ovf.buf);
		io->ovf.buf = NULL;
	}
}

/* ---- Create / destroy --------------------------------------------------- */

static void io_free(struct rring_io *io)
{
	if (!io)
		return;
	if (io->efd >= 0)
		close(io->efd);
	free(io);
}

static struct rring_io *io_new(struct rring_engine *e, unsigned int idx)
{
	struct rring_io *io;

	if (posix_memalign((void **)&io, RRING_CACHELINE, sizeof(*io)))
		return NULL;
	memset(io, 0, sizeof(*io));
	io->e = e;
	io->idx = idx;
	io->cpu = -1;
	io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->efd < 0) {
		free(io);
		return NULL;
	}
	return io;
}

/* The poller and the IO threads busy-poll only when every engine thread
 * has a CPU of its own among those this process may run on; otherwise a
 * spinning thread takes the CPU from the thread that has the work (the
 * poller, an IO thread, the application's threads, a software NIC): with
 * the module's 8 IO threads on 2 CPUs, the poller's spin after each event
 * cost the server a fifth of its CPU per small request. Threads the
 * application drives (io-threads-external) never spin here. */
static int engine_may_spin(const struct rring_engine *e)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	n = CPU_COUNT(&set);
	if ((unsigned int)n >= e->n_io + 1)
		return 1;
	if (e->p.poll_idle_us)
		rr_log(&e->h, RR_LOG_INFO,
		       "%u IO threads and the poller share %d CPUs: they "
		       "sleep when idle instead of polling for poll-idle-us",
		       e->n_io, n);
	return 0;
}

struct rring_engine *rr_engine_new(const struct rring_params *p,
				   const struct rring_handlers *h)
{
	struct rring_engine *e;
	char err[256];
	unsigned int i, owners;
	int ret;

	ret = rring_params_validate(p, err, sizeof(err));
	if (ret) {
		rr_log(h, RR_LOG_ERR, "%s", err);
		errno = -ret;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(&e->p, p, p->size < sizeof(e->p) ? p->size : sizeof(e->p));
	if (p->size < offsetof(struct rring_params, signal_every) +
			  sizeof(e->p.signal_every))
		e->p.signal_every = RRING_DEFAULT_SIGNAL_EVERY;
	e->p.size = sizeof(e->p);
	if (h)
		e->h = *h;
	e->layer = e->p.wire ? &rr_xfer_layer : &rr_msg_layer;
	atomic_init(&e->poll_idle_us, e->p.poll_idle_us);
	e->poller_efd = -1;
	e->epfd = -1;
	e->next_conn_id = 1;
	e->creator = pthread_self();
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	pthread_mutex_init(&e->inbox_lock, NULL);
	e->n_io = e->p.io_threads;
	e->placed.mem_node = e->placed.poller.node = e->placed.rcu.node = -1;
	for (i = 0; i < RRING_DEFAULT_IO_THREADS_MAX; i++)
		e->placed.io[i].node = -1;
	e->spin = engine_may_spin(e);
	owners = rr_owners_in_use(e);
	if (owners < e->n_io)
		rr_log(&e->h, RR_LOG_INFO,
		       "io-threads-fit-cpus: new connections go to %u of the "
		       "%u IO threads now, one per CPU besides the poller's",
		       owners, e->n_io);
	e->io = calloc(e->n_io, sizeof(*e->io));
	if (!e->io)
		goto err_free;
	for (i = 0; i < e->n_io; i++) {
		e->io[i] = io_new(e, i);
		if (!e->io[i])
			goto err_free;
	}
	e->poller_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->poller_efd < 0 || rr_table_init(e))
		goto err_free;
	return e;
err_free:
	rring_engine_destroy(e);
	errno = ENOMEM;
	return NULL;
}

struct rring_engine *rring_engine_create(const struct rring_params *p,
					 const struct rring_handlers *h)
{
	if (!p || !h || !h->event) {
		rr_log(h, RR_LOG_ERR, "rring_engine_create: %s is NULL; "
		       "params and handlers with an event callback are required",
		       !p ? "params" : !h ? "handlers" : "handlers->event");
		errno = EINVAL;
		return NULL;
	}
	return rr_engine_new(p, h);
}

void rring_engine_destroy(struct rring_engine *e)
{
	unsigned int i;

	if (!e)
		return;
	rring_engine_stop(e);
	rr_engine_free_rings(e);
	for (i = 0; e->io && i < e->n_io; i++)
		io_free(e->io[i]);
	free(e->io);
	/* Conns freed by call_rcu must be gone before the table. */
	rcu_barrier();
	rr_table_fini(e);
	free(e->topo);
	if (e->poller_efd >= 0)
		close(e->poller_efd);
	pthread_mutex_destroy(&e->inbox_lock);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* ---- Placement ---------------------------------------------------------- */

/* Read thread th's placement back into *out (under the lock: INFO reads
 * it from other threads). */
static void record_placement(struct rring_engine *e, pthread_t th,
			     struct rring_thread_placement *out)
{
	struct rring_thread_placement tp = {.node = -1};

	if (rr_thread_placement(th, e->topo, &tp))
		tp.cpus[0] = '\0';
	pthread_mutex_lock(&e->lock);
	*out = tp;
	pthread_mutex_unlock(&e->lock);
}

/*
 * liburcu starts its call_rcu worker from the thread that first calls
 * call_rcu (the poller), so the worker would inherit the poller's name and
 * CPU. The engine starts it here and names it rring-rcu, allowed on every
 * online CPU but the poller's (unless that is the only one). It is
 * liburcu's process-wide default worker, which lives as long as the
 * process (a worker of our own would have to be joined at stop, which
 * liburcu 0.13's call_rcu_data_free does not do), so each engine start
 * places it again.
 */
static void place_rcu_worker(struct rring_engine *e)
{
	struct call_rcu_data *crdp;
	cpu_set_t set;
	pthread_t th;
	int cpu;

	rcu_read_lock(); /* the default call_rcu data is read under RCU */
	crdp = get_default_call_rcu_data();
	th = get_call_rcu_thread(crdp);
	rcu_read_unlock();
	pthread_setname_np(th, "rring-rcu");
	CPU_ZERO(&set);
	for (cpu = 0; cpu < RR_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
		if (rr_cpu_isset(e->topo->online, cpu) &&
		    cpu != e->place.poller_cpu)
			CPU_SET(cpu, &set);
	if (CPU_COUNT(&set) && pthread_setaffinity_np(th, sizeof(set), &set))
		rr_log(&e->h, RR_LOG_WARN,
		       "cannot keep the call_rcu worker off CPU %d",
		       e->place.poller_cpu);
	record_placement(e, th, &e->placed.rcu);
}

int rr_engine_place(struct rring_engine *e)
{
	char err[512];
	unsigned int i;
	int ret;

	e->topo = malloc(sizeof(*e->topo));
	if (!e->topo)
		return -ENOMEM;
	ret = rr_topo_read(e->p.sysfs_root, e->dev_name[0] ? e->dev_name : NULL,
			   e->topo);
	if (ret)
		snprintf(err, sizeof(err), "cannot read the CPU topology");
	else
		ret = rr_place(e->topo, &e->p, &e->place, err, sizeof(err));
	if (ret) {
		rr_log(&e->h, RR_LOG_ERR, "placement failed: %s", err);
		return ret;
	}
	for (i = 0; i < e->n_io; i++)
		e->io[i]->cpu = e->place.io_cpu[i];
	ret = rr_pin_self(e->place.poller_cpu);
	if (ret)
		rr_log(&e->h, RR_LOG_WARN, "cannot pin poller to CPU %d: %s",
		       e->place.poller_cpu, strerror(-ret));
	pthread_mutex_lock(&e->lock);
	e->placed.mem_node = e->place.mem_node;
	e->placed.n_io = e->n_io;
	pthread_mutex_unlock(&e->lock);
	record_placement(e, pthread_self(), &e->placed.poller);
	place_rcu_worker(e);
	return 0;
}

int rring_engine_placement(struct rring_engine *e, struct rring_placement *out)
{
	if (!e || !out)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	*out = e->placed;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int rring_io_place_thread(struct rring_io *io, pthread_t thread)
{
	char name[16];
	cpu_set_t set;
	int ret = 0;

	if (!io)
		return -EINVAL;
	snprintf(name, sizeof(name), "rring-io-%u", io->idx);
	pthread_setname_np(thread, name);
	if (io->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(io->cpu, &set);
		/* pthread functions return a positive errno */
		ret = -pthread_setaffinity_np(thread, sizeof(set), &set);
		if (ret)
			rr_log(&io->e->h, RR_LOG_WARN,
			       "cannot pin IO thread %u to CPU %d: %s",
			       io->idx, io->cpu, strerror(-ret));
	}
	record_placement(io->e, thread, &io->e->placed.io[io->idx]);
	return ret;
}

/* ---- Start / stop ------------------------------------------------------- */

static void *io_thread_main(void *arg)
{
	rring_io_run(arg);
	return NULL;
}

static int start_io_threads(struct rring_engine *e)
{
	unsigned int i;
	int ret;

	for (i = 0; i < e->n_io; i++) {
		struct rring_io *io = e->io[i];

		ret = -pthread_create(&io->thread, NULL, io_thread_main, io);
		if (ret)
			return ret;
		io->has_thread = 1;
		rring_io_place_thread(io, io->thread); /* unpinned on error */
	}
	return 0;
}

static void join_io_threads(struct rring_engine *e)
{
	unsigned int i;

	atomic_store_explicit(&e->stop_io, 1, memory_order_release);
	for (i = 0; i < e->n_io; i++) {
		rr_wake_fd(e->io[i]->efd);
		if (e->io[i]->has_thread)
			pthread_join(e->io[i]->thread, NULL);
		e->io[i]->has_thread = 0;
	}
}

int rring_engine_start(struct rring_engine *e)
{
	int ret;

	if (!e)
		return -EINVAL;
	if (e->started)
		return -EALREADY;
	ret = -pthread_create(&e->poller, NULL, rr_poller_main, e);
	if (ret)
		return ret;
	pthread_mutex_lock(&e->lock);
	while (!e->poller_ready && !e->poller_exited)
		pthread_cond_wait(&e->cond, &e->lock);
	ret = e->start_err;
	pthread_mutex_unlock(&e->lock);
	if (ret) {
		pthread_join(e->poller, NULL);
		return ret;
	}
	e->started = 1;
	if (!e->p.io_external) {
		ret = start_io_threads(e);
		if (ret) {
			rring_engine_stop(e);
			return ret;
		}
	}
	return 0;
}

/* Queue a control request and wake the poller; wait for it if c->waited. */
static int ctl_submit(struct rring_engine *e, struct rr_ctl *c)
{
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	if (!e->poller_ready || e->poller_exited) {
		pthread_mutex_unlock(&e->lock);
		free(c);
		return -ESHUTDOWN;
	}
	if (e->ctl_tail)
		e->ctl_tail->next = c;
	else
		e->ctl_head = c;
	e->ctl_tail = c;
	/* Release pairs with the acquire in the poller's sleep re-check. */
	atomic_store_explicit(&e->ctl_pending, 1, memory_order_release);
	rring_smp_mb();
	rr_wake_fd(e->poller_efd);
	if (c->waited) {
		while (!c->done)
			pthread_cond_wait(&e->cond, &e->lock);
		ret = c->result;
		free(c);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void rr_ctl_complete(struct rring_engine *e, struct rr_ctl *c, int result)
{
	pthread_mutex_lock(&e->lock);
	if (c->waited) {
		c->result = result;
		c->done = 1;
		pthread_cond_broadcast(&e->cond);
		c = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	free(c);
}

int rring_engine_stop(struct rring_engine *e)
{
	struct rr_ctl *c;

	if (!e || !e->started || e->stopped)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->op = RR_CTL_STOP;
	ctl_submit(e, c); /* the poller exits after closing everything */
	pthread_join(e->poller, NULL);
	join_io_threads(e);
	e->stopped = 1;
	return 0;
}

/* ---- Listen / connect --------------------------------------------------- */

static int parse_addr(const char *addr, uint16_t port,
		      struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!addr || inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		if (!addr)
			in4->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

/* A control request for addr:port; 0 or a negative errno. */
static int ctl_new_addr(const char *addr, uint16_t port, enum rr_ctl_op op,
			void *ctx, struct rr_ctl **out)
{
	struct rr_ctl *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = parse_addr(addr, port, &c->addr);
	if (ret) {
		free(c);
		return ret;
	}
	c->op = op;
	c->ctx = ctx;
	*out = c;
	return 0;
}

int rring_listen(struct rring_engine *e, const char *addr, uint16_t port,
		 void *ctx)
{
	struct rr_ctl *c;
	int ret;

	if (!e)
		return -EINVAL;
	ret = ctl_new_addr(addr, port, RR_CTL_LISTEN, ctx, &c);
	if (ret)
		return ret;
	c->waited = 1;
	return ctl_submit(e, c);
}

int rring_unlisten(struct rring_engine *e, void *ctx)
{
	struct rr_ctl *c;

	if (!e)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->op = RR_CTL_UNLISTEN;
	c->ctx = ctx;
	c->waited = 1;
	return ctl_submit(e, c);
}

int rring_connect(struct rring_engine *e, const char *addr, uint16_t port,
		  void *ctx, uint64_t *conn_id)
{
	struct rr_ctl *c;
	int ret;

	if (!e || !addr)
		return -EINVAL;
	ret = ctl_new_addr(addr, port, RR_CTL_CONNECT, ctx, &c);
	if (ret)
		return ret;
	c->conn_id = __atomic_fetch_add(&e->next_conn_id, 1, __ATOMIC_RELAXED);
	if (conn_id)
		*conn_id = c->conn_id;
	return ctl_submit(e, c);
}

/* ---- Small accessors and stats ------------------------------------------ */

unsigned int rring_engine_io_count(const struct rring_engine *e)
{
	return e->n_io;
}

struct rring_io *rring_engine_io(struct rring_engine *e, unsigned int i)
{
	return i < e->n_io ? e->io[i] : NULL;
}

int rring_engine_set_poll_idle_us(struct rring_engine *e, uint32_t us)
{
	if (us > RRING_DEFAULT_POLL_IDLE_US_MAX)
		return -EINVAL;
	/* Relaxed: a lone value the poller rereads; nothing is published with it. */
	atomic_store_explicit(&e->poll_idle_us, us, memory_order_relaxed);
	return 0;
}

#define RLD(x) atomic_load_explicit(&(x), memory_order_relaxed)

int rring_engine_stats(struct rring_engine *e, struct rring_stats *s)
{
	uint64_t now, total, sleep, since;
	unsigned int i;

	if (!e || !s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->n_io = e->n_io;
	for (i = 0; i < e->n_io; i++) {
		struct rring_io *io = e->io[i];
		struct rring_io_stats *st = &s->io[i];

		if (io->cq) {
			st->ring_depth = rring_spsc_count(io->cq);
			st->sq_depth = rring_spsc_count(io->sq);
		}
		st->overflow = RLD(io->st_overflow);
		st->wakeups = RLD(io->st_wakeups);
		st->completions = RLD(io->st_completions);
		st->rx_bytes = RLD(io->st_rx_bytes);
		st->tx_bytes = RLD(io->st_tx_bytes);
		st->connections = RLD(io->st_conns);
		st->writes_posted = RLD(io->st_writes);
		st->writes_signaled = RLD(io->st_signaled);
		st->sends_coalesced = RLD(io->st_coalesced);
		st->writes_fenced = RLD(io->st_fences);
	}
	s->poller.batches = RLD(e->st_batches);
	s->poller.cqes = RLD(e->st_cqes);
	s->poller.post_calls = RLD(e->st_post_calls);
	s->poller.wrs_posted = RLD(e->st_wrs);
	s->poller.sleeps = RLD(e->st_sleeps);
	s->poller.dropped = RLD(e->st_dropped);
	s->poller.connections = RLD(e->st_conns);
	now = rr_now_ns();
	total = e->start_ns && now > e->start_ns ? now - e->start_ns : 0;
	sleep = RLD(e->st_sleep_ns);
	since = RLD(e->st_sleep_since);
	if (since && now > since)
		sleep += now - since; /* asleep right now */
	s->poller.busy_fraction =
	    total ? 1.0 - (double)(sleep < total ? sleep : total) / total : 0.0;
	return 0;
}
