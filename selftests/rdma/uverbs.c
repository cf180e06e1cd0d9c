// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal uverbs client for Soft-RoCE (rxe); see uverbs.h.
 *
 * The ABI used here is the kernel's: include/uapi/rdma/ib_user_verbs.h
 * (write() commands), rdma_user_ioctl_cmds.h and ib_user_ioctl_cmds.h
 * (ioctl methods), rdma_user_rxe.h (rxe's udata and its shared rings, laid
 * out as drivers/infiniband/sw/rxe/rxe_queue.h describes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "uverbs.h"

#define SYSFS_VERBS	"/sys/class/infiniband_verbs"
#define SYSFS_IB	"/sys/class/infiniband"

/* ---- sysfs ------------------------------------------------------------ */

/* Read a small sysfs file, trailing newline stripped. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int uv_find_uverbs_node(const char *ibdev, char *node, size_t len)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *d;

	d = opendir(SYSFS_VERBS);
	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "uverbs", 6))
			continue;
		snprintf(path, sizeof(path), SYSFS_VERBS "/%s/ibdev", de->d_name);
		if (read_line(path, name, sizeof(name)) || strcmp(name, ibdev))
			continue;
		if ((size_t)snprintf(node, len, "/dev/infiniband/%s",
				     de->d_name) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* "0000:0000:0000:0000:0000:ffff:0a00:020f" -> 16 bytes */
static int parse_gid(const char *s, uint8_t gid[16])
{
	unsigned int w[8];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x:%x:%x", &w[0], &w[1], &w[2], &w[3],
		   &w[4], &w[5], &w[6], &w[7]) != 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++) {
		gid[2 * i] = w[i] >> 8;
		gid[2 * i + 1] = w[i] & 0xff;
	}
	return 0;
}

static int gid_is_ipv4_mapped(const uint8_t gid[16])
{
	static const uint8_t prefix[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return !memcmp(gid, prefix, sizeof(prefix));
}

/*
 * The RoCE v2 GID of the port's IPv4 address (::ffff:a.b.c.d): the one
 * rxe can loop back to. The GID table also holds link-local (fe80::) and
 * RoCE v1 entries, so the index is looked up rather than assumed.
 */
int uv_find_roce_v2_ipv4_gid(const char *ibdev, int port, uint8_t gid[16],
			     int *index)
{
	char path[PATH_MAX], line[64];
	int ret;

	for (int i = 0; i < 4096; i++) {
		snprintf(path, sizeof(path), SYSFS_IB "/%s/ports/%d/gids/%d",
			 ibdev, port, i);
		ret = read_line(path, line, sizeof(line));
		if (ret == -ENOENT)
			break;
		if (ret || parse_gid(line, gid) || !gid_is_ipv4_mapped(gid))
			continue;
		snprintf(path, sizeof(path),
			 SYSFS_IB "/%s/ports/%d/gid_attrs/types/%d",
			 ibdev, port, i);
		/* Unused entries fail to read: skipped like other types. */
		if (read_line(path, line, sizeof(line)) ||
		    strcmp(line, "RoCE v2"))
			continue;
		*index = i;
		return 0;
	}
	return -ENOENT;
}

/* ---- write() commands ------------------------------------------------- */

/*
 * A legacy command is one write(): struct ib_uverbs_cmd_hdr, then the
 * command (starting with the response pointer for commands that answer),
 * then any driver input. in_words counts 32-bit words of all of it;
 * out_words those of the core response plus the driver's, which the kernel
 * expects right after the core response.
 */
#define UV_CMD(type)				\
	struct {				\
		struct ib_uverbs_cmd_hdr hdr;	\
		struct type cmd;		\
	}

static int uv_write(struct uv_ctx *ctx, uint32_t command, void *req,
		    size_t req_len, void *resp, size_t resp_len)
{
	struct ib_uverbs_cmd_hdr *hdr = req;
	ssize_t n;

	hdr->command = command;
	hdr->in_words = req_len / 4;
	hdr->out_words = resp_len / 4;
	if (resp) {
		uint64_t ptr = (uintptr_t)resp;

		memset(resp, 0, resp_len);
		/* Every answering command starts with __aligned_u64 response. */
		memcpy((char *)req + sizeof(*hdr), &ptr, sizeof(ptr));
	}
	n = write(ctx->fd, req, req_len);
	if (n < 0)
		return -errno;
	return n == (ssize_t)req_len ? 0 : -EIO;
}

int uv_open(struct uv_ctx *ctx, const char *ibdev)
{
	UV_CMD(ib_uverbs_get_context) req = { 0 };
	struct ib_uverbs_get_context_resp resp;
	int ret;

	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = -1;
	ctx->async_fd = -1;
	ctx->port = 1;
	snprintf(ctx->ibdev, sizeof(ctx->ibdev), "%s", ibdev);

	ret = uv_find_uverbs_node(ibdev, ctx->node, sizeof(ctx->node));
	if (ret)
		return ret;
	ret = uv_find_roce_v2_ipv4_gid(ibdev, ctx->port, ctx->gid,
				       &ctx->gid_index);
	if (ret)
		return ret;
	ctx->fd = open(ctx->node, O_RDWR | O_CLOEXEC);
	if (ctx->fd < 0)
		return -errno;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_GET_CONTEXT, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret) {
		close(ctx->fd);
		ctx->fd = -1;
		return ret;
	}
	ctx->async_fd = resp.async_fd;
	return 0;
}

