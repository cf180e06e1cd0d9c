// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the p2p_accel exporter: its ioctls (including bad input),
 * CPU access through both kinds of mapping, peer-to-peer DMA by the QEMU
 * edu device through the test importer (p2pacc_importer.ko), and revoke
 * on owner close, reset (debugfs and PCI) and unbind: importers are told,
 * and the memory is given back only once every mapping, vmap and fence of
 * the buffer is gone.
 *
 * Needs p2p_accel.ko and p2pacc_importer.ko loaded, root, and TOPOLOGY
 * (switch|rootbus) in the environment: behind the PCIe switch the edu may
 * attach peer-to-peer, on the root bus the exporter must refuse it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <drm/drm.h>
#include <drm/p2p_accel.h>
#include "accel_test.h"
#include "p2pacc_importer.h"
#include "importer_test.h"

#include "kselftest_harness.h"

#define DRIVER		"p2p_accel"
#define DRIVER_DIR	"/sys/bus/pci/drivers/" DRIVER
#define IMPORTER	"/dev/p2pacc_importer"
#define PAGE		4096ULL
#define SZ_1M		(1ULL << 20)

/* ---- helpers ------------------------------------------------------------ */

static uint8_t *map_dmabuf(int dmabuf, uint64_t size, off_t off)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dmabuf,
		       off);

	return p == MAP_FAILED ? NULL : p;
}

static int importer_attach(int imp, int dmabuf, uint32_t mode,
			   struct p2pi_attach *out)
{
	struct p2pi_attach a = { .fd = dmabuf, .mode = mode };
	int ret = xioctl(imp, P2PI_IOC_ATTACH, &a);

	if (out)
		*out = a;
	return ret;
}

static int importer_dma(int imp, uint64_t off, uint32_t len, uint32_t dir)
{
	struct p2pi_dma d = { .offset = off, .len = len, .dir = dir };

	return xioctl(imp, P2PI_IOC_DMA, &d);
}

static void *close_fd_thread(void *arg)
{
	close(*(int *)arg);
	return NULL;
}

static int wait_for(int (*cond)(int), int arg, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < ms / 10; i++) {
		if (cond(arg))
			return 1;
		nanosleep(&ts, NULL);
	}
	return cond(arg);
}

static int importer_in_revoke(int imp)
{
	return importer_status(imp).in_revoke;
}

static int importer_revoked(int imp)
{
	return importer_status(imp).revoked;
}

/* ---- the fixture: the device, opened by its owner ----------------------- */

FIXTURE(accel) {
	int fd;
	int imp;
	char node[64];
	char bdf[32];
	struct drm_p2pacc_query q;
};

FIXTURE_SETUP(accel)
{
	self->fd = -1;
	self->imp = -1;
	if (find_accel(self->node, sizeof(self->node), self->bdf,
		       sizeof(self->bdf)))
		SKIP(return, "no device bound to p2p_accel (module not loaded?)");
	self->fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->node, strerror(errno));
	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &self->q));
	self->imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
}

FIXTURE_TEARDOWN(accel)
{
	if (self->imp >= 0)
		close(self->imp);
	if (self->fd >= 0)
		close(self->fd);
	/* A failed unbind test must not leave the device unbound. */
	if (self->bdf[0] && !driver_bound(self->bdf))
		write_file(DRIVER_DIR "/bind", self->bdf);
}

#define NEED_IMPORTER() do {						\
	if (self->imp < 0)						\
		SKIP(return, "%s missing: p2pacc_importer.ko not loaded", IMPORTER); \
} while (0)

#define NEED_TOPOLOGY() do {						\
	if (!p2p_allowed() && !p2p_refused())				\
		SKIP(return, "TOPOLOGY is not switch or rootbus: expected p2p verdict unknown"); \
} while (0)

/* ---- ownership ---------------------------------------------------------- */

TEST_F(accel, second_open_is_ebusy)
{
	int fd = open(self->node, O_RDWR | O_CLOEXEC);

	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EBUSY, errno);
	if (fd >= 0)
		close(fd);
}

TEST_F(accel, open_succeeds_once_the_owner_closed)
{
	close(self->fd);
	self->fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("reopen: %s", strerror(errno));
}

/* ---- query -------------------------------------------------------------- */

TEST_F(accel, query_reports_memory_alignment_and_caps)
{
	EXPECT_EQ(read_sysfs_u64(self->bdf, "devmem_size"),
		  (long long)self->q.mem_size);
	EXPECT_EQ(self->q.mem_size, self->q.mem_free);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(PAGE, self->q.alignment);
	EXPECT_EQ(DRM_P2PACC_CAP_STATIC_DMABUF | DRM_P2PACC_CAP_P2P |
		  DRM_P2PACC_CAP_REVOKE, self->q.caps);
	TH_LOG("device memory: %llu MiB", (unsigned long long)self->q.mem_size >> 20);
}

TEST_F(accel, query_with_flags_or_padding_is_einval)
{
	struct drm_p2pacc_query q = { .flags = 1 };

	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
	memset(&q, 0, sizeof(q));
	q.pad = 1;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
}

