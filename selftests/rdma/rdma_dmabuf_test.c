// SPDX-License-Identifier: GPL-2.0
/*
 * Accelerator device memory as RDMA memory regions: dma-bufs exported by
 * p2p_accel, registered on Soft-RoCE (rxe) with UVERBS_METHOD_REG_DMABUF_MR,
 * driven through the uverbs ABI directly (uverbs.c, no rdma-core).
 *
 * - host_mr: the uverbs client itself, between two ordinary MRs; proves
 *   the library and the error statuses rxe gives for bad keys.
 * - dmabuf_data: RDMA WRITE, READ and SEND/RECV between device and host
 *   memory in both directions (one variant each), byte-exact.
 * - dmabuf_mr: registration, access flags, atomics, revoke (by reset and
 *   by owner close) of an idle MR, keys of revoked MRs, and the errno
 *   contract of REG_DMABUF_MR.
 * - revoke_under_traffic: revoke while RDMA runs through the MR, the device
 *   memory on either side (one variant each).
 *
 * Two queue pairs on one rxe device are connected to each other over
 * RoCE v2 to the guest's own address: A posts, B answers. Every MR lives
 * in one PD, so each side may use any of them.
 *
 * Needs root, rxe up (RXE names it, default the first rxe* device) and
 * p2p_accel.ko loaded. rxe is a CPU importer: it attaches for itself and
 * vmaps, never DMA-maps, so no PCI route applies and every test runs in
 * both topologies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/p2p_accel.h>

#include "accel_test.h"
#include "uverbs.h"
#include "rdma_test.h"
#include "kselftest_harness.h"

#define PAGE		4096ULL
#define SZ_64K		(64ULL << 10)
#define SZ_1M		(1ULL << 20)
#define BUF_SIZE	(2 * SZ_1M)
#define GUARD		0xa5
/* An I/O virtual address unlike any offset, so a mix-up shows. */
#define DEV_IOVA	0x7f5500000000ULL
#define WAIT_MS		30000
#define QP_DEPTH	64

/* ---- small helpers ------------------------------------------------------ */


/* ---- the accelerator ---------------------------------------------------- */

/* ---- two connected queue pairs ------------------------------------------ */

struct link {
	struct uv_ctx ctx;
	uint32_t pd;
	struct uv_cq cq_a, cq_b;
	struct uv_qp qp_a, qp_b;
	bool connected;
};

static int link_connect(struct link *l)
{
	int ret;

	ret = uv_create_cq(&l->ctx, 2 * QP_DEPTH, &l->cq_a);
	if (ret)
		return ret;
	ret = uv_create_cq(&l->ctx, 2 * QP_DEPTH, &l->cq_b);
	if (ret)
		return ret;
	ret = uv_create_qp(&l->ctx, l->pd, &l->cq_a, &l->cq_a, QP_DEPTH,
			   &l->qp_a);
	if (ret)
		return ret;
	ret = uv_create_qp(&l->ctx, l->pd, &l->cq_b, &l->cq_b, QP_DEPTH,
			   &l->qp_b);
	if (ret)
		return ret;
	ret = uv_connect_qp(&l->ctx, &l->qp_a, l->qp_b.qpn, l->ctx.gid);
	if (ret)
		return ret;
	ret = uv_connect_qp(&l->ctx, &l->qp_b, l->qp_a.qpn, l->ctx.gid);
	if (ret)
		return ret;
	l->connected = true;
	return 0;
}

static void link_disconnect(struct link *l)
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
 * An error completion moves both QPs to the error state for good: tests
 * that provoke one reconnect with fresh QPs before the next operation.
 */
static int link_reconnect(struct link *l)
{
	link_disconnect(l);
	return link_connect(l);
}

/* ---- buffers: host memory or device memory, each with one MR ----------- */

struct buf {
	uint8_t *cpu;		/* CPU view of the whole buffer */
	uint64_t size;
	struct uv_mr mr;
	uint64_t mr_offset;	/* where in the buffer the MR starts */
	bool device;
};

/* The address RDMA uses for byte @pos of the buffer. */
static uint64_t buf_addr(const struct buf *b, uint64_t pos)
{
	return b->mr.iova + pos - b->mr_offset;
}

/* The state every test here starts from. */
struct env {
	char rxe[64];
	struct link l;
	int accel;		/* the owner's FD; -1 once closed */
	char bdf[32];		/* the accelerator's PCI address */
	uint32_t bo;		/* GEM handle of the device buffer */
	uint64_t bo_offset;	/* its offset in device memory (debugfs) */
	int dmabuf;		/* its dma-buf; -1 once closed */
	struct buf dev, host;
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->l.ctx.fd = -1;
	e->l.ctx.async_fd = -1;
	e->accel = -1;
	e->dmabuf = -1;
}

/* rxe, a PD, two connected QPs and a registered host buffer. */
static void env_setup_rdma(struct __test_metadata *_metadata, struct env *e)
{
	int ret;

	if (rdma_find_rxe(e->rxe, sizeof(e->rxe)))
		SKIP(return, "no rxe device (is Soft-RoCE up?)");
	ret = uv_open(&e->l.ctx, e->rxe);
	if (ret == -ENODEV)
		SKIP(return, "%s has no uverbs device", e->rxe);
	if (ret == -ENOENT)
		SKIP(return, "%s has no RoCE v2 GID for an IPv4 address",
		     e->rxe);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", e->rxe, strerror(-ret));
	ASSERT_EQ(0, uv_alloc_pd(&e->l.ctx, &e->l.pd));
	ret = link_connect(&e->l);
	ASSERT_EQ(0, ret) TH_LOG("connect QPs: %s", strerror(-ret));

	e->host.size = BUF_SIZE;
	e->host.cpu = aligned_alloc(PAGE, BUF_SIZE);
	ASSERT_NE(NULL, e->host.cpu);
	memset(e->host.cpu, 0, BUF_SIZE);
	ret = uv_reg_mr(&e->l.ctx, e->l.pd, e->host.cpu, BUF_SIZE,
			(uintptr_t)e->host.cpu, UV_ACCESS_ALL, &e->host.mr);
	ASSERT_EQ(0, ret) TH_LOG("register host memory: %s", strerror(-ret));
}

/* ... plus a device buffer, exported and mapped, not registered yet. */
static void env_setup_accel(struct __test_metadata *_metadata, struct env *e)
{
	char node[64];
	int ret;

	if (find_accel(node, sizeof(node), e->bdf, sizeof(e->bdf)))
		SKIP(return, "no device bound to p2p_accel (module not loaded?)");
	e->accel = open(node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, e->accel) TH_LOG("open %s: %s", node, strerror(errno));
	ret = accel_alloc(e->accel, BUF_SIZE, 0, &e->bo);
	ASSERT_EQ(0, ret) TH_LOG("alloc: %s", strerror(-ret));
	ret = accel_debug_offset(e->bdf, BUF_SIZE, &e->bo_offset);
	ASSERT_EQ(0, ret) TH_LOG("offset from debugfs: %s", strerror(-ret));
	ASSERT_EQ(0, prime_export(e->accel, e->bo, &e->dmabuf));
	e->dev.size = BUF_SIZE;
	e->dev.device = true;
	e->dev.cpu = map_gem(e->accel, e->bo, BUF_SIZE);
	ASSERT_NE(NULL, e->dev.cpu) TH_LOG("mmap: %s", strerror(errno));
}

