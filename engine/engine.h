/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: internal engine types shared by poller, IO threads and layers. */
#ifndef RRING_ENGINE_H
#define RRING_ENGINE_H

#include <infiniband/verbs.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdint.h>
#include <sys/socket.h>
#include <urcu.h> /* memb flavour */
#include <urcu/rculfhash.h>

#include "barrier.h"
#include "log.h"
#include "rdmaring.h"
#include "ring.h"
#include "rr_numa.h"

/* ---- Ring entries ------------------------------------------------------- */

/* Submission entry: IO thread -> poller. The poller only posts these. */
enum rr_sqe_op {
	RR_SQE_POST_SEND = 1,  /* SEND of [addr, len) with lkey */
	RR_SQE_POST_WRITE_IMM, /* RDMA_WRITE_WITH_IMM to remote_addr/rkey */
	RR_SQE_POST_RECV,      /* receive into [addr, len) (len 0: no SGE) */
	RR_SQE_REG_MR,	       /* register [addr, len); result as RR_CQE_MR */
	RR_SQE_DEREG_MR,       /* deregister the ibv_mr in wr_id */
	RR_SQE_CLOSE,	       /* owner asks to close conn */
	RR_SQE_CLOSE_ACK,      /* owner dropped conn after RR_CQE_CLOSE */
	RR_SQE_POST_WRITE,     /* RDMA_WRITE (no immediate) to remote_addr */
};

#define RR_SQE_F_SIGNALED 0x1 /* request a send completion */
#define RR_SQE_F_INLINE 0x2   /* IBV_SEND_INLINE */

struct rr_sqe {
	uint8_t op;    /* enum rr_sqe_op */
	uint8_t flags; /* RR_SQE_F_* */
	uint16_t pad;
	uint32_t len;
	struct rring_conn *conn;
	uint64_t wr_id; /* returned in the completion */
	uint64_t addr;
	uint32_t lkey;
	uint32_t rkey;
	uint64_t remote_addr;
	uint32_t imm;	 /* network order, passed through */
	uint32_t access; /* REG_MR: IBV_ACCESS_* */
	uint64_t reserved;
};
_Static_assert(sizeof(struct rr_sqe) == 64, "one cache line per sqe");

/* Completion entry: poller -> owner IO thread. */
enum rr_cqe_type {
	RR_CQE_WC = 1,	    /* a work completion of conn */
	RR_CQE_ESTABLISHED, /* conn is connected (before any of its WCs) */
	RR_CQE_CLOSE,	    /* conn is closing: last entry for it */
	RR_CQE_MR,	    /* result of RR_SQE_REG_MR */
	RR_CQE_WAKE,	    /* wake_due_ms passed: nothing to do but the tick */
};

struct rr_cqe {
	uint8_t type;	   /* enum rr_cqe_type */
	uint8_t opcode;	   /* enum ibv_wc_opcode */
	uint8_t wc_status; /* enum ibv_wc_status */
	uint8_t wc_flags;  /* IBV_WC_WITH_IMM ... */
	int32_t status;	   /* CLOSE, MR: 0 or -errno */
	struct rring_conn *conn;
	uint64_t wr_id;
	uint32_t byte_len;
	uint32_t imm;	     /* network order */
	uint64_t aux;	     /* MR: struct ibv_mr * */
	uint32_t lkey, rkey; /* MR */
};
_Static_assert(sizeof(struct rr_cqe) == 48, "cqe size");

/* ---- Connections -------------------------------------------------------- */

/* Lifecycle, as the poller sees it. Only the poller reads or writes it. */
enum rr_conn_state {
	RR_CONN_RESOLVING = 1, /* rring_connect: address/route lookup */
	RR_CONN_CONNECTING,    /* QP created; connect/accept in progress */
	RR_CONN_ESTABLISHED,   /* owner got RR_CQE_ESTABLISHED */
	RR_CONN_CLOSING,       /* owner got RR_CQE_CLOSE; awaiting its ack */
};

/* Lifecycle, as the owner IO thread sees it. Only the owner touches it. */
enum rr_owner_state {
	RR_OWN_NEW = 0,	   /* created, not established yet */
	RR_OWN_OPEN,	   /* established: send allowed */
	RR_OWN_CLOSE_SENT, /* rring_conn_close submitted */
	RR_OWN_CLOSED,	   /* CLOSE handled, ack submitted: hands off */
};

/* Message layer buffers (msg.c): allocated and registered by the poller at
 * setup, then used by the owner until it acknowledges the close. */
