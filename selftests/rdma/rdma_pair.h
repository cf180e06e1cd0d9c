/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the revoke, race, exporter and netdev tests
 * (rdma_race_test.c, rdma_exporters_test.c, rdma_netdev_test.c): two QPs
 * connected to each other (on one rxe device or on two), buffers with one
 * MR each, posting and waiting, the accelerator's buffers. Header-only;
 * include after kselftest_harness.h, accel_test.h and uverbs.h.
 */
#ifndef SELFTESTS_RDMA_PAIR_H
#define SELFTESTS_RDMA_PAIR_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "uverbs.h"
#include "rdma_test.h"

#define PAGE		4096ULL
#define SZ_64K		(64ULL << 10)
#define SZ_1M		(1ULL << 20)
#define GUARD		0xa5
/* An I/O virtual address unlike any offset, so a mix-up shows. */
#define DEV_IOVA	0x7f5500000000ULL
/* Turns a hang into an error; never a performance bound. */
#define WAIT_MS		30000
#define QP_DEPTH	64
#define QKEY		0x11111111

/* ---- environment ------------------------------------------------------- */

/* A count from the environment (the suites' STRESS_* knobs), or @def. */
static inline long env_count(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return (*end || n < 0) ? def : n;
}

static inline int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* The guest's clocksource: timings on "jiffies" have a 4 ms grain. */
static inline const char *clocksource(void)
{
	static char cs[64];
	FILE *f;

	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  "r");
	if (!f || !fgets(cs, sizeof(cs), f))
		snprintf(cs, sizeof(cs), "unknown");
	if (f)
		fclose(f);
	cs[strcspn(cs, "\n")] = '\0';
	return cs;
}

/* ---- two QPs connected to each other ------------------------------------ */

struct end {
	struct uv_ctx *ctx;
	uint32_t pd;
	struct uv_cq cq;	/* send and receive completions of @qp */
	struct uv_qp qp;
};

/*
 * A is the requester of the tests, B its peer. They may share one context
 * and PD (one rxe device: MRs of either work on both) or not (two rxe
 * devices: each side uses the MRs of its own PD).
 */
struct pair {
	struct end a, b;
	uint32_t type;		/* IB_UVERBS_QPT_RC, _UC or _UD */
	uint32_t ah_a2b, ah_b2a;	/* UD: address handles (num) */
	uint32_t ah_h_a2b, ah_h_b2a;	/* UD: their handles */
	bool up;
};

static inline int end_create(struct end *e, uint32_t type)
{
	int ret;

	ret = uv_create_cq(e->ctx, 4 * QP_DEPTH, &e->cq);
	if (ret)
		return ret;
	ret = uv_create_qp_type(e->ctx, e->pd, &e->cq, &e->cq, QP_DEPTH, type,
				&e->qp);
	if (ret)
		uv_destroy_cq(e->ctx, &e->cq);
	return ret;
}

static inline void end_destroy(struct end *e)
{
	uv_destroy_qp(e->ctx, &e->qp);
	uv_destroy_cq(e->ctx, &e->cq);
}

/* Bring both QPs to RTS towards each other (again, after uv_reset_qp()). */
static inline int pair_ready(struct pair *p, uint32_t a_sq_psn,
			     uint32_t b_sq_psn)
{
	int ret;

	switch (p->type) {
	case IB_UVERBS_QPT_RC:
		ret = uv_connect_qp_psn(p->a.ctx, &p->a.qp, p->b.qp.qpn,
					p->b.ctx->gid, a_sq_psn, b_sq_psn);
		if (!ret)
			ret = uv_connect_qp_psn(p->b.ctx, &p->b.qp, p->a.qp.qpn,
						p->a.ctx->gid, b_sq_psn,
						a_sq_psn);
		return ret;
	case IB_UVERBS_QPT_UC:
		ret = uv_connect_uc(p->a.ctx, &p->a.qp, p->b.qp.qpn,
				    p->b.ctx->gid);
		if (!ret)
			ret = uv_connect_uc(p->b.ctx, &p->b.qp, p->a.qp.qpn,
					    p->a.ctx->gid);
		return ret;
	case IB_UVERBS_QPT_UD:
		ret = uv_ud_ready(p->a.ctx, &p->a.qp, QKEY);
		if (!ret)
			ret = uv_ud_ready(p->b.ctx, &p->b.qp, QKEY);
		return ret;
	}
	return -EINVAL;
}

static inline int pair_connect(struct pair *p, uint32_t type)
{
	int ret;

	p->type = type;
	ret = end_create(&p->a, type);
	if (ret)
		return ret;
	ret = end_create(&p->b, type);
	if (ret) {
		end_destroy(&p->a);
		return ret;
	}
	p->up = true;
	if (type == IB_UVERBS_QPT_UD) {
		ret = uv_create_ah(p->a.ctx, p->a.pd, p->b.ctx->gid,
				   &p->ah_h_a2b, &p->ah_a2b);
		if (!ret)
			ret = uv_create_ah(p->b.ctx, p->b.pd, p->a.ctx->gid,
					   &p->ah_h_b2a, &p->ah_b2a);
		if (ret)
			return ret;
	}
	return pair_ready(p, 0, 0);
}

static inline void pair_disconnect(struct pair *p)
{
	if (!p->up)
		return;
	end_destroy(&p->a);
	end_destroy(&p->b);
	if (p->type == IB_UVERBS_QPT_UD) {
		uv_destroy_ah(p->a.ctx, p->ah_h_a2b);
		uv_destroy_ah(p->b.ctx, p->ah_h_b2a);
	}
	p->up = false;
}

/*
 * After an error both QPs may be in the error state for good: replace them
 * with new ones, connected again (PSNs from 0). Not RESET and connect
 * again: a responder may still be on its way into the error state when
 * the requester completes, and would land there after the reset.
 */
