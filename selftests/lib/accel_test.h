/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the test programs that drive the p2p_accel exporter
 * through its ABI (selftests/exporter, selftests/rdma): find the device,
 * allocate, export and map buffers, fill and check byte patterns, and read
 * the VM topology the suite runs on. Header-only: every test is one
 * program built from its own .c file.
 */
#ifndef P2PMEM_ACCEL_TEST_H
#define P2PMEM_ACCEL_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
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

#define ACCEL_DRIVER	"p2p_accel"

/* ioctl() that returns 0 or -errno and retries on EINTR. */
static inline int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && errno == EINTR);
	return ret ? -errno : 0;
}

/* Write @s to a sysfs, debugfs or procfs file: 0 or -errno. */
static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/* A sysfs attribute of a PCI device as a number, or -errno. */
static inline long long read_sysfs_u64(const char *bdf, const char *attr)
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? n : -EIO;
	buf[n] = '\0';
	return strtoll(buf, NULL, 0);
}

static sigjmp_buf accel_bus_jmp;

static inline void accel_on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(accel_bus_jmp, 1);
}

/* Touch one byte; 1 if that raised SIGBUS, 0 if it did not. */
static inline int faults(volatile uint8_t *p, int write)
{
	struct sigaction sa = { .sa_handler = accel_on_sigbus }, old;
	volatile int bus = 0;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(accel_bus_jmp, 1))
		bus = 1;
	else if (write)
		*p = 0x5a;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/* ---- byte patterns ------------------------------------------------------ */

static inline uint8_t pat(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static inline void fill(volatile uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(seed, i);
}

/* Index of the first byte that differs from fill(seed), or -1. */
static inline long check_fill(const volatile uint8_t *p, size_t n,
			      unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(seed, i))
			return (long)i;
	return -1;
}

/* Index of the first byte that is not @v, or -1. */
static inline long check_byte(const volatile uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return (long)i;
	return -1;
}

/* ---- the VM topology (TOPOLOGY=switch|rootbus, set by the harness) ------ */

static inline const char *topology(void)
{
	const char *t = getenv("TOPOLOGY");

	return t ? t : "";
}

/* Behind the PCIe switch: the exporter lets peers attach. */
static inline bool p2p_allowed(void)
{
	return !strcmp(topology(), "switch");
}

/* On q35's root complex: the exporter refuses peer-to-peer attachments. */
static inline bool p2p_refused(void)
{
	return !strcmp(topology(), "rootbus");
}

/* ---- the device --------------------------------------------------------- */

static inline int basename_of_link(const char *link, char *out, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	snprintf(out, len, "%s", base);
	return 0;
}

/*
 * The /dev/accel node and (if @bdf is not NULL) the PCI address of the
 * device p2p_accel drives.
 */
static inline int find_accel(char *node, size_t nlen, char *bdf, size_t blen)
{
	char link[PATH_MAX], drv[64];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *d;

	d = opendir("/sys/class/accel");
	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "accel", 5))
			continue;
		snprintf(link, sizeof(link), "/sys/class/accel/%s/device/driver",
			 de->d_name);
		if (basename_of_link(link, drv, sizeof(drv)) ||
		    strcmp(drv, ACCEL_DRIVER))
			continue;
		snprintf(link, sizeof(link), "/sys/class/accel/%s/device",
			 de->d_name);
		if (bdf && basename_of_link(link, bdf, blen))
			continue;
		snprintf(node, nlen, "/dev/accel/%.40s", de->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* ---- buffers ------------------------------------------------------------ */

/* DRM_IOCTL_P2PACC_ALLOC; @handle may be NULL. */
static inline int accel_alloc(int fd, uint64_t size, uint64_t align,
			      uint32_t *handle)
{
	struct drm_p2pacc_alloc a = { .size = size, .alignment = align };
	int ret = xioctl(fd, DRM_IOCTL_P2PACC_ALLOC, &a);

	if (!ret && handle)
		*handle = a.handle;
	return ret;
}

static inline int gem_close(int fd, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	return xioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* DRM_IOCTL_PRIME_HANDLE_TO_FD, as libdrm's drmPrimeHandleToFD() does. */
static inline int prime_export(int fd, uint32_t handle, int *dmabuf)
{
	struct drm_prime_handle p = {
		.handle = handle,
		.flags = DRM_CLOEXEC | DRM_RDWR,
	};
	int ret = xioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);

	if (!ret)
		*dmabuf = p.fd;
	return ret;
}

static inline int mmap_offset(int fd, uint32_t handle, uint64_t *offset)
{
	struct drm_p2pacc_mmap_offset m = { .handle = handle };
	int ret = xioctl(fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, &m);

	if (!ret)
		*offset = m.offset;
	return ret;
}

/* Map a buffer through the device node; NULL with errno on failure. */
static inline uint8_t *map_gem(int fd, uint32_t handle, uint64_t size)
{
	uint64_t off;
	void *p;
	int ret;

	ret = mmap_offset(fd, handle, &off);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- debugfs: /sys/kernel/debug/accel/<PCI address>/ -------------------- */

static inline int accel_debugfs_open(const char *bdf, const char *file,
				     int flags)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/sys/kernel/debug/accel/%s/%s", bdf, file);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The simulated catastrophe: every buffer is revoked. 0 or -errno. */
static inline int accel_debug_reset(const char *bdf)
{
	int fd = accel_debugfs_open(bdf, "reset", O_WRONLY), ret = 0;

	if (fd < 0)
		return fd;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Where the one live buffer of @size sits in device memory, from the
 * debugfs "buffers" list (the ABI does not tell). -ENOENT if no buffer has
 * that size, -EEXIST if several do.
 */
static inline int accel_debug_offset(const char *bdf, uint64_t size,
				     uint64_t *off)
{
	unsigned long long o, sz;
	int fd, found = 0;
	char line[256];
	FILE *f;

	fd = accel_debugfs_open(bdf, "buffers", O_RDONLY);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "offset %llx size %llu", &o, &sz) != 2 ||
		    sz != size)
			continue;
		*off = o;
		found++;
	}
	fclose(f);
	return found == 1 ? 0 : found ? -EEXIST : -ENOENT;
}

#endif /* P2PMEM_ACCEL_TEST_H */
