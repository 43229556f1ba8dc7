/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs: internal contract shared by the verbs half (sv_*.c) and the rdma_cm half (cm_*.c). */
#ifndef SV_INTERNAL_H
#define SV_INTERNAL_H

/*
 * This header is stable: it is only ever extended by adding. The verbs half's
 * private object layouts live in sv_priv.h, which cm code must not include.
 *
 * Process-wide state
 *   sv_init() sets up the process state once (configuration from the
 *   environment, the device, the NIC thread). Every exported entry point calls
 *   it; calling it again is cheap. After fork() the child has no NIC thread:
 *   sv_forked_child() is true there and cm code must not send anything on
 *   inherited sockets (no disconnect messages, no shutdown()). The parent's
 *   objects are unusable in the child, but a child that opens a device (or
 *   calls sv_nic_watch()) after fork gets a fresh NIC thread of its own.
 *
 * Addressing (RoCEv2 style)
 *   The only device is "softverbs0" with one port (1), Ethernet link layer,
 *   PORT_ACTIVE. GID index 0 is the IPv4-mapped IPv6 address of the host
 *   address (SOFTVERBS_IPV4, default 127.0.0.1): ::ffff:a.b.c.d. Use
 *   sv_gid_from_ipv4() to build a GID for any IPv4 address (cm route.addr
 *   and ah_attr.grh.dgid), sv_gid_to_ipv4() to go back.
 *
 * Connecting a QP to a remote (gid, qpn): the contract is ibv_rc_pingpong's.
 *   ibv_modify_qp(qp, INIT) with IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT
 *       | IBV_QP_ACCESS_FLAGS;
 *   ibv_modify_qp(qp, RTR) with IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU
 *       | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC
 *       | IBV_QP_MIN_RNR_TIMER, ah_attr.is_global = 1,
 *       ah_attr.grh.dgid = peer GID, ah_attr.port_num = 1, dest_qp_num = peer;
 *   ibv_modify_qp(qp, RTS) with IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT
 *       | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC.
 *   QP numbers are 24-bit and host-wide unique (each QP binds the abstract
 *   unix socket "@softverbs/qp/<qpn>"); peers may be in this process or in
 *   another one, the QP finds out by itself. Data sent before the peer is in
 *   RTR is queued. Moving a QP to ERR (ibv_modify_qp with IBV_QPS_ERR) flushes
 *   its work requests; destroying a QP makes its peer go to ERR as well.
 *   rdma_create_qp should call ibv_create_qp(pd, attr) and rdma_destroy_qp
 *   ibv_destroy_qp(); use sv_qp_peer_gone() to learn that the peer destroyed
 *   its QP or died (for DISCONNECTED events), if the cm has no better signal.
 *
 * Threads
 *   Entry points are thread-safe. Strict mode (SOFTVERBS_STRICT=1) aborts when
 *   an object is used by a thread other than its owner: embed a struct
 *   sv_owner in each cm object (zero-initialised = unowned) and call
 *   sv_strict_touch() at the top of every entry point using it. Ownership goes
 *   to the first thread that touches the object and moves on only when that
 *   thread has exited. The NIC thread never calls sv_strict_touch().
 *
 * NIC thread services for the cm half (optional)
 *   sv_nic_watch() registers an fd with the NIC thread's epoll; the callback
 *   runs on the NIC thread with no softverbs lock held and must not block.
 *   sv_nic_unwatch() removes it; after it returns the callback is not running
 *   and will not run again (unless called from the callback itself).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <infiniband/verbs.h>

#define SV_DEVICE_NAME "softverbs0"
#define SV_PORT_NUM 1
#define SV_QPN_MAX 0xffffffu /* 24-bit QP numbers */
#define SV_QP_SOCK_FMT "softverbs/qp/%u" /* abstract: sun_path[0] = '\0' */

