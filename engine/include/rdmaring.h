/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: public API of librdmaring, the shared-ring RDMA engine. */
#ifndef RDMARING_H
#define RDMARING_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Threads: one poller thread per engine makes every verbs and rdma_cm call;
 * each IO thread owns a fixed set of connections and is the only thread that
 * may send on them or see their events. An IO thread is either run by the
 * engine (rring_io_run, the default) or driven by the application from its
 * own event loop (rring_io_fd + rring_io_process; set io-threads-external).
 *
 * All functions return 0 or a negative errno unless documented otherwise.
 */

struct rring_engine; /* one poller, N IO threads, the connection table */
struct rring_io;     /* one IO thread's rings and connections */
struct rring_conn;   /* one RC connection, owned by one IO thread */

/* ---- Configuration (defaults, ranges; rring_params_set keys in quotes) --- */

/* "io-threads": IO threads per engine. */
#define RRING_DEFAULT_IO_THREADS 1
#define RRING_DEFAULT_IO_THREADS_MIN 1
#define RRING_DEFAULT_IO_THREADS_MAX 64
/* "ring-entries": slots in each submission and completion ring (power of 2). */
#define RRING_DEFAULT_RING_ENTRIES 4096
#define RRING_DEFAULT_RING_ENTRIES_MIN 2
#define RRING_DEFAULT_RING_ENTRIES_MAX (1 << 24)
/* "poll-idle-us": busy-poll this long after the last work before sleeping. */
#define RRING_DEFAULT_POLL_IDLE_US 50
#define RRING_DEFAULT_POLL_IDLE_US_MIN 0
#define RRING_DEFAULT_POLL_IDLE_US_MAX 10000000
/* "poller-cpu": CPU of the poller; -1 auto (device's node), -2 do not pin. */
#define RRING_CPU_AUTO (-1)
#define RRING_CPU_NONE (-2)
#define RRING_DEFAULT_POLLER_CPU RRING_CPU_AUTO
#define RRING_DEFAULT_POLLER_CPU_MIN RRING_CPU_NONE
#define RRING_DEFAULT_POLLER_CPU_MAX 4095
/* "numa-node": memory and CPU node; -1 auto (the device's node). */
#define RRING_DEFAULT_NUMA_NODE (-1)
#define RRING_DEFAULT_NUMA_NODE_MIN (-1)
#define RRING_DEFAULT_NUMA_NODE_MAX 1023
/* "io-thread-cpus": list "0,2,4-7" (used cyclically), "auto" or "none". */
#define RRING_IO_CPUS_AUTO 0
#define RRING_IO_CPUS_NONE (-1)
/* "cq-entries": completion queue depth per device. */
#define RRING_DEFAULT_CQ_ENTRIES 8192
#define RRING_DEFAULT_CQ_ENTRIES_MIN 64
#define RRING_DEFAULT_CQ_ENTRIES_MAX (1 << 22)
/* "comp-vector": completion vector of the CQ; -1 lets the engine choose. */
#define RRING_DEFAULT_COMP_VECTOR (-1)
#define RRING_DEFAULT_COMP_VECTOR_MIN (-1)
#define RRING_DEFAULT_COMP_VECTOR_MAX 1023
/* "rx-size": receive buffer per connection (Valkey's rdma-rx-size). */
#define RRING_DEFAULT_RX_SIZE (1 << 20)
#define RRING_DEFAULT_RX_SIZE_MIN (64 << 10)
#define RRING_DEFAULT_RX_SIZE_MAX (16 << 20)
/* "max-connections": open connections per engine (more are rejected). */
#define RRING_DEFAULT_MAX_CONNECTIONS 10000
#define RRING_DEFAULT_MAX_CONNECTIONS_MIN 1
#define RRING_DEFAULT_MAX_CONNECTIONS_MAX 1000000
/* "msg-depth": message-layer receive buffers and send slots per connection. */
#define RRING_DEFAULT_MSG_DEPTH 8
#define RRING_DEFAULT_MSG_DEPTH_MIN 1
#define RRING_DEFAULT_MSG_DEPTH_MAX 1024
/* "io-threads-external": 1 = the application drives the IO threads. */
#define RRING_DEFAULT_IO_EXTERNAL 0
/* "sysfs-root": where sysfs is mounted (tests point it at a fake tree). */
#define RRING_DEFAULT_SYSFS_ROOT "/sys"
#define RRING_SYSFS_ROOT_MAX 256
#define RRING_MAX_IO_CPUS 256
/* "wire": data layer. 0: simple message layer (rring_conn_send copies each
 * message into msg-depth slots). 1: Valkey RDMA protocol (byte streams:
 * rring_conn_sendv, RECV in place, rring_conn_consume). */
