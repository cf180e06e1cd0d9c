/* SPDX-License-Identifier: MIT */
/*
 * libp2pacc: open the p2p_accel accelerator, allocate device memory,
 * export it as dma-buf FDs and map it.
 *
 * Every function that can fail returns 0 or a negative errno value and
 * leaves errno alone; the device handle is opaque.
 */
#ifndef P2PACC_H
#define P2PACC_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * Open the device at @path (NULL: the first p2p_accel device) and become
 * its owner. -EBUSY while another file owns it.
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
 * allocated. -ENOMEM when no free range is large enough.
 */
int p2pacc_alloc(struct p2pacc *dev, uint64_t size, uint64_t alignment,
		 uint32_t *handle, uint64_t *size_out);
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

/* Reset the device (CAP_SYS_ADMIN): every buffer is revoked. */
int p2pacc_reset(struct p2pacc *dev);
/* The same through sysfs, without owning the device. */
int p2pacc_reset_sysfs(const char *pci_bdf);

#ifdef __cplusplus
}
#endif

#endif /* P2PACC_H */
