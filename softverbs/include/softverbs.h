/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs: public bits for programs linked directly against libsoftverbs. */
#ifndef SOFTVERBS_H
#define SOFTVERBS_H

/*
 * libsoftverbs exports the libibverbs and librdmacm API itself: include
 * <infiniband/verbs.h> and <rdma/rdma_cma.h> and link softverbs instead of
 * ibverbs/rdmacm (or LD_PRELOAD libsoftverbs.so). Besides that API, only
 * what is declared here is public.
 */
#define SOFTVERBS_DEVICE_NAME "softverbs0"

struct ibv_context;
struct ibv_async_event;

/*
 * Fault injection for tests that link softverbs: queue ev on ctx's async
 * event fd, as the device would raise it (e.g. IBV_EVENT_PORT_ERR with
 * element.port_num 1, IBV_EVENT_DEVICE_FATAL). Nothing else changes: QPs,
 * CQs and the port keep working (at most 256 events wait; more are
 * dropped). 0, or -EINVAL when ctx is not a softverbs context.
 * Any thread.
 */
int softverbs_raise_async_event(struct ibv_context *ctx,
				const struct ibv_async_event *ev);

#endif /* SOFTVERBS_H */
