/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Test-only dynamic dma-buf exporter: its ioctls, on the misc device
 * /dev/dyn_exporter. Its dma-bufs are system pages behind the dynamic
 * exporter ops (pin/unpin, map/unmap under the reservation lock), with
 * vmap and mmap, and can be revoked the way mainline's revocable exporters
 * do it (dma_buf_invalidate_mappings() under the reservation lock).
 */
#ifndef __DYN_EXPORTER_H__
#define __DYN_EXPORTER_H__

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct dynexp_create - a new dma-buf of zeroed system pages
 * @size: bytes, a multiple of the page size, at most 64 MiB
 * @fd: out: the dma-buf, O_RDWR | O_CLOEXEC
 * @pad: zero
 */
struct dynexp_create {
	__u64 size;
	__s32 fd;
	__u32 pad;
};

/**
 * struct dynexp_state - what the importers of a dma-buf hold
 * @fd: the dma-buf (in)
 * @attachments: live attachments
 * @pins: dma_buf_pin() calls not yet unpinned
 * @maps: sg_tables mapped and not unmapped
 * @vmaps: dma_buf_vmap() calls not yet vunmapped
 * @revoked: 1 once revoked
 * @invalidations: dma_buf_invalidate_mappings() calls (revokes)
 *
 * DYNEXP_IOC_STATE reads it at any time; DYNEXP_IOC_REVOKE revokes the
 * dma-buf and returns it as it was right after
 * dma_buf_invalidate_mappings() returned, still under the reservation
 * lock: a revocable importer has unmapped (and vunmapped) by then.
 */
struct dynexp_state {
	__s32 fd;
	__u32 attachments;
	__u32 pins;
	__u32 maps;
	__u32 vmaps;
	__u32 revoked;
	__u32 invalidations;
	__u32 pad;
};

#define DYNEXP_IOC_CREATE	_IOWR('D', 0x40, struct dynexp_create)
#define DYNEXP_IOC_REVOKE	_IOWR('D', 0x41, struct dynexp_state)
#define DYNEXP_IOC_STATE	_IOWR('D', 0x42, struct dynexp_state)

#endif /* __DYN_EXPORTER_H__ */