static void env_teardown(struct env *e)
{
	/* Closing the uverbs FD deregisters what a test left registered. */
	link_disconnect(&e->l);
	uv_close(&e->l.ctx);
	if (e->dev.cpu)
		munmap(e->dev.cpu, e->dev.size);
	if (e->dmabuf >= 0)
		close(e->dmabuf);
	if (e->accel >= 0)
		close(e->accel);
	free(e->host.cpu);
}

static int reg_dev(struct env *e, uint64_t offset, uint64_t length,
		   uint64_t iova)
{
	int ret;

	ret = uv_reg_dmabuf_mr(&e->l.ctx, e->l.pd, offset, length, iova,
			       e->dmabuf, UV_ACCESS_ALL, &e->dev.mr);
	if (!ret)
		e->dev.mr_offset = offset;
	return ret;
}

/* ---- operations --------------------------------------------------------- */

/* A completion status (>= 0) or -errno, in words. */
static const char *result_str(int ret)
{
	return ret < 0 ? strerror(-ret) : uv_wc_status_str(ret);
}

static const char *op_name(uint32_t opcode)
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

/*
 * Post one signaled work request on A and wait for its completion.
 * Returns the completion status, or -errno if it could not be posted or
 * never completed.
 */
static int run_wr(struct link *l, const struct uv_send_wr *wr,
		  struct ib_uverbs_wc *wc)
{
	int ret;

	ret = uv_post_send(&l->ctx, &l->qp_a, wr);
	if (ret)
		return ret;
	ret = uv_wait_cq(&l->cq_a, wc, WAIT_MS);
	if (ret)
		return ret;
	if (wc->wr_id != wr->wr_id)
		return -EPROTO;
	return wc->status;
}

/*
 * Move @len bytes from @src at @src_pos to @dst at @dst_pos:
 *  - RDMA WRITE: A's local buffer is src, B's remote one dst;
 *  - RDMA READ:  A's local buffer is dst, B's remote one src;
 *  - SEND:       A sends from src, B receives into dst.
 * Returns A's completion status (for SEND, B's receive status if A
 * succeeded and B did not), or -errno.
 */
static int transfer(struct __test_metadata *_metadata, struct link *l,
		    uint32_t opcode, struct buf *src, uint64_t src_pos,
		    struct buf *dst, uint64_t dst_pos, uint32_t len)
{
	struct uv_send_wr wr = {
		.wr_id = 0x5eed,
		.opcode = opcode,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = 1,
	};
	struct ib_uverbs_wc wc, rwc;
	int ret;

	switch (opcode) {
	case IB_UVERBS_WR_RDMA_WRITE:
		wr.sge[0] = (struct uv_sge){ buf_addr(src, src_pos), len,
					     src->mr.lkey };
		wr.remote_addr = buf_addr(dst, dst_pos);
		wr.rkey = dst->mr.rkey;
		break;
	case IB_UVERBS_WR_RDMA_READ:
		wr.sge[0] = (struct uv_sge){ buf_addr(dst, dst_pos), len,
					     dst->mr.lkey };
		wr.remote_addr = buf_addr(src, src_pos);
		wr.rkey = src->mr.rkey;
		break;
	case IB_UVERBS_WR_SEND: {
		struct uv_sge rsge = { buf_addr(dst, dst_pos), len,
				       dst->mr.lkey };

		ret = uv_post_recv(&l->qp_b, 0x7ec, &rsge, 1);
		if (ret)
			return ret;
		wr.sge[0] = (struct uv_sge){ buf_addr(src, src_pos), len,
					     src->mr.lkey };
		break;
	}
	default:
		return -EINVAL;
	}

	ret = run_wr(l, &wr, &wc);
	if (ret)
		return ret;
	EXPECT_EQ(len, wc.byte_len);
	if (opcode != IB_UVERBS_WR_SEND)
		return 0;

	ret = uv_wait_cq(&l->cq_b, &rwc, WAIT_MS);
	if (ret)
		return ret;
	EXPECT_EQ(0x7ec, rwc.wr_id);
	EXPECT_EQ(UV_WC_RECV, rwc.opcode);
	EXPECT_EQ(len, rwc.byte_len);
	return rwc.status;
}

/* fill(seed) into src at src_pos, GUARD everywhere in dst. */
static void prepare(struct buf *src, uint64_t src_pos, struct buf *dst,
		    uint32_t len, unsigned int seed)
{
	memset(dst->cpu, GUARD, dst->size);
	fill(src->cpu + src_pos, len, seed);
}

/* dst holds fill(seed) at dst_pos, and GUARD around it. */
static void verify(struct __test_metadata *_metadata, struct buf *dst,
		   uint64_t dst_pos, uint32_t len, unsigned int seed)
{
	long bad;

	bad = check_fill(dst->cpu + dst_pos, len, seed);
	EXPECT_EQ(-1, bad) TH_LOG("%s memory: byte %ld of %u differs",
				  dst->device ? "device" : "host", bad, len);
	bad = check_byte(dst->cpu, dst_pos, GUARD);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld before the target was touched", bad);
	bad = check_byte(dst->cpu + dst_pos + len,
			 dst->size - dst_pos - len, GUARD);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld after the target was touched", bad);
}

/* One transfer, checked byte for byte. */
static void move_and_verify(struct __test_metadata *_metadata, struct link *l,
			    uint32_t opcode, struct buf *src, uint64_t src_pos,
			    struct buf *dst, uint64_t dst_pos, uint32_t len,
			    unsigned int seed)
{
	int ret;

	prepare(src, src_pos, dst, len, seed);
	ret = transfer(_metadata, l, opcode, src, src_pos, dst, dst_pos, len);
	ASSERT_EQ(0, ret) TH_LOG("%s of %u bytes %s -> %s: %s", op_name(opcode),
				 len, src->device ? "device" : "host",
				 dst->device ? "device" : "host",
				 result_str(ret));
	verify(_metadata, dst, dst_pos, len, seed);
}

