// SPDX-License-Identifier: GPL-2.0
/*
 * Stress tests of the p2p_accel exporter: what a hostile or unlucky
 * userspace does to it, many times over, on the debug kernel (KASAN,
 * lockdep, kmemleak, DMA_API_DEBUG, UBSAN; the harness fails the run on
 * any splat in the guest log).
 *
 *  - randomized ioctls, valid and invalid, against a model of what the
 *    driver must answer and how much device memory it must hold;
 *  - the owner SIGKILLed mid-transfer (CPU writes, and edu DMA through the
 *    test importer behind the PCIe switch);
 *  - a dma-buf FD that outlives its owner (SCM_RIGHTS), fork() with a live
 *    mapping, dup()'d owner FDs;
 *  - unprivileged callers;
 *  - unbind and rebind with a live owner, mappings and importer.
 *
 * Every count is an environment variable (STRESS_IOCTLS, STRESS_KILLS,
 * STRESS_REBINDS, STRESS_SCM_ROUNDS, STRESS_FORKS, STRESS_KILL_MAX_MS);
 * randomness comes from STRESS_SEED, or the clock, and every test prints
 * its seed so that a run can be replayed.
 *
 * Needs p2p_accel.ko (and p2pacc_importer.ko for the importer parts)
 * loaded, root, and TOPOLOGY (switch|rootbus) in the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <drm/drm.h>
#include <drm/p2p_accel.h>
#include "accel_test.h"
#include "p2pacc_importer.h"
#include "importer_test.h"

#include "kselftest_harness.h"

#define DRIVER_DIR	"/sys/bus/pci/drivers/" ACCEL_DRIVER
#define IMPORTER	"/dev/p2pacc_importer"
#define PAGE		4096ULL
#define SZ_64K		(64ULL << 10)
#define SZ_1M		(1ULL << 20)
#define NOBODY		65534

/* The required figures; the defaults below are these unless noted. */
#define FULL_IOCTLS	10000
#define FULL_KILLS	100
#define FULL_REBINDS	50

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- configuration and randomness ----------------------------------- */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end)
		return def;
	return v;
}

/* splitmix64: small, fast, and the same sequence for the same seed. */
struct rng {
	uint64_t s;
};

static uint64_t rnd64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t rnd(struct rng *r, uint64_t n)
{
	return n ? rnd64(r) % n : 0;
}

static int chance(struct rng *r, unsigned int percent)
{
	return rnd(r, 100) < percent;
}

/* STRESS_SEED, or a fresh one; printed by the caller for replay. */
static uint64_t stress_seed(void)
{
	const char *s = getenv("STRESS_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
}

#define SEED_LOG(seed) \
	TH_LOG("seed %llu (replay: STRESS_SEED=%llu)", \
	       (unsigned long long)(seed), (unsigned long long)(seed))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- small helpers ---------------------------------------------------- */

static long long devmem_used(const char *bdf)
{
	return read_sysfs_u64(bdf, "devmem_used");
}

static int query(int fd, struct drm_p2pacc_query *q)
{
	memset(q, 0, sizeof(*q));
	return xioctl(fd, DRM_IOCTL_P2PACC_QUERY, q);
}

/* mmap() that gives the pointer, or NULL with errno. */
static uint8_t *map_fd(int fd, uint64_t len, int prot, int flags, uint64_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static int dmabuf_sync(int dmabuf, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return xioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &s);
}

static int importer_attach(int imp, int dmabuf, uint32_t mode)
{
	struct p2pi_attach a = { .fd = dmabuf, .mode = mode };

	return xioctl(imp, P2PI_IOC_ATTACH, &a);
}

static int importer_dma(int imp, uint64_t off, uint32_t len, uint32_t dir,
			uint32_t edu_off)
{
	struct p2pi_dma d = {
		.offset = off, .len = len, .dir = dir, .edu_offset = edu_off,
	};

	return xioctl(imp, P2PI_IOC_DMA, &d);
}

static int driver_unbind(const char *bdf)
{
	return write_file(DRIVER_DIR "/unbind", bdf);
}

static int driver_bind(const char *bdf)
{
	return write_file(DRIVER_DIR "/bind", bdf);
}

/* Full writes and reads on a pipe or socket; 0 or -errno. */
static int put_bytes(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int get_bytes(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

/* One byte of payload and (if @fd >= 0) one file descriptor. */
static int send_fd(int sock, int fd, uint8_t byte)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

/* The FD (or -1) and the payload byte in *@byte; -errno on failure. */
static int recv_fd(int sock, uint8_t *byte)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n != 1)
		return n < 0 ? -errno : -EPIPE;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* ---- the fixture: the device, not opened ------------------------------ */

FIXTURE(stress) {
	char node[64];
	char bdf[32];
	uint64_t mem_size;
	int have_importer;
};

FIXTURE_SETUP(stress)
{
	long long size;

	if (find_accel(self->node, sizeof(self->node), self->bdf,
		       sizeof(self->bdf)))
		SKIP(return, "no device bound to p2p_accel (module not loaded?)");
	size = read_sysfs_u64(self->bdf, "devmem_size");
	ASSERT_LT(0, size);
	self->mem_size = size;
	ASSERT_EQ(0, devmem_used(self->bdf))
		TH_LOG("device memory still held when the test starts");
	self->have_importer = access(IMPORTER, F_OK) == 0;
}

FIXTURE_TEARDOWN(stress)
{
	/* A failed rebind test must not leave the device unbound. */
	if (self->bdf[0] && !driver_bound(self->bdf))
		driver_bind(self->bdf);
}

/* Behind the switch the edu may attach; on rootbus the exporter refuses it. */
static int importer_usable(FIXTURE_DATA(stress) *self)
{
	return self->have_importer && p2p_allowed();
}

/* ======================================================================
 * 5. Unprivileged callers
 * ====================================================================== */

struct unpriv_result {
	int setid;		/* 0, or the errno of dropping privileges */
	int open_rdwr;		/* 0 or errno of each attempt below */
	int open_rdonly;
	int open_importer;
	int debugfs_reset;
	int pci_reset;
	int unbind;
	int size_err;
	long long devmem_size;
	int used_err;
	long long devmem_used;
};

/* 0, or the errno of opening (or of writing "1" to) @path. */
static int try_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return errno;
	if (write(fd, "1", 1) != 1)
		ret = errno;
	close(fd);
	return ret;
}

static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void unpriv_child(const char *node, const char *bdf, int out)
{
	struct unpriv_result r = { 0 };
	char path[PATH_MAX];
	long long v;

	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		r.setid = errno;
	if (!r.setid) {
		r.open_rdwr = try_open(node, O_RDWR);
		r.open_rdonly = try_open(node, O_RDONLY);
		r.open_importer = try_open(IMPORTER, O_RDWR);
		snprintf(path, sizeof(path), "/sys/kernel/debug/accel/%s/reset", bdf);
		r.debugfs_reset = try_write(path);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf);
		r.pci_reset = try_write(path);
		r.unbind = try_write(DRIVER_DIR "/unbind");
		v = read_sysfs_u64(bdf, "devmem_size");
		r.size_err = v < 0 ? (int)-v : 0;
		r.devmem_size = v;
		v = read_sysfs_u64(bdf, "devmem_used");
		r.used_err = v < 0 ? (int)-v : 0;
		r.devmem_used = v;
	}
	_exit(put_bytes(out, &r, sizeof(r)) ? 1 : 0);
}

static const char *err_name(int e)
{
	return e ? strerror(e) : "success";
}

TEST_F(stress, unprivileged_caller_cannot_open_reset_or_unbind)
{
	struct unpriv_result r;
	char path[PATH_MAX];
	int p[2], status, has_pci_reset;
	pid_t pid;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", self->bdf);
	has_pci_reset = access(path, F_OK) == 0;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(p[0]);
		unpriv_child(self->node, self->bdf, p[1]);
	}
	close(p[1]);
	ASSERT_EQ(0, get_bytes(p[0], &r, sizeof(r)));
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, r.setid) TH_LOG("dropping to uid %d: %s", NOBODY, strerror(r.setid));

	TH_LOG("uid %d: open(%s, O_RDWR): %s", NOBODY, self->node, err_name(r.open_rdwr));
	TH_LOG("uid %d: open(%s, O_RDONLY): %s", NOBODY, self->node, err_name(r.open_rdonly));
	TH_LOG("uid %d: open(%s): %s", NOBODY, IMPORTER, err_name(r.open_importer));
	TH_LOG("uid %d: write debugfs accel/%s/reset: %s", NOBODY, self->bdf,
	       err_name(r.debugfs_reset));
	TH_LOG("uid %d: write %s: %s%s", NOBODY, path, err_name(r.pci_reset),
	       has_pci_reset ? "" : " (no reset method on this topology)");
	TH_LOG("uid %d: write %s/unbind: %s", NOBODY, DRIVER_DIR, err_name(r.unbind));
	TH_LOG("uid %d: read devmem_size: %s, %lld", NOBODY, err_name(r.size_err),
	       r.devmem_size);
	TH_LOG("uid %d: read devmem_used: %s, %lld", NOBODY, err_name(r.used_err),
	       r.devmem_used);

	EXPECT_EQ(EACCES, r.open_rdwr);
	EXPECT_EQ(EACCES, r.open_rdonly);
	if (self->have_importer)
		EXPECT_EQ(EACCES, r.open_importer);
	EXPECT_TRUE(r.debugfs_reset == EACCES || r.debugfs_reset == EPERM);
	if (has_pci_reset) {
		EXPECT_TRUE(r.pci_reset == EACCES || r.pci_reset == EPERM);
	} else {
		EXPECT_EQ(ENOENT, r.pci_reset);
	}
	EXPECT_TRUE(r.unbind == EACCES || r.unbind == EPERM);
	EXPECT_EQ(0, r.size_err);
	EXPECT_EQ((long long)self->mem_size, r.devmem_size);
	EXPECT_EQ(0, r.used_err);
	EXPECT_EQ(0, r.devmem_used);

	/* Nothing of that reached the device: root still owns it freely. */
	EXPECT_TRUE(driver_bound(self->bdf));
	EXPECT_EQ(0, try_open(self->node, O_RDWR));
}

/* ======================================================================
 * 4. dup()'d owner FDs, fork() with live mappings
 * ====================================================================== */

