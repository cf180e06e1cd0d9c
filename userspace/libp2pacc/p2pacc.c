// SPDX-License-Identifier: MIT
/*
 * libp2pacc: see p2pacc.h.
 *
 * Each public function saves errno on entry and restores it on return: the
 * result is its return value only. The p2pacc_do_*() helpers behind them
 * may clobber errno freely.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <libudev.h>
#include <xf86drm.h>
#include <drm/p2p_accel.h>

#include "p2pacc.h"

#define P2PACC_DRIVER	"p2p_accel"
#define DEBUGFS_ACCEL	"/sys/kernel/debug/accel"

struct p2pacc {
	int fd;
};

/* What the library needs to know about one device. */
struct p2pacc_ident {
	char node[PATH_MAX];		/* /dev/accel/accelN */
	dev_t devnum;			/* its device number; N is its minor */
	char bdf[64];			/* PCI address = the DRM unique name */
	char pci_syspath[PATH_MAX];	/* /sys/devices/.../<bdf> */
};

static int copy_str(char *dst, size_t len, const char *src)
{
	if (!src)
		return -ENODEV;
	if (strlen(src) >= len)
		return -ENAMETOOLONG;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* Fill @id from an accel class device, if p2p_accel drives its parent. */
static int ident_from_udev(struct udev_device *accel, struct p2pacc_ident *id)
{
	struct udev_device *pci;
	const char *subsys, *drv;
	int ret;

	subsys = udev_device_get_subsystem(accel);
	if (!subsys || strcmp(subsys, "accel"))
		return -ENODEV;
	/* Owned by @accel: no unref. */
	pci = udev_device_get_parent_with_subsystem_devtype(accel, "pci", NULL);
	if (!pci)
		return -ENODEV;
	drv = udev_device_get_driver(pci);
	if (!drv || strcmp(drv, P2PACC_DRIVER))
		return -ENODEV;

	ret = copy_str(id->node, sizeof(id->node), udev_device_get_devnode(accel));
	if (!ret)
		ret = copy_str(id->bdf, sizeof(id->bdf), udev_device_get_sysname(pci));
	if (!ret)
		ret = copy_str(id->pci_syspath, sizeof(id->pci_syspath),
			       udev_device_get_syspath(pci));
	id->devnum = udev_device_get_devnum(accel);
	return ret;
}

/* The first p2p_accel device: the one with the lowest accel minor. */
static int ident_first(struct udev *udev, struct p2pacc_ident *id)
{
	struct udev_list_entry *entry;
	struct udev_enumerate *en;
	struct p2pacc_ident cur;
	int ret = -ENODEV;

	en = udev_enumerate_new(udev);
	if (!en)
		return -ENOMEM;
	if (udev_enumerate_add_match_subsystem(en, "accel") < 0 ||
	    udev_enumerate_scan_devices(en) < 0) {
		udev_enumerate_unref(en);
		return -ENODEV;
	}
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(en)) {
		struct udev_device *d;

		d = udev_device_new_from_syspath(udev,
						 udev_list_entry_get_name(entry));
		if (!d)
			continue;
		if (!ident_from_udev(d, &cur) &&
		    (ret || minor(cur.devnum) < minor(id->devnum))) {
			*id = cur;
			ret = 0;
		}
		udev_device_unref(d);
	}
	udev_enumerate_unref(en);
	return ret;
}

/* Identify the device at @node (NULL: the first p2p_accel device). */
static int ident(const char *node, struct p2pacc_ident *id)
{
	struct udev_device *d;
	struct udev *udev;
	struct stat st;
	int ret;

	if (node) {
		if (stat(node, &st))
			return -errno;
		if (!S_ISCHR(st.st_mode))
			return -ENODEV;
	}
	udev = udev_new();
	if (!udev)
		return -ENOMEM;
	if (!node) {
		ret = ident_first(udev, id);
	} else {
		d = udev_device_new_from_devnum(udev, 'c', st.st_rdev);
		ret = d ? ident_from_udev(d, id) : -ENODEV;
		udev_device_unref(d);
	}
	udev_unref(udev);
	return ret;
}

