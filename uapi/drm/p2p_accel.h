/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace ABI of p2p_accel, the DRM accel driver that exports an
 * accelerator's device memory (PCI BAR memory) as static dma-bufs.
 *
 * The device node is /dev/accel/accelN. Only one file may have it open at
 * a time (the "owner"); a second open() fails with EBUSY. Buffers are GEM
 * objects: allocate with DRM_IOCTL_P2PACC_ALLOC, export with the standard
 * DRM_IOCTL_PRIME_HANDLE_TO_FD (libdrm's drmPrimeHandleToFD()), free with
 * DRM_IOCTL_GEM_CLOSE, map with DRM_IOCTL_P2PACC_MMAP_OFFSET + mmap() on
 * the device node or with mmap() on the dma-buf FD.
 *
 * When the owner closes the device node, when the device is reset (a PCI
 * function reset, PCIe error recovery) or suspended, and when it is
 * unbound, every buffer is revoked: importers are told and must stop, CPU
 * mappings are zapped (later accesses raise SIGBUS), and once no importer
 * holds a mapping any more the memory is scrubbed and reclaimed. A revoked
 * buffer's dma-buf FD stays a valid FD, but attach, map, vmap and mmap on
 * it fail with ENODEV. While the device is in reset, allocating fails with
 * EBUSY.
 *
 * Errors: EINVAL for unknown flags, nonzero padding and bad sizes or
 * alignments; ENOENT for an unknown GEM handle; ENOMEM when no free range
 * of device memory is large enough (never a partial buffer); ENODEV for a
 * revoked buffer or an unplugged device. Attaching a dma-buf fails with
 * EOPNOTSUPP for an importer that cannot take peer-to-peer memory or cannot
 * be revoked, and with EXDEV when the importing device cannot reach the
 * buffer: the PCI topology does not allow peer-to-peer DMA between it and
 * the accelerator, or its DMA mask does not cover the buffer's addresses.
 *
 * The DRM core adds its own: mmap() of a device-node offset for which the
 * file holds no handle fails with EACCES. Exporting again a buffer that was
 * exported before it was revoked gives another FD of the same (dead)
 * dma-buf, whose every use fails with ENODEV.
 *
 * Memory use can be read without owning the device: the PCI device's sysfs
 * attributes devmem_size and devmem_used, and the owner's fdinfo
 * (drm-total-memory, drm-shared-memory, and drm-resident-memory for the
 * buffers not revoked).
 */
#ifndef __UAPI_DRM_P2P_ACCEL_H__
#define __UAPI_DRM_P2P_ACCEL_H__

#include <linux/const.h>
#include <drm/drm.h>

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_P2PACC_QUERY		0x00
#define DRM_P2PACC_ALLOC		0x01
#define DRM_P2PACC_MMAP_OFFSET		0x02

#define DRM_IOCTL_P2PACC_QUERY \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_P2PACC_QUERY, struct drm_p2pacc_query)
#define DRM_IOCTL_P2PACC_ALLOC \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_P2PACC_ALLOC, struct drm_p2pacc_alloc)
#define DRM_IOCTL_P2PACC_MMAP_OFFSET \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_P2PACC_MMAP_OFFSET, \
		 struct drm_p2pacc_mmap_offset)

/**
 * DRM_P2PACC_CAP_STATIC_DMABUF - buffers export as static dma-bufs
 *
 * Device memory never moves: exported dma-bufs have no pin/unpin and their
 * mapping stays valid until the buffer is revoked.
 */
#define DRM_P2PACC_CAP_STATIC_DMABUF	_BITULL(0)
/**
 * DRM_P2PACC_CAP_P2P - importers may DMA to device memory peer-to-peer
 *
 * Whether a given importer may is decided when it attaches, from the PCI
 * topology between the accelerator and the importing device.
 */
#define DRM_P2PACC_CAP_P2P		_BITULL(1)
/**
 * DRM_P2PACC_CAP_REVOKE - buffers are revoked on owner close, reset, unbind
 */
#define DRM_P2PACC_CAP_REVOKE		_BITULL(2)

/**
 * struct drm_p2pacc_query - device memory and capabilities
 *
 * All fields are written by the kernel; pass the structure zeroed.
 */
struct drm_p2pacc_query {
	/** @mem_size: Size of the device memory in bytes. */
	__u64 mem_size;
	/** @mem_free: Bytes of device memory not allocated right now. */
	__u64 mem_free;
	/**
	 * @alignment: Smallest alignment (and size granularity) of a
	 * buffer, in bytes; a power of two.
	 */
	__u64 alignment;
	/** @caps: DRM_P2PACC_CAP_* bits. */
	__u64 caps;
	/** @flags: Must be zero. */
	__u32 flags;
	/** @pad: Must be zero. */
	__u32 pad;
};

/**
 * struct drm_p2pacc_alloc - allocate device memory
 *
 * The buffer is zero-filled, physically contiguous in device memory and
 * never moves. Its size is @size rounded up to the device alignment.
 */
struct drm_p2pacc_alloc {
	/** @size: In: size in bytes, nonzero. Out: size allocated. */
	__u64 size;
	/**
	 * @alignment: In: alignment of the buffer in device memory in bytes:
	 * zero for the device default or a power of two of at least the
	 * device alignment.
	 */
	__u64 alignment;
	/** @flags: In: must be zero. */
	__u32 flags;
	/** @handle: Out: GEM handle of the new buffer. */
	__u32 handle;
};

/**
 * struct drm_p2pacc_mmap_offset - get the fake offset to mmap a buffer
 *
 * mmap() on the device node at @offset maps the buffer (write-combined).
 */
struct drm_p2pacc_mmap_offset {
	/** @handle: In: GEM handle. */
	__u32 handle;
	/** @flags: In: must be zero. */
	__u32 flags;
	/** @offset: Out: offset to pass to mmap(). */
	__u64 offset;
};

#if defined(__cplusplus)
}
#endif

#endif /* __UAPI_DRM_P2P_ACCEL_H__ */
