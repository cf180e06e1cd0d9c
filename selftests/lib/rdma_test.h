/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the test programs that drive Soft-RoCE through our uverbs
 * client (selftests/rdma/uverbs.c): find the rxe device, two RC queue
 * pairs on it connected to each other (A posts, B answers, over RoCE v2
 * to the guest's own address), one work request run to its completion,
 * and how many MRs the device holds. Header-only; include after
 * accel_test.h and uverbs.h. Every function returns 0 (or a count, or a
 * completion status) on success and -errno on failure.
 */
#ifndef P2PMEM_RDMA_TEST_H
#define P2PMEM_RDMA_TEST_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * How long a completion may take before it counts as never coming: only
 * turns a hang into an error, far longer than any completion under TCG.
 */
#define RDMA_WAIT_MS	30000
/* Work requests each queue pair of a link takes. */
#define RDMA_QP_DEPTH	64

/* RXE from the environment, else the first rxe* device. */
static inline int rdma_find_rxe(char *name, size_t len)
{
	const char *env = getenv("RXE");
	struct dirent *de;
	int ret = -ENODEV;
	DIR *d;

	if (env && *env) {
		snprintf(name, len, "%s", env);
		return 0;
	}
	d = opendir("/sys/class/infiniband");
	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "rxe", 3))
			continue;
		snprintf(name, len, "%.63s", de->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* ---- two connected queue pairs ------------------------------------------ */

struct rdma_link {
	struct uv_ctx ctx;
	uint32_t pd;
	struct uv_cq cq_a, cq_b;
	struct uv_qp qp_a, qp_b;
	bool connected;
};

static inline void rdma_link_init(struct rdma_link *l)
{
	memset(l, 0, sizeof(*l));
	l->ctx.fd = -1;
	l->ctx.async_fd = -1;
}

/* Queue pairs A and B, each on its own CQ, connected to each other. */
static inline int rdma_link_connect(struct rdma_link *l)
{
	int ret;

	ret = uv_create_cq(&l->ctx, 2 * RDMA_QP_DEPTH, &l->cq_a);
	if (ret)
		return ret;
	ret = uv_create_cq(&l->ctx, 2 * RDMA_QP_DEPTH, &l->cq_b);
	if (ret)
		goto err_cq_a;
	ret = uv_create_qp(&l->ctx, l->pd, &l->cq_a, &l->cq_a, RDMA_QP_DEPTH,
			   &l->qp_a);
	if (ret)
		goto err_cq_b;
	ret = uv_create_qp(&l->ctx, l->pd, &l->cq_b, &l->cq_b, RDMA_QP_DEPTH,
			   &l->qp_b);
	if (ret)
		goto err_qp_a;
	ret = uv_connect_qp(&l->ctx, &l->qp_a, l->qp_b.qpn, l->ctx.gid);
	if (!ret)
		ret = uv_connect_qp(&l->ctx, &l->qp_b, l->qp_a.qpn, l->ctx.gid);
	if (ret)
		goto err_qp_b;
	l->connected = true;
	return 0;

err_qp_b:
	uv_destroy_qp(&l->ctx, &l->qp_b);
err_qp_a:
	uv_destroy_qp(&l->ctx, &l->qp_a);
err_cq_b:
	uv_destroy_cq(&l->ctx, &l->cq_b);
err_cq_a:
	uv_destroy_cq(&l->ctx, &l->cq_a);
	return ret;
}

static inline void rdma_link_disconnect(struct rdma_link *l)
{
	if (!l->connected)
		return;
	uv_destroy_qp(&l->ctx, &l->qp_a);
	uv_destroy_qp(&l->ctx, &l->qp_b);
	uv_destroy_cq(&l->ctx, &l->cq_a);
	uv_destroy_cq(&l->ctx, &l->cq_b);
	l->connected = false;
}

/*
 * An error completion moves both QPs to the error state for good: a test
 * that provokes one reconnects with fresh QPs before the next operation.
 */
static inline int rdma_link_reconnect(struct rdma_link *l)
{
	rdma_link_disconnect(l);
	return rdma_link_connect(l);
}

/*
 * Open @ibdev, allocate a PD and connect the link. -ENODEV: no uverbs
 * device; -ENOENT: no RoCE v2 GID of an IPv4 address yet.
 */
static inline int rdma_link_open(struct rdma_link *l, const char *ibdev)
{
	int ret;

	rdma_link_init(l);
	ret = uv_open(&l->ctx, ibdev);
	if (ret)
		return ret;
	ret = uv_alloc_pd(&l->ctx, &l->pd);
	if (!ret)
		ret = rdma_link_connect(l);
	if (ret) {
		uv_close(&l->ctx);
		l->ctx.fd = -1;
	}
	return ret;
}

/* Closing the uverbs FD destroys every object the link still holds. */
static inline void rdma_link_close(struct rdma_link *l)
{
	rdma_link_disconnect(l);
	uv_close(&l->ctx);
}

/*
 * Post one signaled work request on A and wait for its completion.
 * Returns the completion status (>= 0), or -errno if it could not be
 * posted, never completed (-ETIMEDOUT) or another one completed (-EPROTO).
 */
static inline int rdma_run_wr(struct rdma_link *l, const struct uv_send_wr *wr)
{
	struct ib_uverbs_wc wc;
	int ret;

	ret = uv_post_send(&l->ctx, &l->qp_a, wr);
	if (ret)
		return ret;
	ret = uv_wait_cq(&l->cq_a, &wc, RDMA_WAIT_MS);
	if (ret)
		return ret;
	if (wc.wr_id != wr->wr_id)
		return -EPROTO;
	return wc.status;
}

/* A completion status (>= 0) or -errno, in words. */
static inline const char *rdma_result_str(int ret)
{
	return ret < 0 ? strerror(-ret) : uv_wc_status_str(ret);
}

static inline const char *rdma_op_name(uint32_t opcode)
{
	switch (opcode) {
	case IB_UVERBS_WR_RDMA_WRITE: return "RDMA WRITE";
	case IB_UVERBS_WR_RDMA_READ: return "RDMA READ";
	case IB_UVERBS_WR_SEND: return "SEND";
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP: return "compare-and-swap";
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD: return "fetch-and-add";
	default: return "?";
	}
}

/* rxe MR keys are the MR's pool index shifted by 8, and a key byte. */
static inline uint32_t rdma_key_index(uint32_t key)
{
	return key >> 8;
}

/*
 * How many MRs @ibdev holds, as the RDMA netlink resource tracker counts
 * them (iproute2's "rdma resource show": "... mr N ..."), or -errno.
 */
static inline long rdma_mr_count(const char *ibdev)
{
	char cmd[128], line[512];
	long count = -ENOENT;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "rdma resource show %.64s 2>/dev/null", ibdev);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		const char *m = strstr(line, " mr ");

		if (m && sscanf(m, " mr %ld", &count) != 1)
			count = -EPROTO;
	}
	if (pclose(p))
		return -EIO;
	return count;
}

#endif /* P2PMEM_RDMA_TEST_H */
