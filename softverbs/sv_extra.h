/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs: prototypes of exported rdma-core symbols that the public headers do not declare. */
#ifndef SV_EXTRA_H
#define SV_EXTRA_H

#include <stdint.h>
#include <infiniband/verbs.h>

/* IBVERBS_PRIVATE_34, used by perftest: 1 = RoCE v2 (enum ibv_gid_type_sysfs). */
int ibv_query_gid_type(struct ibv_context *context, uint8_t port_num,
		       unsigned int index, int *type);

/* IBVERBS_1.0 / 1.1 helpers from rdma-core's driver.h and marshall.h. */
void ibv_copy_path_rec_from_kern(void *dst, void *src);
void ibv_copy_path_rec_to_kern(void *dst, void *src);
void ibv_copy_qp_attr_from_kern(void *dst, void *src);
void ibv_copy_ah_attr_from_kern(void *dst, void *src);
const char *ibv_get_sysfs_path(void);
int ibv_read_sysfs_file(const char *dir, const char *file, char *buf,
			size_t size);
int ibv_resolve_eth_l2_from_gid(struct ibv_context *context,
				struct ibv_ah_attr *attr, uint8_t eth_mac[6],
				uint16_t *vid);

int ibv_dontfork_range(void *base, size_t size);
int ibv_dofork_range(void *base, size_t size);

#endif /* SV_EXTRA_H */