TEST_F(accel, query_free_memory_follows_allocations)
{
	struct drm_p2pacc_query q = { 0 };
	uint32_t h;

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
	EXPECT_EQ(self->q.mem_size - SZ_1M, q.mem_free);
	EXPECT_EQ((long long)SZ_1M, read_sysfs_u64(self->bdf, "devmem_used"));
	ASSERT_EQ(0, gem_close(self->fd, h));
	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
	EXPECT_EQ(self->q.mem_size, q.mem_free);
}

/* ---- alloc -------------------------------------------------------------- */

TEST_F(accel, alloc_rounds_size_up_to_the_alignment)
{
	struct drm_p2pacc_alloc a = { .size = 1 };

	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_ALLOC, &a));
	EXPECT_EQ(PAGE, a.size);
	EXPECT_NE(0, a.handle);
}

TEST_F(accel, alloc_of_zero_bytes_is_einval)
{
	EXPECT_EQ(-EINVAL, accel_alloc(self->fd, 0, 0, NULL));
}

TEST_F(accel, alloc_larger_than_device_memory_is_einval)
{
	EXPECT_EQ(-EINVAL, accel_alloc(self->fd, self->q.mem_size + 1, 0, NULL));
	EXPECT_EQ(-EINVAL, accel_alloc(self->fd, UINT64_MAX, 0, NULL));
	EXPECT_EQ(-EINVAL, accel_alloc(self->fd, UINT64_MAX - PAGE + 2, 0, NULL));
	EXPECT_EQ(self->q.mem_size, self->q.mem_free);
}

TEST_F(accel, alloc_with_unknown_flags_is_einval)
{
	struct drm_p2pacc_alloc a = { .size = PAGE, .flags = 1 };

	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_P2PACC_ALLOC, &a));
	a.flags = 0x80000000;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_P2PACC_ALLOC, &a));
}

TEST_F(accel, alloc_with_bad_alignment_is_einval)
{
	const uint64_t bad[] = { 1, 3, 2048, PAGE + 1, 3 * PAGE,
				 self->q.mem_size * 2, 1ULL << 63 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long long align = bad[i];

		EXPECT_EQ(-EINVAL, accel_alloc(self->fd, PAGE, align, NULL))
			TH_LOG("alignment %llu", align);
	}
}

TEST_F(accel, alloc_honours_the_alignment)
{
	uint64_t off;
	uint32_t h;

	/* A small buffer first, so the aligned ones cannot start at 0 by luck. */
	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h));
	for (int i = 0; i < 3; i++) {
		/* Distinct sizes: debugfs tells where each one went. */
		ASSERT_EQ(0, accel_alloc(self->fd, (i + 2) * PAGE, 2 * SZ_1M, &h));
		ASSERT_EQ(0, accel_debug_offset(self->bdf, (i + 2) * PAGE, &off));
		EXPECT_EQ(0, off % (2 * SZ_1M)) TH_LOG("offset 0x%llx",
						      (unsigned long long)off);
	}
}

TEST_F_TIMEOUT(accel, alloc_beyond_free_memory_is_enomem_never_partial, 300)
{
	struct drm_p2pacc_query q = { 0 };
	uint32_t big, small;

	ASSERT_EQ(0, accel_alloc(self->fd, self->q.mem_size - PAGE, 0, &big));
	EXPECT_EQ(-ENOMEM, accel_alloc(self->fd, 2 * PAGE, 0, NULL));
	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
	EXPECT_EQ(PAGE, q.mem_free);
	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &small));
	EXPECT_EQ(-ENOMEM, accel_alloc(self->fd, PAGE, 0, NULL));
	ASSERT_EQ(0, gem_close(self->fd, big));
	ASSERT_EQ(0, gem_close(self->fd, small));
	ASSERT_EQ(0, accel_alloc(self->fd, self->q.mem_size, 0, &big));
}

TEST_F(accel, alloc_in_fragmented_memory_is_enomem)
{
	uint64_t quarter = self->q.mem_size / 4;
	uint32_t h[4];

	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, accel_alloc(self->fd, quarter, 0, &h[i]));
	ASSERT_EQ(0, gem_close(self->fd, h[0]));
	ASSERT_EQ(0, gem_close(self->fd, h[2]));
	/* Half of the memory is free, but in two separate quarters. */
	EXPECT_EQ(-ENOMEM, accel_alloc(self->fd, 2 * quarter, 0, NULL));
	EXPECT_EQ(0, accel_alloc(self->fd, quarter, 0, &h[0]));
	EXPECT_EQ(0, accel_alloc(self->fd, quarter, 0, &h[2]));
}

TEST_F(accel, alloc_gives_zeroed_memory)
{
	uint64_t off, off2;
	uint32_t h;
	uint8_t *p;

	ASSERT_EQ(0, accel_alloc(self->fd, 64 * 1024, 0, &h));
	ASSERT_EQ(0, accel_debug_offset(self->bdf, 64 * 1024, &off));
	p = map_gem(self->fd, h, 64 * 1024);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, check_byte(p, 64 * 1024, 0));
	memset(p, 0xff, 64 * 1024);
	munmap(p, 64 * 1024);
	ASSERT_EQ(0, gem_close(self->fd, h));

	ASSERT_EQ(0, accel_alloc(self->fd, 64 * 1024, 0, &h));
	ASSERT_EQ(0, accel_debug_offset(self->bdf, 64 * 1024, &off2));
	EXPECT_EQ(off, off2) TH_LOG("best fit should reuse the freed range");
	p = map_gem(self->fd, h, 64 * 1024);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, check_byte(p, 64 * 1024, 0));
	munmap(p, 64 * 1024);
}