void uv_close(struct uv_ctx *ctx)
{
	/* Closing the command FD destroys every object it still holds. */
	if (ctx->async_fd >= 0)
		close(ctx->async_fd);
	if (ctx->fd >= 0)
		close(ctx->fd);
	ctx->fd = -1;
	ctx->async_fd = -1;
}

int uv_alloc_pd(struct uv_ctx *ctx, uint32_t *pd_handle)
{
	UV_CMD(ib_uverbs_alloc_pd) req = { 0 };
	struct ib_uverbs_alloc_pd_resp resp;
	int ret;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_ALLOC_PD, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (!ret)
		*pd_handle = resp.pd_handle;
	return ret;
}

int uv_dealloc_pd(struct uv_ctx *ctx, uint32_t pd_handle)
{
	UV_CMD(ib_uverbs_dealloc_pd) req = { .cmd.pd_handle = pd_handle };

	return uv_write(ctx, IB_USER_VERBS_CMD_DEALLOC_PD, &req, sizeof(req),
			NULL, 0);
}

int uv_reg_mr(struct uv_ctx *ctx, uint32_t pd_handle, void *addr,
	      uint64_t length, uint64_t iova, uint32_t access,
	      struct uv_mr *mr)
{
	UV_CMD(ib_uverbs_reg_mr) req = {
		.cmd.start = (uintptr_t)addr,
		.cmd.length = length,
		.cmd.hca_va = iova,
		.cmd.pd_handle = pd_handle,
		.cmd.access_flags = access,
	};
	struct ib_uverbs_reg_mr_resp resp;
	int ret;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_REG_MR, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	mr->handle = resp.mr_handle;
	mr->lkey = resp.lkey;
	mr->rkey = resp.rkey;
	mr->iova = iova;
	mr->length = length;
	return 0;
}

int uv_dereg_mr(struct uv_ctx *ctx, struct uv_mr *mr)
{
	UV_CMD(ib_uverbs_dereg_mr) req = { .cmd.mr_handle = mr->handle };

	return uv_write(ctx, IB_USER_VERBS_CMD_DEREG_MR, &req, sizeof(req),
			NULL, 0);
}

/* ---- ioctl() methods -------------------------------------------------- */

/*
 * RDMA_VERBS_IOCTL takes struct ib_uverbs_ioctl_hdr followed by its
 * attributes. Values of up to 8 bytes travel inline in attr.data; outputs
 * are pointers the kernel writes through; a new object's handle comes back
 * in the data of its (IDR, access NEW) attribute.
 */
static void attr_in(struct ib_uverbs_attr *a, uint16_t id, uint16_t len,
		    uint64_t inline_data)
{
	memset(a, 0, sizeof(*a));
	a->attr_id = id;
	a->len = len;
	a->flags = UVERBS_ATTR_F_MANDATORY;
	a->data = inline_data;
}

static void attr_idr(struct ib_uverbs_attr *a, uint16_t id, uint32_t handle)
{
	attr_in(a, id, 0, handle);
}

