// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: buffer objects and their dma-bufs.
 *
 * A buffer is a GEM object holding one contiguous range of device memory
 * (BAR2). It is exported as a static dma-buf: the memory never moves, so
 * there is no pin/unpin, and an importer's mapping stays valid until the
 * buffer is revoked (p2pacc_revoke.c). The memory has no struct pages:
 * importers get bus addresses from dma_map_resource() and must be able to
 * take peer-to-peer memory; CPU importers get an __iomem mapping.
 *
 * Userspace maps a buffer through the device node (mmap offset ioctl) or
 * through the dma-buf FD. Both kinds of mapping are inserted page by page
 * by one fault handler and indexed in the DRM device's address space, so a
 * revoke zaps them all with one drm_vma_node_unmap().
 */
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_prime.h>
#include <drm/drm_vma_manager.h>
#include <drm/p2p_accel.h>

#include "p2pacc_drv.h"
#include "p2pacc_gem.h"

/* Longest sg entry we build, whatever the importer accepts. */
#define P2PACC_MAX_SEG		SZ_1G

static phys_addr_t p2pacc_bo_phys(struct p2pacc_bo *bo)
{
	dma_resv_assert_held(bo->base.resv);
	return p2pacc_bo_device(bo)->bar_phys + bo->node.start;
}

/* ---- dma-buf callbacks ------------------------------------------------ */

/*
 * Only importers that can be revoked and can reach device memory
 * peer-to-peer may attach: the memory goes away with its owner, so the
 * importer must give a revoke callback (or be dynamic), it must say it
 * takes peer-to-peer memory (attach->peer2peer), and the PCI topology
 * between it and the accelerator must allow it. The core refuses attaching
 * to a revoked buffer before this is called.
 */
static int p2pacc_dmabuf_attach(struct dma_buf *dmabuf,
				struct dma_buf_attachment *attach)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct device *dev = adev->drm.dev;
	int distance;

	if (!dma_buf_attachment_is_revocable(attach)) {
		dev_dbg(dev, "refusing attach by %s: importer cannot be revoked\n",
			dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	if (!attach->peer2peer) {
		dev_dbg(dev, "refusing attach by %s: importer cannot take peer-to-peer memory\n",
			dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	distance = pci_p2pdma_distance(adev->pdev, attach->dev, false);
	if (distance < 0) {
		dev_dbg(dev, "refusing attach by %s: PCI topology forbids peer-to-peer DMA\n",
			dev_name(attach->dev));
		return -EXDEV;
	}
	dev_dbg(dev, "attach by %s, p2p distance %d\n", dev_name(attach->dev),
		distance);
	return 0;
}

static void p2pacc_dmabuf_unmap_sgt(struct dma_buf_attachment *attach,
				    struct sg_table *sgt, unsigned int mapped,
				    enum dma_data_direction dir)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_sg(sgt, sg, i) {
		if (i == mapped)
			break;
		dma_unmap_resource(attach->dev, sg_dma_address(sg),
				   sg_dma_len(sg), dir, DMA_ATTR_SKIP_CPU_SYNC);
	}
	sg_free_table(sgt);
	kfree(sgt);
}

/*
 * Called with the reservation held. The table has no pages: each entry
 * carries a bus address from dma_map_resource() for the importing device,
 * at most the importer's segment size long.
 *
 * On x86 and without an IOMMU, the bus address of a BAR behind a switch is
 * its CPU physical address, which is what dma_map_resource() gives.
 */
static struct sg_table *p2pacc_dmabuf_map(struct dma_buf_attachment *attach,
					  enum dma_data_direction dir)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(attach->dmabuf->priv);
	u64 size = bo->base.size, seg, off = 0;
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned int i;
	phys_addr_t phys;
	int ret;

	dma_resv_assert_held(bo->base.resv);
	if (bo->revoked)
		return ERR_PTR(-ENODEV);
	if (!attach->peer2peer)
		return ERR_PTR(-EOPNOTSUPP);

	seg = min_t(u64, dma_get_max_seg_size(attach->dev), P2PACC_MAX_SEG);
	seg = max_t(u64, round_down(seg, PAGE_SIZE), PAGE_SIZE);

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(sgt, DIV_ROUND_UP(size, seg), GFP_KERNEL);
	if (ret) {
		kfree(sgt);
		return ERR_PTR(ret);
	}

	phys = p2pacc_bo_phys(bo);
	for_each_sgtable_sg(sgt, sg, i) {
		u64 len = min(seg, size - off);
		dma_addr_t addr;

		addr = dma_map_resource(attach->dev, phys + off, len, dir,
					DMA_ATTR_SKIP_CPU_SYNC);
		if (dma_mapping_error(attach->dev, addr)) {
			p2pacc_dmabuf_unmap_sgt(attach, sgt, i, dir);
			return ERR_PTR(-EIO);
		}
		sg->length = len;
		sg_dma_address(sg) = addr;
		sg_dma_len(sg) = len;
		off += len;
	}
	return sgt;
}

static void p2pacc_dmabuf_unmap(struct dma_buf_attachment *attach,
				struct sg_table *sgt,
				enum dma_data_direction dir)
{
	p2pacc_dmabuf_unmap_sgt(attach, sgt, sgt->orig_nents, dir);
}

/* Called with the reservation held. */
static int p2pacc_dmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);
	struct p2pacc_device *adev = p2pacc_bo_device(bo);

	dma_resv_assert_held(bo->base.resv);
	if (bo->revoked)
		return -ENODEV;
	iosys_map_set_vaddr_iomem(map, adev->bar + bo->node.start);
	return 0;
}