/* ---- handles, mmap offsets, export -------------------------------------- */

TEST_F(accel, gem_close_of_an_unknown_handle_is_einval)
{
	EXPECT_EQ(-EINVAL, gem_close(self->fd, 0x7777));
}

TEST_F(accel, mmap_offset_of_an_unknown_handle_is_enoent)
{
	uint64_t off;

	EXPECT_EQ(-ENOENT, mmap_offset(self->fd, 0x7777, &off));
}

TEST_F(accel, mmap_offset_with_unknown_flags_is_einval)
{
	struct drm_p2pacc_mmap_offset m = { .flags = 1 };

	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &m.handle));
	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, &m));
}

TEST_F(accel, mmap_past_the_end_of_a_buffer_is_einval)
{
	uint64_t off;
	uint32_t h;
	void *p;

	ASSERT_EQ(0, accel_alloc(self->fd, 4 * PAGE, 0, &h));
	ASSERT_EQ(0, mmap_offset(self->fd, h, &off));
	p = mmap(NULL, 8 * PAGE, PROT_READ, MAP_SHARED, self->fd, off);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, self->fd, off + 2 * PAGE);
	EXPECT_EQ(MAP_FAILED, p);
	/* Through the device node, DRM maps from a buffer's start only... */
	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, self->fd, off + 2 * PAGE);
	EXPECT_EQ(MAP_FAILED, p);
	/* ...but a shorter mapping is fine, and sees the whole of it. */
	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, self->fd, off);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, faults((uint8_t *)p + 2 * PAGE - 1, 0));
	munmap(p, 2 * PAGE);
}

TEST_F(accel, private_mapping_is_refused)
{
	uint64_t off;
	uint32_t h;
	void *p;

	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h));
	ASSERT_EQ(0, mmap_offset(self->fd, h, &off));
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(accel, export_of_an_unknown_handle_is_enoent)
{
	int dmabuf;

	EXPECT_EQ(-ENOENT, prime_export(self->fd, 0x7777, &dmabuf));
}

TEST_F(accel, export_with_unknown_flags_is_einval)
{
	struct drm_prime_handle p = { .flags = 0x4 };

	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &p.handle));
	EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p));
}

/* ---- data through the CPU paths ----------------------------------------- */

TEST_F(accel, bytes_written_through_mmap_read_back_through_dmabuf_mmap)
{
	const uint64_t size = 256 * 1024;
	uint8_t *p, *q;
	int dmabuf;
	uint32_t h;

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	p = map_gem(self->fd, h, size);
	ASSERT_NE(NULL, p);
	fill(p, size, 1);
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));

	q = map_dmabuf(dmabuf, size, 0);
	ASSERT_NE(NULL, q) TH_LOG("mmap dma-buf: %s", strerror(errno));
	EXPECT_EQ(-1, check_fill(q, size, 1));
	/* And back the other way, at an offset into the dma-buf. */
	munmap(q, size);
	q = map_dmabuf(dmabuf, PAGE, 5 * PAGE);
	ASSERT_NE(NULL, q);
	memset(q, 0x3c, PAGE);
	EXPECT_EQ(-1, check_byte(p + 5 * PAGE, PAGE, 0x3c));
	munmap(q, PAGE);
	munmap(p, size);
	close(dmabuf);
}

TEST_F(accel, dmabuf_mmap_past_the_end_is_einval)
{
	int dmabuf;
	uint32_t h;

	ASSERT_EQ(0, accel_alloc(self->fd, 2 * PAGE, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	EXPECT_EQ(NULL, map_dmabuf(dmabuf, 4 * PAGE, 0));
	EXPECT_EQ(NULL, map_dmabuf(dmabuf, 2 * PAGE, PAGE));
	close(dmabuf);
}

TEST_F(accel, dmabuf_cpu_access_sync_succeeds)
{
	struct dma_buf_sync s = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	int dmabuf;
	uint32_t h;

	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	EXPECT_EQ(0, xioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &s));
	s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, xioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &s));
	close(dmabuf);
}

TEST_F(accel, bytes_written_through_mmap_read_back_through_importer_vmap)
{
	const uint64_t size = 128 * 1024;
	uint8_t *p, *buf;
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	p = map_gem(self->fd, h, size);
	ASSERT_NE(NULL, p);
	fill(p, size, 2);
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));

	buf = calloc(1, size);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, importer_rw(self->imp, dmabuf, 0, buf, size, 0));
	EXPECT_EQ(-1, check_fill(buf, size, 2));

	/* Written by the importer through vmap, seen through mmap. */
	fill(buf, PAGE, 3);
	ASSERT_EQ(0, importer_rw(self->imp, dmabuf, 7 * PAGE + 100, buf, PAGE, 1));
	EXPECT_EQ(-1, check_fill(p + 7 * PAGE + 100, PAGE, 3));

	EXPECT_EQ(-EINVAL, importer_rw(self->imp, dmabuf, size - 10, buf, 20, 0));
	free(buf);
	munmap(p, size);
	close(dmabuf);
}

