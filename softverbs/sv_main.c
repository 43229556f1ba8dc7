// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: process state, configuration, logging, strict mode and the NIC thread loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sv_priv.h"

struct sv_global sv = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cb_lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.kickfd = -1,
	.timerfd = -1,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;
static struct sv_ep kick_ep, timer_ep, wake_ep;
static uint64_t timer_armed; /* NIC thread: timerfd expiry set, 0 = none */

static void live_after_fork(void);

uint64_t sv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sv_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

static void vlog(const char *fmt, va_list ap)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "softverbs[%d:%d]: ", (int)getpid(),
		     sv_gettid());
	if (n < 0)
		return;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", buf);
}

void sv_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > sv.cfg.log_level)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void sv_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	abort();
}

/* The value of @name in 0..@max, or @def when unset or invalid (logged). */
static unsigned long env_ulong(const char *name, unsigned long max,
			       unsigned long def)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max) {
		sv_log(SV_LOG_ERR, "ignoring %s=%s (expected 0..%lu)", name, s,
		       max);
		return def;
	}
	return (unsigned long)v;
}

static void read_config(void)
{
	const char *ip = getenv("SOFTVERBS_IPV4");
	const char *transport = getenv("SOFTVERBS_TRANSPORT");

	sv.cfg.log_level = (int)env_ulong("SOFTVERBS_LOG", 3, 0);
	sv.cfg.delay_us = (unsigned int)env_ulong("SOFTVERBS_DELAY_US", 10000000, 0);
	sv.cfg.drop_after = env_ulong("SOFTVERBS_DROP_AFTER", ~0ul, 0);
	sv.cfg.qp_error_after = env_ulong("SOFTVERBS_QP_ERROR_AFTER", ~0ul, 0);
	sv.cfg.cq_max = (unsigned int)env_ulong("SOFTVERBS_CQ_MAX", SV_MAX_CQE, 0);
	sv.cfg.strict = env_ulong("SOFTVERBS_STRICT", 1, 0) == 1;
	sv.cfg.cm_listen_grace_ms = (unsigned int)env_ulong(
		"SOFTVERBS_CM_LISTEN_GRACE_MS", 600000, SV_CM_LISTEN_GRACE_MS);
	sv.cfg.spin_us = (unsigned int)env_ulong("SOFTVERBS_SPIN_US", 1000000,
					     SV_SPIN_US);
	sv.cfg.mr_share = env_ulong("SOFTVERBS_MR_SHARE", 1, 1) == 1;
	sv.cfg.shm = !transport || strcmp(transport, "socket");
	if (transport && *transport && strcmp(transport, "socket") &&
	    strcmp(transport, "shm"))
		sv_log(SV_LOG_ERR, "ignoring SOFTVERBS_TRANSPORT=%s (expected shm or socket)",
		       transport);
	sv.cfg.ipv4.s_addr = htonl(INADDR_LOOPBACK);
	if (ip && inet_pton(AF_INET, ip, &sv.cfg.ipv4) != 1) {
		sv_log(SV_LOG_ERR, "ignoring SOFTVERBS_IPV4=%s", ip);
		sv.cfg.ipv4.s_addr = htonl(INADDR_LOOPBACK);
	}
}

/*
 * A forked child has no NIC thread, and the parent's objects and sockets are
 * the parent's: forget them (the child's copies of the fds are left alone, so
 * nothing reaches the parent's peers) and give the child a fresh epoll and NIC
 * thread the first time it opens a device or creates a QP.
 */
static void atfork_child(void)
{
	sv.forked_child = true;
	sv.pid = getpid();
	/* the pages of shared MRs become the child's own copy, as the
	 * kernel copies pinned pages at fork (the parent's keep the memfd) */
	for (uint32_t i = 1; i < sv.mrs_cap; i++)
		if (sv.mrs[i] && sv.mrs[i]->share)
			sv_mrshare_unshare(sv.mrs[i]->share);
	pthread_mutex_init(&sv.lock, NULL);
	live_after_fork();
	pthread_mutex_init(&sv.cb_lock, NULL);
	atomic_store(&sv.ready, NULL);
	if (sv.epfd >= 0)
		close(sv.epfd); /* the child's copy only */
	if (sv.kickfd >= 0)
		close(sv.kickfd);
	if (sv.timerfd >= 0)
		close(sv.timerfd);
	sv.epfd = -1;
	sv.kickfd = -1;
	sv.timerfd = -1;
	sv.wake_at = 0;
	timer_armed = 0;
	sv.qps = NULL;
	sv.eps = NULL;
	sv.dead_eps = NULL;
	sv.nic_running = false;
	atomic_store(&sv.rnr_waiters, 0);
	atomic_store(&sv.kick_pending, 0);
	atomic_store(&sv.kick_all, 0);
	atomic_store(&sv.lock_wanted, 0);
	sv.spinning = false;
	sv.nhot = 0;
	sv_awake_forget();
}