/*
 * Device memory is mapped write-combined everywhere and the device has no
 * cache of its own: there is nothing to flush, only a dead buffer to
 * report.
 */
static int p2pacc_dmabuf_begin_cpu_access(struct dma_buf *dmabuf,
					  enum dma_data_direction dir)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);

	return READ_ONCE(bo->revoked) ? -ENODEV : 0;
}

static int p2pacc_dmabuf_end_cpu_access(struct dma_buf *dmabuf,
					enum dma_data_direction dir)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);

	return READ_ONCE(bo->revoked) ? -ENODEV : 0;
}

static int p2pacc_dmabuf_mmap(struct dma_buf *dmabuf,
			      struct vm_area_struct *vma)
{
	struct drm_gem_object *obj = dmabuf->priv;

	/*
	 * The dma-buf file shares the DRM device's address space
	 * (drm_gem_dmabuf_export()); index this mapping like one made
	 * through the device node so that revoke finds it.
	 */
	vma->vm_pgoff += drm_vma_node_start(&obj->vma_node);
	return drm_gem_mmap_obj(obj, obj->size, vma);
}

static void p2pacc_dmabuf_release(struct dma_buf *dmabuf)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);

	dma_resv_lock(bo->base.resv, NULL);
	bo->dmabuf = NULL;
	dma_resv_unlock(bo->base.resv);

	/* Drops the buffer's reference: @bo may be gone after this. */
	drm_gem_dmabuf_release(dmabuf);
}

static const struct dma_buf_ops p2pacc_dmabuf_ops = {
	.attach			= p2pacc_dmabuf_attach,
	.map_dma_buf		= p2pacc_dmabuf_map,
	.unmap_dma_buf		= p2pacc_dmabuf_unmap,
	.release		= p2pacc_dmabuf_release,
	.begin_cpu_access	= p2pacc_dmabuf_begin_cpu_access,
	.end_cpu_access		= p2pacc_dmabuf_end_cpu_access,
	.mmap			= p2pacc_dmabuf_mmap,
	.vmap			= p2pacc_dmabuf_vmap,
};

/* ---- GEM object callbacks --------------------------------------------- */

/*
 * One page per fault, under the reservation: a revoke either comes before
 * (SIGBUS) or after (and zaps what was inserted).
 */
static vm_fault_t p2pacc_gem_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct drm_gem_object *obj = vma->vm_private_data;
	struct p2pacc_bo *bo = to_p2pacc_bo(obj);
	pgoff_t page = vmf->pgoff - drm_vma_node_start(&obj->vma_node);
	vm_fault_t ret;

	if (page >= obj->size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;

	if (dma_resv_lock_interruptible(obj->resv, NULL))
		return VM_FAULT_NOPAGE;
	if (bo->revoked)
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vma, vmf->address,
				     PHYS_PFN(p2pacc_bo_phys(bo)) + page);
	dma_resv_unlock(obj->resv);
	return ret;
}

static const struct vm_operations_struct p2pacc_gem_vm_ops = {
	.fault	= p2pacc_gem_fault,
	.open	= drm_gem_vm_open,
	.close	= drm_gem_vm_close,
};

static int p2pacc_gem_mmap(struct drm_gem_object *obj,
			   struct vm_area_struct *vma)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(obj);
	bool revoked;
	int ret;

	/* Device memory cannot back copy-on-write pages. */
	if (is_cow_mapping(vma->vm_flags))
		return -EINVAL;

	ret = dma_resv_lock_interruptible(obj->resv, NULL);
	if (ret)
		return ret;
	revoked = bo->revoked;
	dma_resv_unlock(obj->resv);
	if (revoked)
		return -ENODEV;

	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_page_prot = pgprot_writecombine(vm_get_page_prot(vma->vm_flags));
	return 0;
}

static struct dma_buf *p2pacc_gem_export(struct drm_gem_object *obj,
					 int flags)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(obj);
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct dma_buf *dmabuf;

	if (READ_ONCE(bo->revoked))
		return ERR_PTR(-ENODEV);

	/* .owner is THIS_MODULE: the module stays while the dma-buf lives. */
	exp_info.ops = &p2pacc_dmabuf_ops;
	exp_info.size = obj->size;
	exp_info.flags = flags;
	exp_info.priv = obj;
	exp_info.resv = obj->resv;
	dmabuf = drm_gem_dmabuf_export(obj->dev, &exp_info);
	if (IS_ERR(dmabuf))
		return dmabuf;

	dma_resv_lock(obj->resv, NULL);
	bo->dmabuf = dmabuf;
	/* A revoke since the check above did not see this dma-buf. */
	if (bo->revoked)
		dma_buf_revoke(dmabuf);
	dma_resv_unlock(obj->resv);
	return dmabuf;
}

