// SPDX-License-Identifier: MIT
/*
 * libp2pacc: see p2pacc.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xf86drm.h>
#include <drm/p2p_accel.h>

#include "p2pacc.h"

#define P2PACC_DRIVER	"p2p_accel"

struct p2pacc {
	int fd;
};

static int p2pacc_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && (errno == EINTR || errno == EAGAIN));
	return ret ? -errno : 0;
}

/* The PCI device behind /sys/class/accel/@name, if p2p_accel drives it. */
static int p2pacc_node_bdf(const char *name, char *bdf, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/class/accel/%s/device/driver", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	if (strcmp(base ? base + 1 : target, P2PACC_DRIVER))
		return -ENODEV;

	snprintf(link, sizeof(link), "/sys/class/accel/%s/device", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(bdf, base, strlen(base) + 1);
	return 0;
}

int p2pacc_find(char *path, size_t len, char *pci_bdf, size_t bdf_len)
{
	char bdf[64];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *dir;

	dir = opendir("/sys/class/accel");
	if (!dir)
		return -ENODEV;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "accel", 5))
			continue;
		if (p2pacc_node_bdf(de->d_name, bdf, sizeof(bdf)))
			continue;
		snprintf(path, len, "/dev/accel/%s", de->d_name);
		if (pci_bdf)
			snprintf(pci_bdf, bdf_len, "%s", bdf);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

int p2pacc_open(const char *path, struct p2pacc **dev)
{
	char found[PATH_MAX];
	struct p2pacc *d;
	int ret;

	if (!dev)
		return -EINVAL;
	if (!path) {
		ret = p2pacc_find(found, sizeof(found), NULL, 0);
		if (ret)
			return ret;
		path = found;
	}

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		ret = -errno;
		free(d);
		return ret;
	}
	*dev = d;
	return 0;
}

void p2pacc_close(struct p2pacc *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev);
}

int p2pacc_fd(const struct p2pacc *dev)
{
	return dev ? dev->fd : -EINVAL;
}

int p2pacc_query(struct p2pacc *dev, struct p2pacc_info *info)
{
	struct drm_p2pacc_query q = { 0 };
	int ret;

	if (!dev || !info)
		return -EINVAL;
	ret = p2pacc_ioctl(dev->fd, DRM_IOCTL_P2PACC_QUERY, &q);
	if (ret)
		return ret;
	info->mem_size = q.mem_size;
	info->mem_free = q.mem_free;
	info->alignment = q.alignment;
	info->caps = q.caps;
	return 0;
}

int p2pacc_alloc(struct p2pacc *dev, uint64_t size, uint64_t alignment,
		 uint32_t *handle, uint64_t *size_out)
{
	struct drm_p2pacc_alloc a = { .size = size, .alignment = alignment };
	int ret;

	if (!dev || !handle)
		return -EINVAL;
	ret = p2pacc_ioctl(dev->fd, DRM_IOCTL_P2PACC_ALLOC, &a);
	if (ret)
		return ret;
	*handle = a.handle;
	if (size_out)
		*size_out = a.size;
	return 0;
}

int p2pacc_free(struct p2pacc *dev, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	if (!dev)
		return -EINVAL;
	return p2pacc_ioctl(dev->fd, DRM_IOCTL_GEM_CLOSE, &c);
}

int p2pacc_export(struct p2pacc *dev, uint32_t handle, int flags, int *fd)
{
	if (!dev || !fd || (flags & ~(O_CLOEXEC | O_RDWR)))
		return -EINVAL;
	if (drmPrimeHandleToFD(dev->fd, handle, flags, fd))
		return -errno;
	return 0;
}

int p2pacc_mmap(struct p2pacc *dev, uint32_t handle, uint64_t size,
		void **ptr)
{
	struct drm_p2pacc_mmap_offset m = { .handle = handle };
	void *p;
	int ret;

	if (!dev || !ptr || !size)
		return -EINVAL;
	ret = p2pacc_ioctl(dev->fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, &m);
	if (ret)
		return ret;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
		 m.offset);
	if (p == MAP_FAILED)
		return -errno;
	*ptr = p;
	return 0;
}

int p2pacc_munmap(void *ptr, uint64_t size)
{
	return munmap(ptr, size) ? -errno : 0;
}

int p2pacc_reset(struct p2pacc *dev)
{
	struct drm_p2pacc_reset r = { 0 };

	if (!dev)
		return -EINVAL;
	return p2pacc_ioctl(dev->fd, DRM_IOCTL_P2PACC_RESET, &r);
}

int p2pacc_reset_sysfs(const char *pci_bdf)
{
	char path[PATH_MAX], bdf[64];
	int fd, ret = 0;

	if (!pci_bdf) {
		char node[PATH_MAX];

		ret = p2pacc_find(node, sizeof(node), bdf, sizeof(bdf));
		if (ret)
			return ret;
		pci_bdf = bdf;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/%s/accel_reset",
		 P2PACC_DRIVER, pci_bdf);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}