/* ---- peer-to-peer ------------------------------------------------------- */

TEST_F(accel, importer_without_peer2peer_is_refused_with_eopnotsupp)
{
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	EXPECT_EQ(-EOPNOTSUPP, importer_attach(self->imp, dmabuf,
					       P2PI_ATTACH_PLAIN, NULL));
	close(dmabuf);
}

/* Device memory vanishes with its owner: only revocable importers attach. */
TEST_F(accel, importer_that_cannot_be_revoked_is_refused_with_eopnotsupp)
{
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	EXPECT_EQ(-EOPNOTSUPP, importer_attach(self->imp, dmabuf,
					       P2PI_ATTACH_UNREVOCABLE, NULL));
	close(dmabuf);
}

TEST_F(accel, p2p_attach_is_allowed_behind_the_switch_and_exdev_on_rootbus)
{
	struct p2pi_attach a;
	int dmabuf, ret;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ret = importer_attach(self->imp, dmabuf, 0, &a);
	if (p2p_allowed()) {
		ASSERT_EQ(0, ret);
		EXPECT_EQ(SZ_1M, a.size);
		EXPECT_LE(1, a.nents);
		TH_LOG("sg_table: %u entries for 1 MiB", a.nents);
	} else {
		EXPECT_EQ(-EXDEV, ret);
	}
	close(dmabuf);
}

TEST_F(accel, edu_dma_moves_bytes_through_the_sg_table_bus_addresses)
{
	/* The edu's 4 KiB buffer takes at most P2PI_EDU_DMA_MAX bytes. */
	const uint64_t size = 256 * 1024, dst = 64 * 1024 - 2000;
	const uint32_t len = 4000;
	uint8_t *p, *buf;
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: the exporter refuses the edu's attachment (checked by p2p_attach_is_allowed_behind_the_switch_and_exdev_on_rootbus)");

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	p = map_gem(self->fd, h, size);
	ASSERT_NE(NULL, p);
	fill(p, PAGE, 4);
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));

	/* device memory -> edu buffer -> device memory, across an sg entry */
	ASSERT_EQ(0, importer_dma(self->imp, 0, len, P2PI_DMA_TO_EDU));
	ASSERT_EQ(0, importer_dma(self->imp, dst, len, P2PI_DMA_FROM_EDU));
	EXPECT_EQ(-1, check_fill(p + dst, len, 4));
	EXPECT_EQ(-1, check_byte(p + PAGE, dst - PAGE, 0));
	EXPECT_EQ(-1, check_byte(p + dst + len, size - dst - len, 0));

	/* cross-checked through the importer's vmap */
	buf = calloc(1, len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, importer_rw(self->imp, dmabuf, dst, buf, len, 0));
	EXPECT_EQ(-1, check_fill(buf, len, 4));
	free(buf);

	/* Past the end of the dma-buf, or of the edu's buffer. */
	EXPECT_EQ(-EINVAL, importer_dma(self->imp, size - 100, 200, P2PI_DMA_TO_EDU));
	EXPECT_EQ(-EINVAL, importer_dma(self->imp, 0, PAGE, P2PI_DMA_TO_EDU));
	munmap(p, size);
	close(dmabuf);
}

/* ---- revoke ------------------------------------------------------------- */

TEST_F(accel, owner_close_zaps_dmabuf_mappings_and_frees_memory)
{
	const uint64_t size = SZ_1M;
	int dmabuf;
	uint32_t h;
	uint8_t *q;

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	q = map_dmabuf(dmabuf, size, 0);
	ASSERT_NE(NULL, q);
	fill(q, size, 5);
	EXPECT_EQ(0, faults(q + size - 1, 0));

	close(self->fd);
	self->fd = -1;

	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(1, faults(q, 0));
	EXPECT_EQ(1, faults(q + size - 1, 1));
	munmap(q, size);
	close(dmabuf);
}

TEST_F(accel, owner_close_notifies_the_importer_before_freeing_memory)
{
	const uint64_t size = SZ_1M;
	struct p2pi_status st;
	pthread_t closer;
	int dmabuf;
	uint32_t h;
	uint8_t *q;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: no importer can attach (the edu is refused); the mapping side is checked by owner_close_zaps_dmabuf_mappings_and_frees_memory");

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	q = map_dmabuf(dmabuf, size, 0);
	ASSERT_NE(NULL, q);
	fill(q, size, 6);
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));
	ASSERT_EQ(0, importer_dma(self->imp, 0, 256, P2PI_DMA_TO_EDU));
	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_BLOCK_REVOKE, NULL));

	/* Close the owner in a thread: the close blocks in the revoke. */
	ASSERT_EQ(0, pthread_create(&closer, NULL, close_fd_thread, &self->fd));
	ASSERT_EQ(1, wait_for(importer_in_revoke, self->imp, 10000))
		TH_LOG("the importer's revoke callback never ran");
	/* While the importer is in its callback the memory is still held. */
	EXPECT_EQ((long long)size, read_sysfs_u64(self->bdf, "devmem_used"));
	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_RELEASE, NULL));
	ASSERT_EQ(0, pthread_join(closer, NULL));
	self->fd = -1;

	st = importer_status(self->imp);
	EXPECT_EQ(1, st.revoke_calls);
	EXPECT_EQ(1, st.revoked);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(1, faults(q, 0));
	/* The importer fenced its DMA: it refuses to start more. */
	EXPECT_EQ(-ENODEV, importer_dma(self->imp, 0, 256, P2PI_DMA_FROM_EDU));
	EXPECT_EQ(0, xioctl(self->imp, P2PI_IOC_DETACH, NULL));
	munmap(q, size);
	close(dmabuf);
}