TEST_F(stress, dup_and_mmap_keep_the_device_owned_until_the_last_reference)
{
	const uint64_t size = 4 * SZ_64K;
	struct drm_p2pacc_query q;
	int fd, fd2, fd3, dmabuf, rounds = 0;
	uint32_t h, h2;
	uint8_t *p, *d;

	/* dup() and F_DUPFD_CLOEXEC: one file, one owner. */
	fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	fd2 = dup(fd);
	fd3 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	ASSERT_LE(0, fd2);
	ASSERT_LE(100, fd3);
	ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
	ASSERT_EQ(0, prime_export(fd2, h, &dmabuf));
	d = map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	ASSERT_NE(NULL, d);
	fill(d, size, 41);

	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(-1, open(self->node, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ((long long)size, devmem_used(self->bdf));
	EXPECT_EQ(0, faults(d, 0));
	EXPECT_EQ(-1, check_fill(d, size, 41));
	/* The handle table is the file's: the dups see the same buffers. */
	EXPECT_EQ(0, query(fd3, &q));
	EXPECT_EQ(self->mem_size - size, q.mem_free);
	EXPECT_EQ(0, accel_alloc(fd3, PAGE, 0, &h2));
	rounds++;

	ASSERT_EQ(0, close(fd2));
	EXPECT_EQ(-1, open(self->node, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ((long long)(size + PAGE), devmem_used(self->bdf));
	EXPECT_EQ(0, faults(d + size - 1, 1));
	rounds++;

	/* The last dup: revoked, freed, and the device is free. */
	ASSERT_EQ(0, close(fd3));
	EXPECT_EQ(0, devmem_used(self->bdf));
	EXPECT_EQ(1, faults(d, 0));
	EXPECT_EQ(1, faults(d + size - 1, 1));
	munmap(d, size);
	close(dmabuf);
	fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open after the last dup closed: %s", strerror(errno));

	/*
	 * A mapping of the device node holds the file too: the owner is
	 * the file, not the descriptor.
	 */
	ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
	p = map_gem(fd, h, size);
	ASSERT_NE(NULL, p);
	fill(p, size, 42);
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(-1, open(self->node, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, faults(p, 1));
	p[0] = pat(42, 0);
	EXPECT_EQ(-1, check_fill(p, size, 42));
	EXPECT_EQ((long long)size, devmem_used(self->bdf));
	ASSERT_EQ(0, munmap(p, size));
	EXPECT_EQ(0, devmem_used(self->bdf));
	fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open after the last mapping went: %s", strerror(errno));
	close(fd);
	TH_LOG("%d dup closes kept the device owned; the last one and a last munmap freed it",
	       rounds);
}

/* What the forked child saw, reported through a pipe. */
struct fork_report {
	int before_ok;		/* its copies of the mappings showed the data */
	int dmabuf_read_bus;	/* SIGBUS after the revoke: dma-buf mapping */
	int dmabuf_write_bus;
	int node_read_bus;	/* ... and the device-node mapping (variant 1) */
};

static void fork_child(uint8_t *p, uint8_t *q, uint64_t size, unsigned int seed,
		       int keep_node, int in, int out)
{
	struct fork_report r = { 0 };
	uint8_t go;

	r.before_ok = check_fill(q, size, seed) == -1 &&
		      (!keep_node || check_fill(p, size, seed) == -1);
	if (put_bytes(out, &r, sizeof(r)) || get_bytes(in, &go, 1))
		_exit(2);
	r.dmabuf_read_bus = faults(q, 0);
	r.dmabuf_write_bus = faults(q + size - 1, 1);
	if (keep_node)
		r.node_read_bus = faults(p + size / 2, 0);
	_exit(put_bytes(out, &r, sizeof(r)) ? 3 : 0);
}

/*
 * fork() copies the owner's mappings into the child. Variant 0: the
 * child keeps only a dma-buf mapping, and the owner's close revokes it in
 * the child too. Variant 1: the child keeps a device-node mapping, which
 * holds the owner's file: the close revokes nothing, the device stays
 * owned, and a reset (debugfs) is what cuts the child's copies.
 */
TEST_F_TIMEOUT(stress, forked_copies_of_mappings_fault_after_the_revoke, 300)
{
	unsigned long rounds = env_ul("STRESS_FORKS", 6), r;
	struct fork_report rep;
	uint64_t seed = stress_seed();
	struct rng rng = { seed };

	SEED_LOG(seed);
	for (r = 0; r < rounds; r++) {
		const uint64_t size = PAGE * (1 + rnd(&rng, 64));
		int keep_node = r & 1, fd, dmabuf, status, to[2], from[2], bad;
		unsigned int pseed = 50 + r;
		uint8_t *p, *q;
		uint32_t h;
		pid_t pid;

		fd = open(self->node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("round %lu: open: %s", r, strerror(errno));
		ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
		p = map_gem(fd, h, size);
		ASSERT_NE(NULL, p);
		fill(p, size, pseed);
		ASSERT_EQ(0, prime_export(fd, h, &dmabuf));
		q = map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		ASSERT_NE(NULL, q);
		ASSERT_EQ(0, pipe2(to, O_CLOEXEC));
		ASSERT_EQ(0, pipe2(from, O_CLOEXEC));

		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			close(to[1]);
			close(from[0]);
			close(fd);
			close(dmabuf);
			if (!keep_node)
				munmap(p, size);
			fork_child(p, q, size, pseed, keep_node, to[0], from[1]);
		}
		close(to[0]);
		close(from[1]);
		ASSERT_EQ(0, get_bytes(from[0], &rep, sizeof(rep)));
		EXPECT_EQ(1, rep.before_ok) TH_LOG("round %lu: the child's copy did not show the data", r);

		munmap(p, size);
		close(dmabuf);
		ASSERT_EQ(0, close(fd));
		if (!keep_node) {
			/* The owner's close revoked everything. */
			EXPECT_EQ(0, devmem_used(self->bdf));
			fd = open(self->node, O_RDWR | O_CLOEXEC);
			EXPECT_LE(0, fd) TH_LOG("round %lu: open after close: %s", r, strerror(errno));
			if (fd >= 0)
				close(fd);
		} else {
			/* The child's device-node mapping holds the file. */
			EXPECT_EQ((long long)size, devmem_used(self->bdf));
			EXPECT_EQ(-1, open(self->node, O_RDWR | O_CLOEXEC));
			EXPECT_EQ(EBUSY, errno);
			ASSERT_EQ(0, accel_debug_reset(self->bdf));
			EXPECT_EQ(0, devmem_used(self->bdf));
		}
		EXPECT_EQ(1, faults(q, 0));

		ASSERT_EQ(0, put_bytes(to[1], "g", 1));
		ASSERT_EQ(0, get_bytes(from[0], &rep, sizeof(rep)));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		bad = !rep.dmabuf_read_bus || !rep.dmabuf_write_bus ||
		      (keep_node && !rep.node_read_bus);
		EXPECT_EQ(0, bad) TH_LOG("round %lu (variant %d): child's copies: dma-buf read %s, write %s, node read %s",
				      r, keep_node,
				      rep.dmabuf_read_bus ? "SIGBUS" : "went through",
				      rep.dmabuf_write_bus ? "SIGBUS" : "went through",
				      keep_node ? (rep.node_read_bus ? "SIGBUS" : "went through") : "-");
		close(to[1]);
		close(from[0]);
		munmap(q, size);

		/* The child is gone with its mapping: the device is free. */
		fd = open(self->node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("round %lu: open after the child exited: %s", r, strerror(errno));
		close(fd);
		ASSERT_EQ(0, devmem_used(self->bdf));
	}
	TH_LOG("fork rounds (STRESS_FORKS): %lu (%lu revoked by owner close, %lu by reset under a child's device-node mapping)",
	       rounds, (rounds + 1) / 2, rounds / 2);
}

/* ======================================================================
 * 3. A dma-buf FD that outlives its owner (SCM_RIGHTS)
 * ====================================================================== */

/* The owner: allocate, fill, send the dma-buf, wait for the word, exit. */
static void scm_owner(const char *node, uint64_t size, unsigned int seed,
		      int sock)
{
	int fd, dmabuf, ret;
	uint32_t h;
	uint8_t *p, byte;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		send_fd(sock, -1, errno);
		_exit(1);
	}
	ret = accel_alloc(fd, size, 0, &h);
	if (!ret)
		ret = prime_export(fd, h, &dmabuf);
	if (ret) {
		send_fd(sock, -1, -ret);
		_exit(1);
	}
	p = map_gem(fd, h, size);
	if (!p) {
		send_fd(sock, -1, errno);
		_exit(1);
	}
	fill(p, size, seed);
	if (send_fd(sock, dmabuf, 0))
		_exit(1);
	get_bytes(sock, &byte, 1);
	/* Exit with everything open and mapped: the kernel closes it. */
	_exit(0);
}

TEST_F_TIMEOUT(stress, dmabuf_fd_that_outlives_its_owner_never_reaches_the_next_one, 300)
{
	unsigned long rounds = env_ul("STRESS_SCM_ROUNDS", 5), r;
	int imp_used = importer_usable(self), revokes_seen = 0;

	if (!imp_used)
		TH_LOG("no importer attaches on topology '%s': attach is checked on the dead buffer only",
		       topology());
	for (r = 0; r < rounds; r++) {
		/* A size of its own per round, for debugfs to find. */
		const uint64_t size = SZ_64K * (r + 1) + 3 * PAGE;
		uint64_t off1 = 0, off2 = 0;
		int sv[2], dmabuf, status, fd, imp = -1, imp2 = -1;
		unsigned int s1 = 60 + r, s2 = 90 + r;
		struct p2pi_status st;
		uint8_t *q, *p, byte, buf[64];
		uint32_t h;
		pid_t pid;

		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			close(sv[0]);
			scm_owner(self->node, size, s1, sv[1]);
		}
		close(sv[1]);
		byte = 0;
		dmabuf = recv_fd(sv[0], &byte);
		ASSERT_LE(0, dmabuf) TH_LOG("round %lu: no dma-buf from the owner: recvmsg %d, owner's errno %d (%s)",
					   r, dmabuf, byte, strerror(byte));

		/* While the owner lives, the receiver maps and sees its data. */
		ASSERT_EQ(0, accel_debug_offset(self->bdf, size, &off1));
		q = map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		ASSERT_NE(NULL, q) TH_LOG("mmap of the received dma-buf: %s", strerror(errno));
		EXPECT_EQ(-1, check_fill(q, size, s1));
		if (self->have_importer) {
			imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
			imp2 = open(IMPORTER, O_RDWR | O_CLOEXEC);
			ASSERT_LE(0, imp);
			ASSERT_LE(0, imp2);
		}
		if (imp_used) {
			ASSERT_EQ(0, importer_attach(imp, dmabuf, r & 1 ? P2PI_ATTACH_DYNAMIC :
						     P2PI_ATTACH_REVOCABLE));
			ASSERT_EQ(0, importer_dma(imp, 0, 256, P2PI_DMA_TO_EDU, 0));
		}

		/* The owner exits. */
		ASSERT_EQ(0, put_bytes(sv[0], "x", 1));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(sv[0]);

		EXPECT_EQ(0, devmem_used(self->bdf));
		EXPECT_LE(0, fcntl(dmabuf, F_GETFD));
		EXPECT_EQ(1, faults(q, 0));
		EXPECT_EQ(1, faults(q + size - 1, 1));
		EXPECT_EQ(NULL, map_fd(dmabuf, PAGE, PROT_READ, MAP_SHARED, 0));
		EXPECT_EQ(ENODEV, errno);
		EXPECT_EQ(-ENODEV, dmabuf_sync(dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW));
		if (imp_used) {
			st = importer_status(imp);
			EXPECT_EQ(1, st.revoke_calls);
			EXPECT_EQ(0, st.mapped);
			EXPECT_EQ(-ENODEV, importer_dma(imp, 0, 256, P2PI_DMA_FROM_EDU, 0));
			revokes_seen += st.revoke_calls;
		}
		if (imp2 >= 0) {
			/* Refused as dead before the route is looked at. */
			EXPECT_EQ(-ENODEV, importer_attach(imp2, dmabuf, P2PI_ATTACH_REVOCABLE));
			EXPECT_EQ(-ENODEV, importer_rw(imp2, dmabuf, 0, buf, sizeof(buf), 0));
		}

		/* A new owner gets the same range, zeroed, and writes to it. */
		fd = open(self->node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("round %lu: new owner: %s", r, strerror(errno));
		ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
		ASSERT_EQ(0, accel_debug_offset(self->bdf, size, &off2));
		EXPECT_EQ(off1, off2) TH_LOG("round %lu: old range 0x%llx, new 0x%llx", r,
					     (unsigned long long)off1, (unsigned long long)off2);
		p = map_gem(fd, h, size);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(-1, check_byte(p, size, 0));
		fill(p, size, s2);

		/* The old FD and mapping reach none of it. */
		EXPECT_EQ(1, faults(q, 0));
		EXPECT_EQ(1, faults(q + PAGE, 1));
		EXPECT_EQ(1, faults(q + size - 1, 1));
		EXPECT_EQ(NULL, map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0));
		EXPECT_EQ(ENODEV, errno);
		EXPECT_EQ(-ENODEV, dmabuf_sync(dmabuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
		if (imp2 >= 0) {
			memset(buf, 0xee, sizeof(buf));
			EXPECT_EQ(-ENODEV, importer_rw(imp2, dmabuf, 0, buf, sizeof(buf), 1));
			EXPECT_EQ(-ENODEV, importer_rw(imp2, dmabuf, PAGE, buf, sizeof(buf), 0));
			EXPECT_EQ(-ENODEV, importer_attach(imp2, dmabuf, P2PI_ATTACH_DYNAMIC));
		}
		if (imp_used)
			EXPECT_EQ(-ENODEV, importer_dma(imp, 0, 256, P2PI_DMA_FROM_EDU, 0));
		EXPECT_EQ(-1, check_fill(p, size, s2));

		munmap(p, size);
		munmap(q, size);
		if (imp >= 0) {
			if (imp_used)
				EXPECT_EQ(0, xioctl(imp, P2PI_IOC_DETACH, NULL));
			close(imp);
			close(imp2);
		}
		close(dmabuf);
		close(fd);
		ASSERT_EQ(0, devmem_used(self->bdf));
	}
	TH_LOG("SCM_RIGHTS rounds (STRESS_SCM_ROUNDS): %lu (receiver outlived the owner each time; importer revokes seen: %d)",
	       rounds, revokes_seen);
}

/* ======================================================================
 * 1. Randomized ioctls against a model of the driver
 * ====================================================================== */

enum fz_op {
	/* ioctls */
	FZ_QUERY, FZ_ALLOC, FZ_MMAP_OFFSET, FZ_HANDLE_TO_FD, FZ_GEM_CLOSE,
	FZ_FD_TO_HANDLE, FZ_DMABUF_SYNC, FZ_BAD_NR,
	FZ_N_IOCTLS,
	/* everything else */
	FZ_MMAP_NODE = FZ_N_IOCTLS, FZ_MMAP_DMABUF, FZ_MUNMAP, FZ_TOUCH,
	FZ_CLOSE_DMABUF, FZ_SECOND_OPEN, FZ_RESET, FZ_REOPEN,
	FZ_N_OPS,
};

static const char *const fz_op_name[FZ_N_OPS] = {
	"QUERY", "ALLOC", "MMAP_OFFSET", "PRIME_HANDLE_TO_FD", "GEM_CLOSE",
	"PRIME_FD_TO_HANDLE", "DMA_BUF_IOCTL_SYNC", "unknown ioctl nr",
	"mmap(device node)", "mmap(dma-buf)", "munmap", "touch mapping",
	"close(dma-buf)", "second open", "debugfs reset", "owner close+reopen",
};

/* Result columns: 0, the errnos we accept, SIGBUS (touch), other. */
static const int fz_errnos[] = {
	0, EINVAL, ENOENT, ENOMEM, ENODEV, EBUSY, EFAULT, EACCES,
};
#define FZ_COL_SIGBUS	ARRAY_LEN(fz_errnos)
#define FZ_COL_OTHER	(FZ_COL_SIGBUS + 1)
#define FZ_N_COLS	(FZ_COL_OTHER + 1)
static const char *const fz_col_name[FZ_N_COLS] = {
	"ok", "EINVAL", "ENOENT", "ENOMEM", "ENODEV", "EBUSY", "EFAULT",
	"EACCES", "SIGBUS", "other",
};

#define FZ_BOS		512	/* model slots: buffers the kernel holds */
#define FZ_HANDLES	40	/* at most this many open handles */
#define FZ_FDS		40	/* ... dma-buf FDs */
#define FZ_MAPS		40	/* ... mappings */
#define FZ_SMALL_MAX	(256 * 1024)

struct fz_bo {
	int live;		/* the kernel holds this object */
	int handle_open;	/* the owner file has a handle on it */
	int exported;		/* PRIME: the handle has a cached dma-buf */
	int dmabuf_rdwr;	/* that dma-buf's file is O_RDWR (first export's flags) */
	int revoked;
	uint32_t handle;
	uint64_t size;
	uint64_t offset;	/* fake mmap offset once known, else 0 */
	int fds;		/* dma-buf FDs we hold */
	int maps;		/* mappings (device node or dma-buf) */
};

struct fz_fd {
	int fd;
	int bo;
	int rdwr;
};

struct fz_map {
	uint8_t *p;
	uint64_t len;
	int bo;
	int node;		/* of the device node (holds the owner file) */
	int writable;
};

struct fz {
	struct __test_metadata *md;
	struct rng rng;
	const char *node, *bdf;
	uint64_t mem_size;
	int fd;			/* the owner file, or -1 */
	int file_maps;		/* device-node mappings of the owner file */
	struct fz_bo bo[FZ_BOS];
	struct fz_fd fds[FZ_FDS];
	int nfds;
	struct fz_map maps[FZ_MAPS];
	int nmaps;
	uint8_t *none;		/* 2 pages: PROT_READ|PROT_WRITE, then PROT_NONE */
	uint8_t *ro;		/* 1 zeroed PROT_READ page */
	unsigned long counts[FZ_N_OPS][FZ_N_COLS];
	unsigned long ops, ioctls, checks, mismatches, undocumented;
	unsigned long zero_checks;
	char what[200];
};

static int fz_col(int err)
{
	for (unsigned int i = 0; i < ARRAY_LEN(fz_errnos); i++)
		if (fz_errnos[i] == err)
			return i;
	return FZ_COL_OTHER;
}

/* Which errnos each op may ever give (besides 0). */
static int fz_documented(int op, int err)
{
	switch (err) {
	case 0: case EINVAL: case ENOENT: case ENOMEM: case ENODEV:
	case EBUSY: case EFAULT:
		return 1;
	case EACCES:	/* DRM core: mmap of an offset the file has no handle on */
		return op == FZ_MMAP_NODE || op == FZ_MMAP_DMABUF;
	default:
		return 0;
	}
}

#define fz_log(z, fmt, ...) do {						\
	struct __test_metadata *_metadata = (z)->md;				\
	TH_LOG("op %lu (%s): " fmt, (z)->ops, (z)->what, ##__VA_ARGS__);	\
} while (0)

/*
 * Count the result of @op and check it: documented, and the one the model
 * predicts (@want, or @want2 when that is not -1). Errnos are positive.
 */
static int fz_result(struct fz *z, int op, int got, int want, int want2)
{
	z->counts[op][op == FZ_TOUCH && got ? FZ_COL_SIGBUS : fz_col(got)]++;
	if (op < FZ_N_IOCTLS)
		z->ioctls++;
	if (op != FZ_TOUCH && !fz_documented(op, got)) {
		z->undocumented++;
		fz_log(z, "undocumented result %d (%s)", got, strerror(got));
	}
	if (got != want && got != want2) {
		z->mismatches++;
		if (z->mismatches <= 20)
			fz_log(z, "got %s, the model expects %s%s%s",
			       op == FZ_TOUCH ? (got ? "SIGBUS" : "no fault") : err_name(got),
			       op == FZ_TOUCH ? (want ? "SIGBUS" : "no fault") : err_name(want),
			       want2 >= 0 ? " or " : "", want2 >= 0 ? err_name(want2) : "");
		return 0;
	}
	return 1;
}

static void fz_what(struct fz *z, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(z->what, sizeof(z->what), fmt, ap);
	va_end(ap);
}

/* ---- the model ---- */

static uint64_t fz_model_used(struct fz *z)
{
	uint64_t used = 0;

	for (int i = 0; i < FZ_BOS; i++)
		if (z->bo[i].live && !z->bo[i].revoked)
			used += z->bo[i].size;
	return used;
}

static void fz_maybe_free(struct fz *z, int b)
{
	struct fz_bo *bo = &z->bo[b];

	if (bo->live && !bo->handle_open && !bo->fds && !bo->maps)
		memset(bo, 0, sizeof(*bo));
}

static int fz_count_handles(struct fz *z)
{
	int n = 0;

	for (int i = 0; i < FZ_BOS; i++)
		n += z->bo[i].live && z->bo[i].handle_open;
	return n;
}

/* A random buffer matching @pred, or -1. */
static int fz_pick_bo(struct fz *z, int (*pred)(struct fz_bo *))
{
	int cand[FZ_BOS], n = 0;

	for (int i = 0; i < FZ_BOS; i++)
		if (z->bo[i].live && pred(&z->bo[i]))
			cand[n++] = i;
	return n ? cand[rnd(&z->rng, n)] : -1;
}

static int bo_has_handle(struct fz_bo *bo) { return bo->handle_open; }
static int bo_handle_known_offset(struct fz_bo *bo) { return bo->handle_open && bo->offset; }
static int bo_no_handle_known_offset(struct fz_bo *bo) { return !bo->handle_open && bo->offset; }

static int fz_handle_is_open(struct fz *z, uint32_t h)
{
	for (int i = 0; i < FZ_BOS; i++)
		if (z->bo[i].live && z->bo[i].handle_open && z->bo[i].handle == h)
			return 1;
	return 0;
}

/* A handle the owner file does not have. */
static uint32_t fz_unknown_handle(struct fz *z)
{
	uint32_t h;

	do {
		switch (rnd(&z->rng, 4)) {
		case 0: h = 0; break;
		case 1: h = 1 + rnd(&z->rng, 64); break;
		case 2: h = UINT32_MAX - rnd(&z->rng, 4); break;
		default: h = (uint32_t)rnd64(&z->rng); break;
		}
	} while (fz_handle_is_open(z, h));
	return h;
}

/* The owner file is gone: handles closed, every live buffer revoked. */
static void fz_file_released(struct fz *z)
{
	for (int i = 0; i < FZ_BOS; i++) {
		struct fz_bo *bo = &z->bo[i];

		if (!bo->live)
			continue;
		bo->handle_open = 0;
		bo->exported = 0;
		bo->revoked = 1;
		fz_maybe_free(z, i);
	}
	z->file_maps = 0;
}

/*
 * A pointer the kernel cannot copy the argument from: no side effect can
 * happen before the EFAULT.
 */
static void *fz_bad_in_ptr(struct fz *z, size_t argsize)
{
	switch (rnd(&z->rng, 4)) {
	case 0: return NULL;
	case 1: return z->none + PAGE;				/* PROT_NONE */
	case 2: return z->none + PAGE - argsize / 2;		/* straddles it */
	default: return (void *)0xffff888000000000ULL;		/* kernel address */
	}
}

/* ... or one it can read but not write back to (ops without side effects). */
static void *fz_bad_ptr(struct fz *z, size_t argsize)
{
	return chance(&z->rng, 25) ? (void *)z->ro : fz_bad_in_ptr(z, argsize);
}

/* ---- ops ---- */

static void fz_query(struct fz *z)
{
	struct drm_p2pacc_query q = { 0 };
	int v = rnd(&z->rng, 10), want = 0, ret;
	void *arg = &q;

	if (v < 5) {
		fz_what(z, "QUERY");
	} else if (v < 7) {
		/* Outputs are ignored on input. */
		q.mem_size = rnd64(&z->rng);
		q.caps = rnd64(&z->rng);
		fz_what(z, "QUERY with garbage in the output fields");
	} else if (v < 9) {
		if (chance(&z->rng, 50))
			q.flags = 1 + rnd(&z->rng, UINT32_MAX);
		else
			q.pad = 1 + rnd(&z->rng, UINT32_MAX);
		fz_what(z, "QUERY flags 0x%x pad 0x%x", q.flags, q.pad);
		want = EINVAL;
	} else {
		arg = fz_bad_ptr(z, sizeof(q));
		fz_what(z, "QUERY at %p", arg);
		want = EFAULT;
	}
	ret = -xioctl(z->fd, DRM_IOCTL_P2PACC_QUERY, arg);
	if (fz_result(z, FZ_QUERY, ret, want, -1) && !ret && arg == &q) {
		if (q.mem_size != z->mem_size || q.alignment != PAGE) {
			z->mismatches++;
			fz_log(z, "mem_size %llu alignment %llu",
			       (unsigned long long)q.mem_size,
			       (unsigned long long)q.alignment);
		}
	}
}

/* The kernel's argument check, as the ABI documents it. */
static int fz_alloc_args_valid(struct fz *z, const struct drm_p2pacc_alloc *a)
{
	if (a->flags || !a->size || a->size > z->mem_size)
		return 0;
	if (a->alignment && ((a->alignment & (a->alignment - 1)) ||
			     a->alignment < PAGE || a->alignment > z->mem_size))
		return 0;
	return 1;
}

static void fz_gem_close_some(struct fz *z);

/* A new buffer reads as zero (checked on some of them). */
static void fz_check_zeroed(struct fz *z, uint32_t handle, uint64_t size)
{
	uint64_t off, len = size <= SZ_64K ? size : PAGE;
	uint8_t *p;

	if (mmap_offset(z->fd, handle, &off))
		return;
	p = map_fd(z->fd, size, PROT_READ, MAP_SHARED, off);
	if (!p) {
		z->mismatches++;
		fz_log(z, "mmap of the new buffer: %s", strerror(errno));
		return;
	}
	z->zero_checks++;
	if (check_byte(p, len, 0) != -1 || check_byte(p + size - len, len, 0) != -1) {
		z->mismatches++;
		fz_log(z, "new buffer of %llu bytes is not zeroed",
		       (unsigned long long)size);
	}
	munmap(p, size);
}

static void fz_alloc(struct fz *z)
{
	struct drm_p2pacc_alloc a = { 0 };
	int v = rnd(&z->rng, 20), want, want2 = -1, ret, slot;
	uint64_t used = fz_model_used(z), req;
	void *arg = &a;

	if (fz_count_handles(z) >= FZ_HANDLES) {
		fz_gem_close_some(z);
		return;
	}
	a.handle = (uint32_t)rnd64(&z->rng);	/* an output: ignored */
	if (v < 10) {
		/* valid: small, any alignment up to 1 MiB */
		a.size = 1 + rnd(&z->rng, chance(&z->rng, 70) ? 4 * PAGE : FZ_SMALL_MAX);
		if (chance(&z->rng, 50))
			a.alignment = PAGE << rnd(&z->rng, 9);
		fz_what(z, "ALLOC size %llu alignment %llu",
			(unsigned long long)a.size, (unsigned long long)a.alignment);
	} else if (v < 12) {
		/* valid, and cheap to refuse: the whole memory, or its alignment */
		if (used && chance(&z->rng, 50)) {
			a.size = z->mem_size;
		} else {
			a.size = 1 + rnd(&z->rng, 4 * PAGE);
			a.alignment = z->mem_size;
		}
		fz_what(z, "ALLOC size %llu alignment %llu (with %llu used)",
			(unsigned long long)a.size, (unsigned long long)a.alignment,
			(unsigned long long)used);
	} else if (v < 19) {
		/* garbage: at least one field is wrong */
		a.size = 1 + rnd(&z->rng, 4 * PAGE);
		if (chance(&z->rng, 30))
			a.alignment = PAGE << rnd(&z->rng, 9);
		do {
			switch (rnd(&z->rng, 11)) {
			case 0: a.size = 0; break;
			case 1: a.size = z->mem_size + 1 + rnd(&z->rng, SZ_1M); break;
			case 2: a.size = UINT64_MAX - rnd(&z->rng, PAGE); break;
			case 3: a.size = rnd64(&z->rng) | (1ULL << 40); break;
			case 4: a.alignment = (PAGE << rnd(&z->rng, 8)) + 1 + rnd(&z->rng, PAGE - 1); break;
			case 5: a.alignment = 1ULL << rnd(&z->rng, 12); break;
			case 6: a.alignment = z->mem_size << (1 + rnd(&z->rng, 8)); break;
			case 7: a.alignment = 1ULL << 63; break;
			case 8: a.alignment = rnd64(&z->rng); break;
			case 9: a.flags = 1U << rnd(&z->rng, 32); break;
			default: a.flags = (uint32_t)rnd64(&z->rng) | 1; break;
			}
		} while (fz_alloc_args_valid(z, &a));
		fz_what(z, "ALLOC size 0x%llx alignment 0x%llx flags 0x%x",
			(unsigned long long)a.size, (unsigned long long)a.alignment,
			a.flags);
	} else {
		arg = fz_bad_in_ptr(z, sizeof(a));
		fz_what(z, "ALLOC at %p", arg);
	}

	req = a.size;
	if (arg != &a) {
		want = EFAULT;
	} else if (!fz_alloc_args_valid(z, &a)) {
		want = EINVAL;
	} else if (a.size == z->mem_size && used) {
		want = ENOMEM;
	} else if (a.alignment == z->mem_size) {
		/* Only offset 0 fits: free only when nothing is held. */
		want = used ? ENOMEM : 0;
		want2 = used ? 0 : -1;
	} else {
		want = 0;
		/* Fragmentation could refuse a big aligned request. */
		if (used + 2 * (a.size + a.alignment) > z->mem_size / 2)
			want2 = ENOMEM;
	}
	ret = -xioctl(z->fd, DRM_IOCTL_P2PACC_ALLOC, arg);
	fz_result(z, FZ_ALLOC, ret, want, want2);
	if (ret || arg != &a)
		return;

	if (a.size != ((req + PAGE - 1) & ~(PAGE - 1))) {
		z->mismatches++;
		fz_log(z, "allocated %llu bytes for %llu", (unsigned long long)a.size,
		       (unsigned long long)req);
	}
	if (fz_handle_is_open(z, a.handle)) {
		z->mismatches++;
		fz_log(z, "handle %u given twice", a.handle);
	}
	for (slot = 0; slot < FZ_BOS && z->bo[slot].live; slot++)
		;
	if (slot == FZ_BOS) {
		/* More objects alive than the model holds: drop this one. */
		gem_close(z->fd, a.handle);
		return;
	}
	z->bo[slot] = (struct fz_bo){
		.live = 1, .handle_open = 1, .handle = a.handle, .size = a.size,
	};
	if (chance(&z->rng, 10))
		fz_check_zeroed(z, a.handle, a.size);
}

static void fz_mmap_offset(struct fz *z)
{
	struct drm_p2pacc_mmap_offset m = { 0 };
	int v = rnd(&z->rng, 20), b = fz_pick_bo(z, bo_has_handle), want, ret;
	void *arg = &m;

	m.offset = rnd64(&z->rng);	/* an output: ignored */
	if (v < 12 && b >= 0) {
		m.handle = z->bo[b].handle;
		want = z->bo[b].revoked ? ENODEV : 0;
		fz_what(z, "MMAP_OFFSET handle %u%s", m.handle,
			z->bo[b].revoked ? " (revoked)" : "");
	} else if (v < 15) {
		m.handle = b >= 0 && chance(&z->rng, 50) ? z->bo[b].handle :
			   fz_unknown_handle(z);
		m.flags = 1 + rnd(&z->rng, UINT32_MAX);
		want = EINVAL;
		fz_what(z, "MMAP_OFFSET handle %u flags 0x%x", m.handle, m.flags);
		b = -1;
	} else if (v < 18) {
		m.handle = fz_unknown_handle(z);
		want = ENOENT;
		fz_what(z, "MMAP_OFFSET unknown handle %u", m.handle);
		b = -1;
	} else {
		arg = fz_bad_ptr(z, sizeof(m));
		want = EFAULT;
		fz_what(z, "MMAP_OFFSET at %p", arg);
		b = -1;
	}
	ret = -xioctl(z->fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, arg);
	if (!fz_result(z, FZ_MMAP_OFFSET, ret, want, -1) || ret || b < 0)
		return;
	if (m.offset < 0x100000000ULL || (m.offset & (PAGE - 1)) ||
	    (z->bo[b].offset && z->bo[b].offset != m.offset)) {
		z->mismatches++;
		fz_log(z, "offset 0x%llx (known 0x%llx)", (unsigned long long)m.offset,
		       (unsigned long long)z->bo[b].offset);
	}
	z->bo[b].offset = m.offset;
}

static void fz_close_fd_at(struct fz *z, int i)
{
	int b = z->fds[i].bo;

	close(z->fds[i].fd);
	z->fds[i] = z->fds[--z->nfds];
	z->bo[b].fds--;
	fz_maybe_free(z, b);
}

static void fz_handle_to_fd(struct fz *z)
{
	struct drm_prime_handle ph = { 0 };
	int v = rnd(&z->rng, 20), b = fz_pick_bo(z, bo_has_handle), want, ret;
	void *arg = &ph;

	ph.fd = (int)rnd64(&z->rng);	/* an output: ignored */
	ph.flags = (chance(&z->rng, 80) ? DRM_CLOEXEC : 0) |
		   (chance(&z->rng, 75) ? DRM_RDWR : 0);
	if (v < 12 && b >= 0) {
		ph.handle = z->bo[b].handle;
		/* A revoked buffer exports only the dma-buf it already had. */
		want = z->bo[b].revoked && !z->bo[b].exported ? ENODEV : 0;
		fz_what(z, "PRIME_HANDLE_TO_FD handle %u flags 0x%x%s%s", ph.handle,
			ph.flags, z->bo[b].revoked ? " (revoked)" : "",
			z->bo[b].exported ? " (exported before)" : "");
	} else if (v < 15) {
		ph.handle = b >= 0 ? z->bo[b].handle : fz_unknown_handle(z);
		do
			ph.flags = (uint32_t)rnd64(&z->rng) >> rnd(&z->rng, 32);
		while (!(ph.flags & ~(DRM_CLOEXEC | DRM_RDWR)));
		want = EINVAL;
		fz_what(z, "PRIME_HANDLE_TO_FD handle %u flags 0x%x", ph.handle, ph.flags);
		b = -1;
	} else if (v < 18) {
		ph.handle = fz_unknown_handle(z);
		want = ENOENT;
		fz_what(z, "PRIME_HANDLE_TO_FD unknown handle %u", ph.handle);
		b = -1;
	} else {
		arg = fz_bad_in_ptr(z, sizeof(ph));
		want = EFAULT;
		fz_what(z, "PRIME_HANDLE_TO_FD at %p", arg);
		b = -1;
	}
	ret = -xioctl(z->fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, arg);
	fz_result(z, FZ_HANDLE_TO_FD, ret, want, -1);
	if (ret || arg != &ph)
		return;
	if (b < 0) {
		/* Not expected to succeed; the FD is not tracked. */
		close(ph.fd);
		return;
	}
	if (z->nfds == FZ_FDS)
		fz_close_fd_at(z, rnd(&z->rng, z->nfds));
	/* Later exports give FDs of the same dma-buf file, mode and all. */
	if (!z->bo[b].exported)
		z->bo[b].dmabuf_rdwr = !!(ph.flags & DRM_RDWR);
	z->fds[z->nfds++] = (struct fz_fd){
		.fd = ph.fd, .bo = b, .rdwr = z->bo[b].dmabuf_rdwr,
	};
	z->bo[b].fds++;
	z->bo[b].exported = 1;
	/* The kernel's fd keeps CLOEXEC only if asked. */
	if (!(ph.flags & DRM_CLOEXEC))
		fcntl(ph.fd, F_SETFD, FD_CLOEXEC);
}

static void fz_gem_close_bo(struct fz *z, int b, int op)
{
	int ret;

	fz_what(z, "GEM_CLOSE handle %u%s", z->bo[b].handle,
		z->bo[b].revoked ? " (revoked)" : "");
	ret = -gem_close(z->fd, z->bo[b].handle);
	fz_result(z, op, ret, 0, -1);
	if (ret)
		return;
	z->bo[b].handle_open = 0;
	z->bo[b].exported = 0;
	fz_maybe_free(z, b);
}

static void fz_gem_close_some(struct fz *z)
{
	int b = fz_pick_bo(z, bo_has_handle);

	if (b >= 0)
		fz_gem_close_bo(z, b, FZ_GEM_CLOSE);
}

static void fz_gem_close(struct fz *z)
{
	int v = rnd(&z->rng, 20), b = fz_pick_bo(z, bo_has_handle), ret;
	struct drm_gem_close c = { 0 };

	if (v < 13 && b >= 0) {
		fz_gem_close_bo(z, b, FZ_GEM_CLOSE);
		return;
	}
	if (v < 17) {
		c.handle = fz_unknown_handle(z);
		fz_what(z, "GEM_CLOSE unknown handle %u", c.handle);
		ret = -xioctl(z->fd, DRM_IOCTL_GEM_CLOSE, &c);
		fz_result(z, FZ_GEM_CLOSE, ret, EINVAL, -1);
	} else {
		void *arg = fz_bad_in_ptr(z, sizeof(c));

		fz_what(z, "GEM_CLOSE at %p", arg);
		ret = -xioctl(z->fd, DRM_IOCTL_GEM_CLOSE, arg);
		fz_result(z, FZ_GEM_CLOSE, ret, EFAULT, -1);
	}
}

static void fz_fd_to_handle(struct fz *z)
{
	struct drm_prime_handle ph = { 0 };
	int i = z->nfds ? (int)rnd(&z->rng, z->nfds) : -1, want, ret;
	struct fz_bo *bo = NULL;
	void *arg = &ph;

	if (chance(&z->rng, 10)) {
		arg = fz_bad_in_ptr(z, sizeof(ph));
		want = EFAULT;
		fz_what(z, "PRIME_FD_TO_HANDLE at %p", arg);
	} else if (i < 0 || chance(&z->rng, 15)) {
		/* Not a dma-buf at all. */
		ph.fd = z->fd;
		want = EINVAL;
		fz_what(z, "PRIME_FD_TO_HANDLE of the device node's own fd");
	} else {
		bo = &z->bo[z->fds[i].bo];
		ph.fd = z->fds[i].fd;
		/*
		 * The owner's own export, while its handle lives, comes back
		 * from PRIME's cache; anything else would be an import, which
		 * the driver does not offer.
		 */
		want = bo->handle_open && bo->exported ? 0 : EINVAL;
		fz_what(z, "PRIME_FD_TO_HANDLE of a dma-buf%s%s",
			bo->handle_open ? " whose handle is open" : " without a handle",
			bo->revoked ? " (revoked)" : "");
	}
	ret = -xioctl(z->fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, arg);
	if (fz_result(z, FZ_FD_TO_HANDLE, ret, want, -1) && !ret && bo &&
	    ph.handle != bo->handle) {
		z->mismatches++;
		fz_log(z, "got handle %u, the buffer's is %u", ph.handle, bo->handle);
	}
	if (!ret && want) {
		/* An unexpected new handle: close it again. */
		gem_close(z->fd, ph.handle);
	}
}

static void fz_dmabuf_sync(struct fz *z)
{
	static const uint64_t dirs[] = {
		DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW,
	};
	struct dma_buf_sync s = { 0 };
	int i, want, ret;
	void *arg = &s;

	if (!z->nfds)
		return;
	i = rnd(&z->rng, z->nfds);
	switch (rnd(&z->rng, 10)) {
	case 0:
		s.flags = rnd64(&z->rng) | (1ULL << (3 + rnd(&z->rng, 61)));
		want = EINVAL;
		break;
	case 1:
		s.flags = chance(&z->rng, 50) ? DMA_BUF_SYNC_END : 0;	/* no direction */
		want = EINVAL;
		break;
	case 2:
		arg = fz_bad_in_ptr(z, sizeof(s));
		want = EFAULT;
		break;
	default:
		s.flags = dirs[rnd(&z->rng, 3)] |
			  (chance(&z->rng, 50) ? DMA_BUF_SYNC_END : DMA_BUF_SYNC_START);
		want = z->bo[z->fds[i].bo].revoked ? ENODEV : 0;
		break;
	}
	fz_what(z, "DMA_BUF_IOCTL_SYNC flags 0x%llx at %p%s",
		(unsigned long long)s.flags, arg,
		z->bo[z->fds[i].bo].revoked ? " (revoked)" : "");
	ret = -xioctl(z->fds[i].fd, DMA_BUF_IOCTL_SYNC, arg);
	fz_result(z, FZ_DMABUF_SYNC, ret, want, -1);
}

static void fz_bad_nr(struct fz *z)
{
	struct drm_p2pacc_query q = { 0 };
	unsigned int nr = DRM_COMMAND_BASE + 3 +
			  rnd(&z->rng, DRM_COMMAND_END - DRM_COMMAND_BASE - 3);
	int ret;

	fz_what(z, "driver ioctl nr 0x%x", nr);
	ret = -xioctl(z->fd, DRM_IOWR(nr, struct drm_p2pacc_query), &q);
	fz_result(z, FZ_BAD_NR, ret, EINVAL, -1);
}

static void fz_add_map(struct fz *z, uint8_t *p, uint64_t len, int b, int node,
		       int writable)
{
	z->maps[z->nmaps++] = (struct fz_map){
		.p = p, .len = len, .bo = b, .node = node, .writable = writable,
	};
	z->bo[b].maps++;
	if (node)
		z->file_maps++;
}

static void fz_munmap_at(struct fz *z, int i)
{
	struct fz_map m = z->maps[i];

	munmap(m.p, m.len);
	z->maps[i] = z->maps[--z->nmaps];
	if (m.node) {
		z->file_maps--;
		/* The owner closed its FD: the last node mapping held the file. */
		if (!z->file_maps && z->fd < 0)
			fz_file_released(z);
	}
	z->bo[m.bo].maps--;
	fz_maybe_free(z, m.bo);
}

static void fz_make_room_for_map(struct fz *z)
{
	if (z->nmaps == FZ_MAPS)
		fz_munmap_at(z, rnd(&z->rng, z->nmaps));
}

/* The buffer's mmap offset, asked for (a counted ioctl) if not known yet. */
static int fz_offset_of(struct fz *z, int b)
{
	struct drm_p2pacc_mmap_offset m = { .handle = z->bo[b].handle };
	int ret;

	if (z->bo[b].offset)
		return 0;
	fz_what(z, "MMAP_OFFSET handle %u, to mmap", m.handle);
	ret = -xioctl(z->fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, &m);
	fz_result(z, FZ_MMAP_OFFSET, ret, z->bo[b].revoked ? ENODEV : 0, -1);
	if (!ret)
		z->bo[b].offset = m.offset;
	return ret;
}

static void fz_mmap_node(struct fz *z)
{
	int v = rnd(&z->rng, 20), b = fz_pick_bo(z, bo_has_handle), want, ret;
	int flags = MAP_SHARED;
	uint64_t off, len, pages;
	uint8_t *p;

	fz_make_room_for_map(z);
	if (b >= 0 && !z->bo[b].offset && fz_offset_of(z, b))
		b = fz_pick_bo(z, bo_handle_known_offset);
	if (v >= 18) {
		int nb = fz_pick_bo(z, bo_no_handle_known_offset);

		if (nb >= 0) {
			/* Alive through a dma-buf, but no handle in this file. */
			off = z->bo[nb].offset;
			len = PAGE;
			want = EACCES;
			fz_what(z, "mmap node offset 0x%llx of a buffer without a handle",
				(unsigned long long)off);
			goto map;
		}
		v = 16;
	}
	if (b < 0 || v >= 16) {
		off = (rnd(&z->rng, 0x100000000ULL) & ~(PAGE - 1));
		len = PAGE * (1 + rnd(&z->rng, 4));
		want = EINVAL;
		fz_what(z, "mmap node garbage offset 0x%llx", (unsigned long long)off);
		goto map;
	}
	pages = z->bo[b].size / PAGE;
	off = z->bo[b].offset;
	len = PAGE * (1 + rnd(&z->rng, pages));
	if (v < 10) {
		want = z->bo[b].revoked ? ENODEV : 0;
	} else if (v < 12) {
		len = z->bo[b].size + PAGE * (1 + rnd(&z->rng, 4));
		want = EINVAL;
	} else if (v < 14 && pages >= 2) {
		/* Into the middle: DRM maps from a buffer's start only. */
		off += PAGE * (1 + rnd(&z->rng, pages - 1));
		len = PAGE;
		want = EINVAL;
	} else {
		flags = MAP_PRIVATE;
		want = EINVAL;
	}
	fz_what(z, "mmap node handle %u +0x%llx len %llu%s%s", z->bo[b].handle,
		(unsigned long long)(off - z->bo[b].offset), (unsigned long long)len,
		flags == MAP_PRIVATE ? " MAP_PRIVATE" : "",
		z->bo[b].revoked ? " (revoked)" : "");
map:
	p = map_fd(z->fd, len, PROT_READ | PROT_WRITE, flags, off);
	ret = p ? 0 : errno;
	fz_result(z, FZ_MMAP_NODE, ret, want, -1);
	if (!p)
		return;
	if (want) {
		munmap(p, len);
		return;
	}
	fz_add_map(z, p, len, b, 1, 1);
}

static void fz_mmap_dmabuf(struct fz *z)
{
	int v = rnd(&z->rng, 20), i, b, want, ret, prot = PROT_READ | PROT_WRITE;
	int flags = MAP_SHARED;
	uint64_t pages, pgoff, len;
	uint8_t *p;

	if (!z->nfds)
		return;
	fz_make_room_for_map(z);
	i = rnd(&z->rng, z->nfds);
	b = z->fds[i].bo;
	pages = z->bo[b].size / PAGE;
	pgoff = rnd(&z->rng, pages);
	len = PAGE * (1 + rnd(&z->rng, pages - pgoff));
	if (!z->fds[i].rdwr && chance(&z->rng, 80))
		prot = PROT_READ;
	if (v < 13) {
		want = prot & PROT_WRITE && !z->fds[i].rdwr ? EACCES :
		       z->bo[b].revoked ? ENODEV : 0;
	} else if (v < 17) {
		len = PAGE * (pages - pgoff + 1 + rnd(&z->rng, 4));
		want = prot & PROT_WRITE && !z->fds[i].rdwr ? EACCES : EINVAL;
	} else {
		flags = MAP_PRIVATE;
		want = EINVAL;
	}
	fz_what(z, "mmap dma-buf%s pgoff %llu len %llu prot %d%s%s",
		z->fds[i].rdwr ? "" : " (read-only fd)", (unsigned long long)pgoff,
		(unsigned long long)len, prot, flags == MAP_PRIVATE ? " MAP_PRIVATE" : "",
		z->bo[b].revoked ? " (revoked)" : "");
	p = map_fd(z->fds[i].fd, len, prot, flags, pgoff * PAGE);
	ret = p ? 0 : errno;
	fz_result(z, FZ_MMAP_DMABUF, ret, want, -1);
	if (!p)
		return;
	if (want) {
		munmap(p, len);
		return;
	}
	fz_add_map(z, p, len, b, 0, !!(prot & PROT_WRITE));
}

static void fz_munmap(struct fz *z)
{
	if (z->nmaps) {
		fz_what(z, "munmap");
		z->counts[FZ_MUNMAP][0]++;
		fz_munmap_at(z, rnd(&z->rng, z->nmaps));
	}
}

static void fz_touch(struct fz *z)
{
	struct fz_map *m;
	uint64_t off;
	int write, got;

	if (!z->nmaps)
		return;
	m = &z->maps[rnd(&z->rng, z->nmaps)];
	off = rnd(&z->rng, m->len);
	write = m->writable && chance(&z->rng, 50);
	fz_what(z, "%s byte %llu of a %s mapping%s", write ? "write" : "read",
		(unsigned long long)off, m->node ? "device-node" : "dma-buf",
		z->bo[m->bo].revoked ? " (revoked)" : "");
	got = faults(m->p + off, write);
	fz_result(z, FZ_TOUCH, got, z->bo[m->bo].revoked, -1);
}

static void fz_close_dmabuf(struct fz *z)
{
	if (z->nfds) {
		fz_what(z, "close dma-buf");
		z->counts[FZ_CLOSE_DMABUF][0]++;
		fz_close_fd_at(z, rnd(&z->rng, z->nfds));
	}
}

static void fz_second_open(struct fz *z)
{
	int fd, ret;

	fz_what(z, "open while owned");
	fd = open(z->node, O_RDWR | O_CLOEXEC);
	ret = fd < 0 ? errno : 0;
	fz_result(z, FZ_SECOND_OPEN, ret, EBUSY, -1);
	if (fd >= 0)
		close(fd);
}

static void fz_reset(struct fz *z)
{
	int ret;

	fz_what(z, "debugfs reset");
	ret = -accel_debug_reset(z->bdf);
	fz_result(z, FZ_RESET, ret, 0, -1);
	for (int i = 0; i < FZ_BOS; i++)
		if (z->bo[i].live)
			z->bo[i].revoked = 1;
}

static void fz_reopen(struct fz *z)
{
	int ret;

	fz_what(z, "owner close with %d device-node mapping(s), reopen", z->file_maps);
	close(z->fd);
	z->fd = -1;
	if (z->file_maps) {
		/* Node mappings hold the file: still owned until they go. */
		int fd = open(z->node, O_RDWR | O_CLOEXEC);

		fz_result(z, FZ_SECOND_OPEN, fd < 0 ? errno : 0, EBUSY, -1);
		if (fd >= 0)
			close(fd);
		for (int i = z->nmaps - 1; i >= 0; i--)
			if (z->maps[i].node)
				fz_munmap_at(z, i);
	} else {
		fz_file_released(z);
	}
	z->fd = open(z->node, O_RDWR | O_CLOEXEC);
	ret = z->fd < 0 ? errno : 0;
	fz_result(z, FZ_REOPEN, ret, 0, -1);
}

/* After every op: the driver's three views of its memory agree with the model. */
static int fz_consistent(struct fz *z)
{
	struct drm_p2pacc_query q;
	long long used = devmem_used(z->bdf);
	uint64_t model = fz_model_used(z);
	int ret;

	z->checks++;
	ret = query(z->fd, &q);
	if (used < 0 || ret || q.mem_free != z->mem_size - used ||
	    (uint64_t)used != model) {
		fz_log(z, "inconsistent: devmem_used %lld, QUERY %d mem_free %llu (mem_size %llu), model %llu",
		       used, ret, (unsigned long long)q.mem_free,
		       (unsigned long long)z->mem_size, (unsigned long long)model);
		return 0;
	}
	return 1;
}

static void fz_print_counts(struct fz *z)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "%-22s %7s", "op", "total");
	for (int c = 0; c < FZ_N_COLS; c++)
		n += snprintf(line + n, sizeof(line) - n, " %7s", fz_col_name[c]);
	ksft_print_msg("%s\n", line);
	for (int op = 0; op < FZ_N_OPS; op++) {
		unsigned long total = 0;

		for (int c = 0; c < FZ_N_COLS; c++)
			total += z->counts[op][c];
		n = snprintf(line, sizeof(line), "%-22s %7lu", fz_op_name[op], total);
		for (int c = 0; c < FZ_N_COLS; c++)
			n += snprintf(line + n, sizeof(line) - n, " %7lu", z->counts[op][c]);
		ksft_print_msg("%s\n", line);
	}
	fflush(stdout);
}

TEST_F_TIMEOUT(stress, random_ioctls_keep_the_driver_consistent, 900)
{
	static const struct { int op; unsigned int weight; } mix[] = {
		{ FZ_QUERY, 8 }, { FZ_ALLOC, 16 }, { FZ_MMAP_OFFSET, 9 },
		{ FZ_HANDLE_TO_FD, 10 }, { FZ_GEM_CLOSE, 10 },
		{ FZ_FD_TO_HANDLE, 4 }, { FZ_DMABUF_SYNC, 5 }, { FZ_BAD_NR, 2 },
		{ FZ_MMAP_NODE, 8 }, { FZ_MMAP_DMABUF, 7 }, { FZ_MUNMAP, 6 },
		{ FZ_TOUCH, 9 }, { FZ_CLOSE_DMABUF, 5 }, { FZ_SECOND_OPEN, 1 },
	};
	unsigned long target = env_ul("STRESS_IOCTLS", FULL_IOCTLS);
	uint64_t seed = stress_seed();
	unsigned int total_weight = 0;
	struct fz *z;
	double t0;
	int consistent = 1, fd;

	SEED_LOG(seed);
	z = calloc(1, sizeof(*z));
	ASSERT_NE(NULL, z);
	z->md = _metadata;
	z->rng.s = seed;
	z->node = self->node;
	z->bdf = self->bdf;
	z->mem_size = self->mem_size;
	z->none = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	z->ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, z->none);
	ASSERT_NE(MAP_FAILED, z->ro);
	ASSERT_EQ(0, mprotect(z->none + PAGE, PAGE, PROT_NONE));
	z->fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, z->fd);
	for (unsigned int i = 0; i < ARRAY_LEN(mix); i++)
		total_weight += mix[i].weight;

	t0 = now_s();
	while (z->ioctls < target && consistent && z->mismatches <= 50) {
		unsigned int w;
		int op = -1;

		z->ops++;
		/* The catastrophes: rare, but some in every run. */
		if (!rnd(&z->rng, 300)) {
			fz_reset(z);
		} else if (!rnd(&z->rng, 300)) {
			fz_reopen(z);
			if (z->fd < 0)
				break;
		} else {
			w = rnd(&z->rng, total_weight);
			for (unsigned int i = 0; i < ARRAY_LEN(mix); i++) {
				if (w < mix[i].weight) {
					op = mix[i].op;
					break;
				}
				w -= mix[i].weight;
			}
			switch (op) {
			case FZ_QUERY: fz_query(z); break;
			case FZ_ALLOC: fz_alloc(z); break;
			case FZ_MMAP_OFFSET: fz_mmap_offset(z); break;
			case FZ_HANDLE_TO_FD: fz_handle_to_fd(z); break;
			case FZ_GEM_CLOSE: fz_gem_close(z); break;
			case FZ_FD_TO_HANDLE: fz_fd_to_handle(z); break;
			case FZ_DMABUF_SYNC: fz_dmabuf_sync(z); break;
			case FZ_BAD_NR: fz_bad_nr(z); break;
			case FZ_MMAP_NODE: fz_mmap_node(z); break;
			case FZ_MMAP_DMABUF: fz_mmap_dmabuf(z); break;
			case FZ_MUNMAP: fz_munmap(z); break;
			case FZ_TOUCH: fz_touch(z); break;
			case FZ_CLOSE_DMABUF: fz_close_dmabuf(z); break;
			case FZ_SECOND_OPEN: fz_second_open(z); break;
			}
		}
		consistent = fz_consistent(z);
	}
	TH_LOG("%lu ioctls (STRESS_IOCTLS=%lu) in %lu ops (%lu consistency checks, %lu zero-fill checks) in %.1f s",
	       z->ioctls, target, z->ops, z->checks, z->zero_checks, now_s() - t0);
	if (target < FULL_IOCTLS)
		TH_LOG("full figure: run with STRESS_IOCTLS=%d", FULL_IOCTLS);
	fz_print_counts(z);
	EXPECT_EQ(1, consistent);
	EXPECT_EQ(0, z->undocumented);
	EXPECT_EQ(0, z->mismatches);
	EXPECT_LE(target, z->ioctls);
	if (target >= 2000) {
		/* About one of each per 300 ops: a run this long has some. */
		EXPECT_LT(0, z->counts[FZ_RESET][0]);
		EXPECT_LT(0, z->counts[FZ_REOPEN][0]);
	}

	/* Everything closed: nothing held, and the device opens again. */
	while (z->nmaps)
		fz_munmap_at(z, z->nmaps - 1);
	while (z->nfds)
		fz_close_fd_at(z, z->nfds - 1);
	if (z->fd >= 0)
		close(z->fd);
	EXPECT_EQ(0, devmem_used(self->bdf));
	fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open after closing everything: %s", strerror(errno));
	{
		struct drm_p2pacc_query q;

		EXPECT_EQ(0, query(fd, &q));
		EXPECT_EQ(self->mem_size, q.mem_free);
	}
	close(fd);
	free(z);
}

/* ======================================================================
 * 2. The owner SIGKILLed mid-transfer
 * ====================================================================== */

enum kill_phase {
	KP_FORKED, KP_OPENED, KP_ALLOCATED, KP_EXPORTED, KP_MAPPED,
	KP_ATTACHED, KP_LOOP, KP_N,
};

static const char *const kill_phase_name[KP_N] = {
	"before open", "opened", "allocated", "exported", "mapped",
	"importer attached", "transferring",
};

/* Shared with the child (MAP_SHARED): where it was when killed. */
struct kill_shm {
	volatile int phase;
	volatile int err;		/* errno of the first failure */
	volatile int err_line;
	volatile unsigned long writes;	/* pages written (and checked) by the CPU */
	volatile unsigned long dmas;	/* edu transfers done */
	volatile int in_dma;		/* 1 while an edu transfer is running */
};

#define KFAIL(s, e) do { (s)->err = (e); (s)->err_line = __LINE__; _exit(1); } while (0)

/*
 * @imp: the importer file to attach with (shared with the parent, which
 * then sees the revoke), or -1 to open one of its own (which dies with it)
 */
static void kill_child(const char *node, uint64_t size, int use_imp, int imp,
		       uint32_t mode, uint64_t seed, struct kill_shm *s)
{
	struct rng rng = { seed };
	int fd, dmabuf, ret;
	uint8_t *p, *q;
	uint32_t h;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		KFAIL(s, errno);
	s->phase = KP_OPENED;
	ret = accel_alloc(fd, size, 0, &h);
	if (ret)
		KFAIL(s, -ret);
	s->phase = KP_ALLOCATED;
	ret = prime_export(fd, h, &dmabuf);
	if (ret)
		KFAIL(s, -ret);
	s->phase = KP_EXPORTED;
	p = map_gem(fd, h, size);
	q = map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (!p || !q)
		KFAIL(s, errno);
	s->phase = KP_MAPPED;
	if (use_imp) {
		if (imp < 0)
			imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
		if (imp < 0)
			KFAIL(s, errno);
		ret = importer_attach(imp, dmabuf, mode);
		if (ret)
			KFAIL(s, -ret);
		s->phase = KP_ATTACHED;
	}
	s->phase = KP_LOOP;
	for (unsigned long i = 0;; i++) {
		uint64_t off = PAGE * rnd(&rng, size / PAGE);
		unsigned int ps = (unsigned int)rnd64(&rng) | 1;

		/* CPU: write through one mapping, read back through the other. */
		fill(i & 1 ? p + off : q + off, PAGE, ps);
		if (check_fill(i & 1 ? q + off : p + off, PAGE, ps) != -1)
			KFAIL(s, EIO);
		s->writes++;
		if (use_imp && i % 4 == 0) {
			/* edu: device memory -> edu -> elsewhere in device memory */
			uint64_t dst = PAGE * rnd(&rng, size / PAGE);
			const uint32_t len = 512;

			if (dst == off)
				dst = (off + PAGE) % size;
			s->in_dma = 1;
			ret = importer_dma(imp, off, len, P2PI_DMA_TO_EDU, 0);
			if (!ret)
				ret = importer_dma(imp, dst, len, P2PI_DMA_FROM_EDU, 0);
			s->in_dma = 0;
			if (ret)
				KFAIL(s, -ret);
			s->dmas += 2;
			if (check_fill(p + dst, len, ps) != -1)
				KFAIL(s, EIO);
		}
	}
}

TEST_F_TIMEOUT(stress, owner_sigkilled_mid_transfer_leaves_nothing_behind, 900)
{
	unsigned long kills = env_ul("STRESS_KILLS", FULL_KILLS), k;
	int use_imp = importer_usable(self);
	unsigned long max_ms = env_ul("STRESS_KILL_MAX_MS", use_imp ? 600 : 150);
	unsigned long phases[KP_N] = { 0 }, in_dma = 0, writes = 0, dmas = 0;
	unsigned long shared = 0, shared_revoked = 0;
	uint64_t seed = stress_seed();
	struct rng rng = { seed };
	struct kill_shm *s;
	double t0 = now_s();

	SEED_LOG(seed);
	TH_LOG("%s; kills land 0..%lu ms after fork (a quarter of them in the first 40 ms)",
	       use_imp ? "the edu importer is attached and transferring (switch)" :
	       "CPU writes only (no importer may attach here)", max_ms);
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s);

	for (k = 0; k < kills; k++) {
		const uint64_t size = PAGE * (16 + rnd(&rng, 241));
		uint32_t mode = chance(&rng, 50) ? P2PI_ATTACH_REVOCABLE : P2PI_ATTACH_DYNAMIC;
		uint64_t child_seed = rnd64(&rng), delay;
		int status, fd, imp = -1;
		struct p2pi_status st;
		long long used;
		uint32_t h;
		uint8_t *p;
		pid_t pid;

		delay = chance(&rng, 25) ? rnd(&rng, 40000) : rnd(&rng, max_ms * 1000 + 1);
		/* Every other kill, the importer outlives the owner. */
		if (use_imp && k % 2 == 0) {
			imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
			ASSERT_LE(0, imp);
			shared++;
		}
		memset((void *)s, 0, sizeof(*s));
		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			kill_child(self->node, size, use_imp, imp, mode, child_seed, s);
		sleep_us(delay);
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			TH_LOG("kill %lu: the child stopped by itself: %s at line %d (phase %s)",
			       k, strerror(s->err), s->err_line, kill_phase_name[s->phase]);
		phases[s->phase]++;
		in_dma += s->in_dma;
		writes += s->writes;
		dmas += s->dmas;

		/* An importer that outlived the owner was told, and stopped. */
		if (imp >= 0) {
			st = importer_status(imp);
			if (st.attached) {
				EXPECT_EQ(1, st.revoke_calls) TH_LOG("kill %lu: revoke_calls %u",
								     k, st.revoke_calls);
				EXPECT_EQ(1, st.revoked);
				EXPECT_EQ(0, st.mapped);
				EXPECT_EQ(-ENODEV, importer_dma(imp, 0, 256, P2PI_DMA_TO_EDU, 0));
				EXPECT_EQ(0, xioctl(imp, P2PI_IOC_DETACH, NULL));
				shared_revoked += st.revoke_calls;
			}
			close(imp);
		}

		/* Nothing of the dead owner is left. */
		used = devmem_used(self->bdf);
		ASSERT_EQ(0, used) TH_LOG("kill %lu (phase %s, %llu bytes): devmem_used %lld",
					  k, kill_phase_name[s->phase],
					  (unsigned long long)size, used);
		fd = open(self->node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("kill %lu (phase %s): open after the kill: %s", k,
					kill_phase_name[s->phase], strerror(errno));
		ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
		p = map_gem(fd, h, size);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(-1, check_byte(p, size, 0))
			TH_LOG("kill %lu: the next owner's buffer is not zeroed", k);
		munmap(p, size);
		close(fd);
	}
	munmap(s, sizeof(*s));
	TH_LOG("%lu owners SIGKILLed (STRESS_KILLS) in %.1f s; they had written %lu pages and made %lu edu transfers",
	       kills, now_s() - t0, writes, dmas);
	for (int i = 0; i < KP_N; i++)
		if (phases[i])
			TH_LOG("  killed %s: %lu", kill_phase_name[i], phases[i]);
	if (use_imp) {
		TH_LOG("  of which inside an edu transfer: %lu", in_dma);
		TH_LOG("  importer outlived the owner: %lu, and saw invalidate_mappings: %lu",
		       shared, shared_revoked);
	}
	if (kills < FULL_KILLS)
		TH_LOG("full figure: run with STRESS_KILLS=%d", FULL_KILLS);
	if (kills >= 20) {
		/* With this many, some kills must land where they matter. */
		if (use_imp) {
			EXPECT_LT(0, in_dma) TH_LOG("no kill landed in a transfer");
			EXPECT_LT(0, shared_revoked) TH_LOG("no importer outlived an attached owner");
		}
		EXPECT_LT(0, phases[KP_LOOP]);
	}
}

/* ======================================================================
 * 6. Unbind and rebind under a live owner
 * ====================================================================== */

TEST_F_TIMEOUT(stress, unbind_rebind_with_live_owner_mappings_and_importer, 900)
{
	unsigned long rebinds = env_ul("STRESS_REBINDS", FULL_REBINDS), i;
	unsigned long late_closes = 0, revokes = 0, dmas = 0;
	int use_imp = importer_usable(self);
	uint64_t seed = stress_seed();
	struct rng rng = { seed };
	double t0 = now_s();

	SEED_LOG(seed);
	if (!use_imp)
		TH_LOG("no importer attaches on topology '%s': mappings and owner only",
		       topology());
	for (i = 0; i < rebinds; i++) {
		const uint64_t size = SZ_1M, small = PAGE * (1 + rnd(&rng, 16));
		int fd, fd2, dmabuf, imp = -1, late = chance(&rng, 50);
		struct drm_p2pacc_query q;
		struct p2pi_status st;
		char node[64], bdf[32];
		uint8_t *p, *d, *p2, *n;
		uint64_t off;
		uint32_t h, h2;

		ASSERT_EQ(0, find_accel(node, sizeof(node), bdf, sizeof(bdf)));
		ASSERT_STREQ(self->bdf, bdf);
		fd = open(node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("rebind %lu: open %s: %s", i, node, strerror(errno));
		ASSERT_EQ(0, accel_alloc(fd, size, 0, &h));
		ASSERT_EQ(0, accel_alloc(fd, small, 0, &h2));
		p = map_gem(fd, h, size);
		p2 = map_gem(fd, h2, small);
		ASSERT_NE(NULL, p);
		ASSERT_NE(NULL, p2);
		fill(p, PAGE, i);
		ASSERT_EQ(0, prime_export(fd, h, &dmabuf));
		d = map_fd(dmabuf, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		ASSERT_NE(NULL, d);
		EXPECT_EQ(-1, check_fill(d, PAGE, i));
		ASSERT_EQ(0, mmap_offset(fd, h, &off));
		if (use_imp) {
			imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
			ASSERT_LE(0, imp);
			ASSERT_EQ(0, importer_attach(imp, dmabuf, chance(&rng, 50) ?
						     P2PI_ATTACH_DYNAMIC : P2PI_ATTACH_REVOCABLE));
			ASSERT_EQ(0, importer_dma(imp, 0, 256, P2PI_DMA_TO_EDU, 0));
			dmas++;
		}
		EXPECT_EQ((long long)(size + small), devmem_used(self->bdf));

		ASSERT_EQ(0, driver_unbind(self->bdf)) TH_LOG("rebind %lu: unbind", i);
		ASSERT_FALSE(driver_bound(self->bdf));

		/* Everything the owner had is cut off. */
		EXPECT_EQ(1, faults(p, 0));
		EXPECT_EQ(1, faults(p + size - 1, 1));
		EXPECT_EQ(1, faults(p2, 1));
		EXPECT_EQ(1, faults(d + size / 2, 0));
		EXPECT_EQ(1, faults(d, 1));
		if (use_imp) {
			st = importer_status(imp);
			EXPECT_EQ(1, st.revoke_calls) TH_LOG("rebind %lu: revoke_calls %u", i,
							     st.revoke_calls);
			EXPECT_EQ(1, st.revoked);
			EXPECT_EQ(0, st.mapped);
			EXPECT_EQ(-ENODEV, importer_dma(imp, 0, 256, P2PI_DMA_FROM_EDU, 0));
			revokes += st.revoke_calls;
		}
		EXPECT_EQ(-ENODEV, query(fd, &q));
		EXPECT_EQ(NULL, map_fd(fd, PAGE, PROT_READ, MAP_SHARED, off));
		EXPECT_EQ(ENODEV, errno);
		EXPECT_EQ(NULL, map_fd(dmabuf, PAGE, PROT_READ, MAP_SHARED, 0));
		EXPECT_EQ(ENODEV, errno);
		EXPECT_EQ(-ENODEV, dmabuf_sync(dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));

		/* Half the time the old owner lets go before the rebind. */
		if (!late) {
			munmap(p, size);
			munmap(p2, small);
			munmap(d, size);
			if (imp >= 0) {
				EXPECT_EQ(0, xioctl(imp, P2PI_IOC_DETACH, NULL));
				close(imp);
			}
			close(dmabuf);
			close(fd);
		}

		ASSERT_EQ(0, driver_bind(self->bdf)) TH_LOG("rebind %lu: bind", i);
		ASSERT_TRUE(driver_bound(self->bdf));
		ASSERT_EQ(0, find_accel(node, sizeof(node), NULL, 0))
			TH_LOG("rebind %lu: no accel node after bind", i);
		EXPECT_EQ(0, devmem_used(self->bdf));
		fd2 = open(node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd2) TH_LOG("rebind %lu: open %s after bind: %s", i, node,
					 strerror(errno));
		ASSERT_EQ(0, query(fd2, &q));
		EXPECT_EQ(self->mem_size, q.mem_free);
		ASSERT_EQ(0, accel_alloc(fd2, size, 0, &h));
		n = map_gem(fd2, h, size);
		ASSERT_NE(NULL, n);
		EXPECT_EQ(-1, check_byte(n, PAGE, 0));
		munmap(n, size);
		close(fd2);

		if (late) {
			/* The old device's last users go after the new one is up. */
			late_closes++;
			EXPECT_EQ(1, faults(d, 0));
			munmap(p, size);
			munmap(p2, small);
			munmap(d, size);
			if (imp >= 0) {
				EXPECT_EQ(0, xioctl(imp, P2PI_IOC_DETACH, NULL));
				close(imp);
			}
			close(dmabuf);
			close(fd);
		}
		ASSERT_EQ(0, devmem_used(self->bdf));
	}
	TH_LOG("%lu unbind/rebind cycles (STRESS_REBINDS) in %.1f s (%lu with the old owner closed after the rebind); importer revokes seen: %lu, edu transfers: %lu",
	       rebinds, now_s() - t0, late_closes, revokes, dmas);
	if (rebinds < FULL_REBINDS)
		TH_LOG("full figure: run with STRESS_REBINDS=%d", FULL_REBINDS);
	if (use_imp)
		EXPECT_EQ(rebinds, revokes);
}

TEST_HARNESS_MAIN
