/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: tuning knobs (defaults, ranges, parsing), no server calls.
 */
#ifndef RDM_KNOBS_H
#define RDM_KNOBS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One table describes every knob: its load-argument key (also the config
 * name after "rdmaring."), range, default and whether it may change while
 * the server runs. Where Valkey's RDMA module has the same knob (bind, port,
 * rx-size, comp-vector) the meaning, range and default are Valkey's.
 */

#define RDM_DEFAULT_PORT 0 /* 0: no RDMA listener (Valkey's rdma-port) */
#define RDM_PORT_MIN 0
#define RDM_PORT_MAX 65535
#define RDM_DEFAULT_BIND "*"
#define RDM_BIND_MAX 256 /* bytes of the bind list, NUL included */
#define RDM_BIND_ADDRS_MAX 16
#define RDM_DEFAULT_IO_THREADS 4
#define RDM_IO_THREADS_MIN 1
#define RDM_IO_THREADS_MAX 64 /* RRING_DEFAULT_IO_THREADS_MAX */
#define RDM_DEFAULT_RX_SIZE (1024 * 1024)
#define RDM_RX_SIZE_MIN (64 * 1024)
#define RDM_RX_SIZE_MAX (16 * 1024 * 1024)
#define RDM_DEFAULT_COMP_VECTOR (-1) /* -1: random, as Valkey */
#define RDM_COMP_VECTOR_MIN (-1)
#define RDM_COMP_VECTOR_MAX 1024
#define RDM_DEFAULT_POLL_IDLE_US 50
#define RDM_POLL_IDLE_US_MIN 0
#define RDM_POLL_IDLE_US_MAX 10000000
#define RDM_DEFAULT_RING_ENTRIES 4096
#define RDM_RING_ENTRIES_MIN 64
#define RDM_RING_ENTRIES_MAX (1 << 24)
#define RDM_DEFAULT_POLLER_CPU                                                 \
	(-1) /* -1: a CPU on the NIC's node, -2: none                          \
	      */
#define RDM_POLLER_CPU_MIN (-2)
#define RDM_POLLER_CPU_MAX 4095
#define RDM_DEFAULT_NUMA_NODE (-1) /* -1: the NIC's node */
#define RDM_NUMA_NODE_MIN (-1)
#define RDM_NUMA_NODE_MAX 1023
#define RDM_DEFAULT_IO_THREAD_CPUS "auto" /* engine's "io-thread-cpus" */
#define RDM_IO_THREAD_CPUS_MAX 256		/* bytes, NUL included */
#define RDM_DEFAULT_MAX_CLIENTS 10000
#define RDM_MAX_CLIENTS_MIN 1
#define RDM_MAX_CLIENTS_MAX 1000000
#define RDM_DEFAULT_MOVE_CLIENTS "on-demand" /* or "always" */
#define RDM_MOVE_CLIENTS_MAX 16			 /* bytes, NUL included */
/* Testing aid: serve the module's data path over TCP on 127.0.0.1:port. */
#define RDM_DEFAULT_LOOPBACK_PORT 0 /* 0: off */

enum rdm_knob_id {
	RDM_KNOB_BIND,
	RDM_KNOB_PORT,
	RDM_KNOB_IO_THREADS,
	RDM_KNOB_RX_SIZE,
	RDM_KNOB_COMP_VECTOR,
	RDM_KNOB_POLL_IDLE_US,
	RDM_KNOB_RING_ENTRIES,
	RDM_KNOB_POLLER_CPU,
	RDM_KNOB_NUMA_NODE,
	RDM_KNOB_MAX_CLIENTS,
	RDM_KNOB_LOOPBACK_PORT,
	RDM_KNOB_IO_THREAD_CPUS,
	RDM_KNOB_MOVE_CLIENTS,
	RDM_KNOB_NR,
};

enum rdm_knob_type {
	RDM_KNOB_NUM,
	RDM_KNOB_STR,
};

#define RDM_KNOB_F_RUNTIME (1u << 0) /* CONFIG SET applies at once */
#define RDM_KNOB_F_POW2 (1u << 1)    /* value must be a power of two */
#define RDM_KNOB_F_HIDDEN (1u << 2)  /* testing aid, not in CONFIG GET * */