static void attr_out(struct ib_uverbs_attr *a, uint16_t id, void *p,
		     uint16_t len)
{
	attr_in(a, id, len, (uintptr_t)p);
}

int uv_reg_dmabuf_mr(struct uv_ctx *ctx, uint32_t pd_handle, uint64_t offset,
		     uint64_t length, uint64_t iova, int fd, uint32_t access,
		     struct uv_mr *mr)
{
	enum {
		A_HANDLE, A_PD, A_OFFSET, A_LENGTH, A_IOVA, A_FD, A_ACCESS,
		A_LKEY, A_RKEY, NR_ATTRS
	};
	uint64_t buf[(sizeof(struct ib_uverbs_ioctl_hdr) +
		      NR_ATTRS * sizeof(struct ib_uverbs_attr)) / 8];
	struct ib_uverbs_ioctl_hdr *hdr = (void *)buf;
	struct ib_uverbs_attr *a = hdr->attrs;
	uint32_t lkey = 0, rkey = 0;

	memset(buf, 0, sizeof(buf));
	hdr->length = sizeof(buf);
	hdr->object_id = UVERBS_OBJECT_MR;
	hdr->method_id = UVERBS_METHOD_REG_DMABUF_MR;
	hdr->num_attrs = NR_ATTRS;
	hdr->driver_id = RDMA_DRIVER_RXE;

	attr_idr(&a[A_HANDLE], UVERBS_ATTR_REG_DMABUF_MR_HANDLE, 0);
	attr_idr(&a[A_PD], UVERBS_ATTR_REG_DMABUF_MR_PD_HANDLE, pd_handle);
	attr_in(&a[A_OFFSET], UVERBS_ATTR_REG_DMABUF_MR_OFFSET, 8, offset);
	attr_in(&a[A_LENGTH], UVERBS_ATTR_REG_DMABUF_MR_LENGTH, 8, length);
	attr_in(&a[A_IOVA], UVERBS_ATTR_REG_DMABUF_MR_IOVA, 8, iova);
	/* The FD attribute is a u32: -1 travels as 0xffffffff. */
	attr_in(&a[A_FD], UVERBS_ATTR_REG_DMABUF_MR_FD, 4, (uint32_t)fd);
	attr_in(&a[A_ACCESS], UVERBS_ATTR_REG_DMABUF_MR_ACCESS_FLAGS, 8, access);
	attr_out(&a[A_LKEY], UVERBS_ATTR_REG_DMABUF_MR_RESP_LKEY, &lkey,
		 sizeof(lkey));
	attr_out(&a[A_RKEY], UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY, &rkey,
		 sizeof(rkey));

	if (ioctl(ctx->fd, RDMA_VERBS_IOCTL, hdr))
		return -errno;
	mr->handle = a[A_HANDLE].data;
	mr->lkey = lkey;
	mr->rkey = rkey;
	mr->iova = iova;
	mr->length = length;
	return 0;
}

/* ---- rings ------------------------------------------------------------ */

static int ring_map(struct uv_ctx *ctx, struct uv_ring *r,
		    const struct mminfo *mi)
{
	void *p;

	p = mmap(NULL, mi->size, PROT_READ | PROT_WRITE, MAP_SHARED, ctx->fd,
		 mi->offset);
	if (p == MAP_FAILED)
		return -errno;
	r->buf = p;
	r->map_len = mi->size;
	/* Written once by the kernel when it made the queue. */
	r->index_mask = r->buf->index_mask;
	r->log2_elem_size = r->buf->log2_elem_size;
	return 0;
}

static void ring_unmap(struct uv_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->map_len);
	r->buf = NULL;
}

static void *ring_slot(struct uv_ring *r, uint32_t index)
{
	return r->buf->data + ((size_t)(index & r->index_mask) <<
			       r->log2_elem_size);
}

/*
 * We produce into the send and receive rings and consume from the CQ ring;
 * the kernel owns the other index of each. Indices are stored masked. The
 * acquire/release pairs match the kernel's smp_load_acquire() and
 * smp_store_release() on the same fields.
 */