static inline int pair_renew(struct pair *p)
{
	pair_disconnect(p);
	return pair_connect(p, p->type);
}

/* ---- buffers with one MR ----------------------------------------------- */

struct buf {
	uint8_t *cpu;		/* CPU view of the whole buffer; NULL if none */
	uint64_t size;
	struct uv_mr mr;
	uint64_t mr_offset;	/* where in the buffer the MR starts */
	bool device;
};

/* The address RDMA uses for byte @pos of the buffer. */
static inline uint64_t buf_addr(const struct buf *b, uint64_t pos)
{
	return b->mr.iova + pos - b->mr_offset;
}

static inline int host_buf(struct uv_ctx *ctx, uint32_t pd, struct buf *b,
			   uint64_t size, uint32_t access)
{
	memset(b, 0, sizeof(*b));
	b->size = size;
	b->cpu = aligned_alloc(PAGE, size);
	if (!b->cpu)
		return -ENOMEM;
	memset(b->cpu, 0, size);
	return uv_reg_mr(ctx, pd, b->cpu, size, (uintptr_t)b->cpu, access,
			 &b->mr);
}

/* ---- posting and waiting ------------------------------------------------ */

/* A completion status (>= 0) or -errno, in words. */
static inline const char *result_str(int ret)
{
	return ret < 0 ? strerror(-ret) : uv_wc_status_str(ret);
}

/* One signaled work request of @opcode from @e: local (lkey) and remote. */
static inline int post_op(struct pair *p, struct end *e, uint64_t wr_id,
			  uint32_t opcode, const struct buf *local,
			  uint64_t lpos, uint32_t len,
			  const struct buf *remote, uint64_t rpos)
{
	struct uv_send_wr wr = {
		.wr_id = wr_id,
		.opcode = opcode,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = local ? 1 : 0,
		.compare_add = 1,
		.swap = 2,
		.atomic_value = 0x0a7011c0de0a7011ULL,
	};

	if (local)
		wr.sge[0] = (struct uv_sge){ buf_addr(local, lpos), len,
					     local->mr.lkey };
	if (remote) {
		wr.remote_addr = buf_addr(remote, rpos);
		wr.rkey = remote->mr.rkey;
	}
	if (p->type == IB_UVERBS_QPT_UD) {
		struct end *peer = e == &p->a ? &p->b : &p->a;

		wr.remote_qpn = peer->qp.qpn;
		wr.remote_qkey = QKEY;
		wr.ah_num = e == &p->a ? p->ah_a2b : p->ah_b2a;
	}
	return uv_post_send(e->ctx, &e->qp, &wr);
}

static inline int post_recv_buf(struct end *e, uint64_t wr_id,
				const struct buf *b, uint64_t pos, uint32_t len)
{
	struct uv_sge sge = { buf_addr(b, pos), len, b->mr.lkey };

	return uv_post_recv(&e->qp, wr_id, &sge, 1);
}

/* The next completion of @e, or -ETIMEDOUT. */
static inline int wait_wc(struct end *e, struct ib_uverbs_wc *wc)
{
	return uv_wait_cq(&e->cq, wc, WAIT_MS);
}

/*
 * Completions that arrive on @e within @ms (the first one in @wc): 0 when
 * the CQ stays empty, as it must on a side that has nothing to complete.
 */
static inline int completions_within(struct end *e, int ms,
				     struct ib_uverbs_wc *wc)
{
	struct ib_uverbs_wc tmp[8];
	int64_t end = now_us() + ms * 1000LL;
	int n = 0, got;
	const struct timespec pause = { 0, 1000 * 1000 };

	do {
		got = uv_poll_cq(&e->cq, tmp, 8);
		if (got > 0 && !n && wc)
			*wc = tmp[0];
		n += got > 0 ? got : 0;
		nanosleep(&pause, NULL);
	} while (now_us() < end);
	return n;
}

/* ---- the accelerator ---------------------------------------------------- */

struct accel {
	int fd;			/* the owner's FD, -1 when closed */
	char node[64];
	char bdf[32];
};

/* One exported buffer of the accelerator, mapped, not registered. */
struct accel_buf {
	uint32_t bo;
	int dmabuf;		/* -1 when closed */
	uint8_t *cpu;		/* NULL once unmapped (revoked memory) */
	uint64_t size;
};

static inline int accel_open(struct accel *a)
{
	int ret;

	a->fd = -1;
	ret = find_accel(a->node, sizeof(a->node), a->bdf, sizeof(a->bdf));
	if (ret)
		return ret;
	a->fd = open(a->node, O_RDWR | O_CLOEXEC);
	return a->fd < 0 ? -errno : 0;
}

static inline int accel_buf_new(struct accel *a, uint64_t size,
				struct accel_buf *b)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->dmabuf = -1;
	b->size = size;
	ret = accel_alloc(a->fd, size, 0, &b->bo);
	if (ret)
		return ret;
	ret = prime_export(a->fd, b->bo, &b->dmabuf);
	if (ret)
		return ret;
	b->cpu = map_gem(a->fd, b->bo, size);
	return b->cpu ? 0 : -errno;
}

/* After a revoke the memory is gone: drop the mapping and the FD. */
static inline void accel_buf_drop(struct accel *a, struct accel_buf *b)
{
	if (b->cpu)
		munmap(b->cpu, b->size);
	b->cpu = NULL;
	if (b->dmabuf >= 0)
		close(b->dmabuf);
	b->dmabuf = -1;
	if (a->fd >= 0 && b->bo)
		gem_close(a->fd, b->bo);
	b->bo = 0;
}

#endif /* SELFTESTS_RDMA_PAIR_H */
