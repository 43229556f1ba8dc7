/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the RDMA transport (engine, IO threads, clients). */
#ifndef RDM_RDMA_H
#define RDM_RDMA_H

#include "exec.h"
#include "knobs.h"
#include "runtime.h"

/* rdm_rdma_start - create and start the engine from the knobs, run its IO
 * threads and listen on every bind address at the knob port. On error the
 * message goes to err. rdm_dispatch_start must have run. Main thread. */
int rdm_rdma_start(const struct rdm_knobs *k, char *err, size_t errlen);

/* rdm_rdma_engine_ops - the hooks (apply, stats, running, stop). */
const struct rdm_engine_ops *rdm_rdma_engine_ops(void);

#endif /* RDM_RDMA_H */
