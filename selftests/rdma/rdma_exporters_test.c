// SPDX-License-Identifier: GPL-2.0
/*
 * dma-buf MRs on Soft-RoCE from exporters other than p2p_accel, so that
 * the importer is not tuned to one exporter: udmabuf (memfd pages,
 * /dev/udmabuf, a static exporter that never revokes) and dyn_exporter
 * (selftests/modules/dyn_exporter: a dynamic exporter of system pages
 * with pin/unpin, vmap and a revoke). RDMA WRITE, READ, SEND and atomics
 * between them and host memory, byte-exact through the exporter's own
 * CPU view (the memfd, or dyn_exporter's mmap, which survives a revoke);
 * the revoke of a dyn_exporter buffer: rxe drops its vmap within the
 * revoke, the keys fail, nothing lands in the pages, and everything is
 * released at dereg.
 *
 * Needs root, rxe up (RXE, else the first rxe* device), CONFIG_UDMABUF and
 * dyn_exporter.ko loaded. Raw uverbs (uverbs.c), no rdma-core.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/udmabuf.h>
#include <drm/drm.h>
#include <drm/p2p_accel.h>

#include "accel_test.h"
#include "uverbs.h"
#include "kselftest_harness.h"
#include "rdma_pair.h"
#include "../modules/dyn_exporter/dyn_exporter.h"

#define BUF_SIZE	(1 * SZ_1M)
#define QUIET_MS	300

enum exporter { UDMABUF, DYNAMIC };

FIXTURE(exporter) {
	char rxe[64];
	struct uv_ctx ctx;
	struct pair p;
	struct buf host, ext;	/* ext: the other exporter's buffer */
	int memfd, dmabuf, dev;	/* dev: /dev/udmabuf or /dev/dyn_exporter */
};

FIXTURE_VARIANT(exporter) {
	enum exporter kind;
};

FIXTURE_VARIANT_ADD(exporter, udmabuf) { .kind = UDMABUF };
FIXTURE_VARIANT_ADD(exporter, dyn_exporter) { .kind = DYNAMIC };

static int make_udmabuf(FIXTURE_DATA(exporter) *self)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = BUF_SIZE };
	void *p;

	self->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (self->dev < 0)
		return -errno;
	self->memfd = memfd_create("rdma-udmabuf", MFD_ALLOW_SEALING);
	if (self->memfd < 0 || ftruncate(self->memfd, BUF_SIZE) ||
	    fcntl(self->memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -errno;
	c.memfd = self->memfd;
	self->dmabuf = ioctl(self->dev, UDMABUF_CREATE, &c);
	if (self->dmabuf < 0)
		return -errno;
	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	self->ext.cpu = p;
	return 0;
}

static int make_dynamic(FIXTURE_DATA(exporter) *self)
{
	struct dynexp_create c = { .size = BUF_SIZE };
	void *p;

	self->dev = open("/dev/dyn_exporter", O_RDWR | O_CLOEXEC);
	if (self->dev < 0)
		return -errno;
	if (ioctl(self->dev, DYNEXP_IOC_CREATE, &c))
		return -errno;
	self->dmabuf = c.fd;
	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->dmabuf, 0);
	if (p == MAP_FAILED)
		return -errno;
	self->ext.cpu = p;
	return 0;
}

FIXTURE_SETUP(exporter)
{
	int ret;

	self->ctx.fd = self->ctx.async_fd = -1;
	self->memfd = self->dmabuf = self->dev = -1;
	if (rdma_find_rxe(self->rxe, sizeof(self->rxe)))
		SKIP(return, "no rxe device (is Soft-RoCE up?)");
	ret = uv_open(&self->ctx, self->rxe);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->rxe, strerror(-ret));
	ASSERT_EQ(0, uv_alloc_pd(&self->ctx, &self->p.a.pd));
	self->p.b.pd = self->p.a.pd;
	self->p.a.ctx = self->p.b.ctx = &self->ctx;
	ASSERT_EQ(0, pair_connect(&self->p, IB_UVERBS_QPT_RC));
	ASSERT_EQ(0, host_buf(&self->ctx, self->p.a.pd, &self->host, BUF_SIZE,
			      UV_ACCESS_ALL));

	ret = variant->kind == UDMABUF ? make_udmabuf(self) : make_dynamic(self);
	ASSERT_EQ(0, ret) TH_LOG("%s buffer: %s",
				 variant->kind == UDMABUF ? "udmabuf" : "dyn_exporter",
				 strerror(-ret));
	self->ext.size = BUF_SIZE;
	ret = uv_reg_dmabuf_mr(&self->ctx, self->p.a.pd, 0, BUF_SIZE, DEV_IOVA,
			       self->dmabuf, UV_ACCESS_ALL, &self->ext.mr);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(exporter)
{
	pair_disconnect(&self->p);
	uv_close(&self->ctx);
	if (self->ext.cpu)
		munmap(self->ext.cpu, BUF_SIZE);
	if (self->dmabuf >= 0)
		close(self->dmabuf);
	if (self->memfd >= 0)
		close(self->memfd);
	if (self->dev >= 0)
		close(self->dev);
	free(self->host.cpu);
}