static int atomic_op(struct link *l, uint32_t opcode, struct buf *target,
		     uint64_t target_pos, struct buf *result,
		     uint64_t result_pos, uint64_t compare_add, uint64_t swap)
{
	struct uv_send_wr wr = {
		.wr_id = 0xa70,
		.opcode = opcode,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = 1,
		.sge[0] = { buf_addr(result, result_pos), 8, result->mr.lkey },
		.remote_addr = buf_addr(target, target_pos),
		.rkey = target->mr.rkey,
		.compare_add = compare_add,
		.swap = swap,
	};
	struct ib_uverbs_wc wc;

	return run_wr(l, &wr, &wc);
}

static volatile uint64_t *u64_at(struct buf *b, uint64_t pos)
{
	return (volatile uint64_t *)(b->cpu + pos);
}

/*
 * Compare-and-swap (hit and miss) and fetch-and-add on @target, the
 * original values returned into @result.
 */
static void check_atomics(struct __test_metadata *_metadata, struct link *l,
			  struct buf *target, uint64_t tpos, struct buf *result,
			  uint64_t rpos)
{
	const uint64_t v0 = 0x0123456789abcdefULL, v1 = 0xfedcba9876543210ULL;
	int ret;

	*u64_at(target, tpos) = v0;
	*u64_at(target, tpos + 8) = 0x1111;
	*u64_at(result, rpos) = 0;

	ret = atomic_op(l, IB_UVERBS_WR_ATOMIC_CMP_AND_SWP, target, tpos,
			result, rpos, v0, v1);
	ASSERT_EQ(0, ret) TH_LOG("compare-and-swap: %s",
				 result_str(ret));
	EXPECT_EQ(v0, *u64_at(result, rpos));
	EXPECT_EQ(v1, *u64_at(target, tpos));

	/* A compare that misses leaves the target alone. */
	ret = atomic_op(l, IB_UVERBS_WR_ATOMIC_CMP_AND_SWP, target, tpos,
			result, rpos, v0, 42);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(v1, *u64_at(result, rpos));
	EXPECT_EQ(v1, *u64_at(target, tpos));

	ret = atomic_op(l, IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD, target, tpos + 8,
			result, rpos, 0x2222, 0);
	ASSERT_EQ(0, ret) TH_LOG("fetch-and-add: %s",
				 result_str(ret));
	EXPECT_EQ(0x1111, *u64_at(result, rpos));
	EXPECT_EQ(0x3333, *u64_at(target, tpos + 8));
	/* The neighbours of the target are untouched. */
	EXPECT_EQ(v1, *u64_at(target, tpos));
}

/* ---- host memory to host memory: the uverbs client itself --------------- */

FIXTURE(host_mr) {
	struct env e;
	struct buf peer;	/* a second host buffer */
};

FIXTURE_SETUP(host_mr)
{
	int ret;

	env_init(&self->e);
	env_setup_rdma(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
	self->peer.size = BUF_SIZE;
	self->peer.cpu = aligned_alloc(PAGE, BUF_SIZE);
	ASSERT_NE(NULL, self->peer.cpu);
	memset(self->peer.cpu, 0, BUF_SIZE);
	ret = uv_reg_mr(&self->e.l.ctx, self->e.l.pd, self->peer.cpu, BUF_SIZE,
			(uintptr_t)self->peer.cpu, UV_ACCESS_ALL,
			&self->peer.mr);
	ASSERT_EQ(0, ret) TH_LOG("register: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(host_mr)
{
	env_teardown(&self->e);
	free(self->peer.cpu);
}

TEST_F(host_mr, keys_are_returned_and_dereg_succeeds)
{
	struct uv_mr mr;

	ASSERT_EQ(0, uv_reg_mr(&self->e.l.ctx, self->e.l.pd, self->peer.cpu,
			       PAGE, (uintptr_t)self->peer.cpu, UV_ACCESS_ALL,
			       &mr));
	/* rxe keys are index << 8 | key byte, and indices start at 1. */
	EXPECT_LE(0x100, mr.lkey);
	EXPECT_LE(0x100, mr.rkey);
	EXPECT_NE(self->e.host.mr.lkey, mr.lkey);
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &mr));
	/* Deregistered means gone: a second dereg names no object. */
	EXPECT_EQ(-ENOENT, uv_dereg_mr(&self->e.l.ctx, &mr));
}

TEST_F_TIMEOUT(host_mr, rdma_write_is_byte_exact_at_unaligned_offsets, 120)
{
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
			&self->e.host, 0, &self->peer, 0, PAGE, 1);
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
			&self->e.host, 13, &self->peer, 4093, SZ_1M - 7, 2);
}

TEST_F_TIMEOUT(host_mr, rdma_read_is_byte_exact_at_unaligned_offsets, 120)
{
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
			&self->peer, 0, &self->e.host, 0, PAGE, 3);
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
			&self->peer, 4093, &self->e.host, 13, SZ_1M - 7, 4);
}

TEST_F_TIMEOUT(host_mr, send_lands_in_the_posted_receive_byte_exact, 120)
{
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_SEND,
			&self->e.host, 0, &self->peer, 0, PAGE, 5);
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_SEND,
			&self->e.host, 13, &self->peer, 4093, SZ_1M - 7, 6);
}

TEST_F(host_mr, compare_swap_and_fetch_add_return_the_old_value)
{
	check_atomics(_metadata, &self->e.l, &self->peer, 4096 + 64,
		      &self->e.host, 8);
}

TEST_F(host_mr, unknown_rkey_completes_with_remote_access_error)
{
	struct buf bogus = self->peer;
	int ret;

	/* Index 0 is never allocated by rxe. */
	bogus.mr.rkey = 0x42;
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &self->e.host, 0, &bogus, 0, 64);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&self->e.l));
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
		       &bogus, 0, &self->e.host, 0, 64);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
}

/*
 * A bad lkey found by the completer (the target of an RDMA READ) and one
 * found by the requester (the source of an RDMA WRITE) must both complete
 * with a local protection error, not as a flushed work request.
 */
TEST_F(host_mr, unknown_lkey_as_read_target_completes_with_local_protection_error)
{
	struct buf bogus = self->e.host;
	int ret;

	bogus.mr.lkey = 0x42;
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
		       &self->peer, 0, &bogus, 0, 64);
	EXPECT_EQ(UV_WC_LOC_PROT_ERR, ret) TH_LOG("%s", result_str(ret));
}

TEST_F(host_mr, unknown_lkey_as_write_source_completes_with_local_protection_error)
{
	struct buf bogus = self->e.host;
	int ret;

	bogus.mr.lkey = 0x42;
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &bogus, 0, &self->peer, 0, 64);
	EXPECT_EQ(UV_WC_LOC_PROT_ERR, ret) TH_LOG("%s", result_str(ret));
}