/* Configuration read once from the environment (see softverbs/README.md). */
struct sv_config {
	unsigned int delay_us; /* SOFTVERBS_DELAY_US: latency added per message */
	unsigned long drop_after; /* SOFTVERBS_DROP_AFTER: 0 = never */
	unsigned long qp_error_after; /* SOFTVERBS_QP_ERROR_AFTER: 0 = never */
	unsigned int cq_max; /* SOFTVERBS_CQ_MAX: 0 = no clamp */
	bool strict; /* SOFTVERBS_STRICT=1 */
	int log_level; /* SOFTVERBS_LOG: 0 errors .. 3 debug; default 0 */
	struct in_addr ipv4; /* SOFTVERBS_IPV4: host address for GID 0 */
	/* SOFTVERBS_CM_LISTEN_GRACE_MS: how long rdma_connect() tries again
	 * while nobody listens (default SV_CM_LISTEN_GRACE_MS) */
	unsigned int cm_listen_grace_ms;
	/* SOFTVERBS_TRANSPORT: true = shm (default), false = socket */
	bool shm;
	/* SOFTVERBS_SPIN_US: the NIC thread polls the rings this long after
	 * their last traffic before it sleeps (default SV_SPIN_US) */
	unsigned int spin_us;
	/* SOFTVERBS_MR_SHARE: MRs go onto memfds peers map (default true) */
	bool mr_share;
};

/*
 * A REQ to a port nobody listens on is refused only after this long: on a
 * real network address and route resolution take about as long, which
 * covers a server that calls rdma_listen() just after telling the client
 * (out of band) to connect. perftest -R does exactly that.
 */
#define SV_CM_LISTEN_GRACE_MS 100
/*
 * Off by default: on a machine whose CPUs are all busy (two cores shared
 * with busy-polling applications) a spinning NIC thread delays the very
 * threads it waits for, and 8-byte round trips went from 13 us to 3 ms.
 */
#define SV_SPIN_US 0

enum sv_log_level {
	SV_LOG_ERR = 0,
	SV_LOG_WARN = 1,
	SV_LOG_INFO = 2,
	SV_LOG_DEBUG = 3,
};

/* Owner of a verbs or cm object for strict mode; zero-initialise. */
struct sv_owner {
	_Atomic int tid; /* 0 = not yet used */
};

/* Initialise the process state once; 0 or a negative errno. Thread-safe. */
int sv_init(void);
/* The configuration (valid after sv_init()). */
const struct sv_config *sv_config(void);
/* True in a child created by fork() after softverbs was initialised. */
bool sv_forked_child(void);
/* Attributes for a thread softverbs starts (the NIC and CM progress
 * threads): it may run on every CPU the process could use when softverbs
 * was loaded, not only where the thread that happened to start it is
 * pinned (an RDMA engine's poller, say). Destroy with pthread_attr_destroy. */
int sv_thread_attr_init(pthread_attr_t *attr);

/* printf-style log line to stderr, prefixed "softverbs[pid:tid]". */
void sv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log and abort(). */
void sv_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Strict mode: record the calling thread as owner of @o, or abort naming
 * @kind (e.g. "cm_id"), @obj and both threads (tid and name) when another live
 * thread owns it. No-op unless SOFTVERBS_STRICT=1.
 */
void sv_strict_touch(struct sv_owner *o, const char *kind, const void *obj);

/* ::ffff:a.b.c.d from an IPv4 address in network byte order. */
void sv_gid_from_ipv4(uint32_t addr_be, union ibv_gid *gid);
/* Inverse of sv_gid_from_ipv4(): 0, or -EINVAL if @gid is not IPv4-mapped. */
int sv_gid_to_ipv4(const union ibv_gid *gid, uint32_t *addr_be);

/* The softverbs0 device (never NULL after a successful sv_init()). */
struct ibv_device *sv_device(void);
/*
 * A process-wide context of softverbs0, opened on first call and never
 * closed: what rdma_cm puts in id->verbs (librdmacm also shares one context
 * per device). NULL with errno set on failure.
 */
struct ibv_context *sv_cm_context(void);
/* True if @ctx is a softverbs context (from ibv_open_device or above). */
bool sv_is_context(const struct ibv_context *ctx);

/*
 * True once the QP's connected peer destroyed its QP, died or dropped the
 * connection (the QP is then in ERR). False for unconnected QPs.
 */
bool sv_qp_peer_gone(struct ibv_qp *qp);

typedef void (*sv_watch_fn)(void *arg, uint32_t events);
/* Watch @fd on the NIC thread (epoll @events, level-triggered). 0 / -errno. */
int sv_nic_watch(int fd, uint32_t events, sv_watch_fn fn, void *arg);
/* Stop watching @fd. 0 / -errno. */
int sv_nic_unwatch(int fd);

#endif /* SV_INTERNAL_H */
