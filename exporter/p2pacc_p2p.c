// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: how an importing device reaches device memory.
 *
 * Device memory is a BAR: it has no struct pages, and the address an
 * importer must use depends on the route between the two functions
 * (the p2pdma "map type"):
 *
 *  - both sit below a common PCI bridge, with no ACS redirection on the
 *    way: the request never leaves the switch and the importer uses the
 *    PCI bus address of the BAR;
 *  - the route crosses a host bridge that allows peer-to-peer: the
 *    importer needs a DMA mapping of the CPU physical address, an IOVA
 *    behind an IOMMU;
 *  - anything else: no peer-to-peer at all.
 *
 * Linux 7.0 builds such sg_tables with dma_buf_phys_vec_to_sgt() from the
 * PCI core's provider of the BAR; on 6.12, which has neither, this file
 * does the same with dma_map_resource() for the host bridge route. That
 * is the only difference between the two kernels in the driver.
 */
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/iommu-dma.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "p2pacc_drv.h"
#include "p2pacc_p2p.h"

#ifdef P2PACC_HAVE_DMA_BUF_MAPPING
#include <linux/dma-buf-mapping.h>
#endif

enum p2pacc_route {
	P2PACC_ROUTE_NONE,
	P2PACC_ROUTE_SWITCH,
	P2PACC_ROUTE_HOST_BRIDGE,
};

static bool p2pacc_p2p_acs_redirects(struct pci_dev *bridge)
{
	u16 ctrl;

	if (!bridge->acs_cap)
		return false;
	pci_read_config_word(bridge, bridge->acs_cap + PCI_ACS_CTRL, &ctrl);
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * The route the PCI core's p2pdma code takes for @client: it only tells
 * modules the distance, not the map type, so find the common upstream
 * bridge the same way it does.
 */
static enum p2pacc_route p2pacc_p2p_route(struct pci_dev *provider,
					  struct device *dev)
{
	struct pci_dev *client, *a, *b;

	if (!dev_is_pci(dev) || pci_p2pdma_distance(provider, dev, false) < 0)
		return P2PACC_ROUTE_NONE;
	client = to_pci_dev(dev);

	for (a = provider; a; a = pci_upstream_bridge(a)) {
		if (p2pacc_p2p_acs_redirects(a))
			return P2PACC_ROUTE_HOST_BRIDGE;
		for (b = client; b; b = pci_upstream_bridge(b)) {
			if (a != b)
				continue;
			for (b = client; b != a; b = pci_upstream_bridge(b))
				if (p2pacc_p2p_acs_redirects(b))
					return P2PACC_ROUTE_HOST_BRIDGE;
			return P2PACC_ROUTE_SWITCH;
		}
	}
	return P2PACC_ROUTE_HOST_BRIDGE;
}

static u64 p2pacc_p2p_bus_offset(struct p2pacc_device *adev)
{
#ifdef P2PACC_HAVE_DMA_BUF_MAPPING
	return adev->p2p.provider->bus_offset;
#else
	return adev->p2p.bus_offset;
#endif
}

/**
 * p2pacc_p2p_init() - set up the device memory BAR as a p2p provider
 * @adev: device, at probe
 *
 * Return: 0 or a negative errno.
 */
int p2pacc_p2p_init(struct p2pacc_device *adev)
{
#ifdef P2PACC_HAVE_DMA_BUF_MAPPING
	int ret;

	ret = pcim_p2pdma_init(adev->pdev);
	if (ret)
		return ret;
	adev->p2p.provider = pcim_p2pdma_provider(adev->pdev, P2PACC_DEVMEM_BAR);
	return adev->p2p.provider ? 0 : -EINVAL;
#else
	adev->p2p.bus_offset = pci_bus_address(adev->pdev, P2PACC_DEVMEM_BAR) -
			       pci_resource_start(adev->pdev, P2PACC_DEVMEM_BAR);
	return 0;
#endif
}

/**
 * p2pacc_p2p_check() - may @dev DMA to a range of device memory?
 * @adev: device
 * @dev: the importing device
 * @phys: CPU physical address of the range
 * @size: its length
 *
 * Checked when a PCI function attaches and before every DMA mapping: the
 * route between the two functions, and whether the addresses the importer will get fit its
 * DMA mask (dma-direct would otherwise warn when mapping). Behind an IOMMU
 * that translates DMA the IOVA is allocated within the mask.
 *
 * Return: 0, or -EXDEV when @dev cannot reach the range peer-to-peer.
 */
int p2pacc_p2p_check(struct p2pacc_device *adev, struct device *dev,
		     phys_addr_t phys, size_t size)
{
	dma_addr_t addr;

	switch (p2pacc_p2p_route(adev->pdev, dev)) {
	case P2PACC_ROUTE_SWITCH:
		addr = phys + p2pacc_p2p_bus_offset(adev);
		break;
	case P2PACC_ROUTE_HOST_BRIDGE:
		/*
		 * dma-iommu allocates the IOVA within the mask. dma-direct
		 * (no IOMMU, or an identity domain) hands out the physical
		 * address of the MMIO range as it is, and warns if the
		 * mask does not cover it.
		 */
		if (use_dma_iommu(dev))
			return 0;
		addr = phys;
		break;
	default:
		dev_dbg(adev->drm.dev, "%s: PCI topology forbids peer-to-peer DMA\n",
			dev_name(dev));
		return -EXDEV;
	}
	if (!dev->dma_mask || !dma_capable(dev, addr, size, false)) {
		dev_dbg(adev->drm.dev, "%s: DMA mask %#llx cannot reach %pad+%#zx\n",
			dev_name(dev), dma_get_mask(dev), &addr, size);
		return -EXDEV;
	}
	return 0;
}

#ifdef P2PACC_HAVE_DMA_BUF_MAPPING

/**
 * p2pacc_p2p_map() - sg_table of a range of device memory for an importer
 * @adev: device
 * @attach: the importer's attachment
 * @phys: CPU physical address of the range
 * @size: its length
 * @dir: DMA direction
 *
 * Context: the dma-buf's reservation lock is held.
 * Return: an sg_table without pages (only DMA addresses), or an ERR_PTR.
 */
struct sg_table *p2pacc_p2p_map(struct p2pacc_device *adev,
				struct dma_buf_attachment *attach,
				phys_addr_t phys, size_t size,
				enum dma_data_direction dir)
{
	struct phys_vec vec = { .paddr = phys, .len = size };

	return dma_buf_phys_vec_to_sgt(attach, adev->p2p.provider, &vec, 1,
				       size, dir);
}

/**
 * p2pacc_p2p_unmap() - undo p2pacc_p2p_map()
 * @attach: the importer's attachment
 * @sgt: the table
 * @dir: DMA direction
 */
void p2pacc_p2p_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt,
		      enum dma_data_direction dir)
{
	dma_buf_free_sgt(attach, sgt, dir);
}