#define RRING_DEFAULT_WIRE 0
/* "signal-every" ("wire" 1): at most this many RDMA writes of a connection
 * in a row go unsignaled (no work completion); the default is half the
 * send queue (1024 work requests), the maximum what the queue keeps for
 * writes (the rest is for control messages). Writes are also signaled when
 * the sender must learn that memory or queue room is free again. */
#define RRING_DEFAULT_SIGNAL_EVERY 512
#define RRING_DEFAULT_SIGNAL_EVERY_MIN 1
#define RRING_DEFAULT_SIGNAL_EVERY_MAX 960
/* "io-threads-fit-cpus": 1 = new connections go only to as many IO threads
 * as the process has CPUs for besides the poller's (CPUs - 1, at least 1,
 * counted at each connection from the main thread's affinity): on fewer
 * CPUs than threads, every further owner only adds a sleep and a wake-up
 * per request. 0 = spread over all io-threads. */
#define RRING_DEFAULT_IO_FIT_CPUS 0

/*
 * Engine parameters. Append-only: new fields go at the end and `size` tells
 * the library how much of the struct the caller knows. Fill with
 * rring_params_init(), then change fields or call rring_params_set().
 */
struct rring_params {
	uint32_t size;	       /* sizeof(struct rring_params), set by init */
	uint32_t io_threads;   /* "io-threads" */
	uint32_t ring_entries; /* "ring-entries" */
	uint32_t poll_idle_us; /* "poll-idle-us" */
	int32_t poller_cpu;    /* "poller-cpu" */
	int32_t numa_node;     /* "numa-node" */
	int32_t io_cpus_mode;  /* RRING_IO_CPUS_AUTO/_NONE, or count */
	int32_t io_cpus[RRING_MAX_IO_CPUS];    /* "io-thread-cpus" list */
	uint32_t cq_entries;		       /* "cq-entries" */
	int32_t comp_vector;		       /* "comp-vector" */
	uint32_t rx_size;		       /* "rx-size" */
	uint32_t max_connections;	       /* "max-connections" */
	uint32_t msg_depth;		       /* "msg-depth" */
	uint32_t io_external;		       /* "io-threads-external" */
	char sysfs_root[RRING_SYSFS_ROOT_MAX]; /* "sysfs-root" */
	uint32_t wire;			       /* "wire" */
	uint32_t signal_every;		       /* "signal-every" */
	uint32_t io_fit_cpus;		       /* "io-threads-fit-cpus" */
};

/* Fill p with the RRING_DEFAULT_* values. Any thread. */
void rring_params_init(struct rring_params *p);

/*
 * Set one parameter from strings ("rx-size", "65536"). On error returns
 * -EINVAL (or -ENOENT for an unknown key) and writes a message naming the
 * key, the bad value and what is allowed into err (if err). Any thread.
 */
int rring_params_set(struct rring_params *p, const char *key, const char *value,
		     char *err, size_t errlen);

/* Check all fields together; same error convention as rring_params_set. */
int rring_params_validate(const struct rring_params *p, char *err,
			  size_t errlen);

/* ---- Events ------------------------------------------------------------- */

enum rring_event_type {
	RRING_EVENT_CONNECTED = 1, /* rring_connect() established */
	RRING_EVENT_ACCEPTED,	   /* inbound connection established */
	RRING_EVENT_RECV,	   /* message (wire: stream bytes), see below */
	RRING_EVENT_SEND_DONE,	   /* the send with this tag completed */
	RRING_EVENT_CLOSED,	   /* last event of conn; status 0 or -errno */
};