TEST_F(accel, dead_dmabuf_stays_a_valid_fd_whose_every_use_fails)
{
	struct dma_buf_sync s = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
	int dmabuf;
	uint32_t h;

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	close(self->fd);
	self->fd = -1;

	EXPECT_LE(0, fcntl(dmabuf, F_GETFD));
	EXPECT_EQ(NULL, map_dmabuf(dmabuf, PAGE, 0));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-ENODEV, xioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &s));
	if (self->imp >= 0) {
		uint8_t byte;

		EXPECT_EQ(-ENODEV, importer_attach(self->imp, dmabuf, 0, NULL));
		EXPECT_EQ(-ENODEV, importer_attach(self->imp, dmabuf,
						   P2PI_ATTACH_DYNAMIC, NULL));
		/* Never peer-to-peer: refused for that, dead or alive. */
		EXPECT_EQ(-EOPNOTSUPP, importer_attach(self->imp, dmabuf,
						       P2PI_ATTACH_PLAIN, NULL));
		/* The core refuses to vmap a revoked dma-buf. */
		EXPECT_EQ(-ENODEV, importer_rw(self->imp, dmabuf, 0, &byte, 1, 0));
	}
	close(dmabuf);
}

enum reset_kind { RESET_DEBUGFS, RESET_PCI };

static int do_reset(const char *bdf, enum reset_kind how)
{
	char path[PATH_MAX];

	if (how == RESET_DEBUGFS)
		return accel_debug_reset(bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf);
	return write_file(path, "1");
}

/* Revoke by reset (debugfs or PCI) of a buffer with every kind of user. */
static void check_reset_revokes(struct __test_metadata *_metadata,
				FIXTURE_DATA(accel) *self, enum reset_kind how)
{
	const uint64_t size = SZ_1M;
	struct p2pi_status st;
	int dmabuf, attached = 0;
	uint32_t h, h2;
	uint8_t *p, *q;
	uint64_t off;

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	ASSERT_EQ(0, accel_alloc(self->fd, PAGE, 0, &h2));
	p = map_gem(self->fd, h, size);
	ASSERT_NE(NULL, p);
	fill(p, size, 7);
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	q = map_dmabuf(dmabuf, size, 0);
	ASSERT_NE(NULL, q);
	EXPECT_EQ(0, faults(q, 0));
	if (self->imp >= 0 && p2p_allowed()) {
		ASSERT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));
		ASSERT_EQ(0, importer_dma(self->imp, 0, 256, P2PI_DMA_TO_EDU));
		attached = 1;
	}

	ASSERT_EQ(0, do_reset(self->bdf, how));

	if (attached) {
		st = importer_status(self->imp);
		EXPECT_EQ(1, st.revoke_calls);
		EXPECT_EQ(0, st.mapped);
		EXPECT_EQ(-ENODEV, importer_dma(self->imp, 0, 256,
						P2PI_DMA_TO_EDU));
	} else {
		TH_LOG("no importer attached on topology '%s'", topology());
	}
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(1, faults(p, 1));
	EXPECT_EQ(1, faults(q, 0));
	/* The owner keeps its handles, but they name dead buffers. */
	EXPECT_EQ(-ENODEV, mmap_offset(self->fd, h, &off));
	EXPECT_EQ(-ENODEV, mmap_offset(self->fd, h2, &off));
	EXPECT_EQ(-ENODEV, prime_export(self->fd, h2, &dmabuf));
	EXPECT_EQ(0, gem_close(self->fd, h2));
	/* The device itself works on, and nothing of the old data shows. */
	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h2));
	munmap(p, size);
	munmap(q, size);
	p = map_gem(self->fd, h2, size);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, check_byte(p, size, 0));
	munmap(p, size);
	if (attached)
		EXPECT_EQ(0, xioctl(self->imp, P2PI_IOC_DETACH, NULL));
	close(dmabuf);
}

TEST_F(accel, reset_through_debugfs_revokes_every_buffer)
{
	check_reset_revokes(_metadata, self, RESET_DEBUGFS);
}

/* A real function reset (sysfs "reset") goes through the same revoke. */
TEST_F(accel, pci_function_reset_revokes_every_buffer)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", self->bdf);
	if (access(path, W_OK))
		SKIP(return, "%.200s: the PCI core has no reset method for this function on topology '%s'",
		     path, topology());
	check_reset_revokes(_metadata, self, RESET_PCI);
}

