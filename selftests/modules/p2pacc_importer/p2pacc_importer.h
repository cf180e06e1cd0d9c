/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Test-only importer of p2p_accel dma-bufs: its ioctls, on the misc device
 * /dev/p2pacc_importer. Each open file holds at most one attachment.
 */
#ifndef __P2PACC_IMPORTER_H__
#define __P2PACC_IMPORTER_H__

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* How to attach (&struct p2pi_attach.mode); all but PLAIN ask for peer2peer. */
/*
 * pinned (dma_buf_pin()) with invalidate_mappings, which unmaps: revocable,
 * what an RDMA NIC without ODP does
 */
#define P2PI_ATTACH_REVOCABLE	0
/* dynamic: invalidate_mappings, no pin */
#define P2PI_ATTACH_DYNAMIC	1
/* pinned, no invalidate_mappings: cannot be revoked */
#define P2PI_ATTACH_UNREVOCABLE	2
/* dma_buf_attach(): static, no peer2peer, no callback */
#define P2PI_ATTACH_PLAIN	3
/*
 * pinned with an invalidate_mappings that breaks its promise: it stops the
 * edu but keeps the mapping until P2PI_IOC_UNMAP or detach
 */
#define P2PI_ATTACH_LAZY	4

/**
 * struct p2pi_attach - attach to a dma-buf on behalf of the edu device
 * @fd: dma-buf FD
 * @mode: P2PI_ATTACH_*
 * @size: out: size of the dma-buf
 * @nents: out: entries of the mapped sg_table
 * @pad: zero
 */
struct p2pi_attach {
	__s32 fd;
	__u32 mode;
	__u64 size;
	__u32 nents;
	__u32 pad;
};

/**
 * struct p2pi_rw - copy through dma_buf_vmap() (an __iomem mapping)
 * @offset: in the dma-buf
 * @len: bytes, at most P2PI_RW_MAX
 * @user_ptr: user buffer
 * @write: nonzero: user buffer -> dma-buf, zero: dma-buf -> user buffer
 * @fd: dma-buf FD; vmap needs no attachment
 */
struct p2pi_rw {
	__u64 offset;
	__u64 len;
	__u64 user_ptr;
	__u32 write;
	__s32 fd;
};

#define P2PI_RW_MAX		0x100000

#define P2PI_DMA_TO_EDU		0	/* dma-buf -> edu buffer */
#define P2PI_DMA_FROM_EDU	1	/* edu buffer -> dma-buf */
#define P2PI_EDU_BUF_SIZE	4096
/*
 * QEMU's edu rejects (hw_error: QEMU exits) a transfer that ends exactly at
 * the end of its buffer (off-by-one in its range check), so the last byte
 * is never used: @edu_offset + @len <= P2PI_EDU_DMA_MAX.
 */
#define P2PI_EDU_DMA_MAX	(P2PI_EDU_BUF_SIZE - 1)

/**
 * struct p2pi_dma - make the edu device DMA using the sg_table's addresses
 * @offset: in the dma-buf
 * @len: bytes, @edu_offset + @len at most P2PI_EDU_DMA_MAX
 * @edu_offset: in the edu's internal buffer
 * @dir: P2PI_DMA_*
 * @pad: zero
 */
struct p2pi_dma {
	__u64 offset;
	__u32 len;
	__u32 edu_offset;
	__u32 dir;
	__u32 pad;
};

/**
 * struct p2pi_status - what the importer saw
 * @revoke_calls: times invalidate_mappings ran
 * @in_revoke: 1 while invalidate_mappings is blocked (P2PI_BLOCK_REVOKE)
 * @attached: 1 while an attachment exists
 * @revoked: 1 once the current attachment was revoked
 * @mapped: 1 while the attachment holds a DMA mapping
 * @vmapped: 1 while a vmap is held (P2PI_IOC_VMAP_HOLD)
 */
struct p2pi_status {
	__u32 revoke_calls;
	__u32 in_revoke;
	__u32 attached;
	__u32 revoked;
	__u32 mapped;
	__u32 vmapped;
};

#define P2PI_IOC_MAGIC		'P'
#define P2PI_IOC_ATTACH		_IOWR(P2PI_IOC_MAGIC, 1, struct p2pi_attach)
#define P2PI_IOC_DETACH		_IO(P2PI_IOC_MAGIC, 2)
#define P2PI_IOC_RW		_IOW(P2PI_IOC_MAGIC, 3, struct p2pi_rw)
#define P2PI_IOC_DMA		_IOW(P2PI_IOC_MAGIC, 4, struct p2pi_dma)
#define P2PI_IOC_STATUS		_IOR(P2PI_IOC_MAGIC, 5, struct p2pi_status)
/* The next revoke callback waits (10 s at most) for P2PI_IOC_RELEASE. */
#define P2PI_IOC_BLOCK_REVOKE	_IO(P2PI_IOC_MAGIC, 6)
#define P2PI_IOC_RELEASE	_IO(P2PI_IOC_MAGIC, 7)
/* Drop the attachment's DMA mapping, keep the attachment. */
#define P2PI_IOC_UNMAP		_IO(P2PI_IOC_MAGIC, 8)
/* Map the attachment again (pinning first if its mode pins). */
#define P2PI_IOC_MAP		_IO(P2PI_IOC_MAGIC, 12)
/* dma_buf_vmap() the dma-buf FD passed as argument and keep the mapping. */
#define P2PI_IOC_VMAP_HOLD	_IOW(P2PI_IOC_MAGIC, 9, __s32)
#define P2PI_IOC_VMAP_DROP	_IO(P2PI_IOC_MAGIC, 10)
/* Set the edu's DMA mask to the argument's number of bits (24..64). */
#define P2PI_IOC_DMA_MASK	_IOW(P2PI_IOC_MAGIC, 11, __u32)

#endif /* __P2PACC_IMPORTER_H__ */