TEST_F(host_mr, error_flushes_the_work_requests_behind_it)
{
	struct uv_send_wr wr = {
		.opcode = IB_UVERBS_WR_RDMA_WRITE,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = 1,
		.sge[0] = { (uintptr_t)self->e.host.cpu, 64,
			    self->e.host.mr.lkey },
		.remote_addr = (uintptr_t)self->peer.cpu,
		.rkey = 0x42,
	};
	struct ib_uverbs_wc wc;

	ASSERT_EQ(0, uv_post_send(&self->e.l.ctx, &self->e.l.qp_a, &wr));
	wr.wr_id = 1;
	wr.rkey = self->peer.mr.rkey;
	ASSERT_EQ(0, uv_post_send(&self->e.l.ctx, &self->e.l.qp_a, &wr));
	ASSERT_EQ(0, uv_wait_cq(&self->e.l.cq_a, &wc, WAIT_MS));
	EXPECT_EQ(0, wc.wr_id);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, wc.status);
	ASSERT_EQ(0, uv_wait_cq(&self->e.l.cq_a, &wc, WAIT_MS));
	EXPECT_EQ(1, wc.wr_id);
	EXPECT_EQ(UV_WC_WR_FLUSH_ERR, wc.status);
}

/* ---- device memory <-> host memory, one variant per operation ----------- */

FIXTURE(dmabuf_data) {
	struct env e;
};

FIXTURE_VARIANT(dmabuf_data) {
	uint32_t opcode;
	bool from_device;	/* device memory is the source, else the target */
};

FIXTURE_VARIANT_ADD(dmabuf_data, rdma_write_host_to_device) {
	.opcode = IB_UVERBS_WR_RDMA_WRITE, .from_device = false,
};

FIXTURE_VARIANT_ADD(dmabuf_data, rdma_write_device_to_host) {
	.opcode = IB_UVERBS_WR_RDMA_WRITE, .from_device = true,
};

FIXTURE_VARIANT_ADD(dmabuf_data, rdma_read_device_to_host) {
	.opcode = IB_UVERBS_WR_RDMA_READ, .from_device = true,
};

FIXTURE_VARIANT_ADD(dmabuf_data, rdma_read_host_to_device) {
	.opcode = IB_UVERBS_WR_RDMA_READ, .from_device = false,
};

FIXTURE_VARIANT_ADD(dmabuf_data, send_host_to_device) {
	.opcode = IB_UVERBS_WR_SEND, .from_device = false,
};

FIXTURE_VARIANT_ADD(dmabuf_data, send_device_to_host) {
	.opcode = IB_UVERBS_WR_SEND, .from_device = true,
};

FIXTURE_SETUP(dmabuf_data)
{
	env_init(&self->e);
	env_setup_rdma(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
	env_setup_accel(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
}

FIXTURE_TEARDOWN(dmabuf_data)
{
	env_teardown(&self->e);
}

static struct buf *src_of(FIXTURE_DATA(dmabuf_data) *self,
			  const FIXTURE_VARIANT(dmabuf_data) *variant)
{
	return variant->from_device ? &self->e.dev : &self->e.host;
}

static struct buf *dst_of(FIXTURE_DATA(dmabuf_data) *self,
			  const FIXTURE_VARIANT(dmabuf_data) *variant)
{
	return variant->from_device ? &self->e.host : &self->e.dev;
}

#define REG_WHOLE_DEV() do {						\
	int __ret = reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA);		\
	ASSERT_EQ(0, __ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-__ret)); \
} while (0)

TEST_F_TIMEOUT(dmabuf_data, one_page_is_byte_exact, 120)
{
	REG_WHOLE_DEV();
	move_and_verify(_metadata, &self->e.l, variant->opcode,
			src_of(self, variant), 0, dst_of(self, variant), 0,
			PAGE, 11);
}

TEST_F_TIMEOUT(dmabuf_data, small_unaligned_pieces_are_byte_exact, 120)
{
	static const struct { uint32_t src, dst, len; } piece[] = {
		{ 1, 4095, 1 }, { 4095, 1, 2 }, { 3, 8190, 4099 },
		{ 65531, 12289, 8191 },
	};

	REG_WHOLE_DEV();
	for (size_t i = 0; i < ARRAY_SIZE(piece); i++)
		move_and_verify(_metadata, &self->e.l, variant->opcode,
				src_of(self, variant), piece[i].src,
				dst_of(self, variant), piece[i].dst,
				piece[i].len, 20 + i);
}

TEST_F_TIMEOUT(dmabuf_data, one_mib_at_unaligned_offsets_is_byte_exact, 180)
{
	REG_WHOLE_DEV();
	move_and_verify(_metadata, &self->e.l, variant->opcode,
			src_of(self, variant), 4093, dst_of(self, variant),
			SZ_64K + 13, SZ_1M - 7, 12);
}

TEST_F_TIMEOUT(dmabuf_data, mr_in_the_middle_of_the_buffer_maps_iova_to_offset,
	       120)
{
	/* The MR covers [256 KiB + 4 KiB, +512 KiB) of the dma-buf. */
	const uint64_t mr_off = 256 * 1024 + PAGE, mr_len = 512 * 1024;
	const uint64_t iova = DEV_IOVA + 0x123000;
	int ret;

	ret = reg_dev(&self->e, mr_off, mr_len, iova);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-ret));
	/*
	 * Bytes at buffer position mr_off + 5000 are RDMA address
	 * iova + 5000, so this lands (or is read) 5000 bytes into the MR.
	 */
	if (variant->from_device)
		move_and_verify(_metadata, &self->e.l, variant->opcode,
				&self->e.dev, mr_off + 5000, &self->e.host, 77,
				100000, 13);
	else
		move_and_verify(_metadata, &self->e.l, variant->opcode,
				&self->e.host, 77, &self->e.dev, mr_off + 5000,
				100000, 13);
	/* The MR's last byte is reachable. */
	if (variant->from_device)
		move_and_verify(_metadata, &self->e.l, variant->opcode,
				&self->e.dev, mr_off + mr_len - 1,
				&self->e.host, 0, 1, 14);
	else
		move_and_verify(_metadata, &self->e.l, variant->opcode,
				&self->e.host, 0, &self->e.dev,
				mr_off + mr_len - 1, 1, 14);
}