TEST_F(accel, debugfs_reset_of_anything_but_a_boolean_is_einval)
{
	int fd = accel_debugfs_open(self->bdf, "reset", O_WRONLY);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, write(fd, "maybe", 5));
	EXPECT_EQ(EINVAL, errno);
	/* "0" is no reset: the buffer lives on. */
	EXPECT_EQ(1, write(fd, "0", 1));
	close(fd);
}

/* A dynamic importer is revocable too: invalidate_mappings tells it. */
TEST_F(accel, reset_revokes_a_dynamic_importer_through_invalidate_mappings)
{
	struct p2pi_status st;
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: no importer can attach (the edu is refused); refusal is checked by p2p_attach_is_allowed_behind_the_switch_and_exdev_on_rootbus");

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, P2PI_ATTACH_DYNAMIC, NULL));
	ASSERT_EQ(0, importer_dma(self->imp, 0, 256, P2PI_DMA_TO_EDU));
	ASSERT_EQ(0, accel_debug_reset(self->bdf));

	st = importer_status(self->imp);
	EXPECT_EQ(1, st.revoke_calls);
	EXPECT_EQ(1, st.revoked);
	EXPECT_EQ(-ENODEV, importer_dma(self->imp, 0, 256, P2PI_DMA_TO_EDU));
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(0, xioctl(self->imp, P2PI_IOC_DETACH, NULL));
	close(dmabuf);
}

/* ---- revoke waits until nobody can reach the memory --------------------- */

/* A reset in a thread of its own: it blocks while importers hold on. */
struct resetter {
	pthread_t thread;
	const char *bdf;
	int ret;
	volatile int done;
};

static void *reset_thread(void *arg)
{
	struct resetter *r = arg;

	r->ret = accel_debug_reset(r->bdf);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int start_reset(struct resetter *r, const char *bdf)
{
	r->bdf = bdf;
	r->ret = -1;
	r->done = 0;
	return pthread_create(&r->thread, NULL, reset_thread, r);
}

static int reset_done(struct resetter *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_SEQ_CST);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* /dev/kmsg from now on, to find what the kernel logs during a test. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* 1 if a record logged since kmsg_open() contains @what. */
static int kmsg_has(int fd, const char *what)
{
	char rec[2048];
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			return 0;
		rec[n] = '\0';
		if (strstr(rec, what))
			return 1;
	}
}

/*
 * An importer that does not unmap in invalidate_mappings (it breaks its
 * promise) keeps the memory allocated: the revoke waits, logs every second,
 * and only when the importer unmaps is the range scrubbed and given back.
 */
TEST_F_TIMEOUT(accel, revoke_waits_for_an_importer_that_does_not_unmap, 60)
{
	const uint64_t size = SZ_1M;
	struct drm_p2pacc_query q = { 0 };
	struct p2pi_status st;
	struct resetter r;
	int dmabuf, kmsg;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: no DMA importer can attach; the vmap case is revoke_waits_for_a_held_vmap");

	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, P2PI_ATTACH_LAZY, NULL));
	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);

	ASSERT_EQ(0, start_reset(&r, self->bdf));
	ASSERT_EQ(1, wait_for(importer_revoked, self->imp, 10000))
		TH_LOG("invalidate_mappings never ran");
	/* Long enough for two of the once-a-second warnings. */
	sleep_ms(2500);
	st = importer_status(self->imp);
	EXPECT_EQ(1, st.mapped);
	EXPECT_EQ(0, reset_done(&r)) TH_LOG("the reset returned while a mapping was held");
	/* Held, not reclaimed: no new buffer can be given this range. */
	EXPECT_EQ((long long)size, read_sysfs_u64(self->bdf, "devmem_used"));
	ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_P2PACC_QUERY, &q));
	EXPECT_EQ(q.mem_size - size, q.mem_free);
	EXPECT_EQ(1, kmsg_has(kmsg, "waiting for importers to drop 1 DMA mapping(s)"))
		TH_LOG("no warning logged while waiting");

	/* The importer lets go: the reset finishes and the memory is back. */
	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_UNMAP, NULL));
	ASSERT_EQ(0, pthread_join(r.thread, NULL));
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(1, kmsg_has(kmsg, "importers let go after"));
	EXPECT_EQ(0, xioctl(self->imp, P2PI_IOC_DETACH, NULL));
	close(kmsg);
	close(dmabuf);
}

