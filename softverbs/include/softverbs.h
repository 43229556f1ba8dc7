/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs: public bits for programs linked directly against libsoftverbs. */
#ifndef SOFTVERBS_H
#define SOFTVERBS_H

/*
 * libsoftverbs exports the libibverbs and librdmacm API itself: include
 * <infiniband/verbs.h> and <rdma/rdma_cma.h> and link softverbs instead of
 * ibverbs/rdmacm (or LD_PRELOAD libsoftverbs.so). Nothing else is public.
 */
#define SOFTVERBS_DEVICE_NAME "softverbs0"

#endif /* SOFTVERBS_H */