static void p2pacc_gem_free(struct drm_gem_object *obj)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(obj);
	struct p2pacc_device *adev = p2pacc_bo_device(bo);

	mutex_lock(&adev->bo_lock);
	list_del_init(&bo->link);
	mutex_unlock(&adev->bo_lock);

	p2pacc_devmem_free(&adev->devmem, &bo->node);
	drm_gem_free_mmap_offset(obj);
	drm_gem_object_release(obj);
	kfree(bo);
}

static const struct drm_gem_object_funcs p2pacc_gem_funcs = {
	.free		= p2pacc_gem_free,
	.export		= p2pacc_gem_export,
	.mmap		= p2pacc_gem_mmap,
	.vm_ops		= &p2pacc_gem_vm_ops,
};

/* ---- creation and ioctls ---------------------------------------------- */

static struct p2pacc_bo *p2pacc_bo_create(struct p2pacc_device *adev,
					  u64 size, u64 alignment)
{
	struct p2pacc_bo *bo;
	int ret;

	bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	if (!bo)
		return ERR_PTR(-ENOMEM);

	INIT_LIST_HEAD(&bo->link);
	bo->base.funcs = &p2pacc_gem_funcs;
	drm_gem_private_object_init(&adev->drm, &bo->base, size);

	ret = p2pacc_devmem_alloc(&adev->devmem, &bo->node, size, alignment);
	if (ret)
		goto err_put;
	ret = drm_gem_create_mmap_offset(&bo->base);
	if (ret)
		goto err_put;

	/* Never hand out what an earlier owner left in device memory. */
	memset_io(adev->bar + bo->node.start, 0, size);

	mutex_lock(&adev->bo_lock);
	list_add_tail(&bo->link, &adev->bos);
	mutex_unlock(&adev->bo_lock);
	return bo;

err_put:
	drm_gem_object_put(&bo->base);
	return ERR_PTR(ret);
}

static int p2pacc_alloc_args_check(struct p2pacc_device *adev,
				   const struct drm_p2pacc_alloc *args,
				   u64 *size, u64 *alignment)
{
	u64 mem_size = adev->devmem.size;

	if (args->flags)
		return -EINVAL;
	if (!args->size || args->size > mem_size)
		return -EINVAL;
	if (args->alignment &&
	    (!is_power_of_2(args->alignment) ||
	     args->alignment < P2PACC_DEVMEM_ALIGN ||
	     args->alignment > mem_size))
		return -EINVAL;

	*size = ALIGN(args->size, P2PACC_DEVMEM_ALIGN);
	*alignment = args->alignment ?: P2PACC_DEVMEM_ALIGN;
	return 0;
}

/**
 * p2pacc_alloc_ioctl() - DRM_IOCTL_P2PACC_ALLOC: allocate a buffer
 * @drm: DRM device
 * @data: &struct drm_p2pacc_alloc
 * @file: the owner's file
 *
 * Return: 0 with a new handle, -EINVAL on bad arguments, -ENOMEM when no
 * free range of device memory is large enough, -ENODEV once unplugged.
 */
int p2pacc_alloc_ioctl(struct drm_device *drm, void *data,
		       struct drm_file *file)
{
	struct p2pacc_device *adev = to_p2pacc_device(drm);
	struct drm_p2pacc_alloc *args = data;
	u64 size, alignment, dev_offset;
	struct p2pacc_bo *bo;
	int ret, idx;

	ret = p2pacc_alloc_args_check(adev, args, &size, &alignment);
	if (ret)
		return ret;

	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;

	bo = p2pacc_bo_create(adev, size, alignment);
	if (IS_ERR(bo)) {
		ret = PTR_ERR(bo);
		goto out;
	}
	dev_offset = bo->node.start;

	ret = drm_gem_handle_create(file, &bo->base, &args->handle);
	drm_gem_object_put(&bo->base);
	if (ret)
		goto out;

	args->size = size;
	args->dev_offset = dev_offset;
out:
	drm_dev_exit(idx);
	return ret;
}

/**
 * p2pacc_mmap_offset_ioctl() - DRM_IOCTL_P2PACC_MMAP_OFFSET
 * @drm: DRM device
 * @data: &struct drm_p2pacc_mmap_offset
 * @file: the owner's file
 *
 * Return: 0, -EINVAL on flags, -ENOENT on a bad handle, -ENODEV when the
 * buffer was revoked.
 */
int p2pacc_mmap_offset_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file)
{
	struct drm_p2pacc_mmap_offset *args = data;
	struct drm_gem_object *obj;
	int ret = 0;

	if (args->flags)
		return -EINVAL;

	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;

	if (READ_ONCE(to_p2pacc_bo(obj)->revoked))
		ret = -ENODEV;
	else
		args->offset = drm_vma_node_offset_addr(&obj->vma_node);

	drm_gem_object_put(obj);
	return ret;
}
