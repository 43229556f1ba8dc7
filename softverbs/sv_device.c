// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: the softverbs0 device, contexts and device/port/GID queries. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "softverbs.h"
#include "sv_extra.h"
#include "sv_priv.h"

#undef ibv_query_port

static struct ibv_device sv_dev;
static struct ibv_device *sv_dev_list[2] = { &sv_dev, NULL };

void sv_device_init(void)
{
	sv_dev.node_type = IBV_NODE_CA;
	sv_dev.transport_type = IBV_TRANSPORT_IB;
	snprintf(sv_dev.name, sizeof(sv_dev.name), "%s", SV_DEVICE_NAME);
	snprintf(sv_dev.dev_name, sizeof(sv_dev.dev_name), "uverbs_sv0");
	snprintf(sv_dev.dev_path, sizeof(sv_dev.dev_path),
		 "/sys/class/infiniband_verbs/uverbs_sv0");
	snprintf(sv_dev.ibdev_path, sizeof(sv_dev.ibdev_path),
		 "/sys/class/infiniband/%s", SV_DEVICE_NAME);
	sv.dev = &sv_dev;
}

struct ibv_device *sv_device(void)
{
	return sv_init() ? NULL : &sv_dev;
}

struct ibv_device **ibv_get_device_list(int *num_devices)
{
	struct ibv_device **list;

	if (sv_init()) {
		errno = ENOSYS;
		return NULL;
	}
	list = calloc(2, sizeof(*list));
	if (!list) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(list, sv_dev_list, sizeof(sv_dev_list));
	if (num_devices)
		*num_devices = 1;
	return list;
}

void ibv_free_device_list(struct ibv_device **list)
{
	free(list);
}

const char *ibv_get_device_name(struct ibv_device *device)
{
	return device->name;
}

__be64 ibv_get_device_guid(struct ibv_device *device)
{
	(void)device;
	return htobe64(0x02005efffe000001ull);
}

int ibv_get_device_index(struct ibv_device *device)
{
	(void)device;
	return 0;
}

static int query_port_op(struct ibv_context *context, uint8_t port_num,
			 struct ibv_port_attr *out, size_t len)
{
	struct ibv_port_attr a;

	(void)context;
	if (port_num != SV_PORT_NUM)
		return EINVAL;
	memset(&a, 0, sizeof(a));
	a.state = IBV_PORT_ACTIVE;
	a.max_mtu = IBV_MTU_4096;
	a.active_mtu = IBV_MTU_4096;
	a.gid_tbl_len = 1;
	a.port_cap_flags = IBV_PORT_CM_SUP | IBV_PORT_IP_BASED_GIDS;
	a.max_msg_sz = SV_MAX_MSG;
	a.pkey_tbl_len = 1;
	a.max_vl_num = 1;
	a.active_width = 2; /* 4X */
	a.active_speed = 32; /* EDR: 4X = 100 Gb/s */
	a.phys_state = 5; /* LinkUp */
	a.link_layer = IBV_LINK_LAYER_ETHERNET;
	memcpy(out, &a, len < sizeof(a) ? len : sizeof(a));
	return 0;
}

int ibv_query_port(struct ibv_context *context, uint8_t port_num,
		   struct _compat_ibv_port_attr *port_attr)
{
	return query_port_op(context, port_num, (struct ibv_port_attr *)port_attr,
			     offsetof(struct ibv_port_attr, flags));
}

static void fill_device_attr(struct ibv_device_attr *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->fw_ver, sizeof(a->fw_ver), "1.0.0");
	a->node_guid = ibv_get_device_guid(&sv_dev);
	a->sys_image_guid = a->node_guid;
	a->max_mr_size = 1ull << 40;
	a->page_size_cap = 0xfffff000;
	a->vendor_id = 0x5356; /* "SV", not a real vendor: no vendor paths */
	a->vendor_part_id = 1;
	a->hw_ver = 1;
	a->max_qp = 1 << 17;
	a->max_qp_wr = SV_MAX_QP_WR;
	a->device_cap_flags = IBV_DEVICE_RC_RNR_NAK_GEN |
			      IBV_DEVICE_CURR_QP_STATE_MOD |
			      IBV_DEVICE_SHUTDOWN_PORT |
			      IBV_DEVICE_PORT_ACTIVE_EVENT |
			      IBV_DEVICE_SYS_IMAGE_GUID |
			      IBV_DEVICE_SRQ_RESIZE;
	a->max_sge = SV_MAX_SGE;
	a->max_sge_rd = SV_MAX_SGE;
	a->max_cq = 1 << 16;
	a->max_cqe = SV_MAX_CQE;
	a->max_mr = 1 << 20;
	a->max_pd = 1 << 16;
	a->max_qp_rd_atom = 16;
	a->max_ee_rd_atom = 0;
	a->max_res_rd_atom = 16 << 17;
	a->max_qp_init_rd_atom = 16;
	a->atomic_cap = IBV_ATOMIC_NONE;
	a->max_srq = 1 << 16;
	a->max_srq_wr = SV_MAX_QP_WR;
	a->max_srq_sge = SV_MAX_SGE;
	a->max_pkeys = 1;
	a->local_ca_ack_delay = 16;
	a->phys_port_cnt = 1;
}

int ibv_query_device(struct ibv_context *context,
		     struct ibv_device_attr *device_attr)
{
	(void)context;
	fill_device_attr(device_attr);
	return 0;
}