static void do_init(void)
{
	read_config();
	sv.pid = getpid();
	sv.next_qpn = ((uint32_t)getpid() * 2654435761u) & SV_QPN_MAX;
	sv_device_init();
	pthread_atfork(NULL, NULL, atfork_child);
	init_err = sv_nic_start();
	sv.nic_running = !init_err;
}

static cpu_set_t load_cpus;
static bool load_cpus_known;

/* Runs when the library is loaded (LD_PRELOAD: before main), while no
 * application thread has pinned itself yet. */
__attribute__((constructor)) static void note_load_cpus(void)
{
	load_cpus_known = !sched_getaffinity(0, sizeof(load_cpus), &load_cpus);
}

int sv_thread_attr_init(pthread_attr_t *attr)
{
	int ret = pthread_attr_init(attr);

	if (ret || !load_cpus_known)
		return -ret;
	ret = pthread_attr_setaffinity_np(attr, sizeof(load_cpus), &load_cpus);
	if (ret)
		pthread_attr_destroy(attr);
	return -ret;
}

int sv_init(void)
{
	pthread_once(&init_once, do_init);
	return init_err;
}

const struct sv_config *sv_config(void)
{
	return &sv.cfg;
}

bool sv_forked_child(void)
{
	return sv.forked_child;
}

/* ---- strict mode ---- */

