/* SPDX-License-Identifier: MIT */
/*
 * libp2pacc: open the p2p_accel accelerator, allocate device memory,
 * export it as dma-buf FDs and map it; read its memory state and reset it
 * without owning it.
 *
 * Every function that can fail returns 0 or a negative errno value and
 * leaves errno alone; the device handle is opaque.
 *
 * A "node" argument is an accel device node (/dev/accel/accelN); NULL means
 * the first p2p_accel device (lowest N). Devices are found with libudev:
 * accel class devices whose parent PCI device is bound to the p2p_accel
 * driver. A node that is not such a device gives -ENODEV.
 */
#ifndef P2PACC_H
#define P2PACC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct p2pacc;

/* Capability bits of struct p2pacc_info.caps (DRM_P2PACC_CAP_*). */
#define P2PACC_CAP_STATIC_DMABUF	(1ULL << 0)
#define P2PACC_CAP_P2P			(1ULL << 1)
#define P2PACC_CAP_REVOKE		(1ULL << 2)

struct p2pacc_info {
	uint64_t mem_size;	/* bytes of device memory */
	uint64_t mem_free;	/* bytes not allocated right now */
	uint64_t alignment;	/* smallest alignment and size granularity */
	uint64_t caps;		/* P2PACC_CAP_* */
};

/*
 * Find the first p2p_accel device: writes its node (/dev/accel/accelN) to
 * @path and, when @pci_bdf is not NULL, its PCI address. -ENODEV if none.
 */
int p2pacc_find(char *path, size_t len, char *pci_bdf, size_t bdf_len);

/* The PCI address (e.g. 0000:01:00.0) of the device at @node. */
int p2pacc_pci_address(const char *node, char *pci_bdf, size_t len);

/*
 * Open the device at @path (NULL: the first p2p_accel device) and become
 * its owner. -EBUSY while another file owns it; -ENODEV when the node's
 * DRM driver is not p2p_accel (drmGetVersion()), e.g. a /dev/dri node:
 * no private ioctl is ever sent to another driver.
 */
int p2pacc_open(const char *path, struct p2pacc **dev);
/* Close: every buffer still exported from it is revoked. */
void p2pacc_close(struct p2pacc *dev);
/* The DRM file descriptor, for ioctls the library does not wrap. */
int p2pacc_fd(const struct p2pacc *dev);

int p2pacc_query(struct p2pacc *dev, struct p2pacc_info *info);

/*
 * Allocate @size bytes (rounded up to the device alignment) aligned to
 * @alignment (0: device default). *@size_out (optional) gets the size
 * allocated. -ENOMEM when no free range is large enough, -EBUSY while the
 * device is in reset (a PCI reset or error recovery).
 */
int p2pacc_alloc(struct p2pacc *dev, uint64_t size, uint64_t alignment,
		 uint32_t *handle, uint64_t *size_out);
/* Close the GEM handle (drmCloseBufferHandle()). */
int p2pacc_free(struct p2pacc *dev, uint32_t handle);

/*
 * Export as a dma-buf FD through drmPrimeHandleToFD(). @flags: O_CLOEXEC
 * and/or O_RDWR (O_RDWR is needed to mmap the dma-buf writable).
 */
int p2pacc_export(struct p2pacc *dev, uint32_t handle, int flags, int *fd);

/* Map @size bytes of a buffer (shared, read-write, write-combined). */
int p2pacc_mmap(struct p2pacc *dev, uint32_t handle, uint64_t size,
		void **ptr);
int p2pacc_munmap(void *ptr, uint64_t size);

/*
 * Memory state without owning the device, from the PCI device's sysfs
 * attributes devmem_size and devmem_used (readable by anyone): fills
 * mem_size and mem_free (size - used) and sets alignment and caps to 0,
 * which sysfs does not give (only p2pacc_query() by the owner does).
 */
int p2pacc_info_sysfs(const char *node, struct p2pacc_info *info);

/* The process holding the device open, from /proc/<pid>/fdinfo/<fd>. */
struct p2pacc_owner {
	pid_t pid;
	int fd;			/* its file descriptor of the device */
	uint64_t client_id;	/* drm-client-id */
	uint64_t total_memory;	/* drm-total-memory: bytes of its buffers */
	uint64_t shared_memory;	/* drm-shared-memory: of which exported */
};

/*
 * Find the owner of @node by scanning /proc/<pid>/fd: the first file
 * descriptor of the device whose fdinfo says drm-driver p2p_accel.
 * -ENOENT when no process visible to the caller has it open (other users'
 * processes are visible to root only).
 */
int p2pacc_owner(const char *node, struct p2pacc_owner *owner);

/*
 * Simulate a catastrophic device error (tests and debugging): write 1 to
 * the debugfs file /sys/kernel/debug/accel/<dir>/reset, where <dir> is the
 * DRM device's unique name, its PCI address (Linux 6.8 and later), or the
 * accel minor N (older kernels). Every buffer is revoked and its memory
 * reclaimed. Does not open the device, so it works while another process
 * owns it. -ENOENT when debugfs is not mounted there or the file is
 * missing; -EACCES or -EPERM for a caller who is not root (or lockdown).
 */
int p2pacc_debug_reset(const char *node);

/*
 * Reset the PCI function (write 1 to /sys/bus/pci/devices/<bdf>/reset,
 * root only): the driver revokes every buffer first, as on any real reset.
 * -ENOENT when the device has no reset method.
 */
int p2pacc_pci_reset(const char *node);

#ifdef __cplusplus
}
#endif

#endif /* P2PACC_H */