struct rdm_knob_desc {
	enum rdm_knob_id id;
	const char *name; /* load-argument key, config "rdmaring.<name>" */
	enum rdm_knob_type type;
	unsigned int flags;
	long long def, min, max; /* numeric knobs */
	const char *def_str;	 /* string knobs */
	const char *note;	 /* meaning of special values, or NULL */
	const char *alias;	 /* Valkey 9's load-argument name, or NULL */
};

/* Current values; plain data owned by the main thread. */
struct rdm_knobs {
	char bind[RDM_BIND_MAX];
	char io_thread_cpus[RDM_IO_THREAD_CPUS_MAX];
	char move_clients[RDM_MOVE_CLIENTS_MAX];
	long long num[RDM_KNOB_NR]; /* indexed by rdm_knob_id; strings unused */
};

/* rdm_knob_str - the value buffer of a string knob, NULL for a number. */
char *rdm_knob_str(struct rdm_knobs *k, enum rdm_knob_id id);

/* rdm_knobs_init - fill every knob with its default. Any thread. */
void rdm_knobs_init(struct rdm_knobs *k);

/* rdm_knob_desc_get - descriptor of a knob id, NULL when out of range. */
const struct rdm_knob_desc *rdm_knob_desc_get(enum rdm_knob_id id);

/* rdm_knob_find - descriptor by name or Valkey 9 alias (case-insensitive),
 * NULL if unknown. */
const struct rdm_knob_desc *rdm_knob_find(const char *name, size_t len);

/*
 * rdm_knob_check_num - validate a numeric value for d. Returns 0, or
 * -ERANGE / -EINVAL with err naming key, value and the allowed range.
 */
int rdm_knob_check_num(const struct rdm_knob_desc *d, long long v, char *err,
		       size_t errlen);

/* rdm_knob_check_bind - validate a bind list (IPv4/IPv6 literals, "*",
 * "::*", optional '-' prefix, space separated). 0 or -EINVAL with err. */
int rdm_knob_check_bind(const char *v, size_t len, char *err, size_t errlen);

/* rdm_knob_check_cpus - validate the shape of io-thread-cpus ("auto",
 * "none" or a list like "0-3,6"); whether the CPUs are online is checked
 * against the machine at load. 0 or -EINVAL with err. */
int rdm_knob_check_cpus(const char *v, size_t len, char *err, size_t errlen);

/* rdm_knob_check_move - "on-demand" or "always" (move-clients). 0 or
 * -EINVAL with err. */
int rdm_knob_check_move(const char *v, size_t len, char *err, size_t errlen);

/*
 * rdm_knob_parse - parse the text value of a knob (strtoll for numbers) and
 * store it in k. Returns 0 or a negative errno with err set; k unchanged on
 * error.
 */
int rdm_knob_parse(struct rdm_knobs *k, const struct rdm_knob_desc *d,
		   const char *v, size_t len, char *err, size_t errlen);

/*
 * rdm_knobs_parse_args - apply load arguments "key=value" in order (a later
 * key wins). Returns 0, or a negative errno with err naming the argument.
 */
int rdm_knobs_parse_args(struct rdm_knobs *k, int argc, const char *const *argv,
			 const size_t *lens, char *err, size_t errlen);

/*
 * rdm_knob_update - CONFIG SET path. loading: the server is applying
 * startup values (config file or load arguments), where every knob is
 * accepted. At runtime a restart-only knob whose value changes is refused
 * with -EPERM and a message saying a restart is needed. *changed tells
 * whether the value differs from the current one. Numeric knobs only;
 * string knobs go through rdm_knob_update_str.
 */
int rdm_knob_update(struct rdm_knobs *k, const struct rdm_knob_desc *d,
		    long long v, bool loading, bool *changed, char *err,
		    size_t errlen);
int rdm_knob_update_str(struct rdm_knobs *k, const struct rdm_knob_desc *d,
			const char *v, size_t len, bool loading, bool *changed,
			char *err, size_t errlen);

#endif /* RDM_KNOBS_H */