TEST_F_TIMEOUT(dmabuf_data, past_the_end_of_the_mr_fails_and_moves_nothing,
	       120)
{
	const uint64_t mr_off = 256 * 1024, mr_len = 64 * 1024;
	struct buf *src = src_of(self, variant), *dst = dst_of(self, variant);
	uint64_t dev_pos = mr_off + mr_len - 100;
	int ret, want;

	ret = reg_dev(&self->e, mr_off, mr_len, DEV_IOVA);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-ret));
	/* 200 bytes from 100 bytes before the MR's end: half outside. */
	prepare(src, variant->from_device ? dev_pos : 0, dst, 200, 15);
	ret = transfer(_metadata, &self->e.l, variant->opcode, src,
		       variant->from_device ? dev_pos : 0, dst,
		       variant->from_device ? 0 : dev_pos, 200);
	/*
	 * Where the device MR is A's own (local) buffer the requester
	 * refuses it; where it is B's (remote for RDMA, the receive buffer
	 * for SEND) the responder does.
	 */
	if (variant->opcode == IB_UVERBS_WR_SEND)
		want = variant->from_device ? UV_WC_LOC_PROT_ERR :
					      UV_WC_REM_OP_ERR;
	else if ((variant->opcode == IB_UVERBS_WR_RDMA_WRITE) ==
		 variant->from_device)
		want = UV_WC_LOC_PROT_ERR;
	else
		want = UV_WC_REM_ACCESS_ERR;
	EXPECT_EQ(want, ret) TH_LOG("%s: %s", op_name(variant->opcode),
				    result_str(ret));
	/* Nothing outside the MR was written. */
	if (!variant->from_device)
		EXPECT_EQ(-1, check_byte(dst->cpu + mr_off + mr_len,
					 dst->size - mr_off - mr_len, GUARD));
}

/* ---- registration, revoke, keys, errno contract ------------------------- */

FIXTURE(dmabuf_mr) {
	struct env e;
};

FIXTURE_SETUP(dmabuf_mr)
{
	env_init(&self->e);
	env_setup_rdma(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
	env_setup_accel(_metadata, &self->e);
}

FIXTURE_TEARDOWN(dmabuf_mr)
{
	env_teardown(&self->e);
}

/*
 * In both topologies: on the root bus the exporter refuses peer-to-peer
 * DMA mappings for the NIC's PCI function, but rxe never makes one.
 */
TEST_F(dmabuf_mr, registration_succeeds_in_either_pci_topology)
{
	int ret;

	ret = reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-ret));
	EXPECT_LE(0x100, self->e.dev.mr.lkey);
	EXPECT_LE(0x100, self->e.dev.mr.rkey);
	EXPECT_NE(self->e.host.mr.lkey, self->e.dev.mr.lkey);
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
	EXPECT_EQ(-ENOENT, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
}

TEST_F(dmabuf_mr, many_mrs_of_one_dmabuf_coexist)
{
	struct uv_mr mr[8];
	int ret;

	for (int i = 0; i < 8; i++) {
		ret = uv_reg_dmabuf_mr(&self->e.l.ctx, self->e.l.pd, i * SZ_64K,
				       SZ_64K, DEV_IOVA + i * SZ_1M,
				       self->e.dmabuf, UV_ACCESS_ALL, &mr[i]);
		ASSERT_EQ(0, ret) TH_LOG("MR %d: %s", i, strerror(-ret));
		for (int j = 0; j < i; j++)
			EXPECT_NE(mr[j].lkey, mr[i].lkey);
	}
	for (int i = 0; i < 8; i++)
		EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &mr[i]));
}

TEST_F_TIMEOUT(dmabuf_mr, deregistered_mr_keys_fail, 120)
{
	struct buf old;
	int ret;

	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	old = self->e.dev;
	ASSERT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &self->e.host, 0, &old, 0, 64);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
	EXPECT_EQ(-1, check_byte(self->e.dev.cpu, 64, 0));
}

TEST_F_TIMEOUT(dmabuf_mr, mr_keeps_working_after_the_dmabuf_fd_is_closed, 120)
{
	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	ASSERT_EQ(0, close(self->e.dmabuf));
	self->e.dmabuf = -1;
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
			&self->e.host, 0, &self->e.dev, 8191, 70000, 31);
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
			&self->e.dev, 100, &self->e.host, 5, 70000, 32);
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
}

TEST_F_TIMEOUT(dmabuf_mr, compare_swap_and_fetch_add_on_device_memory, 120)
{
	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	/* The target in device memory, the old value returned to host... */
	check_atomics(_metadata, &self->e.l, &self->e.dev, SZ_1M + 4088,
		      &self->e.host, 16);
	/* ...and the target in host memory, the old value into device. */
	check_atomics(_metadata, &self->e.l, &self->e.host, 8192,
		      &self->e.dev, 4096 + 8);
}

TEST_F_TIMEOUT(dmabuf_mr, access_flags_of_the_mr_are_enforced, 120)
{
	int ret;

	ret = uv_reg_dmabuf_mr(&self->e.l.ctx, self->e.l.pd, 0, BUF_SIZE,
			       DEV_IOVA, self->e.dmabuf,
			       IB_UVERBS_ACCESS_LOCAL_WRITE |
			       IB_UVERBS_ACCESS_REMOTE_READ, &self->e.dev.mr);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-ret));

	/* Remote reads are allowed... */
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
			&self->e.dev, 0, &self->e.host, 0, PAGE, 38);
	/* ...remote writes and atomics are not, and change nothing. */
	memset(self->e.dev.cpu, 0, PAGE);
	fill(self->e.host.cpu, PAGE, 39);
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &self->e.host, 0, &self->e.dev, 0, PAGE);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&self->e.l));
	ret = atomic_op(&self->e.l, IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD,
			&self->e.dev, 0, &self->e.host, 0, 1, 0);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
	EXPECT_EQ(-1, check_byte(self->e.dev.cpu, PAGE, 0));
}

/*
 * After a revoke, RDMA through the MR fails the way a bad key does:
 * locally (lkey) with a local protection error, remotely (rkey) with a
 * remote access error at the requester. Nothing reaches the memory.
 */