struct rr_msg_bufs {
	unsigned char *area; /* depth recv buffers, then depth send slots */
	size_t area_size;
	struct ibv_mr *mr; /* poller-only handle */
	uint32_t lkey;
	uint32_t depth;
	uint32_t rx_size;
};

struct rring_conn {
	/* Immutable after creation (published with the table insert). */
	uint64_t id;
	struct rring_engine *e;
	struct rring_io *owner;
	int outbound;
	uint32_t qp_num; /* set before the route table insert */
	struct sockaddr_storage peer; /* set before the owner hears of it */

	/* Poller-private. */
	enum rr_conn_state state;
	int close_status;
	struct rdma_cm_id *cm_id;
	struct rr_dev *dev;
	struct rr_cq *cq; /* of dev, shared with other connections */
	struct cds_lfht_node id_node;
	int in_qp_table; /* has a route (rr_table_add_qp) */
	struct rcu_head rcu;
	struct rr_msg_bufs mb;
	struct rring_conn *reap_next; /* destroy after the cm event ack */
	_Atomic int retired;	      /* removed; freed after grace period */

	/* Owner-private (own cache line). */
	_Alignas(RRING_CACHELINE) enum rr_owner_state ostate;
	void *ctx;
	void *layer_priv;     /* the data layer's per-connection state */
	int close_err;	      /* layer's reason: CLOSED status if none */
	uint32_t send_free;   /* free send slots on the stack */
	uint16_t *send_stack; /* free slot indices */
	uint64_t *send_tag;   /* per slot */
	uint32_t *send_len;   /* per slot, 0 when free */
};

struct rr_listener {
	struct rdma_cm_id *id;
	void *ctx;
	struct rr_listener *next;
};

/* One completion queue of a device. Connections share it while the work
 * requests they can have outstanding fit in it, so it never overflows. */
struct rr_cq {
	struct ibv_cq *cq;    /* cq_context is this struct */
	unsigned int users;   /* connections whose QP completes here */
	unsigned int unacked; /* CQ events read, not yet acked */
	int armed;	      /* ibv_req_notify_cq done, no event since */
	int failed;	      /* IBV_EVENT_CQ_ERR: takes no new connection */
	struct rr_dev *dev;   /* its device (async_share.c) */
	struct rr_cq *shared_next; /* every engine's CQs (async_share.c) */
};

/* One verbs device (context from rdma_cm) and its shared objects: the PD,
 * one completion channel, and a pool of CQs of cq-entries each, created on
 * demand as connections arrive (kept until the engine stops). */
struct rr_dev {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_comp_channel *ch; /* every CQ of the pool reports here */
	struct rr_cq **cqs;
	unsigned int n_cqs, cqs_cap;
	unsigned int per_cq; /* connections one CQ can serve */
	struct rring_engine *e;
	struct rr_dev *shared_next; /* every engine's devices (async_share.c) */
};
#define RR_MAX_DEVS 4

/* An async event for one engine (async.c): the poller that read it acked
 * it at once, so this copy names objects by number or by the owner's
 * structures, never through the event's verbs pointers. */
struct rr_async_note {
	enum ibv_event_type type;
	uint32_t qpn;	    /* QP events */
	struct rr_cq *cq;   /* CQ events: the owner's CQ, NULL if none */
	uint8_t port;	    /* port events */
	struct rr_dev *dev; /* the owner's device it came on */
};
#define RR_ASYNC_INBOX 64

/* ---- IO threads --------------------------------------------------------- */

/* A completion entry that found the owner's ring full (io_uring overflow). */
struct rr_overflow {
	struct rr_cqe *buf;
	uint32_t head, tail, cap; /* FIFO; cap a power of two */
};

struct rring_io {
	/* Immutable after start. */
	struct rring_engine *e;
	unsigned int idx;
	int cpu;
	int efd;	       /* eventfd: poller wakes this IO thread */
	struct rring_spsc *cq; /* completions: poller -> io */
	struct rring_spsc *sq; /* submissions: io -> poller */
	void *mem;	       /* both rings' structs and slots */
	size_t mem_size;
	pthread_t thread;
	int has_thread;

	/* Poller-private. */
	_Alignas(RRING_CACHELINE) struct rr_overflow ovf;
	uint32_t b_idx, b_avail, b_used; /* open batch on cq */
	int b_open;
	int b_full;	      /* ring found full since the batch opened */
	int wake;	      /* wake at the end of this loop */
	unsigned int n_conns; /* load, for least-loaded assignment */
	struct rring_io *next_touched;