#else /* !P2PACC_HAVE_DMA_BUF_MAPPING */

/*
 * The table as dma_buf_phys_vec_to_sgt() builds it, without pages: only
 * the DMA address and length of each entry are set. For the host bridge
 * route each entry is one dma_map_resource(), which unmap undoes.
 */
struct p2pacc_p2p_sgt {
	struct sg_table sgt;
	bool mapped;
};

static void p2pacc_p2p_unmap_entries(struct dma_buf_attachment *attach,
				     struct p2pacc_p2p_sgt *p, unsigned int n,
				     enum dma_data_direction dir)
{
	struct scatterlist *sg;
	unsigned int i;

	if (!p->mapped)
		return;
	for_each_sgtable_dma_sg(&p->sgt, sg, i) {
		if (i == n)
			break;
		dma_unmap_resource(attach->dev, sg_dma_address(sg),
				   sg_dma_len(sg), dir, DMA_ATTR_SKIP_CPU_SYNC);
	}
}

struct sg_table *p2pacc_p2p_map(struct p2pacc_device *adev,
				struct dma_buf_attachment *attach,
				phys_addr_t phys, size_t size,
				enum dma_data_direction dir)
{
	enum p2pacc_route route = p2pacc_p2p_route(adev->pdev, attach->dev);
	u64 seg = min_t(u64, dma_get_max_seg_size(attach->dev), SZ_2G);
	struct p2pacc_p2p_sgt *p;
	struct scatterlist *sg;
	u64 off = 0;
	unsigned int i;
	int ret;

	if (route == P2PACC_ROUTE_NONE)
		return ERR_PTR(-EINVAL);
	seg = max_t(u64, round_down(seg, PAGE_SIZE), PAGE_SIZE);

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(&p->sgt, DIV_ROUND_UP(size, seg), GFP_KERNEL);
	if (ret)
		goto err_free;
	p->mapped = route == P2PACC_ROUTE_HOST_BRIDGE;

	for_each_sgtable_dma_sg(&p->sgt, sg, i) {
		u64 len = min(seg, size - off);
		dma_addr_t addr;

		if (p->mapped) {
			addr = dma_map_resource(attach->dev, phys + off, len,
						dir, DMA_ATTR_SKIP_CPU_SYNC);
			if (dma_mapping_error(attach->dev, addr)) {
				p2pacc_p2p_unmap_entries(attach, p, i, dir);
				ret = -EIO;
				goto err_table;
			}
		} else {
			addr = phys + off + p2pacc_p2p_bus_offset(adev);
		}
		sg_dma_address(sg) = addr;
		sg_dma_len(sg) = len;
		off += len;
	}
	return &p->sgt;

err_table:
	sg_free_table(&p->sgt);
err_free:
	kfree(p);
	return ERR_PTR(ret);
}

void p2pacc_p2p_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt,
		      enum dma_data_direction dir)
{
	struct p2pacc_p2p_sgt *p = container_of(sgt, struct p2pacc_p2p_sgt, sgt);

	p2pacc_p2p_unmap_entries(attach, p, sgt->nents, dir);
	sg_free_table(sgt);
	kfree(p);
}

#endif /* P2PACC_HAVE_DMA_BUF_MAPPING */