static void thread_name(int tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	snprintf(buf, len, "?");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * The threads that have touched a strict object and not exited, by tid.
 * A thread enters the set before it can own anything and leaves it in a
 * thread-specific-data destructor, which runs before pthread_join() in
 * another thread returns. Asking the kernel instead (tgkill(pid, tid, 0))
 * races with join: the tid stays valid until the exiting thread is reaped,
 * a little after its joiner was released.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int *live_tids;
static size_t live_n, live_cap;
static pthread_key_t live_key;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
static _Thread_local int live_me; /* the tid this thread registered, 0 = none */

static void live_remove(void *arg)
{
	int tid = (int)(intptr_t)arg;
	size_t i;

	pthread_mutex_lock(&live_lock);
	for (i = 0; i < live_n; i++) {
		if (live_tids[i] == tid) {
			live_tids[i] = live_tids[--live_n];
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
}

static void live_key_create(void)
{
	int ret = pthread_key_create(&live_key, live_remove);

	if (ret)
		sv_die("strict mode: pthread_key_create: %s", strerror(ret));
}

/* In a forked child only the forking thread lives on, under a new tid. */
static void live_after_fork(void)
{
	pthread_mutex_init(&live_lock, NULL);
	live_n = 0;
}

/* Enter the calling thread @me into the set (once per thread). */
static void live_register(int me)
{
	int *grown;

	if (live_me == me)
		return;
	pthread_once(&live_once, live_key_create);
	pthread_mutex_lock(&live_lock);
	if (live_n == live_cap) {
		live_cap = live_cap ? 2 * live_cap : 64;
		grown = realloc(live_tids, live_cap * sizeof(*live_tids));
		if (!grown)
			sv_die("strict mode: out of memory");
		live_tids = grown;
	}
	live_tids[live_n++] = me;
	pthread_mutex_unlock(&live_lock);
	live_me = me;
	pthread_setspecific(live_key, (void *)(intptr_t)me);
}

static bool thread_alive(int tid)
{
	bool alive = false;
	size_t i;

	pthread_mutex_lock(&live_lock);
	for (i = 0; i < live_n && !alive; i++)
		alive = live_tids[i] == tid;
	pthread_mutex_unlock(&live_lock);
	return alive;
}

void sv_strict_touch(struct sv_owner *o, const char *kind, const void *obj)
{
	char mine[32], theirs[32];
	int me, owner;

	if (!sv.cfg.strict || !o)
		return;
	me = sv_gettid();
	owner = atomic_load_explicit(&o->tid, memory_order_relaxed);
	if (owner == me)
		return;
	live_register(me); /* before it can own @o */
	if (owner == 0 || !thread_alive(owner)) {
		/* first use, or the previous owner has exited: take over */
		if (atomic_compare_exchange_strong(&o->tid, &owner, me))
			return;
		if (owner == me)
			return;
	}
	thread_name(me, mine, sizeof(mine));
	thread_name(owner, theirs, sizeof(theirs));
	sv_die("strict mode: %s %p used by thread %d (%s) but owned by thread %d (%s)",
	       kind, obj, me, mine, owner, theirs);
}

/* ---- addressing ---- */

void sv_gid_from_ipv4(uint32_t addr_be, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[10] = 0xff;
	gid->raw[11] = 0xff;
	memcpy(&gid->raw[12], &addr_be, 4);
}

int sv_gid_to_ipv4(const union ibv_gid *gid, uint32_t *addr_be)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0,
					    0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(gid->raw, prefix, sizeof(prefix)))
		return -EINVAL;
	memcpy(addr_be, &gid->raw[12], 4);
	return 0;
}

/* ---- contexts ---- */

struct sv_context *sv_ctx(struct ibv_context *ctx)
{
	struct verbs_context *v = SV_container_of(ctx, struct verbs_context,
						 context);

	return SV_container_of(v, struct sv_context, vctx);
}

/* ---- NIC thread ---- */

void sv_lock(void)
{
	/* read by a spinning NIC thread between its passes */
	atomic_fetch_add(&sv.lock_wanted, 1);
	pthread_mutex_lock(&sv.lock);
	atomic_fetch_sub(&sv.lock_wanted, 1);
}

static void kick_nic(void)
{
	uint64_t one = 1;

	/*
	 * Pairs with the store in handle_events(): one wakeup per pass. A
	 * kick that finds one pending is seen by that pass: the NIC thread
	 * clears kick_pending before it reads kick_all and the ready list.
	 */
	if (sv.kickfd < 0 || atomic_exchange(&sv.kick_pending, 1))
		return;
	if (write(sv.kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sv_log(SV_LOG_ERR, "kick: %s", strerror(errno));
}

void sv_kick(void)
{
	atomic_store(&sv.kick_all, 1);
	kick_nic();
}

/*
 * The ready list is a lock-free stack: threads push, the NIC thread takes
 * the whole stack at once (an exchange), so there is no ABA. on_ready makes
 * a QP's push happen once until the NIC thread has read its ready_next.
 */
static void stack_push(struct sv_qp *qp)
{
	struct sv_qp *head = atomic_load_explicit(&sv.ready,
						  memory_order_relaxed);

	do
		qp->ready_next = head;
	/* release: ready_next and the QP's new work before the QP is seen */
	while (!atomic_compare_exchange_weak_explicit(&sv.ready, &head, qp,
						      memory_order_release,
						      memory_order_relaxed));
}

void sv_nic_ready(struct sv_qp *qp)
{
	if (!atomic_exchange(&qp->on_ready, true))
		stack_push(qp);
}

void sv_kick_qp(struct sv_qp *qp)
{
	sv_nic_ready(qp);
	kick_nic();
}

/* sv.lock held, so the NIC thread is not walking a stack it took; other
 * threads may push meanwhile: take everything, put back all but @qp. */
void sv_nic_unready(struct sv_qp *qp)
{
	struct sv_qp *list, *next;

	if (!atomic_load(&qp->on_ready))
		return;
	list = atomic_exchange_explicit(&sv.ready, NULL, memory_order_acquire);
	for (; list; list = next) {
		next = list->ready_next;
		if (list != qp)
			stack_push(list);
	}
	atomic_store(&qp->on_ready, false);
}

void sv_nic_add_ep(struct sv_ep *ep, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	ep->next = sv.eps;
	sv.eps = ep;
	if (epoll_ctl(sv.epfd, EPOLL_CTL_ADD, ep->fd, &ev))
		sv_log(SV_LOG_ERR, "epoll add fd %d: %s", ep->fd,
		       strerror(errno));
}

/*
 * Unregister and schedule for freeing (sv.lock held). A QP socket (listener
 * or connection) is closed here, not when the NIC thread next wakes: an
 * idle NIC thread would otherwise keep the fds of every QP destroyed since
 * its last pass. Only the sv_ep and its connection state wait, because the
 * NIC thread may hold the ep in the events of its current pass (it skips
 * dead ones).
 */
void sv_nic_del_ep(struct sv_ep *ep)
{
	struct sv_ep **p;

	if (!ep || ep->dead)
		return;
	for (p = &sv.eps; *p; p = &(*p)->next) {
		if (*p == ep) {
			*p = ep->next;
			break;
		}
	}
	epoll_ctl(sv.epfd, EPOLL_CTL_DEL, ep->fd, NULL);
	if ((ep->type == SV_EP_CONN || ep->type == SV_EP_LISTEN) &&
	    close(ep->fd))
		sv_log(SV_LOG_WARN, "close(%d) of a QP socket: %s (closed behind softverbs' back?)",
		       ep->fd, strerror(errno));
	ep->dead = true;
	ep->next = sv.dead_eps;
	sv.dead_eps = ep;
}

static void free_dead_eps(void)
{
	struct sv_ep *ep;

	while ((ep = sv.dead_eps)) {
		sv.dead_eps = ep->next;
		if (ep->type == SV_EP_CONN)
			sv_conn_free(ep->obj);
		free(ep);
	}
}

static void run_user(struct epoll_event *evs, int n)
{
	int i;

	pthread_mutex_lock(&sv.cb_lock);
	for (i = 0; i < n; i++) {
		struct sv_ep *ep = evs[i].data.ptr;

		if (ep->type == SV_EP_USER && !ep->dead)
			ep->fn(ep->obj, evs[i].events);
	}
	pthread_mutex_unlock(&sv.cb_lock);
}

/* Handle one pass's events; *@all: every QP needs a look. */
static void handle_events(struct epoll_event *evs, int n, bool *user,
			  bool *all)
{
	struct sv_qp *qp;
	uint64_t v;
	int i;

	for (i = 0; i < n; i++) {
		struct sv_ep *ep = evs[i].data.ptr;

		if (ep->dead)
			continue;
		switch (ep->type) {
		case SV_EP_KICK:
			/* edge-triggered, never read (no syscall): each write
			 * is an event, and 2^64 kicks never fill the counter.
			 * Pairs with the exchange in sv_kick(). */
			atomic_store(&sv.kick_pending, 0);
			break;
		case SV_EP_TIMER:
			if (read(sv.timerfd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				sv_log(SV_LOG_ERR, "timer read: %s",
				       strerror(errno));
			timer_armed = 0;
			*all = true;
			break;
		case SV_EP_LISTEN:
			sv_wire_accept(ep);
			*all = true;
			break;
		case SV_EP_CONN:
		case SV_EP_BELL:
			qp = sv_wire_event(ep, evs[i].events);
			if (qp)
				sv_nic_ready(qp); /* the rest of its progress */
			break;
		case SV_EP_USER:
			*user = true;
			break;
		case SV_EP_WAKE:
			/* edge-triggered, never read: the hot rings' messages
			 * are found by the look before the next sleep */
			break;
		}
	}
}

/* Wake up when the earliest delayed message is due (SOFTVERBS_DELAY_US). */
static void arm_timer(void)
{
	struct itimerspec its;

	if (!sv.wake_at || sv.wake_at == timer_armed)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(sv.wake_at / 1000000000ull);
	its.it_value.tv_nsec = (long)(sv.wake_at % 1000000000ull);
	if (timerfd_settime(sv.timerfd, TFD_TIMER_ABSTIME, &its, NULL))
		sv_log(SV_LOG_ERR, "timerfd_settime: %s", strerror(errno));
	timer_armed = sv.wake_at;
}

/*
 * Spinning (shared-memory rings): while rings carry traffic the NIC thread
 * makes pass after pass without sleeping, until SOFTVERBS_SPIN_US passed
 * without a byte moving. Meanwhile it keeps kick_pending set, so posting
 * threads skip the kick (no syscall), the rings ask their peers for no
 * doorbell (sv.spinning), and it looks at its epoll set only every
 * SV_SPIN_EPOLL passes (socket EOFs, accepts, cm callbacks). To sleep, it
 * clears kick_pending and sv.spinning and makes one more ordinary pass:
 * that pass sees every post made before the clear, and sets want_data on
 * every ring it finds empty, so any later post or message wakes it.
 */
#define SV_SPIN_EPOLL 64

/* One spinning decision per pass; returns the next epoll timeout. */
static int spin_next(uint64_t *seen, uint64_t *until, unsigned int *turn,
		     int timeout)
{
	uint64_t now;

	if (!sv.cfg.spin_us)
		return timeout;
	now = sv_now_ns();
	if (sv.shm_moved != *seen) {
		*seen = sv.shm_moved;
		*until = now + sv.cfg.spin_us * 1000ull;
		if (!sv.spinning) {
			sv.spinning = true;
			*turn = 0;
		}
	}
	if (!sv.spinning)
		return timeout;
	if (now >= *until) {
		sv.spinning = false;
		/* pairs with the exchange in sv_kick(): later posts kick */
		atomic_store(&sv.kick_pending, 0);
		return 0; /* the last, ordinary pass */
	}
	atomic_store(&sv.kick_pending, 1);
	return 0;
}

/*
 * Progress the QPs on the ready list (kicked by their own post, or with
 * an event this pass), or every QP when @all: no scan of every QP per
 * wakeup on the data path. A QP stays marked until its turn, so a post
 * meanwhile adds nothing; one marked after its turn is on the new list,
 * and its kick wakes the next pass.
 */
static void progress_ready(bool all)
{
	/* acquire: pairs with the release of stack_push() */
	struct sv_qp *list = atomic_exchange_explicit(&sv.ready, NULL,
						      memory_order_acquire);
	struct sv_qp *qp;

	while ((qp = list)) {
		list = qp->ready_next;
		/* after reading ready_next: a new push may rewrite it; seq_cst,
		 * so a post after this is seen by sv_qp_progress() below or
		 * pushes the QP again (and kicks) */
		atomic_store(&qp->on_ready, false);
		if (!all)
			sv_qp_progress(qp);
	}
	if (all)
		for (qp = sv.qps; qp; qp = qp->next)
			sv_qp_progress(qp);
}

/*
 * The data path holds sv.lock briefly (a NIC thread pass, a post writing
 * into a ring, a poll reaping acks), its holder running on another CPU:
 * a few hundred pauses (about a microsecond) for it cost less than a
 * futex wait and the wake its unlock then needs, or than a kick of the
 * NIC thread. Bounded, so a long holder costs at most that.
 */
#define SV_LOCK_SPIN 256

bool sv_trylock_spin(void)
{
	for (int i = 0; i < SV_LOCK_SPIN; i++) {
		if (!pthread_mutex_trylock(&sv.lock))
			return true;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	return false;
}

static void nic_lock(void)
{
	if (!sv_trylock_spin())
		pthread_mutex_lock(&sv.lock);
}

static void *nic_loop(void *arg)
{
	struct epoll_event evs[64];
	uint64_t seen = 0, until = 0;
	unsigned int turn = 0;
	int timeout = -1;

	(void)arg;
	for (;;) {
		bool user = false, all;
		int n = 0;

		if (!sv.spinning || ++turn % SV_SPIN_EPOLL == 0)
			n = epoll_wait(sv.epfd, evs, 64, timeout);
		else
			sched_yield(); /* a busy-polling application may need this CPU */
		sv_awake_set(); /* peers skip the doorbells of hot rings */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sv_die("epoll_wait: %s", strerror(errno));
		}
		/* application threads first: their sections are short */
		while (sv.spinning && atomic_load(&sv.lock_wanted))
			sched_yield();
		nic_lock();
		sv.wake_at = 0;
		/* timeouts (RNR), delays and spinning look at every QP; a
		 * look after the hot rings had messages is not a timeout */
		all = (n == 0 && timeout) || atomic_load(&sv.rnr_waiters) ||
		      sv.cfg.delay_us || sv.cfg.spin_us;
		handle_events(evs, n, &user, &all);
		/* after kick_pending was cleared: see kick_nic() */
		if (atomic_exchange(&sv.kick_all, 0))
			all = true;
		progress_ready(all);
		arm_timer();
		timeout = atomic_load(&sv.rnr_waiters) ? 1 : -1;
		timeout = spin_next(&seen, &until, &turn, timeout);
		/* about to sleep: the hot rings' messages first */
		if (timeout && sv_wire_hot_check())
			timeout = 0;
		/* no callback still looks at this pass's events: free the
		 * dead eps now, saving a second round on the lock */
		if (!user)
			free_dead_eps();
		pthread_mutex_unlock(&sv.lock);
		if (!user)
			continue;
		run_user(evs, n);
		pthread_mutex_lock(&sv.lock);
		free_dead_eps();
		pthread_mutex_unlock(&sv.lock);
	}
	return NULL;
}

/* Watch a just-created fd (or fail with its errno) as one of ours. */
static int add_own_ep(struct sv_ep *ep, enum sv_ep_type type, int fd,
		      uint32_t events)
{
	if (fd < 0)
		return -errno;
	ep->type = type;
	ep->fd = fd;
	sv_nic_add_ep(ep, events);
	return 0;
}

int sv_nic_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int ret;

	sv.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv.epfd < 0)
		return -errno;
	sv.kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ret = add_own_ep(&kick_ep, SV_EP_KICK, sv.kickfd, EPOLLIN | EPOLLET);
	if (ret)
		goto err_close_ep;
	sv.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ret = add_own_ep(&timer_ep, SV_EP_TIMER, sv.timerfd, EPOLLIN);
	if (ret)
		goto err_close_kick;
	/* the NIC thread takes no signals of the application */
	ret = sv_thread_attr_init(&attr);
	if (ret)
		goto err_close_timer;
	/* not fatal: only the doorbells to a busy NIC thread stay */
	ret = sv_awake_init();
	if (!ret)
		ret = add_own_ep(&wake_ep, SV_EP_WAKE, sv_awake_bell(),
				 EPOLLIN | EPOLLET);
	if (ret) {
		sv_log(SV_LOG_WARN, "no awake page (%s): ring peers ring every doorbell",
		       strerror(-ret));
		sv_awake_fini();
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&sv.nic, &attr, nic_loop, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		goto err_free_awake;
	pthread_setname_np(sv.nic, "sv-nic");
	pthread_detach(sv.nic);
	return 0;

err_free_awake:
	sv_awake_fini();
err_close_timer:
	close(sv.timerfd);
	sv.timerfd = -1;
err_close_kick:
	close(sv.kickfd);
err_close_ep:
	close(sv.epfd);
	return ret;
}

/* Start the NIC thread if this process (a forked child) has none. */
int sv_nic_ensure(void)
{
	int ret = sv_init();

	if (ret || sv.nic_running)
		return ret;
	sv_lock();
	if (!sv.nic_running) {
		ret = sv_nic_start();
		sv.nic_running = !ret;
	}
	pthread_mutex_unlock(&sv.lock);
	return ret;
}

int sv_nic_watch(int fd, uint32_t events, sv_watch_fn fn, void *arg)
{
	struct sv_ep *ep;
	int ret = sv_nic_ensure();

	if (ret)
		return ret;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->type = SV_EP_USER;
	ep->fd = fd;
	ep->fn = fn;
	ep->obj = arg;
	sv_lock();
	sv_nic_add_ep(ep, events);
	pthread_mutex_unlock(&sv.lock);
	return 0;
}

int sv_nic_unwatch(int fd)
{
	bool on_nic = pthread_equal(pthread_self(), sv.nic);
	struct sv_ep *ep;
	int ret = -ENOENT;

	if (!on_nic)
		pthread_mutex_lock(&sv.cb_lock);
	sv_lock();
	for (ep = sv.eps; ep; ep = ep->next) {
		if (ep->type == SV_EP_USER && ep->fd == fd) {
			sv_nic_del_ep(ep);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sv.lock);
	if (!on_nic)
		pthread_mutex_unlock(&sv.cb_lock);
	return ret;
}