/* One operation of A, waited for: its status or -errno. */
static int run(struct pair *p, uint32_t opcode, struct buf *local,
	       uint64_t lpos, uint32_t len, struct buf *remote, uint64_t rpos)
{
	struct ib_uverbs_wc wc;
	int ret;

	ret = post_op(p, &p->a, 1, opcode, local, lpos, len, remote, rpos);
	if (!ret)
		ret = wait_wc(&p->a, &wc);
	return ret ? ret : (int)wc.status;
}

TEST_F_TIMEOUT(exporter, write_read_send_atomics_are_byte_exact, 120)
{
	const uint32_t len = 70000;
	struct ib_uverbs_wc wc;
	int ret;

	/* WRITE host -> buffer, at odd offsets. */
	memset(self->ext.cpu, GUARD, BUF_SIZE);
	fill(self->host.cpu + 13, len, 1);
	ret = run(&self->p, IB_UVERBS_WR_RDMA_WRITE, &self->host, 13, len,
		  &self->ext, 4093);
	ASSERT_EQ(0, ret) TH_LOG("WRITE: %s", result_str(ret));
	EXPECT_EQ(-1, check_fill(self->ext.cpu + 4093, len, 1));
	EXPECT_EQ(-1, check_byte(self->ext.cpu, 4093, GUARD));
	EXPECT_EQ(-1, check_byte(self->ext.cpu + 4093 + len,
				 BUF_SIZE - 4093 - len, GUARD));

	/* READ buffer -> host. */
	fill(self->ext.cpu + 8191, len, 2);
	memset(self->host.cpu, 0, BUF_SIZE);
	ret = run(&self->p, IB_UVERBS_WR_RDMA_READ, &self->host, 5, len,
		  &self->ext, 8191);
	ASSERT_EQ(0, ret) TH_LOG("READ: %s", result_str(ret));
	EXPECT_EQ(-1, check_fill(self->host.cpu + 5, len, 2));

	/* SEND from the buffer into a RECV on the buffer. */
	fill(self->ext.cpu, 4096, 3);
	ASSERT_EQ(0, post_recv_buf(&self->p.b, 2, &self->ext, SZ_64K, 4096));
	ret = run(&self->p, IB_UVERBS_WR_SEND, &self->ext, 0, 4096, NULL, 0);
	ASSERT_EQ(0, ret) TH_LOG("SEND: %s", result_str(ret));
	ASSERT_EQ(0, wait_wc(&self->p.b, &wc));
	EXPECT_EQ(UV_WC_SUCCESS, wc.status);
	EXPECT_EQ(-1, check_fill(self->ext.cpu + SZ_64K, 4096, 3));

	/* Fetch-add on the buffer, the old value into host memory. */
	*(volatile uint64_t *)(self->ext.cpu + 4096) = 40;
	ret = run(&self->p, IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD, &self->host, 0,
		  8, &self->ext, 4096);
	ASSERT_EQ(0, ret) TH_LOG("fetch-add: %s", result_str(ret));
	EXPECT_EQ(40, *(volatile uint64_t *)self->host.cpu);
	EXPECT_EQ(41, *(volatile uint64_t *)(self->ext.cpu + 4096));

	EXPECT_EQ(0, uv_dereg_mr(&self->ctx, &self->ext.mr));
}

static struct dynexp_state dyn_state(FIXTURE_DATA(exporter) *self,
				     unsigned long req)
{
	struct dynexp_state s = { .fd = self->dmabuf };

	if (ioctl(self->dev, req, &s))
		s.fd = -errno;
	return s;
}

/*
 * The revoke of a dynamic exporter's buffer: by the time
 * dma_buf_invalidate_mappings() returns, rxe holds no vmap and no
 * mapping; the keys fail like those of a revoked p2p_accel buffer; the
 * pages (still visible through the exporter's mmap) receive nothing; a
 * new registration is refused; dereg releases the attachment and pin.
 */