/* A kernel vmap is a mapping too: revoke waits until it is dropped. */
TEST_F_TIMEOUT(accel, revoke_waits_for_a_held_vmap, 60)
{
	const uint64_t size = SZ_1M;
	struct resetter r;
	int dmabuf, kmsg;
	uint32_t h;

	NEED_IMPORTER();
	ASSERT_EQ(0, accel_alloc(self->fd, size, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_VMAP_HOLD, &dmabuf));
	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);

	ASSERT_EQ(0, start_reset(&r, self->bdf));
	sleep_ms(2500);
	EXPECT_EQ(0, reset_done(&r)) TH_LOG("the reset returned while a vmap was held");
	EXPECT_EQ((long long)size, read_sysfs_u64(self->bdf, "devmem_used"));
	EXPECT_EQ(1, kmsg_has(kmsg, "0 DMA mapping(s) and 1 vmap(s)"));

	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_VMAP_DROP, NULL));
	ASSERT_EQ(0, pthread_join(r.thread, NULL));
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	/* And no new vmap of the dead buffer. */
	EXPECT_EQ(-ENODEV, xioctl(self->imp, P2PI_IOC_VMAP_HOLD, &dmabuf));
	close(kmsg);
	close(dmabuf);
}

/* Two DMA importers on one buffer: both told once, both unmapped. */
TEST_F(accel, revoke_reaches_every_importer_of_a_buffer)
{
	struct p2pi_status st;
	int dmabuf, imp2;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: no importer can attach (the edu is refused)");

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	imp2 = open(IMPORTER, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, imp2);
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));
	ASSERT_EQ(0, importer_attach(imp2, dmabuf, P2PI_ATTACH_DYNAMIC, NULL));
	ASSERT_EQ(0, importer_dma(self->imp, 0, 512, P2PI_DMA_TO_EDU));
	ASSERT_EQ(0, importer_dma(imp2, 4096, 512, P2PI_DMA_FROM_EDU));

	ASSERT_EQ(0, accel_debug_reset(self->bdf));

	st = importer_status(self->imp);
	EXPECT_EQ(1, st.revoke_calls);
	EXPECT_EQ(0, st.mapped);
	st = importer_status(imp2);
	EXPECT_EQ(1, st.revoke_calls);
	EXPECT_EQ(0, st.mapped);
	EXPECT_EQ(-ENODEV, importer_dma(self->imp, 0, 256, P2PI_DMA_TO_EDU));
	EXPECT_EQ(-ENODEV, importer_dma(imp2, 0, 256, P2PI_DMA_TO_EDU));
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	close(imp2);
	close(dmabuf);
}

struct racer {
	int imp;
	int dmabuf;
	int watch;	/* the importer blocked in the revoke */
	int ret;
	volatile int started_in_revoke;
};

static void *vmap_racer(void *arg)
{
	struct racer *r = arg;
	uint8_t byte;

	r->started_in_revoke = importer_status(r->watch).in_revoke;
	r->ret = importer_rw(r->imp, r->dmabuf, 0, &byte, 1, 0);
	return NULL;
}

/* @imp: an attached importer without a mapping */
static void *map_racer(void *arg)
{
	struct racer *r = arg;

	r->started_in_revoke = importer_status(r->watch).in_revoke;
	r->ret = xioctl(r->imp, P2PI_IOC_MAP, NULL);
	return NULL;
}

/*
 * While a revoke is in progress (held inside one importer's
 * invalidate_mappings, with the reservation locked), a new attachment is
 * refused at once, and a map of an existing attachment and a vmap wait
 * for the revoke and then fail: none slips in between "revoked" and
 * "memory freed".
 */
TEST_F_TIMEOUT(accel, attach_map_and_vmap_racing_a_revoke_are_refused, 60)
{
	struct racer vr = { 0 }, mr = { 0 };
	pthread_t vt, mt, closer;
	int dmabuf, imp2, imp3;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: no importer can attach to hold the revoke open");

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	imp2 = open(IMPORTER, O_RDWR | O_CLOEXEC);
	imp3 = open(IMPORTER, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, imp2);
	ASSERT_LE(0, imp3);
	/* imp2 attached before the revoke, without a mapping at the time. */
	ASSERT_EQ(0, importer_attach(imp2, dmabuf, 0, NULL));
	ASSERT_EQ(0, xioctl(imp2, P2PI_IOC_UNMAP, NULL));
	/* self->imp holds the revoke open inside its callback. */
	ASSERT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));
	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_BLOCK_REVOKE, NULL));

	ASSERT_EQ(0, pthread_create(&closer, NULL, close_fd_thread, &self->fd));
	ASSERT_EQ(1, wait_for(importer_in_revoke, self->imp, 10000));

	/* The revoke is in progress now; these calls overlap it. */
	EXPECT_EQ(-ENODEV, importer_attach(imp3, dmabuf, 0, NULL));
	vr.imp = self->imp;
	vr.dmabuf = dmabuf;
	vr.watch = self->imp;
	ASSERT_EQ(0, pthread_create(&vt, NULL, vmap_racer, &vr));
	mr.imp = imp2;
	mr.watch = self->imp;
	ASSERT_EQ(0, pthread_create(&mt, NULL, map_racer, &mr));
	sleep_ms(300);
	/* Still in the revoke: neither the map nor the vmap got through. */
	EXPECT_EQ(1, importer_in_revoke(self->imp));
	EXPECT_EQ(0, importer_status(imp2).mapped);
	EXPECT_EQ((long long)SZ_1M, read_sysfs_u64(self->bdf, "devmem_used"));

	ASSERT_EQ(0, xioctl(self->imp, P2PI_IOC_RELEASE, NULL));
	ASSERT_EQ(0, pthread_join(closer, NULL));
	self->fd = -1;
	ASSERT_EQ(0, pthread_join(vt, NULL));
	ASSERT_EQ(0, pthread_join(mt, NULL));
	EXPECT_EQ(1, vr.started_in_revoke) TH_LOG("the vmap did not overlap the revoke");
	EXPECT_EQ(-ENODEV, vr.ret);
	EXPECT_EQ(1, mr.started_in_revoke) TH_LOG("the map did not overlap the revoke");
	EXPECT_EQ(-ENODEV, mr.ret);
	EXPECT_EQ(0, importer_status(imp2).mapped);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	close(imp3);
	close(imp2);
	close(dmabuf);
}