static void check_revoked(struct __test_metadata *_metadata, struct env *e)
{
	struct buf *dev = &e->dev, *host = &e->host;
	int ret;

	/*
	 * The device memory is gone (a CPU access would fault): watch the
	 * host buffer instead, nothing may arrive in it.
	 */
	memset(host->cpu, 0x3c, host->size);

	/*
	 * lkey: A's completer writes an RDMA READ's answer into it (the
	 * requester-side case, a WRITE source, has its own test).
	 */
	ret = transfer(_metadata, &e->l, IB_UVERBS_WR_RDMA_READ, host, 0,
		       dev, 0, 4096);
	EXPECT_EQ(UV_WC_LOC_PROT_ERR, ret) TH_LOG("READ into lkey: %s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&e->l));

	/* rkey: B's responder is asked to write or read it. */
	ret = transfer(_metadata, &e->l, IB_UVERBS_WR_RDMA_WRITE, host, 0,
		       dev, 0, 4096);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("WRITE to rkey: %s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&e->l));
	ret = transfer(_metadata, &e->l, IB_UVERBS_WR_RDMA_READ, dev, 0,
		       host, 0, 4096);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("READ from rkey: %s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&e->l));
	ret = atomic_op(&e->l, IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD, dev, 0,
			host, 0, 1, 0);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("atomic on rkey: %s", result_str(ret));
	ASSERT_EQ(0, link_reconnect(&e->l));

	/* Nothing came back from the dead memory into the host buffer. */
	EXPECT_EQ(-1, check_byte(host->cpu, host->size, 0x3c));
	/* The link itself is fine. */
	fill(host->cpu, 4096, 33);
	ret = transfer(_metadata, &e->l, IB_UVERBS_WR_RDMA_WRITE, host, 0,
		       host, SZ_1M, 4096);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(-1, check_fill(host->cpu + SZ_1M, 4096, 33));
	/* And the revoked MR can still be deregistered. */
	EXPECT_EQ(0, uv_dereg_mr(&e->l.ctx, &dev->mr));
}

TEST_F_TIMEOUT(dmabuf_mr, reset_revokes_the_mr_and_its_keys_fail, 180)
{
	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
			&self->e.host, 0, &self->e.dev, 0, 4096, 34);
	ASSERT_EQ(0, accel_debug_reset(self->e.bdf));
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
	check_revoked(_metadata, &self->e);
}

TEST_F_TIMEOUT(dmabuf_mr, owner_close_revokes_the_mr_and_its_keys_fail, 180)
{
	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	move_and_verify(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_READ,
			&self->e.dev, 0, &self->e.host, 0, 4096, 35);
	/* The mapping holds the file: unmap, so the close releases it. */
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
	ASSERT_EQ(0, close(self->e.accel));
	self->e.accel = -1;
	check_revoked(_metadata, &self->e);
}

/*
 * What a user saw before revoke was wired to resets: 200 MRs on one
 * buffer, a real PCI function reset (sysfs "reset"), and the MRs kept
 * taking RDMA WRITEs. Now every MR is revoked: a WRITE to the rkey of
 * every tenth MR (and the last) fails, and each MR still deregisters.
 */
TEST_F_TIMEOUT(dmabuf_mr, pci_function_reset_revokes_all_of_200_mrs, 300)
{
	enum { NR_MRS = 200 };
	struct uv_mr *mr;
	char path[PATH_MAX];
	int ret, sampled = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset",
		 self->e.bdf);
	if (access(path, W_OK))
		SKIP(return, "%.200s: no reset method for the accelerator here", path);
	mr = calloc(NR_MRS, sizeof(*mr));
	ASSERT_NE(NULL, mr);
	for (int i = 0; i < NR_MRS; i++) {
		ret = uv_reg_dmabuf_mr(&self->e.l.ctx, self->e.l.pd, i * PAGE,
				       PAGE, DEV_IOVA + i * SZ_1M,
				       self->e.dmabuf, UV_ACCESS_ALL, &mr[i]);
		ASSERT_EQ(0, ret) TH_LOG("MR %d: %s", i, strerror(-ret));
	}

	ASSERT_EQ(0, write_file(path, "1"));
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;

	fill(self->e.host.cpu, 64, 36);
	/* Every tenth MR, then the last one. */
	for (int k = 0; k <= NR_MRS / 10; k++) {
		int i = k < NR_MRS / 10 ? k * 10 : NR_MRS - 1;
		struct buf b = { .size = PAGE, .mr = mr[i], .mr_offset = i * PAGE,
				 .device = true };

		ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
			       &self->e.host, 0, &b, i * PAGE, 64);
		EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret)
			TH_LOG("WRITE to the rkey of MR %d: %s", i, result_str(ret));
		ASSERT_EQ(0, link_reconnect(&self->e.l));
		sampled++;
	}
	TH_LOG("%d MRs, %d sampled after the reset: all refused", NR_MRS, sampled);
	for (int i = 0; i < NR_MRS; i++)
		EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &mr[i]));
	free(mr);
}

/* The requester-side twin of host_mr's unknown lkey as a WRITE source. */
TEST_F_TIMEOUT(dmabuf_mr, revoked_lkey_as_write_source_completes_with_local_protection_error,
	       120)
{
	int ret;

	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	ASSERT_EQ(0, accel_debug_reset(self->e.bdf));
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
	memset(self->e.host.cpu, 0x3c, self->e.host.size);
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &self->e.dev, 0, &self->e.host, 0, 4096);
	EXPECT_EQ(UV_WC_LOC_PROT_ERR, ret) TH_LOG("WRITE from lkey: %s", result_str(ret));
	EXPECT_EQ(-1, check_byte(self->e.host.cpu, 4096, 0x3c));
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
}

TEST_F_TIMEOUT(dmabuf_mr, revoke_of_an_mr_registered_at_an_offset, 180)
{
	ASSERT_EQ(0, reg_dev(&self->e, SZ_1M, SZ_64K, DEV_IOVA + SZ_1M));
	ASSERT_EQ(0, accel_debug_reset(self->e.bdf));
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
	check_revoked(_metadata, &self->e);
}

/* ---- revoke under traffic ----------------------------------------------- */

/*
 * One thread keeps RDMA going through the device MR while another revokes
 * it. Every work request must complete (nothing hangs); the first to fail
 * gets the status a bad key gives and the rest are flushed; none
 * posted after the revoke returned succeeds; and no byte lands in the
 * device memory once the revoke returned, which the revoking thread checks
 * by allocating the freed memory again (zero-filled) straight away.
 */
FIXTURE(revoke_under_traffic) {
	struct env e;
	char node[64];
};

FIXTURE_VARIANT(revoke_under_traffic) {
	uint32_t opcode;
	bool device_is_local;	/* the device MR is A's (lkey), else B's (rkey) */
	bool by_owner_close;	/* revoke by closing the owner, else by reset */
	uint32_t first_error;	/* status of the first failed work request */
};

FIXTURE_VARIANT_ADD(revoke_under_traffic, reset_during_rdma_write_to_device_rkey) {
	.opcode = IB_UVERBS_WR_RDMA_WRITE,
	.first_error = UV_WC_REM_ACCESS_ERR,
};

FIXTURE_VARIANT_ADD(revoke_under_traffic, reset_during_rdma_read_from_device_rkey) {
	.opcode = IB_UVERBS_WR_RDMA_READ,
	.first_error = UV_WC_REM_ACCESS_ERR,
};

FIXTURE_VARIANT_ADD(revoke_under_traffic, reset_during_rdma_write_from_device_lkey) {
	.opcode = IB_UVERBS_WR_RDMA_WRITE, .device_is_local = true,
	.first_error = UV_WC_LOC_PROT_ERR,
};

FIXTURE_VARIANT_ADD(revoke_under_traffic, reset_during_rdma_read_into_device_lkey) {
	.opcode = IB_UVERBS_WR_RDMA_READ, .device_is_local = true,
	.first_error = UV_WC_LOC_PROT_ERR,
};

FIXTURE_VARIANT_ADD(revoke_under_traffic, owner_close_during_rdma_write_to_device_rkey) {
	.opcode = IB_UVERBS_WR_RDMA_WRITE, .by_owner_close = true,
	.first_error = UV_WC_REM_ACCESS_ERR,
};