struct rring_event {
	enum rring_event_type type;
	int status; /* CLOSED: 0 (orderly) or -errno */
	struct rring_conn *conn;
	void *conn_ctx;	  /* rring_conn_ctx(conn) */
	const void *data; /* RECV */
	uint32_t len;	  /* RECV, SEND_DONE */
	uint64_t tag;	  /* SEND_DONE: the tag given to rring_conn_send */
};

/* Called on the IO thread that owns ev->conn, from rring_io_process. */
struct rring_handlers {
	void (*event)(struct rring_io *io, const struct rring_event *ev,
		      void *arg);
	/* Optional log sink (level: 0 error, 1 warning, 2 info, 3 debug);
	 * any thread; stderr when NULL. */
	void (*log)(int level, const char *msg, void *arg);
	void *arg;
};

/* ---- Engine lifecycle --------------------------------------------------- */

/* Create an engine (no threads yet). NULL on error with errno set; a
 * validation message goes to the log. Any thread. */
struct rring_engine *rring_engine_create(const struct rring_params *p,
					 const struct rring_handlers *h);

/* Start the poller (and the IO threads unless io-threads-external). Returns
 * when the poller is ready. The thread that created the engine. */
int rring_engine_start(struct rring_engine *e);

/* Close every connection, stop and join all engine threads. Idempotent. The
 * thread that created the engine. With io-threads-external, the
 * application keeps calling rring_io_process on every IO thread until it
 * returns -ESHUTDOWN (the closes need the owners' acknowledgements). */
int rring_engine_stop(struct rring_engine *e);

/* Stop (if needed) and free everything. The thread that created it. */
void rring_engine_destroy(struct rring_engine *e);

/* Number of IO threads and the i-th IO thread handle. Any thread. */
unsigned int rring_engine_io_count(const struct rring_engine *e);
struct rring_io *rring_engine_io(struct rring_engine *e, unsigned int i);

/* Change "poll-idle-us" of a running engine; the poller uses the new value
 * from its next idle period on. -EINVAL outside the range above. Any thread. */
int rring_engine_set_poll_idle_us(struct rring_engine *e, uint32_t us);

/* ---- Connections (management: any thread) ------------------------------- */

/* Listen on addr (IPv4/IPv6 literal, NULL = any) and port (0: any free
 * port). Blocks until the poller has bound it and returns the bound port
 * (> 0) or -errno. Accepted connections report RRING_EVENT_ACCEPTED with
 * conn_ctx = ctx. Any thread, after rring_engine_start. */
int rring_listen(struct rring_engine *e, const char *addr, uint16_t port,
		 void *ctx);

/* Start connecting to addr:port; the owner IO thread gets CONNECTED or
 * CLOSED (with the error) with conn_ctx = ctx. *conn_id (if non-NULL) is the
 * connection's id. Any thread, after rring_engine_start. */
int rring_connect(struct rring_engine *e, const char *addr, uint16_t port,
		  void *ctx, uint64_t *conn_id);

/* ---- IO threads --------------------------------------------------------- */

/* A file descriptor that becomes readable when the IO thread has work;
 * call rring_io_process then. Any thread. */
int rring_io_fd(const struct rring_io *io);

/* Process up to max completions of this IO thread, invoking the event
 * handler; returns how many. Clears the readiness of rring_io_fd once
 * nothing is left. The IO thread (the first caller becomes it). */
int rring_io_process(struct rring_io *io, unsigned int max);

/* Run this IO thread until the engine stops: process, then sleep on the
 * eventfd with the NEED_WAKEUP protocol. The IO thread. */
int rring_io_run(struct rring_io *io);

/* Hold this IO thread's sends until the matching rring_io_batch_end, then
 * post them: what was sent on a connection in between leaves in as few
 * RDMA writes as the peer's window allows ("wire" 1), with one doorbell to
 * the poller. rring_io_process is such a batch around the handlers; open
 * one around sends made outside it (replies drained from a queue). Nests.
 * The IO thread. */
void rring_io_batch_begin(struct rring_io *io);
void rring_io_batch_end(struct rring_io *io);

/* Index of io in its engine (0..io_threads-1). Any thread. */
unsigned int rring_io_index(const struct rring_io *io);

