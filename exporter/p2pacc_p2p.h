/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: how an importing device reaches device memory, and the
 * page-less sg_tables that tell it.
 */
#ifndef __P2PACC_P2P_H__
#define __P2PACC_P2P_H__

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;
struct dma_buf_attachment;
struct p2pacc_device;
struct sg_table;

/*
 * P2PACC_HAVE_DMA_BUF_MAPPING (set by Kbuild when the kernel has
 * <linux/dma-buf-mapping.h>, 7.0 on): the kernel has the p2pdma provider
 * of a BAR and dma_buf_phys_vec_to_sgt(). 6.12 has neither, and
 * p2pacc_p2p.c carries the equivalent for it.
 */
/**
 * struct p2pacc_p2p - the device memory BAR as a peer-to-peer provider
 */
struct p2pacc_p2p {
#ifdef P2PACC_HAVE_DMA_BUF_MAPPING
	/** @provider: the PCI core's provider for the BAR. */
	struct p2pdma_provider *provider;
#else
	/** @bus_offset: PCI bus address minus CPU physical address. */
	u64 bus_offset;
#endif
};

int p2pacc_p2p_init(struct p2pacc_device *adev);
int p2pacc_p2p_check(struct p2pacc_device *adev, struct device *dev,
		     phys_addr_t phys, size_t size);
struct sg_table *p2pacc_p2p_map(struct p2pacc_device *adev,
				struct dma_buf_attachment *attach,
				phys_addr_t phys, size_t size,
				enum dma_data_direction dir);
void p2pacc_p2p_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt,
		      enum dma_data_direction dir);

#endif /* __P2PACC_P2P_H__ */