FIXTURE_SETUP(revoke_under_traffic)
{
	env_init(&self->e);
	env_setup_rdma(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
	env_setup_accel(_metadata, &self->e);
	if (_metadata->exit_code)
		return;
	ASSERT_EQ(0, find_accel(self->node, sizeof(self->node), NULL, 0));
}

FIXTURE_TEARDOWN(revoke_under_traffic)
{
	env_teardown(&self->e);
}

struct revoker {
	int accel;			/* the owner's FD; replaced on close */
	const char *node;		/* to open the device again */
	const char *bdf;		/* to reset it */
	bool by_owner_close;
	uint64_t size;
	int successes;			/* completions seen by the poster */
	int min_successes;		/* traffic to see before the revoke */
	int give_up;			/* traffic ended without enough */
	int done;			/* the revoke (and re-allocation) returned */
	int revoke_ret, alloc_ret;
	uint32_t new_bo;
	uint64_t new_offset;
};

static void *revoker_thread(void *arg)
{
	const struct timespec pause = { 0, 1000 * 1000 };
	struct revoker *r = arg;

	while (__atomic_load_n(&r->successes, __ATOMIC_ACQUIRE) <
	       r->min_successes) {
		if (__atomic_load_n(&r->give_up, __ATOMIC_ACQUIRE))
			return NULL;
		nanosleep(&pause, NULL);
	}
	if (r->by_owner_close) {
		r->revoke_ret = close(r->accel) ? -errno : 0;
		r->accel = open(r->node, O_RDWR | O_CLOEXEC);
		if (r->accel < 0)
			r->revoke_ret = -errno;
	} else {
		r->revoke_ret = accel_debug_reset(r->bdf);
	}
	/*
	 * Straight away take the freed memory back (zero-filled): a byte
	 * RDMA puts there from now on is a write after revoke.
	 */
	r->alloc_ret = r->accel < 0 ? -EBADF :
		accel_alloc(r->accel, r->size, 0, &r->new_bo);
	if (!r->alloc_ret)
		r->alloc_ret = accel_debug_offset(r->bdf, r->size, &r->new_offset);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F_TIMEOUT(revoke_under_traffic, fails_cleanly_and_nothing_lands_after, 300)
{
	/*
	 * Bounded, never timed: at most this many work requests of 64 KiB,
	 * up to 16 in flight; posting stops 32 work requests after the
	 * revoke returned (they must all fail).
	 */
	const int max_wrs = 4000, depth = 16, after = 32;
	struct revoker r = {
		.accel = self->e.accel, .node = self->node, .bdf = self->e.bdf,
		.by_owner_close = variant->by_owner_close,
		.size = BUF_SIZE, .min_successes = 8,
	};
	struct buf *local = variant->device_is_local ? &self->e.dev :
						       &self->e.host;
	struct buf *remote = variant->device_is_local ? &self->e.host :
							&self->e.dev;
	bool *posted_after = calloc(max_wrs, sizeof(bool));
	int posted = 0, completed = 0, first_err = -1, late = 0;
	int errors = 0, flushed = 0, successes = 0;
	struct ib_uverbs_wc wc;
	pthread_t thread;
	uint8_t *fresh;
	long bad;

	ASSERT_NE(NULL, posted_after);
	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	fill(self->e.host.cpu, BUF_SIZE, 36);
	fill(self->e.dev.cpu, BUF_SIZE, 37);
	/*
	 * A mapping of the device node holds its file open: closing the
	 * owner's FD would not release it, and revoke nothing.
	 */
	munmap(self->e.dev.cpu, BUF_SIZE);
	self->e.dev.cpu = NULL;
	/* From here on the thread owns the accelerator FD. */
	ASSERT_EQ(0, pthread_create(&thread, NULL, revoker_thread, &r));

	while (completed < posted || (posted < max_wrs && late < after)) {
		/* Keep the send queue busy until well past the revoke. */
		while (posted - completed < depth && posted < max_wrs &&
		       late < after) {
			bool is_after = __atomic_load_n(&r.done,
							__ATOMIC_ACQUIRE);
			uint64_t pos = (posted % 32) * SZ_64K;
			struct uv_send_wr wr = {
				.wr_id = posted,
				.opcode = variant->opcode,
				.send_flags = UV_SEND_SIGNALED,
				.num_sge = 1,
				.sge[0] = { buf_addr(local, pos), SZ_64K,
					    local->mr.lkey },
				.remote_addr = buf_addr(remote, pos),
				.rkey = remote->mr.rkey,
			};

			ASSERT_EQ(0, uv_post_send(&self->e.l.ctx,
						  &self->e.l.qp_a, &wr));
			posted_after[posted++] = is_after;
			late += is_after;
		}
		ASSERT_EQ(0, uv_wait_cq(&self->e.l.cq_a, &wc, WAIT_MS))
			TH_LOG("no completion for %d posted work requests (%d done)",
			       posted - completed, completed);
		ASSERT_GT(posted, wc.wr_id);
		completed++;
		if (wc.status == UV_WC_SUCCESS) {
			/* After the first error everything is flushed. */
			EXPECT_EQ(-1, first_err) TH_LOG("#%llu succeeded after an error",
				(unsigned long long)wc.wr_id);
			EXPECT_FALSE(posted_after[wc.wr_id])
				TH_LOG("#%llu, posted after the revoke returned, succeeded",
				       (unsigned long long)wc.wr_id);
			__atomic_store_n(&r.successes, ++successes,
					 __ATOMIC_RELEASE);
		} else if (first_err < 0) {
			first_err = wc.wr_id;
			errors++;
			EXPECT_EQ(variant->first_error, wc.status)
				TH_LOG("first failed %s: %s",
				       op_name(variant->opcode),
				       uv_wc_status_str(wc.status));
		} else {
			flushed++;
			EXPECT_EQ(UV_WC_WR_FLUSH_ERR, wc.status)
				TH_LOG("%s after the first error: %s",
				       op_name(variant->opcode),
				       uv_wc_status_str(wc.status));
		}
	}
	__atomic_store_n(&r.give_up, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	self->e.accel = r.accel;
	ASSERT_TRUE(r.done) TH_LOG("only %d of %d succeeded: the revoke never ran",
				   successes, completed);
	ASSERT_EQ(0, r.revoke_ret) TH_LOG("revoke: %s", strerror(-r.revoke_ret));
	ASSERT_EQ(0, r.alloc_ret);
	TH_LOG("%d %ss: %d succeeded, %d failed (first: #%d), %d flushed",
	       completed, op_name(variant->opcode), successes, errors,
	       first_err, flushed);
	EXPECT_LE(r.min_successes, successes);
	EXPECT_EQ(1, errors);
	EXPECT_LE(after, late);

	/* The new buffer took the revoked one's place, and is untouched. */
	EXPECT_EQ(self->e.bo_offset, r.new_offset);
	fresh = map_gem(self->e.accel, r.new_bo, BUF_SIZE);
	ASSERT_NE(NULL, fresh);
	bad = check_byte(fresh, BUF_SIZE, 0);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld of the new buffer was written", bad);
	munmap(fresh, BUF_SIZE);
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
	free(posted_after);
}

/* ---- keys of revoked MRs ------------------------------------------------ */

#define KEY_INDEX(key)	((key) >> 8)

TEST_F_TIMEOUT(dmabuf_mr, revoked_keys_are_not_reused_until_dereg, 600)
{
	/* See the comment at the loop for why this many. */
	const long rounds = 4096;
	uint32_t revoked_lkey, revoked_rkey;
	struct uv_mr mr;
	int ret;

	ASSERT_EQ(0, reg_dev(&self->e, 0, BUF_SIZE, DEV_IOVA));
	revoked_lkey = self->e.dev.mr.lkey;
	revoked_rkey = self->e.dev.mr.rkey;
	ASSERT_EQ(0, accel_debug_reset(self->e.bdf));

	/*
	 * Register and deregister MRs over and over: none may get the
	 * revoked MR's index, whatever its key byte. rxe hands out MR
	 * indices cyclically, so this only proves anything for indices
	 * handed out after the revoke; it would catch an index freed and
	 * reused at once (a LIFO allocator), not one reused after a wrap of
	 * rxe's 512Ki indices, which is out of reach of a test under TCG.
	 */
	for (long i = 0; i < rounds; i++) {
		ret = uv_reg_mr(&self->e.l.ctx, self->e.l.pd, self->e.host.cpu,
				PAGE, (uintptr_t)self->e.host.cpu,
				UV_ACCESS_ALL, &mr);
		ASSERT_EQ(0, ret) TH_LOG("round %ld: %s", i, strerror(-ret));
		ASSERT_NE(KEY_INDEX(revoked_lkey), KEY_INDEX(mr.lkey))
			TH_LOG("round %ld: lkey 0x%x reuses revoked 0x%x", i,
			       mr.lkey, revoked_lkey);
		ASSERT_NE(KEY_INDEX(revoked_rkey), KEY_INDEX(mr.rkey));
		ASSERT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &mr));
	}
	/* The revoked keys still fail rather than reach another MR. */
	ret = transfer(_metadata, &self->e.l, IB_UVERBS_WR_RDMA_WRITE,
		       &self->e.host, 0, &self->e.dev, 0, 64);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret);

	/* Reuse after dereg is allowed, not required: dereg must work. */
	EXPECT_EQ(0, uv_dereg_mr(&self->e.l.ctx, &self->e.dev.mr));
}