/* ---- Data path (the owner IO thread only; others get -EPERM) ------------ */

/* Send one message of len <= rx-size (copied); SEND_DONE carries tag.
 * -EAGAIN when all msg-depth send slots are in flight, -ENOTCONN after
 * close, -EMSGSIZE when too large. Owner IO thread. */
int rring_conn_send(struct rring_conn *c, const void *data, uint32_t len,
		    uint64_t tag);

/* ---- Data path of the Valkey wire layer ("wire" 1; else -EOPNOTSUPP) ----
 * A connection is a byte stream each way. RECV hands out the bytes just
 * written into our receive buffer, in place: data/len stay valid until the
 * application consumes them with rring_conn_consume (during the callback or
 * later, in order). When the buffer has been written to its end and
 * consumed, it is advertised again and the peer continues; an application
 * must eventually consume everything or the peer stalls. rring_conn_send
 * is rring_conn_sendv with one iovec. On close or error every send not
 * acknowledged gets SEND_DONE with a negative status, then CLOSED. */

/* Sends of at most this many bytes are copied into a registered staging
 * buffer (the caller's memory is free on return). */
#define RRING_XFER_COPY_MAX (16u << 10)
#define RRING_XFER_IOV_MAX 8 /* iovecs per rring_conn_sendv */

/* Queue iov[0..iovcnt) as one send; SEND_DONE(tag, len = total) when its last
 * byte is acknowledged (by the next signaled write, or a fence ~20 ms after
 * the connection went quiet: docs/transfer.md). Above RRING_XFER_COPY_MAX the memory is sent in
 * place (registered through the poller on first use, cached per
 * connection) and must stay unchanged until SEND_DONE. -EAGAIN: queue or
 * staging full, retry after this connection's next SEND_DONE; -ENOTCONN;
 * -EINVAL; -EMSGSIZE over 4 GiB. Owner IO thread. */
int rring_conn_sendv(struct rring_conn *c, const struct iovec *iov, int iovcnt,
		     uint64_t tag);

/* The application is about to free or reuse [addr, addr + len) for other
 * data (free, munmap, madvise DONTNEED, a new object at the same address):
 * drop the cached registrations that overlap it (deregistered through the
 * poller), so that a later send from that address registers the memory
 * then mapped there instead of sending the pages an old registration
 * pinned. Call it after the last SEND_DONE from that memory and before
 * freeing it. 0 (also if nothing was cached or the connection is closed);
 * -EBUSY, nothing dropped, while a send from overlapping memory has not
 * had its SEND_DONE; -EINVAL; -EPERM off the owner. Owner IO thread. */
int rring_conn_forget(struct rring_conn *c, const void *addr, size_t len);

/* The application is done with the next n received bytes (in order).
 * -EINVAL if n exceeds what RECV handed out. Owner IO thread. */
int rring_conn_consume(struct rring_conn *c, uint32_t n);

/* Start an orderly close; CLOSED follows as the last event. Idempotent.
 * Owner IO thread. */
int rring_conn_close(struct rring_conn *c);

/* Per-connection application pointer. Owner IO thread. */
void rring_conn_set_ctx(struct rring_conn *c, void *ctx);
void *rring_conn_ctx(const struct rring_conn *c);

/* Immutable facts about a connection. Any thread holding an event for it. */
uint64_t rring_conn_id(const struct rring_conn *c);
struct rring_io *rring_conn_io(const struct rring_conn *c);

/* What any thread may learn about a live connection by id. */
struct rring_conn_info {
	uint64_t id;
	unsigned int io_index; /* owner IO thread */
	int outbound;	       /* 1: rring_connect, 0: accepted */
	uint32_t qp_num;       /* 0 before the QP exists */
};

/* Look a connection up by id in the table (under RCU; registers the calling
 * thread with urcu on first use). -ENOENT once it is gone. Any thread. */
int rring_engine_conn_info(struct rring_engine *e, uint64_t id,
			   struct rring_conn_info *out);

/* ---- Statistics --------------------------------------------------------- */