/* ---- fences --------------------------------------------------------------- */

/* sw_sync (CONFIG_SW_SYNC): debugfs timelines whose fences tests signal. */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};

#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC		 _IOW('W', 1, __u32)

static int sw_fence(int timeline, const char *name)
{
	struct sw_sync_create_fence_data d = { .value = 1 };

	snprintf(d.name, sizeof(d.name), "%s", name);
	return xioctl(timeline, SW_SYNC_IOC_CREATE_FENCE, &d) ?: d.fence;
}

static int sw_signal(int timeline)
{
	__u32 one = 1;

	return xioctl(timeline, SW_SYNC_IOC_INC, &one);
}

/*
 * Revoke waits for every fence in the reservation before it frees the
 * memory: two fences from distinct contexts, the one added first signalled
 * last.
 */
TEST_F_TIMEOUT(accel, revoke_waits_for_every_fence_of_the_buffer, 60)
{
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	int dmabuf, tl1, tl2, f1, f2;
	struct resetter r;
	uint32_t h;

	tl1 = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (tl1 < 0)
		SKIP(return, "sw_sync missing (CONFIG_SW_SYNC off?): %s", strerror(errno));
	tl2 = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, tl2);

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	f1 = sw_fence(tl1, "first-longer");
	f2 = sw_fence(tl2, "second-shorter");
	ASSERT_LE(0, f1);
	ASSERT_LE(0, f2);
	imp.fd = f1;
	ASSERT_EQ(0, xioctl(dmabuf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp));
	imp.fd = f2;
	ASSERT_EQ(0, xioctl(dmabuf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp));

	ASSERT_EQ(0, start_reset(&r, self->bdf));
	sleep_ms(500);
	EXPECT_EQ(0, reset_done(&r));
	ASSERT_EQ(0, sw_signal(tl2));
	sleep_ms(500);
	EXPECT_EQ(0, reset_done(&r)) TH_LOG("revoke did not wait for the first fence");
	EXPECT_EQ((long long)SZ_1M, read_sysfs_u64(self->bdf, "devmem_used"));
	ASSERT_EQ(0, sw_signal(tl1));
	ASSERT_EQ(0, pthread_join(r.thread, NULL));
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"));
	close(f1);
	close(f2);
	close(tl1);
	close(tl2);
	close(dmabuf);
}

/* ---- DMA mask ------------------------------------------------------------- */

static int edu_dma_mask(int imp, __u32 bits)
{
	return xioctl(imp, P2PI_IOC_DMA_MASK, &bits);
}

/* CPU physical address of the start of BAR2, from sysfs "resource". */
static unsigned long long bar2_start(const char *bdf)
{
	unsigned long long start = 0, end, flags;
	char path[PATH_MAX];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (i = 0; i <= 2; i++)
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			start = 0;
	fclose(f);
	return start;
}

/*
 * An importer whose DMA mask cannot reach device memory is refused at
 * attach (EXDEV), before a mapping could fail or warn. The mask is the
 * widest one that stops short of BAR2 (without an IOMMU, bus and CPU
 * addresses of the BAR are the same here).
 */
TEST_F(accel, importer_whose_dma_mask_cannot_reach_the_buffer_is_exdev)
{
	unsigned long long start = bar2_start(self->bdf);
	__u32 bits;
	int dmabuf;
	uint32_t h;

	NEED_IMPORTER();
	NEED_TOPOLOGY();
	if (p2p_refused())
		SKIP(return, "rootbus: the edu is refused for its route already");
	ASSERT_NE(0, start);
	bits = 63 - __builtin_clzll(start);
	TH_LOG("BAR2 at %#llx: a %u-bit mask cannot reach it", start, bits);

	ASSERT_EQ(0, accel_alloc(self->fd, SZ_1M, 0, &h));
	ASSERT_EQ(0, prime_export(self->fd, h, &dmabuf));
	ASSERT_EQ(0, edu_dma_mask(self->imp, bits));
	EXPECT_EQ(-EXDEV, importer_attach(self->imp, dmabuf, 0, NULL));
	ASSERT_EQ(0, edu_dma_mask(self->imp, 64));
	EXPECT_EQ(0, importer_attach(self->imp, dmabuf, 0, NULL));
	EXPECT_EQ(0, xioctl(self->imp, P2PI_IOC_DETACH, NULL));
	EXPECT_EQ(-EINVAL, edu_dma_mask(self->imp, 16));
	close(dmabuf);
}

TEST_HARNESS_MAIN