static int query_device_ex_op(struct ibv_context *context,
			      const struct ibv_query_device_ex_input *input,
			      struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ibv_device_attr_ex a;

	(void)context;
	if (input && input->comp_mask)
		return EINVAL;
	memset(&a, 0, sizeof(a));
	fill_device_attr(&a.orig_attr);
	a.max_dm_size = 0;
	a.phys_port_cnt_ex = 1;
	memcpy(attr, &a, attr_size < sizeof(a) ? attr_size : sizeof(a));
	return 0;
}

int ibv_query_gid(struct ibv_context *context, uint8_t port_num, int index,
		  union ibv_gid *gid)
{
	(void)context;
	if (port_num != SV_PORT_NUM || index != 0) {
		errno = EINVAL;
		return -1;
	}
	sv_gid_from_ipv4(sv.cfg.ipv4.s_addr, gid);
	return 0;
}

int _ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num,
		      uint32_t gid_index, struct ibv_gid_entry *entry,
		      uint32_t flags, size_t entry_size)
{
	struct ibv_gid_entry e;

	if (flags || port_num != SV_PORT_NUM)
		return EINVAL;
	if (gid_index != 0)
		return ENODATA;
	memset(&e, 0, sizeof(e));
	ibv_query_gid(context, SV_PORT_NUM, 0, &e.gid);
	e.gid_index = 0;
	e.port_num = SV_PORT_NUM;
	e.gid_type = IBV_GID_TYPE_ROCE_V2;
	e.ndev_ifindex = 1; /* lo */
	memcpy(entry, &e, entry_size < sizeof(e) ? entry_size : sizeof(e));
	return 0;
}

ssize_t _ibv_query_gid_table(struct ibv_context *context,
			     struct ibv_gid_entry *entries, size_t max_entries,
			     uint32_t flags, size_t entry_size)
{
	int ret;

	if (flags || entry_size < sizeof(*entries))
		return -EINVAL;
	if (max_entries < 1)
		return -EINVAL;
	ret = _ibv_query_gid_ex(context, SV_PORT_NUM, 0, entries, 0,
				entry_size);
	return ret ? -ret : 1;
}

int ibv_query_gid_type(struct ibv_context *context, uint8_t port_num,
		       unsigned int index, int *type)
{
	(void)context;
	if (port_num != SV_PORT_NUM || index != 0)
		return -1;
	*type = 1; /* IBV_GID_TYPE_SYSFS_ROCE_V2 */
	return 0;
}

int ibv_query_pkey(struct ibv_context *context, uint8_t port_num, int index,
		   __be16 *pkey)
{
	(void)context;
	if (port_num != SV_PORT_NUM || index != 0) {
		errno = EINVAL;
		return -1;
	}
	*pkey = htobe16(0xffff);
	return 0;
}

int ibv_get_pkey_index(struct ibv_context *context, uint8_t port_num,
		       __be16 pkey)
{
	(void)context;
	if (port_num != SV_PORT_NUM || be16toh(pkey) != 0xffff)
		return -EINVAL;
	return 0;
}

static void set_ops(struct sv_context *c)
{
	struct ibv_context_ops *ops = &c->vctx.context.ops;

	ops->poll_cq = sv_poll_cq;
	ops->req_notify_cq = sv_req_notify_cq;
	ops->post_send = sv_post_send;
	ops->post_recv = sv_post_recv;
	ops->post_srq_recv = sv_post_srq_recv;
	c->vctx.query_port = query_port_op;
	c->vctx.query_device_ex = query_device_ex_op;
}

struct ibv_context *ibv_open_device(struct ibv_device *device)
{
	struct sv_context *c;
	int p[2];

	if (sv_nic_ensure() || device != &sv_dev) {
		errno = ENODEV;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto err;
	if (pipe2(p, O_CLOEXEC))
		goto err_free;
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	pthread_mutex_init(&c->ev_lock, NULL);
	c->async_wfd = p[1];
	c->vctx.sz = sizeof(struct verbs_context);
	c->vctx.context.device = device;
	c->vctx.context.cmd_fd = -1;
	c->vctx.context.async_fd = p[0];
	c->vctx.context.num_comp_vectors = 4;
	c->vctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	pthread_mutex_init(&c->vctx.context.mutex, NULL);
	set_ops(c);
	return &c->vctx.context;

err_free:
	free(c);
err:
	errno = ENOMEM;
	return NULL;
}

int ibv_close_device(struct ibv_context *context)
{
	struct sv_context *c = sv_ctx(context);

	sv_log(SV_LOG_DEBUG, "closing context %p (async fds %d, %d)",
	       (void *)context, context->async_fd, c->async_wfd);
	close(context->async_fd);
	close(c->async_wfd);
	pthread_mutex_destroy(&c->ev_lock);
	pthread_mutex_destroy(&context->mutex);
	free(c);
	return 0;
}

bool sv_is_context(const struct ibv_context *ctx)
{
	return ctx && ctx->device == &sv_dev &&
	       ctx->abi_compat == __VERBS_ABI_IS_EXTENDED;
}

struct ibv_context *sv_cm_context(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct ibv_context *ctx;
	struct ibv_context *ret;

	pthread_mutex_lock(&lock);
	if (!ctx)
		ctx = ibv_open_device(sv_device());
	ret = ctx;
	pthread_mutex_unlock(&lock);
	return ret;
}

int ibv_fork_init(void)
{
	return 0;
}

enum ibv_fork_status ibv_is_fork_initialized(void)
{
	return IBV_FORK_UNNEEDED;
}

int ibv_dontfork_range(void *base, size_t size)
{
	(void)base;
	(void)size;
	return 0;
}

int ibv_dofork_range(void *base, size_t size)
{
	(void)base;
	(void)size;
	return 0;
}