/* Nothing but p2p_accel gets our private ioctls. */
static int check_driver(int fd)
{
	drmVersionPtr v;
	int ret;

	v = drmGetVersion(fd);
	if (!v)
		return errno == ENOMEM ? -ENOMEM : -ENODEV;
	ret = v->name && !strcmp(v->name, P2PACC_DRIVER) ? 0 : -ENODEV;
	drmFreeVersion(v);
	return ret;
}

static int p2pacc_do_find(char *path, size_t len, char *pci_bdf,
			  size_t bdf_len)
{
	struct p2pacc_ident id;
	int ret;

	if (!path)
		return -EINVAL;
	ret = ident(NULL, &id);
	if (!ret)
		ret = copy_str(path, len, id.node);
	if (!ret && pci_bdf)
		ret = copy_str(pci_bdf, bdf_len, id.bdf);
	return ret;
}

static int p2pacc_do_pci_address(const char *node, char *pci_bdf, size_t len)
{
	struct p2pacc_ident id;
	int ret;

	if (!pci_bdf)
		return -EINVAL;
	ret = ident(node, &id);
	return ret ? ret : copy_str(pci_bdf, len, id.bdf);
}

static int p2pacc_do_open(const char *path, struct p2pacc **dev)
{
	char found[PATH_MAX];
	struct p2pacc *d;
	int ret;

	if (!dev)
		return -EINVAL;
	if (!path) {
		ret = p2pacc_do_find(found, sizeof(found), NULL, 0);
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
	ret = check_driver(d->fd);
	if (ret) {
		close(d->fd);
		free(d);
		return ret;
	}
	*dev = d;
	return 0;
}

static int p2pacc_do_query(struct p2pacc *dev, struct p2pacc_info *info)
{
	struct drm_p2pacc_query q = { 0 };

	if (!dev || !info)
		return -EINVAL;
	if (drmIoctl(dev->fd, DRM_IOCTL_P2PACC_QUERY, &q))
		return -errno;
	info->mem_size = q.mem_size;
	info->mem_free = q.mem_free;
	info->alignment = q.alignment;
	info->caps = q.caps;
	return 0;
}

static int p2pacc_do_alloc(struct p2pacc *dev, uint64_t size,
			   uint64_t alignment, uint32_t *handle,
			   uint64_t *size_out)
{
	struct drm_p2pacc_alloc a = { .size = size, .alignment = alignment };

	if (!dev || !handle)
		return -EINVAL;
	if (drmIoctl(dev->fd, DRM_IOCTL_P2PACC_ALLOC, &a))
		return -errno;
	*handle = a.handle;
	if (size_out)
		*size_out = a.size;
	return 0;
}

static int p2pacc_do_free(struct p2pacc *dev, uint32_t handle)
{
	if (!dev)
		return -EINVAL;
	return drmCloseBufferHandle(dev->fd, handle) ? -errno : 0;
}

static int p2pacc_do_export(struct p2pacc *dev, uint32_t handle, int flags,
			    int *fd)
{
	if (!dev || !fd || (flags & ~(O_CLOEXEC | O_RDWR)))
		return -EINVAL;
	/* DRM_CLOEXEC and DRM_RDWR are O_CLOEXEC and O_RDWR. */
	if (drmPrimeHandleToFD(dev->fd, handle, flags, fd))
		return -errno;
	return 0;
}

static int p2pacc_do_mmap(struct p2pacc *dev, uint32_t handle, uint64_t size,
			  void **ptr)
{
	struct drm_p2pacc_mmap_offset m = { .handle = handle };
	void *p;

	if (!dev || !ptr || !size)
		return -EINVAL;
	if (drmIoctl(dev->fd, DRM_IOCTL_P2PACC_MMAP_OFFSET, &m))
		return -errno;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
		 m.offset);
	if (p == MAP_FAILED)
		return -errno;
	*ptr = p;
	return 0;
}