static int ring_full(struct uv_ring *r)
{
	uint32_t prod = r->buf->producer_index;
	uint32_t cons = __atomic_load_n(&r->buf->consumer_index,
					__ATOMIC_ACQUIRE);

	return ((prod + 1 - cons) & r->index_mask) == 0;
}

static void ring_produce(struct uv_ring *r)
{
	uint32_t prod = r->buf->producer_index;

	__atomic_store_n(&r->buf->producer_index, (prod + 1) & r->index_mask,
			 __ATOMIC_RELEASE);
}

/* ---- completion queues ------------------------------------------------ */

int uv_create_cq(struct uv_ctx *ctx, uint32_t cqe, struct uv_cq *cq)
{
	UV_CMD(ib_uverbs_create_cq) req = {
		.cmd.cqe = cqe,
		.cmd.comp_channel = -1,
	};
	struct {
		struct ib_uverbs_create_cq_resp core;
		struct rxe_create_cq_resp rxe;
	} resp;
	int ret;

	memset(cq, 0, sizeof(*cq));
	ret = uv_write(ctx, IB_USER_VERBS_CMD_CREATE_CQ, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	cq->handle = resp.core.cq_handle;
	cq->cqe = resp.core.cqe;
	ret = ring_map(ctx, &cq->ring, &resp.rxe.mi);
	if (ret) {
		uv_destroy_cq(ctx, cq);
		return ret;
	}
	return 0;
}

int uv_destroy_cq(struct uv_ctx *ctx, struct uv_cq *cq)
{
	UV_CMD(ib_uverbs_destroy_cq) req = { .cmd.cq_handle = cq->handle };
	struct ib_uverbs_destroy_cq_resp resp;

	ring_unmap(&cq->ring);
	return uv_write(ctx, IB_USER_VERBS_CMD_DESTROY_CQ, &req, sizeof(req),
			&resp, sizeof(resp));
}

int uv_poll_cq(struct uv_cq *cq, struct ib_uverbs_wc *wc, int max)
{
	struct uv_ring *r = &cq->ring;
	int n = 0;

	while (n < max) {
		uint32_t cons = r->buf->consumer_index;
		uint32_t prod = __atomic_load_n(&r->buf->producer_index,
						__ATOMIC_ACQUIRE);

		if (cons == prod)
			break;
		/* rxe writes struct ib_uverbs_wc at the start of a user CQE. */
		memcpy(&wc[n++], ring_slot(r, cons), sizeof(*wc));
		__atomic_store_n(&r->buf->consumer_index,
				 (cons + 1) & r->index_mask, __ATOMIC_RELEASE);
	}
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Poll for one completion. The timeout only turns a hang into an error: it
 * is far longer than any completion takes, even under TCG with KASAN.
 */
int uv_wait_cq(struct uv_cq *cq, struct ib_uverbs_wc *wc, int timeout_ms)
{
	const struct timespec pause = { 0, 200 * 1000 };
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		if (uv_poll_cq(cq, wc, 1) == 1)
			return 0;
		if (now_ms() > deadline)
			return uv_poll_cq(cq, wc, 1) == 1 ? 0 : -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

/* ---- queue pairs ------------------------------------------------------ */

int uv_create_qp(struct uv_ctx *ctx, uint32_t pd_handle, struct uv_cq *scq,
		 struct uv_cq *rcq, uint32_t max_wr, struct uv_qp *qp)
{
	return uv_create_qp_type(ctx, pd_handle, scq, rcq, max_wr,
				 IB_UVERBS_QPT_RC, qp);
}

int uv_create_qp_type(struct uv_ctx *ctx, uint32_t pd_handle,
		      struct uv_cq *scq, struct uv_cq *rcq, uint32_t max_wr,
		      uint32_t qp_type, struct uv_qp *qp)
{
	UV_CMD(ib_uverbs_create_qp) req = {
		.cmd.pd_handle = pd_handle,
		.cmd.send_cq_handle = scq->handle,
		.cmd.recv_cq_handle = rcq->handle,
		.cmd.max_send_wr = max_wr,
		.cmd.max_recv_wr = max_wr,
		.cmd.max_send_sge = UV_MAX_SGE,
		.cmd.max_recv_sge = UV_MAX_SGE,
		.cmd.qp_type = qp_type,
	};
	struct {
		struct ib_uverbs_create_qp_resp core;
		struct rxe_create_qp_resp rxe;
	} resp;
	int ret;

	memset(qp, 0, sizeof(*qp));
	ret = uv_write(ctx, IB_USER_VERBS_CMD_CREATE_QP, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	qp->qp_type = qp_type;
	qp->handle = resp.core.qp_handle;
	qp->qpn = resp.core.qpn;
	qp->max_send_wr = resp.core.max_send_wr;
	qp->max_recv_wr = resp.core.max_recv_wr;
	qp->max_send_sge = resp.core.max_send_sge;
	qp->max_recv_sge = resp.core.max_recv_sge;
	ret = ring_map(ctx, &qp->sq, &resp.rxe.sq_mi);
	if (!ret)
		ret = ring_map(ctx, &qp->rq, &resp.rxe.rq_mi);
	if (ret) {
		uv_destroy_qp(ctx, qp);
		return ret;
	}
	return 0;
}

int uv_destroy_qp(struct uv_ctx *ctx, struct uv_qp *qp)
{
	UV_CMD(ib_uverbs_destroy_qp) req = { .cmd.qp_handle = qp->handle };
	struct ib_uverbs_destroy_qp_resp resp;

	ring_unmap(&qp->sq);
	ring_unmap(&qp->rq);
	return uv_write(ctx, IB_USER_VERBS_CMD_DESTROY_QP, &req, sizeof(req),
			&resp, sizeof(resp));
}

int uv_modify_qp(struct uv_ctx *ctx, struct uv_qp *qp,
		 struct ib_uverbs_modify_qp *attr)
{
	UV_CMD(ib_uverbs_modify_qp) req;

	memset(&req, 0, sizeof(req));
	req.cmd = *attr;
	req.cmd.qp_handle = qp->handle;
	return uv_write(ctx, IB_USER_VERBS_CMD_MODIFY_QP, &req, sizeof(req),
			NULL, 0);
}

/*
 * RESET -> INIT -> RTR -> RTS towards remote_qpn at dgid over RoCE v2
 * (our GID index as source): with dgid our own GID, rxe loops back.
 * Reads, writes and atomics are allowed to arrive; up to 16 reads or
 * atomics may be outstanding each way.
 */
int uv_connect_qp(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t remote_qpn,
		  const uint8_t dgid[16])
{
	return uv_connect_qp_psn(ctx, qp, remote_qpn, dgid, 0, 0);
}

int uv_connect_qp_psn(struct uv_ctx *ctx, struct uv_qp *qp,
		      uint32_t remote_qpn, const uint8_t dgid[16],
		      uint32_t sq_psn, uint32_t rq_psn)
{
	struct ib_uverbs_modify_qp a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.attr_mask = UV_QP_STATE | UV_QP_PKEY_INDEX | UV_QP_PORT |
		      UV_QP_ACCESS_FLAGS;
	a.qp_state = UV_QPS_INIT;
	a.port_num = ctx->port;
	a.qp_access_flags = UV_ACCESS_ALL;
	ret = uv_modify_qp(ctx, qp, &a);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	a.attr_mask = UV_QP_STATE | UV_QP_AV | UV_QP_PATH_MTU |
		      UV_QP_DEST_QPN | UV_QP_RQ_PSN |
		      UV_QP_MAX_DEST_RD_ATOMIC | UV_QP_MIN_RNR_TIMER;
	a.qp_state = UV_QPS_RTR;
	a.path_mtu = UV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = rq_psn;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 12;
	memcpy(a.dest.dgid, dgid, 16);
	a.dest.sgid_index = ctx->gid_index;
	a.dest.hop_limit = 64;
	a.dest.is_global = 1;
	a.dest.port_num = ctx->port;
	ret = uv_modify_qp(ctx, qp, &a);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	a.attr_mask = UV_QP_STATE | UV_QP_TIMEOUT | UV_QP_RETRY_CNT |
		      UV_QP_RNR_RETRY | UV_QP_SQ_PSN | UV_QP_MAX_QP_RD_ATOMIC;
	a.qp_state = UV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	/* Finite: a SEND nobody posted a receive for must end, not spin. */
	a.rnr_retry = 3;
	a.sq_psn = sq_psn;
	a.max_rd_atomic = 16;
	return uv_modify_qp(ctx, qp, &a);
}

/*
 * Write one work request into the send ring the way rxe's provider lays it
 * out (struct rxe_send_wqe; the kernel fills in the rest), then ring the
 * doorbell: POST_SEND with no work requests.
 */
int uv_post_send(struct uv_ctx *ctx, struct uv_qp *qp,
		 const struct uv_send_wr *wr)
{
	UV_CMD(ib_uverbs_post_send) req = {
		.cmd.qp_handle = qp->handle,
		.cmd.wr_count = 0,
		.cmd.sge_count = 0,
		/* Checked even with no work requests. */
		.cmd.wqe_size = sizeof(struct ib_uverbs_send_wr),
	};
	struct ib_uverbs_post_send_resp resp;
	struct rxe_send_wqe *wqe;
	uint32_t length = 0;

	if (wr->num_sge > qp->max_send_sge || wr->num_sge > UV_MAX_SGE)
		return -EINVAL;
	if (ring_full(&qp->sq))
		return -ENOMEM;

	wqe = ring_slot(&qp->sq, qp->sq.buf->producer_index);
	memset(wqe, 0, (size_t)1 << qp->sq.log2_elem_size);
	wqe->wr.wr_id = wr->wr_id;
	wqe->wr.opcode = wr->opcode;
	wqe->wr.send_flags = wr->send_flags;
	switch (wr->opcode) {
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_READ:
		wqe->wr.wr.rdma.remote_addr = wr->remote_addr;
		wqe->wr.wr.rdma.rkey = wr->rkey;
		break;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		wqe->wr.wr.atomic.remote_addr = wr->remote_addr;
		wqe->wr.wr.atomic.compare_add = wr->compare_add;
		wqe->wr.wr.atomic.swap = wr->swap;
		wqe->wr.wr.atomic.rkey = wr->rkey;
		break;
	case IB_UVERBS_WR_SEND:
		if (qp->qp_type == IB_UVERBS_QPT_UD) {
			wqe->wr.wr.ud.remote_qpn = wr->remote_qpn;
			wqe->wr.wr.ud.remote_qkey = wr->remote_qkey;
			wqe->wr.wr.ud.ah_num = wr->ah_num;
		}
		break;
	case IB_UVERBS_WR_ATOMIC_WRITE:
		/* As rxe's provider: the value travels in the WQE itself. */
		wqe->wr.wr.rdma.remote_addr = wr->remote_addr;
		wqe->wr.wr.rdma.rkey = wr->rkey;
		memcpy(wqe->dma.atomic_wr, &wr->atomic_value,
		       sizeof(wr->atomic_value));
		wqe->iova = wr->remote_addr;
		wqe->dma.length = sizeof(wr->atomic_value);
		wqe->dma.resid = sizeof(wr->atomic_value);
		goto produce;
	case IB_UVERBS_WR_BIND_MW:
		wqe->wr.wr.mw.addr = wr->mw.addr;
		wqe->wr.wr.mw.length = wr->mw.length;
		wqe->wr.wr.mw.mr_lkey = wr->mw.mr_lkey;
		wqe->wr.wr.mw.mw_rkey = wr->mw.mw_rkey;
		wqe->wr.wr.mw.rkey = wr->mw.new_rkey;
		wqe->wr.wr.mw.access = wr->mw.access;
		goto produce;
	default:
		return -EOPNOTSUPP;
	}
	for (uint32_t i = 0; i < wr->num_sge; i++) {
		wqe->dma.sge[i].addr = wr->sge[i].addr;
		wqe->dma.sge[i].length = wr->sge[i].length;
		wqe->dma.sge[i].lkey = wr->sge[i].lkey;
		length += wr->sge[i].length;
	}
	wqe->iova = wr->remote_addr;
	wqe->dma.length = length;
	wqe->dma.resid = length;
	wqe->dma.num_sge = wr->num_sge;
produce:
	wqe->ssn = qp->ssn++;
	ring_produce(&qp->sq);

	return uv_write(ctx, IB_USER_VERBS_CMD_POST_SEND, &req, sizeof(req),
			&resp, sizeof(resp));
}

int uv_post_recv(struct uv_qp *qp, uint64_t wr_id, const struct uv_sge *sge,
		 uint32_t num_sge)
{
	struct rxe_recv_wqe *wqe;
	uint32_t length = 0;

	if (num_sge > qp->max_recv_sge)
		return -EINVAL;
	if (ring_full(&qp->rq))
		return -ENOMEM;

	wqe = ring_slot(&qp->rq, qp->rq.buf->producer_index);
	memset(wqe, 0, (size_t)1 << qp->rq.log2_elem_size);
	wqe->wr_id = wr_id;
	for (uint32_t i = 0; i < num_sge; i++) {
		wqe->dma.sge[i].addr = sge[i].addr;
		wqe->dma.sge[i].length = sge[i].length;
		wqe->dma.sge[i].lkey = sge[i].lkey;
		length += sge[i].length;
	}
	wqe->dma.length = length;
	wqe->dma.resid = length;
	wqe->dma.num_sge = num_sge;
	/* The responder reads the ring when a SEND arrives: no doorbell. */
	ring_produce(&qp->rq);
	return 0;
}

const char *uv_wc_status_str(uint32_t status)
{
	switch (status) {
	case UV_WC_SUCCESS: return "success";
	case UV_WC_LOC_LEN_ERR: return "local length error";
	case UV_WC_LOC_QP_OP_ERR: return "local QP operation error";
	case UV_WC_LOC_PROT_ERR: return "local protection error";
	case UV_WC_WR_FLUSH_ERR: return "flushed";
	case UV_WC_LOC_ACCESS_ERR: return "local access error";
	case UV_WC_REM_INV_REQ_ERR: return "remote invalid request";
	case UV_WC_REM_ACCESS_ERR: return "remote access error";
	case UV_WC_REM_OP_ERR: return "remote operation error";
	case UV_WC_RETRY_EXC_ERR: return "transport retry exceeded";
	case UV_WC_RNR_RETRY_EXC_ERR: return "RNR retry exceeded";
	case UV_WC_MW_BIND_ERR: return "memory window bind error";
	case UV_WC_BAD_RESP_ERR: return "bad response";
	default: return "other error";
	}
}

/* ---- more of the ABI ---------------------------------------------------- */

static int modify_state(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t state,
			uint32_t extra_mask, struct ib_uverbs_modify_qp *a)
{
	a->attr_mask |= UV_QP_STATE | extra_mask;
	a->qp_state = state;
	return uv_modify_qp(ctx, qp, a);
}

int uv_reset_qp(struct uv_ctx *ctx, struct uv_qp *qp)
{
	struct ib_uverbs_modify_qp a;

	memset(&a, 0, sizeof(a));
	return modify_state(ctx, qp, UV_QPS_RESET, 0, &a);
}

int uv_connect_uc(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t remote_qpn,
		  const uint8_t dgid[16])
{
	struct ib_uverbs_modify_qp a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.port_num = ctx->port;
	/* UC has no remote reads or atomics. */
	a.qp_access_flags = IB_UVERBS_ACCESS_LOCAL_WRITE |
			    IB_UVERBS_ACCESS_REMOTE_WRITE;
	ret = modify_state(ctx, qp, UV_QPS_INIT, UV_QP_PKEY_INDEX |
			   UV_QP_PORT | UV_QP_ACCESS_FLAGS, &a);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	a.path_mtu = UV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	memcpy(a.dest.dgid, dgid, 16);
	a.dest.sgid_index = ctx->gid_index;
	a.dest.hop_limit = 64;
	a.dest.is_global = 1;
	a.dest.port_num = ctx->port;
	ret = modify_state(ctx, qp, UV_QPS_RTR, UV_QP_AV | UV_QP_PATH_MTU |
			   UV_QP_DEST_QPN | UV_QP_RQ_PSN, &a);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	return modify_state(ctx, qp, UV_QPS_RTS, UV_QP_SQ_PSN, &a);
}

int uv_ud_ready(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t qkey)
{
	struct ib_uverbs_modify_qp a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.port_num = ctx->port;
	a.qkey = qkey;
	ret = modify_state(ctx, qp, UV_QPS_INIT, UV_QP_PKEY_INDEX |
			   UV_QP_PORT | UV_QP_QKEY, &a);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	ret = modify_state(ctx, qp, UV_QPS_RTR, 0, &a);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	return modify_state(ctx, qp, UV_QPS_RTS, UV_QP_SQ_PSN, &a);
}

int uv_query_qp_state(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t *state)
{
	UV_CMD(ib_uverbs_query_qp) req = {
		.cmd.qp_handle = qp->handle,
		.cmd.attr_mask = UV_QP_STATE,
	};
	struct ib_uverbs_query_qp_resp resp;
	int ret;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_QUERY_QP, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (!ret)
		*state = resp.qp_state;
	return ret;
}

int uv_flush_qp(struct uv_ctx *ctx, struct uv_qp *qp)
{
	struct ib_uverbs_modify_qp a;

	memset(&a, 0, sizeof(a));
	return modify_state(ctx, qp, UV_QPS_ERR, 0, &a);
}

int uv_create_ah(struct uv_ctx *ctx, uint32_t pd_handle,
		 const uint8_t dgid[16], uint32_t *ah_handle,
		 uint32_t *ah_num)
{
	UV_CMD(ib_uverbs_create_ah) req = {
		.cmd.pd_handle = pd_handle,
		.cmd.attr.grh.sgid_index = ctx->gid_index,
		.cmd.attr.grh.hop_limit = 64,
		.cmd.attr.is_global = 1,
		.cmd.attr.port_num = ctx->port,
	};
	struct {
		struct ib_uverbs_create_ah_resp core;
		struct rxe_create_ah_resp rxe;
	} resp;
	int ret;

	memcpy(req.cmd.attr.grh.dgid, dgid, 16);
	ret = uv_write(ctx, IB_USER_VERBS_CMD_CREATE_AH, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	*ah_handle = resp.core.ah_handle;
	*ah_num = resp.rxe.ah_num;
	return 0;
}

int uv_destroy_ah(struct uv_ctx *ctx, uint32_t ah_handle)
{
	UV_CMD(ib_uverbs_destroy_ah) req = { .cmd.ah_handle = ah_handle };

	return uv_write(ctx, IB_USER_VERBS_CMD_DESTROY_AH, &req, sizeof(req),
			NULL, 0);
}

int uv_alloc_mw(struct uv_ctx *ctx, uint32_t pd_handle, uint8_t type,
		uint32_t *mw_handle, uint32_t *rkey)
{
	UV_CMD(ib_uverbs_alloc_mw) req = {
		.cmd.pd_handle = pd_handle,
		.cmd.mw_type = type,
	};
	struct ib_uverbs_alloc_mw_resp resp;
	int ret;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_ALLOC_MW, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	*mw_handle = resp.mw_handle;
	*rkey = resp.rkey;
	return 0;
}

int uv_dealloc_mw(struct uv_ctx *ctx, uint32_t mw_handle)
{
	UV_CMD(ib_uverbs_dealloc_mw) req = { .cmd.mw_handle = mw_handle };

	return uv_write(ctx, IB_USER_VERBS_CMD_DEALLOC_MW, &req, sizeof(req),
			NULL, 0);
}

int uv_rereg_mr(struct uv_ctx *ctx, struct uv_mr *mr, uint32_t flags,
		void *addr, uint64_t length, uint64_t iova,
		uint32_t pd_handle, uint32_t access)
{
	UV_CMD(ib_uverbs_rereg_mr) req = {
		.cmd.mr_handle = mr->handle,
		.cmd.flags = flags,
		.cmd.start = (uintptr_t)addr,
		.cmd.length = length,
		.cmd.hca_va = iova,
		.cmd.pd_handle = pd_handle,
		.cmd.access_flags = access,
	};
	struct ib_uverbs_rereg_mr_resp resp;
	int ret;

	ret = uv_write(ctx, IB_USER_VERBS_CMD_REREG_MR, &req, sizeof(req),
		       &resp, sizeof(resp));
	if (ret)
		return ret;
	mr->lkey = resp.lkey;
	mr->rkey = resp.rkey;
	if (flags & UV_MR_REREG_TRANS) {
		mr->iova = iova;
		mr->length = length;
	}
	return 0;
}