struct rring_io_stats {
	uint32_t ring_depth;  /* completion entries waiting now */
	uint32_t sq_depth;    /* submission entries waiting now */
	uint64_t overflow;    /* completions that waited on overflow */
	uint64_t completions; /* completion entries consumed */
	uint64_t rx_bytes;    /* message bytes received */
	uint64_t tx_bytes;    /* message bytes sent (completed) */
	uint64_t wakeups;     /* times the poller woke this thread */
	uint64_t connections; /* connections owned now */
	uint64_t writes_posted;	  /* RDMA writes ("wire" 1), fences included */
	uint64_t writes_signaled; /* of them asking for a completion */
	uint64_t sends_coalesced; /* sends that shared a write with another */
	uint64_t writes_fenced;	  /* zero-byte signaled writes of quiet
				   * connections (in both counts above) */
};

struct rring_poller_stats {
	double busy_fraction; /* share of time not asleep, 0..1 */
	uint64_t batches;     /* CQ polls that returned work */
	uint64_t cqes;	      /* work completions routed */
	uint64_t post_calls;  /* ibv_post_send/recv calls */
	uint64_t wrs_posted;  /* work requests posted */
	uint64_t sleeps;      /* times the poller slept */
	uint64_t dropped;     /* completions of closing/unknown QPs */
	uint64_t connections; /* open connections */
};

struct rring_stats {
	struct rring_poller_stats poller;
	unsigned int n_io;
	struct rring_io_stats io[RRING_DEFAULT_IO_THREADS_MAX];
};

/* Snapshot (approximate, never blocking the data path). Any thread. */
int rring_engine_stats(struct rring_engine *e, struct rring_stats *s);

/* ---- Additions (append-only) -------------------------------------------- */

/* The peer's address as "ip:port" ("[ipv6]:port"; "?" when unknown), fixed
 * before the first event of the connection. -ENOSPC when len is too small
 * (truncated), -EINVAL. Any thread holding an event for it. */
int rring_conn_peer_name(const struct rring_conn *c, char *buf, size_t len);

/* Stop listening on every address rring_listen bound with this ctx (an
 * application re-listens by listening under a new ctx, then unlistening
 * the old one). Connections accepted before stay open. Blocks until the
 * poller destroyed the listeners; returns how many, or -errno. Any thread,
 * after rring_engine_start. */
int rring_unlisten(struct rring_engine *e, void *ctx);

/* Check poller-cpu, numa-node and io-thread-cpus against the machine (the
 * online CPUs and nodes under sysfs-root), as rring_engine_start will
 * place the threads. -EINVAL with err naming the knob, the value and the
 * valid CPUs or nodes ("poller-cpu=3: CPU 3 is not online; online CPUs:
 * 0-1"). Any thread. */
int rring_params_check_placement(const struct rring_params *p, char *err,
				 size_t errlen);

/* Where a thread runs, read back from the system after placement. */
#define RRING_CPULIST_MAX 64
struct rring_thread_placement {
	char cpus[RRING_CPULIST_MAX]; /* CPUs it may run on ("1", "0-3,6");
					 "" before it was placed */
	int node; /* NUMA node of those CPUs; -1 if they span nodes */
};

struct rring_placement {
	int mem_node; /* node of rings and buffers; -1 none */
	struct rring_thread_placement poller;
	struct rring_thread_placement rcu; /* liburcu's call_rcu worker */
	unsigned int n_io;
	struct rring_thread_placement io[RRING_DEFAULT_IO_THREADS_MAX];
};

/* Snapshot of where the engine's threads run (CPU affinity read back from
 * the threads, not the values asked for). Any thread, after
 * rring_engine_start. */
int rring_engine_placement(struct rring_engine *e, struct rring_placement *out);

/* Name thread "rring-io-N" and pin it where the engine placed IO thread io
 * (io-thread-cpus, else the CPUs of numa-node but the poller's), then
 * record its placement. For threads that drive an IO thread with
 * io-threads-external (the engine does it for its own). 0, or -errno when
 * pinning failed (the thread then runs unpinned). Any thread, after
 * rring_engine_start. */
int rring_io_place_thread(struct rring_io *io, pthread_t thread);

#ifdef __cplusplus
}
#endif

#endif /* RDMARING_H */