/* A decimal sysfs attribute of the PCI device. */
static int read_u64_attr(const char *syspath, const char *attr, uint64_t *val)
{
	char path[PATH_MAX + 32], buf[32], *end;
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", syspath, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EIO;
	*val = v;
	return 0;
}

static int p2pacc_do_info_sysfs(const char *node, struct p2pacc_info *info)
{
	struct p2pacc_ident id;
	uint64_t size, used;
	int ret;

	if (!info)
		return -EINVAL;
	ret = ident(node, &id);
	if (!ret)
		ret = read_u64_attr(id.pci_syspath, "devmem_size", &size);
	if (!ret)
		ret = read_u64_attr(id.pci_syspath, "devmem_used", &used);
	if (ret)
		return ret;
	info->mem_size = size;
	info->mem_free = used < size ? size - used : 0;
	info->alignment = 0;
	info->caps = 0;
	return 0;
}

/* "123", "4 KiB", "5 MiB", "6 GiB" (Documentation/gpu/drm-usage-stats.rst) */
static uint64_t parse_fdinfo_size(const char *s)
{
	unsigned long long v;
	char *end;

	v = strtoull(s, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (!strncmp(end, "KiB", 3))
		v <<= 10;
	else if (!strncmp(end, "MiB", 3))
		v <<= 20;
	else if (!strncmp(end, "GiB", 3))
		v <<= 30;
	return v;
}

/* Fill @owner from an fdinfo file; -ENODEV unless it is a p2p_accel file. */
static int read_fdinfo(const char *path, struct p2pacc_owner *owner)
{
	char line[256], *val;
	bool ours = false;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	owner->client_id = owner->total_memory = owner->shared_memory = 0;
	while (fgets(line, sizeof(line), f)) {
		val = strchr(line, ':');
		if (!val)
			continue;
		*val++ = '\0';
		val += strspn(val, " \t");
		val[strcspn(val, "\n")] = '\0';
		if (!strcmp(line, "drm-driver"))
			ours = !strcmp(val, P2PACC_DRIVER);
		else if (!strcmp(line, "drm-client-id"))
			owner->client_id = strtoull(val, NULL, 10);
		else if (!strcmp(line, "drm-total-memory"))
			owner->total_memory = parse_fdinfo_size(val);
		else if (!strcmp(line, "drm-shared-memory"))
			owner->shared_memory = parse_fdinfo_size(val);
	}
	fclose(f);
	return ours ? 0 : -ENODEV;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* A file descriptor of @pid open on @devnum, owned by p2p_accel. */
static int scan_pid_fds(const char *pid, dev_t devnum,
			struct p2pacc_owner *owner)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int ret = -ENOENT;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	dir = opendir(path);
	if (!dir)
		return -ENOENT;	/* gone, or not ours to look at */
	while (ret && (de = readdir(dir))) {
		if (!all_digits(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, de->d_name);
		/* Sockets, pipes, anon inodes: not "/...", and never stat'ed. */
		if (readlink(path, link, sizeof(link)) <= 0 || link[0] != '/')
			continue;
		if (stat(path, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != devnum)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, de->d_name);
		if (read_fdinfo(path, owner))
			continue;
		owner->pid = (pid_t)strtol(pid, NULL, 10);
		owner->fd = (int)strtol(de->d_name, NULL, 10);
		ret = 0;
	}
	closedir(dir);
	return ret;
}

static int p2pacc_do_owner(const char *node, struct p2pacc_owner *owner)
{
	struct p2pacc_ident id;
	struct dirent *de;
	int ret;
	DIR *dir;

	if (!owner)
		return -EINVAL;
	ret = ident(node, &id);
	if (ret)
		return ret;
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	ret = -ENOENT;
	while (ret && (de = readdir(dir))) {
		if (all_digits(de->d_name))
			ret = scan_pid_fds(de->d_name, id.devnum, owner);
	}
	closedir(dir);
	return ret;
}

/* Write "1" to @path. */
static int write_one(const char *path)
{
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, "1", 1);
	if (n < 0)
		ret = -errno;
	else if (n != 1)
		ret = -EIO;
	close(fd);
	return ret;
}

static int p2pacc_do_debug_reset(const char *node)
{
	char path[PATH_MAX];
	struct p2pacc_ident id;
	int ret;

	ret = ident(node, &id);
	if (ret)
		return ret;
	/*
	 * drm_accel.c names the device's debugfs directory after the DRM
	 * unique name, the parent's dev_name(): the PCI address (Linux 6.8
	 * and later); older kernels named it after the accel minor.
	 */
	snprintf(path, sizeof(path), DEBUGFS_ACCEL "/%s/reset", id.bdf);
	ret = write_one(path);
	if (ret == -ENOENT) {
		snprintf(path, sizeof(path), DEBUGFS_ACCEL "/%u/reset",
			 minor(id.devnum));
		ret = write_one(path);
	}
	return ret;
}

static int p2pacc_do_pci_reset(const char *node)
{
	char path[PATH_MAX + 8];
	struct p2pacc_ident id;
	int ret;

	ret = ident(node, &id);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/reset", id.pci_syspath);
	return write_one(path);
}

/* ---- the public functions: errno is theirs to keep ----------------------- */

#define KEEP_ERRNO(call)			\
	({					\
		int saved_errno_ = errno;	\
		int ret_ = (call);		\
		errno = saved_errno_;		\
		ret_;				\
	})

int p2pacc_find(char *path, size_t len, char *pci_bdf, size_t bdf_len)
{
	return KEEP_ERRNO(p2pacc_do_find(path, len, pci_bdf, bdf_len));
}

int p2pacc_pci_address(const char *node, char *pci_bdf, size_t len)
{
	return KEEP_ERRNO(p2pacc_do_pci_address(node, pci_bdf, len));
}

int p2pacc_open(const char *path, struct p2pacc **dev)
{
	return KEEP_ERRNO(p2pacc_do_open(path, dev));
}

void p2pacc_close(struct p2pacc *dev)
{
	int saved = errno;

	if (!dev)
		return;
	close(dev->fd);
	free(dev);
	errno = saved;
}

int p2pacc_fd(const struct p2pacc *dev)
{
	return dev ? dev->fd : -EINVAL;
}

int p2pacc_query(struct p2pacc *dev, struct p2pacc_info *info)
{
	return KEEP_ERRNO(p2pacc_do_query(dev, info));
}

int p2pacc_alloc(struct p2pacc *dev, uint64_t size, uint64_t alignment,
		 uint32_t *handle, uint64_t *size_out)
{
	return KEEP_ERRNO(p2pacc_do_alloc(dev, size, alignment, handle,
					  size_out));
}

int p2pacc_free(struct p2pacc *dev, uint32_t handle)
{
	return KEEP_ERRNO(p2pacc_do_free(dev, handle));
}

int p2pacc_export(struct p2pacc *dev, uint32_t handle, int flags, int *fd)
{
	return KEEP_ERRNO(p2pacc_do_export(dev, handle, flags, fd));
}

int p2pacc_mmap(struct p2pacc *dev, uint32_t handle, uint64_t size,
		void **ptr)
{
	return KEEP_ERRNO(p2pacc_do_mmap(dev, handle, size, ptr));
}

int p2pacc_munmap(void *ptr, uint64_t size)
{
	return KEEP_ERRNO(munmap(ptr, size) ? -errno : 0);
}

int p2pacc_info_sysfs(const char *node, struct p2pacc_info *info)
{
	return KEEP_ERRNO(p2pacc_do_info_sysfs(node, info));
}

int p2pacc_owner(const char *node, struct p2pacc_owner *owner)
{
	return KEEP_ERRNO(p2pacc_do_owner(node, owner));
}

int p2pacc_debug_reset(const char *node)
{
	return KEEP_ERRNO(p2pacc_do_debug_reset(node));
}

int p2pacc_pci_reset(const char *node)
{
	return KEEP_ERRNO(p2pacc_do_pci_reset(node));
}