	/* Owner-private. */
	_Alignas(RRING_CACHELINE) pthread_t owner_tid;
	_Atomic int owner_set;
	unsigned int batch; /* rring_io_batch_begin depth (process: 1) */
	int efd_armed; /* external: efd drained and NEED_WAKEUP set since */
	int flushing;	    /* batch end: the layer posts what it held */
	uint32_t sq_idx, sq_avail, sq_used; /* open batch on sq */
	void *layer_list;	/* the data layer's connections (xfer.c) */
	void *layer_dirty;	/* connections with held sends (xfer.c) */
	uint64_t layer_tick_ms; /* next layer tick (CLOCK_MONOTONIC), 0 none */
	uint64_t layer_keep_ms; /* next keepalive pass of the layer (xfer.c) */
	void *layer_quiet; /* connections whose last write is unsignaled */

	/* With io-threads-external the application may sleep on the IO fd
	 * with no timeout: the owner's next layer deadline (fences of quiet
	 * connections, CLOCK_MONOTONIC ms, 0 none), at which the poller
	 * pushes an RR_CQE_WAKE (poller.c wake_due): a ring entry, so that
	 * the wake is the ring's own. Owner stores, the poller clears it with
	 * a compare-exchange. */
	_Alignas(RRING_CACHELINE) _Atomic uint64_t wake_due_ms;

	/* Statistics: each counter has one writer, relaxed. */
	_Alignas(RRING_CACHELINE) _Atomic uint64_t st_overflow;	   /* poller */
	_Atomic uint64_t st_wakeups;				   /* poller */
	_Alignas(RRING_CACHELINE) _Atomic uint64_t st_completions; /* io */
	_Atomic uint64_t st_rx_bytes;				   /* io */
	_Atomic uint64_t st_tx_bytes;				   /* io */
	_Atomic uint64_t st_conns;				   /* io */
	_Atomic uint64_t st_writes;    /* io: RDMA writes posted */
	_Atomic uint64_t st_signaled;  /* io: of them signaled */
	_Atomic uint64_t st_coalesced; /* io: sends sharing a write */
	_Atomic uint64_t st_fences;    /* io: zero-byte retiring writes */
};

/* ---- Engine ------------------------------------------------------------- */

enum rr_ctl_op {
	RR_CTL_LISTEN = 1,
	RR_CTL_CONNECT,
	RR_CTL_STOP,
	RR_CTL_UNLISTEN, /* destroy the listeners of ctx */
};

/* A request from any thread to the poller (control path, mutex + eventfd). */
struct rr_ctl {
	enum rr_ctl_op op;
	struct sockaddr_storage addr;
	void *ctx;
	uint64_t conn_id;
	int waited; /* a caller waits on done/result */
	int done;
	int result;
	struct rr_ctl *next;
};

/* The poller's route of one QP number: what a completion needs, so that
 * routing reads one table entry, not the connection. conn NULL: empty. */
struct rr_route {
	struct rring_conn *conn;
	uint32_t qp_num;
	uint16_t owner; /* conn->owner->idx */
	uint8_t state;	/* conn->state (enum rr_conn_state) */
	uint8_t pad;
};

struct rring_engine {
	struct rring_params p;
	struct rring_handlers h;
	_Atomic uint32_t poll_idle_us; /* p.poll_idle_us, settable at runtime */
	int spin; /* poller and rring_io_run may busy-poll (a CPU per thread) */
	const struct rr_layer_ops *layer; /* msg.c or xfer.c ("wire") */
	struct rr_placement place;
	struct rr_topo *topo;	      /* read by the poller at start */
	struct rring_placement placed; /* read back; under lock */
	unsigned int n_io;
	struct rring_io **io;

	/* Control queue. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rr_ctl *ctl_head, *ctl_tail;
	_Atomic int ctl_pending;
	int started, stopped, poller_ready, poller_exited;
	int start_err;
	pthread_t creator;

	/* Poller thread and its private state. */
	pthread_t poller;
	int poller_efd;	      /* wakes the poller */
	_Atomic int stop_io;  /* IO threads return */
	_Atomic int shutdown; /* poller is done; rring_io_process fails */
	int stopping;	      /* poller: closing everything */
	int epfd;
	struct rdma_event_channel *cm_ch;
	struct rr_dev devs[RR_MAX_DEVS];
	int n_devs;
	char dev_name[64];
	struct rr_listener *listeners;
	struct rring_conn *reap;      /* never told the owner: destroy soon */
	struct rdma_cm_id *reject_id; /* rejected request: destroy after ack */
	unsigned int n_ovf;	      /* IO threads with a non-empty overflow */
	int cm_ready; /* epoll saw the cm fd or an async fd readable */
	/* Async events read by any engine's poller for this one. */
	pthread_mutex_t inbox_lock;
	struct rr_async_note inbox[RR_ASYNC_INBOX];
	unsigned int n_inbox, inbox_lost;
	_Atomic int inbox_ready; /* a hint: the inbox is under inbox_lock */
	int routing;  /* inside rr_poller_route_wcs: closes do not drain */
	struct cds_lfht *by_id;
	struct rr_route *routes; /* by qp_num: open addressing, poller only */
	uint32_t routes_mask, n_routes;
	uint64_t next_conn_id; /* atomic via __atomic builtins */
	unsigned int rr_next;  /* round-robin tie breaker */
	unsigned int n_conns;
	struct rring_io *touched; /* IO threads with an open batch */