/* ---- the errno contract of REG_DMABUF_MR -------------------------------- */

static int reg_fd(struct env *e, int fd, uint64_t offset, uint64_t length,
		  uint64_t iova, uint32_t access)
{
	struct uv_mr mr;
	int ret;

	ret = uv_reg_dmabuf_mr(&e->l.ctx, e->l.pd, offset, length, iova, fd,
			       access, &mr);
	if (!ret)
		uv_dereg_mr(&e->l.ctx, &mr);
	return ret;
}

TEST_F(dmabuf_mr, fd_minus_one_is_ebadf_with_length_zero)
{
	/* What NCCL and UCX probe with to learn whether dma-buf MRs work. */
	EXPECT_EQ(-EBADF, reg_fd(&self->e, -1, 0, 0, 0, 0));
}

TEST_F(dmabuf_mr, fd_minus_one_is_ebadf_with_length_4096)
{
	EXPECT_EQ(-EBADF, reg_fd(&self->e, -1, 0, PAGE, 0,
				 IB_UVERBS_ACCESS_LOCAL_WRITE));
}

TEST_F(dmabuf_mr, fd_that_is_not_a_dmabuf_is_einval)
{
	int fds[2], null;

	/* dma_buf_get() refuses any file that is not a dma-buf. */
	ASSERT_EQ(0, pipe(fds));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, fds[0], 0, PAGE, 0,
				  IB_UVERBS_ACCESS_LOCAL_WRITE));
	close(fds[0]);
	close(fds[1]);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null);
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, null, 0, PAGE, 0,
				  IB_UVERBS_ACCESS_LOCAL_WRITE));
	close(null);
}

TEST_F(dmabuf_mr, range_past_the_end_of_the_dmabuf_is_einval)
{
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 0, BUF_SIZE + 1,
				  0, UV_ACCESS_ALL));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, PAGE, BUF_SIZE,
				  PAGE, UV_ACCESS_ALL));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, BUF_SIZE, 1,
				  0, UV_ACCESS_ALL));
}

TEST_F(dmabuf_mr, range_overflowing_u64_is_einval)
{
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, PAGE,
				  UINT64_MAX - 100, 0, UV_ACCESS_ALL));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, UINT64_MAX - PAGE + 1,
				  2 * PAGE, 0, UV_ACCESS_ALL));
}

TEST_F(dmabuf_mr, offset_and_iova_in_different_page_offsets_is_einval)
{
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 100, PAGE,
				  DEV_IOVA + 200, UV_ACCESS_ALL));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 0, PAGE,
				  DEV_IOVA + 1, UV_ACCESS_ALL));
}

TEST_F(dmabuf_mr, unsupported_access_flags_are_einval)
{
	/* A bit no access flag uses, and one not allowed for dma-buf MRs. */
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 0, PAGE, 0,
				  IB_UVERBS_ACCESS_LOCAL_WRITE | (1u << 15)));
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 0, PAGE, 0,
				  IB_UVERBS_ACCESS_LOCAL_WRITE |
				  IB_UVERBS_ACCESS_ON_DEMAND));
	/* Remote write without local write is refused by the verbs rules. */
	EXPECT_EQ(-EINVAL, reg_fd(&self->e, self->e.dmabuf, 0, PAGE, 0,
				  IB_UVERBS_ACCESS_REMOTE_WRITE));
}

TEST_F(dmabuf_mr, dmabuf_revoked_before_registration_is_enodev)
{
	ASSERT_EQ(0, accel_debug_reset(self->e.bdf));
	EXPECT_EQ(-ENODEV, reg_fd(&self->e, self->e.dmabuf, 0, PAGE, 0,
				  UV_ACCESS_ALL));
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
}

TEST_F(dmabuf_mr, dmabuf_whose_owner_closed_is_enodev)
{
	munmap(self->e.dev.cpu, self->e.dev.size);
	self->e.dev.cpu = NULL;
	ASSERT_EQ(0, close(self->e.accel));
	self->e.accel = -1;
	EXPECT_EQ(-ENODEV, reg_fd(&self->e, self->e.dmabuf, 0, PAGE, 0,
				  UV_ACCESS_ALL));
}

TEST_HARNESS_MAIN