TEST_F_TIMEOUT(exporter, revoke_of_a_dynamic_exporter_buffer, 120)
{
	struct dynexp_state s;
	struct ib_uverbs_wc wc;
	struct uv_mr mr;
	int ret;

	if (variant->kind != DYNAMIC)
		SKIP(return, "udmabuf has no revoke");
	s = dyn_state(self, DYNEXP_IOC_STATE);
	ASSERT_LE(0, s.fd) TH_LOG("state: %s", strerror(-s.fd));
	TH_LOG("before the revoke: %u attachments, %u pins, %u mappings, %u vmaps",
	       s.attachments, s.pins, s.maps, s.vmaps);
	EXPECT_EQ(1, s.attachments);
	/* A CPU importer: it vmaps, it never DMA-maps the buffer. */
	EXPECT_EQ(0, s.maps) TH_LOG("rxe DMA-mapped the dma-buf");
	EXPECT_EQ(1, s.vmaps);

	fill(self->host.cpu, 4096, 4);
	ASSERT_EQ(0, run(&self->p, IB_UVERBS_WR_RDMA_WRITE, &self->host, 0,
			 4096, &self->ext, 0));
	EXPECT_EQ(-1, check_fill(self->ext.cpu, 4096, 4));

	s = dyn_state(self, DYNEXP_IOC_REVOKE);
	ASSERT_LE(0, s.fd) TH_LOG("revoke: %s", strerror(-s.fd));
	TH_LOG("right after invalidate_mappings: %u attachments, %u pins, %u mappings, %u vmaps",
	       s.attachments, s.pins, s.maps, s.vmaps);
	EXPECT_EQ(0, s.vmaps) TH_LOG("rxe kept its vmap past the revoke");
	EXPECT_EQ(0, s.maps) TH_LOG("rxe kept a DMA mapping past the revoke");

	memset(self->ext.cpu, GUARD, BUF_SIZE);
	memset(self->host.cpu, 0x3c, BUF_SIZE);
	ret = run(&self->p, IB_UVERBS_WR_RDMA_WRITE, &self->host, 0, 4096,
		  &self->ext, 0);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("WRITE to the rkey: %s", result_str(ret));
	EXPECT_EQ(0, completions_within(&self->p.b, QUIET_MS, &wc));
	ASSERT_EQ(0, pair_renew(&self->p));
	ret = run(&self->p, IB_UVERBS_WR_RDMA_READ, &self->host, 0, 4096,
		  &self->ext, 0);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("READ from the rkey: %s", result_str(ret));
	ASSERT_EQ(0, pair_renew(&self->p));
	ret = run(&self->p, IB_UVERBS_WR_RDMA_READ, &self->ext, 0, 4096,
		  &self->host, 0);
	EXPECT_EQ(UV_WC_LOC_PROT_ERR, ret) TH_LOG("READ into the lkey: %s", result_str(ret));
	ASSERT_EQ(0, pair_renew(&self->p));
	EXPECT_EQ(-1, check_byte(self->ext.cpu, BUF_SIZE, GUARD))
		TH_LOG("the pages were written after the revoke");
	EXPECT_EQ(-1, check_byte(self->host.cpu, BUF_SIZE, 0x3c))
		TH_LOG("the pages were read after the revoke");

	ret = uv_reg_dmabuf_mr(&self->ctx, self->p.a.pd, 0, PAGE, DEV_IOVA,
			       self->dmabuf, UV_ACCESS_ALL, &mr);
	EXPECT_EQ(-ENODEV, ret) TH_LOG("registration after the revoke: %s",
				       ret ? strerror(-ret) : "success");
	if (!ret)
		uv_dereg_mr(&self->ctx, &mr);

	EXPECT_EQ(0, uv_dereg_mr(&self->ctx, &self->ext.mr));
	s = dyn_state(self, DYNEXP_IOC_STATE);
	EXPECT_EQ(0, s.attachments);
	EXPECT_EQ(0, s.pins);
	EXPECT_EQ(0, s.maps);
	EXPECT_EQ(0, s.vmaps);
}

/* Dereg of a live MR gives everything back to the exporter. */
TEST_F(exporter, dereg_releases_the_attachment)
{
	struct dynexp_state s;

	EXPECT_EQ(0, uv_dereg_mr(&self->ctx, &self->ext.mr));
	if (variant->kind != DYNAMIC)
		return;	/* udmabuf does not tell, dereg is all there is */
	s = dyn_state(self, DYNEXP_IOC_STATE);
	ASSERT_LE(0, s.fd);
	EXPECT_EQ(0, s.attachments);
	EXPECT_EQ(0, s.pins);
	EXPECT_EQ(0, s.maps);
	EXPECT_EQ(0, s.vmaps);
}

TEST_HARNESS_MAIN