	/* Poller statistics (poller writes, relaxed). */
	_Atomic uint64_t st_batches, st_cqes, st_post_calls, st_wrs;
	_Atomic uint64_t st_sleeps, st_dropped, st_sleep_ns, st_conns;
	_Atomic uint64_t st_sleep_since; /* start of the current sleep, or 0 */
	uint64_t start_ns;
};

/* Slot idx of an IO thread's completion / submission ring (the entry size
 * a constant: the slot address is a shift, not a multiply). */
static inline struct rr_cqe *rr_cq_slot(struct rring_io *io, uint32_t idx)
{
	return rring_spsc_slot_sized(io->cq, idx, sizeof(struct rr_cqe));
}

static inline struct rr_sqe *rr_sq_slot(struct rring_io *io, uint32_t idx)
{
	return rring_spsc_slot_sized(io->sq, idx, sizeof(struct rr_sqe));
}

/* ---- Internal functions ------------------------------------------------- */

uint64_t rr_now_ns(void);
void rr_wake_fd(int fd);

/* Idle turn of the poller or an IO thread: true while poll-idle-us has not
 * passed since *idle_since (set on the first idle turn; the caller resets
 * it to 0 when work comes). Reread each turn, relaxed (a lone value), so
 * that rring_engine_set_poll_idle_us applies at once, also to the idle
 * period in progress. */
static inline int rr_keep_polling(struct rring_engine *e, uint64_t *idle_since)
{
	uint64_t now = rr_now_ns();

	if (!*idle_since)
		*idle_since = now;
	return now - *idle_since <
	       (uint64_t)atomic_load_explicit(&e->poll_idle_us,
					      memory_order_relaxed) *
		   1000;
}

/* engine.c: rings of every IO thread on node (also used by the bench). */
int rr_engine_alloc_rings(struct rring_engine *e, int node);
void rr_engine_free_rings(struct rring_engine *e);
struct rring_engine *rr_engine_new(const struct rring_params *p,
				   const struct rring_handlers *h);
void rr_ctl_complete(struct rring_engine *e, struct rr_ctl *c, int result);
/* Poller, at start: place and pin the poller, choose the IO threads' CPUs,
 * keep liburcu's call_rcu worker off the poller's CPU. */
int rr_engine_place(struct rring_engine *e);

/* conn_table.c: poller writes; lookups under rcu_read_lock. */
int rr_table_init(struct rring_engine *e);
void rr_table_fini(struct rring_engine *e);
struct rring_conn *rr_conn_new(struct rring_engine *e, uint64_t id,
			       struct rring_io *owner);
void rr_table_add(struct rring_engine *e, struct rring_conn *c);
int rr_table_add_qp(struct rring_engine *e, struct rring_conn *c);
void rr_table_del(struct rring_engine *e, struct rring_conn *c);
const struct rr_route *rr_table_route(const struct rring_engine *e,
				      uint32_t qpn);
void rr_conn_set_state(struct rring_engine *e, struct rring_conn *c,
		       enum rr_conn_state state);
/* IO threads that take new connections: all, or with io-threads-fit-cpus
 * one per CPU besides the poller's (rr_owners_for_cpus: cpus - 1, at least
 * one, at most n_io). */
unsigned int rr_owners_for_cpus(unsigned int n_io, int cpus);
unsigned int rr_owners_in_use(const struct rring_engine *e);
struct rring_io *rr_pick_owner(struct rring_engine *e);

/* poller.c */
void *rr_poller_main(void *arg);
void rr_poller_push(struct rring_engine *e, struct rring_io *io,
		    const struct rr_cqe *cqe);
void rr_poller_route_wcs(struct rring_engine *e, const struct ibv_wc *wc,
			 int n);
int rr_poller_poll_cq(struct rring_engine *e, struct ibv_cq *cq);
void rr_poller_flush(struct rring_engine *e);
int rr_poller_flush_overflows(struct rring_engine *e);
int rr_poller_drain_sq(struct rring_engine *e, struct rring_io *io);
/* A device was opened: its completion channel and async event fd join the
 * poller's epoll. */
int rr_poller_add_dev(struct rring_engine *e, int dev_idx);

/* async.c: read every device's async events; a fault closes the
 * connections it hits. The number of events handled. Poller. */
int rr_async_events(struct rring_engine *e);
void rr_async_handle(struct rring_engine *e, const struct rr_async_note *n);
void rr_share_add_dev(struct rring_engine *e, struct rr_dev *d);
void rr_share_del_dev(struct rr_dev *d);
void rr_share_add_cq(struct rr_dev *d, struct rr_cq *q);
void rr_share_del_cq(struct rr_cq *q);
void rr_share_dispatch(struct rring_engine *e, struct rr_dev *d,
		       const struct ibv_async_event *ev);
int rr_share_drain(struct rring_engine *e);

/* cm.c: rdma_cm events and connection setup/teardown (poller). */
int rr_cm_init(struct rring_engine *e);
void rr_cm_fini(struct rring_engine *e);
int rr_cm_events(struct rring_engine *e);
int rr_cm_listen(struct rring_engine *e, struct rr_ctl *c);
int rr_cm_unlisten(struct rring_engine *e, struct rr_ctl *c);
void rr_cm_connect(struct rring_engine *e, struct rr_ctl *c);
void rr_conn_begin_close(struct rring_engine *e, struct rring_conn *c,
			 int status);
void rr_conn_destroy(struct rring_engine *e, struct rring_conn *c);
void rr_conn_close_all(struct rring_engine *e);
/* Begin closing with status every connection that is not closing yet and
 * for which match(c, arg) holds, logging "conn N: <why>: closing" for each.
 * The number closed. Poller. */
unsigned int rr_conn_close_where(struct rring_engine *e,
				 int (*match)(const struct rring_conn *c,
					      const void *arg),
				 const void *arg, int status, const char *why);
int rr_post_recv_slots(struct ibv_qp *qp, unsigned char *base, uint32_t n,
		       uint32_t len, uint32_t lkey, uint64_t wrid_base);

/* io.c */
int rr_io_submit(struct rring_io *io, const struct rr_sqe *sqe);
void rr_io_flush(struct rring_io *io);
int rr_io_check_owner(struct rring_conn *c, const char *fn);
void rr_io_event(struct rring_io *io, const struct rring_event *ev);

/*
 * A data layer: what runs on top of the poller's descriptors. msg.c is the
 * simple message layer; the Valkey wire protocol is the next one. Poller
 * hooks run on the poller (the only place verbs objects are made); owner
 * hooks run on the connection's owner IO thread, in ring order, and never
 * after on_close. The layer submits work with rr_io_submit (RR_SQE_*).
 */
struct rr_layer_ops {
	/* Poller: QP capacities; buffers, MRs and first receives before
	 * connect/accept; release after the QP is destroyed. */
	void (*qp_caps)(const struct rring_engine *e, struct ibv_qp_cap *cap);
	int (*setup)(struct rring_engine *e, struct rring_conn *c);
	void (*teardown)(struct rring_engine *e, struct rring_conn *c);
	/* Owner: established (before any completion), each completion,
	 * the close (last call for c), a registration result. */
	void (*on_established)(struct rring_io *io, struct rring_conn *c);
	void (*on_wc)(struct rring_io *io, struct rring_conn *c,
		      const struct rr_cqe *q);
	void (*on_close)(struct rring_io *io, struct rring_conn *c);
	void (*on_mr)(struct rring_io *io, const struct rr_cqe *q);
	/* Owner, optional: timer at now_ms; returns ms until the next tick
	 * (UINT32_MAX: none needed). */
	uint32_t (*tick)(struct rring_io *io, uint64_t now_ms);
	/* Owner, optional: the end of a batch (rring_io_batch_end, the end
	 * of rring_io_process): post the sends held during it. */
	void (*flush)(struct rring_io *io);
};

extern const struct rr_layer_ops rr_msg_layer;

/* msg.c: the simple message layer ("wire" 0); xfer.c (xfer.h) is the
 * Valkey RDMA wire layer ("wire" 1). */
int rr_msg_setup(struct rring_engine *e, struct rring_conn *c);
void rr_msg_teardown(struct rring_engine *e, struct rring_conn *c);
void rr_msg_qp_caps(const struct rring_engine *e, struct ibv_qp_cap *cap);
void rr_msg_on_wc(struct rring_io *io, struct rring_conn *c,
		  const struct rr_cqe *cqe);
void rr_msg_on_close(struct rring_io *io, struct rring_conn *c);

#endif /* RRING_ENGINE_H */
