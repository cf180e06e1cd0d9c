// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: buffer objects and their dma-bufs.
 *
 * A buffer is a GEM object holding one contiguous range of device memory
 * (BAR2). It is exported as a static dma-buf: the memory never moves, so
 * there is no pin/unpin, and an importer's mapping stays valid until the
 * buffer is revoked (p2pacc_revoke.c). The memory has no struct pages:
 * importers must take peer-to-peer memory and get an sg_table of DMA
 * addresses only, which follow the PCI route to them (p2pacc_p2p.c); CPU
 * importers get an __iomem mapping. Every DMA mapping and vmap is
 * counted, so that a revoke can wait until the last one is gone.
 *
 * Userspace maps a buffer through the device node (mmap offset ioctl) or
 * through the dma-buf FD. Both kinds of mapping are inserted page by page
 * by one fault handler and indexed in the DRM device's address space, so a
 * revoke zaps them all with one drm_vma_node_unmap().
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_prime.h>
#include <drm/drm_vma_manager.h>
#include <drm/p2p_accel.h>

#include "p2pacc_drv.h"
#include "p2pacc_gem.h"
#include "p2pacc_p2p.h"

static phys_addr_t p2pacc_bo_phys(struct p2pacc_bo *bo)
{
	dma_resv_assert_held(bo->base.resv);
	return p2pacc_bo_device(bo)->bar_phys + bo->node.start;
}

/* ---- dma-buf callbacks ------------------------------------------------ */

/*
 * Device memory goes away with its owner, a reset or an unplug, so only
 * importers that stop using it when told to may attach: those that ask for
 * peer-to-peer memory (it has no struct pages) and implement
 * invalidate_mappings, i.e. unmap within bounded time after a revoke.
 *
 * The memory cannot move, so a PCI function that the route or its DMA mask
 * keeps from reaching it is refused here, where importers expect it and
 * can fall back. A device that is no PCI function does no peer-to-peer DMA:
 * it may attach - a CPU importer that only vmaps the buffer (rxe) needs no
 * route - and any DMA mapping it asks for is refused in
 * p2pacc_dmabuf_map(), which checks every mapping again.
 */
static int p2pacc_dmabuf_attach(struct dma_buf *dmabuf,
				struct dma_buf_attachment *attach)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct device *dev = adev->drm.dev;

	if (!attach->peer2peer) {
		dev_dbg(dev, "refusing attach by %s: importer cannot take peer-to-peer memory\n",
			dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	/* A hint only: map checks again under the reservation. */
	if (READ_ONCE(bo->revoked))
		return -ENODEV;
	if (!dma_buf_attach_revocable(attach)) {
		dev_dbg(dev, "refusing attach by %s: importer cannot be revoked\n",
			dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	if (!dev_is_pci(attach->dev))
		return 0;
	/* A hint, read without the lock: every mapping is checked again. */
	return p2pacc_p2p_check(adev, attach->dev,
				adev->bar_phys + bo->node.start, bo->base.size);
}

/* The last mapping of a revoked buffer is gone: its memory may go. */
static void p2pacc_bo_put_mapping(struct p2pacc_bo *bo)
{
	dma_resv_assert_held(bo->base.resv);
	if (bo->revoked && !bo->maps && !bo->vmaps)
		complete_all(&bo->unmapped);
}

/* Called with the reservation held. */
static struct sg_table *p2pacc_dmabuf_map(struct dma_buf_attachment *attach,
					  enum dma_data_direction dir)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(attach->dmabuf->priv);
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct sg_table *sgt;
	int ret;

	dma_resv_assert_held(bo->base.resv);
	if (bo->revoked)
		return ERR_PTR(-ENODEV);

	ret = p2pacc_p2p_check(adev, attach->dev, p2pacc_bo_phys(bo),
			       bo->base.size);
	if (ret)
		return ERR_PTR(ret);
	sgt = p2pacc_p2p_map(adev, attach, p2pacc_bo_phys(bo), bo->base.size,
			     dir);
	if (!IS_ERR(sgt))
		bo->maps++;
	return sgt;
}

/* Called with the reservation held, also after a revoke. */
static void p2pacc_dmabuf_unmap(struct dma_buf_attachment *attach,
				struct sg_table *sgt,
				enum dma_data_direction dir)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(attach->dmabuf->priv);

	dma_resv_assert_held(bo->base.resv);
	p2pacc_p2p_unmap(attach, sgt, dir);
	if (!WARN_ON(!bo->maps))
		bo->maps--;
	p2pacc_bo_put_mapping(bo);
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
	bo->vmaps++;
	return 0;
}

/* Called with the reservation held, also after a revoke. */
static void p2pacc_dmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct p2pacc_bo *bo = to_p2pacc_bo(dmabuf->priv);

	dma_resv_assert_held(bo->base.resv);
	if (!WARN_ON(!bo->vmaps))
		bo->vmaps--;
	p2pacc_bo_put_mapping(bo);
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
	.vunmap			= p2pacc_dmabuf_vunmap,
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

	/*
	 * A revoke since the check above did not see this dma-buf, but it
	 * has no attachment yet, and map and vmap check @revoked.
	 */
	dma_resv_lock(obj->resv, NULL);
	bo->dmabuf = dmabuf;
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

	/*
	 * A revoked buffer gave its memory back already. Otherwise no
	 * importer is left (each held a reference), but work it fenced may
	 * still run.
	 */
	if (!bo->revoked) {
		dma_resv_wait_timeout(obj->resv, DMA_RESV_USAGE_BOOKKEEP, false,
				      MAX_SCHEDULE_TIMEOUT);
		p2pacc_bo_release_memory(bo);
	}
	drm_gem_free_mmap_offset(obj);
	drm_gem_object_release(obj);
	kfree(bo);
}

/*
 * For fdinfo: a revoked buffer still has its handle (drm-total-memory)
 * but no device memory any more (not in drm-resident-memory). A racy read
 * of @revoked is good enough for statistics.
 */
static enum drm_gem_object_status p2pacc_gem_status(struct drm_gem_object *obj)
{
	return READ_ONCE(to_p2pacc_bo(obj)->revoked) ? 0 :
	       DRM_GEM_OBJECT_RESIDENT;
}

static const struct drm_gem_object_funcs p2pacc_gem_funcs = {
	.free		= p2pacc_gem_free,
	.status		= p2pacc_gem_status,
	.export		= p2pacc_gem_export,
	.mmap		= p2pacc_gem_mmap,
	.vm_ops		= &p2pacc_gem_vm_ops,
};

/* ---- creation and ioctls ---------------------------------------------- */

/**
 * p2pacc_bo_release_memory() - scrub a buffer's device memory, give it back
 * @bo: buffer that no importer, CPU mapping or device can reach any more
 *
 * Nothing of one owner is left for the next. Once the device is unplugged,
 * or its link is down (PCIe error recovery), its memory is gone and is not
 * touched.
 */
void p2pacc_bo_release_memory(struct p2pacc_bo *bo)
{
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	int idx;

	if (!drm_mm_node_allocated(&bo->node))
		return;
	if (!pci_channel_offline(adev->pdev) && drm_dev_enter(&adev->drm, &idx)) {
		memset_io(adev->bar + bo->node.start, 0, bo->base.size);
		drm_dev_exit(idx);
	}
	p2pacc_devmem_free(&adev->devmem, &bo->node);
}

static struct p2pacc_bo *p2pacc_bo_create(struct p2pacc_device *adev,
					  u64 size, u64 alignment)
{
	struct p2pacc_bo *bo;
	int ret;

	bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	if (!bo)
		return ERR_PTR(-ENOMEM);

	INIT_LIST_HEAD(&bo->link);
	init_completion(&bo->unmapped);
	bo->base.funcs = &p2pacc_gem_funcs;
	drm_gem_private_object_init(&adev->drm, &bo->base, size);

	ret = p2pacc_devmem_alloc(&adev->devmem, &bo->node, size, alignment);
	if (ret)
		goto err_put;
	ret = drm_gem_create_mmap_offset(&bo->base);
	if (ret)
		goto err_put;

	/*
	 * Memory is scrubbed when it is given back; this covers what was
	 * there before the driver bound the device.
	 */
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
 * free range of device memory is large enough, -EBUSY while the device is
 * being reset, -ENODEV once unplugged.
 */
int p2pacc_alloc_ioctl(struct drm_device *drm, void *data,
		       struct drm_file *file)
{
	struct p2pacc_device *adev = to_p2pacc_device(drm);
	struct drm_p2pacc_alloc *args = data;
	u64 size, alignment;
	struct p2pacc_bo *bo;
	int ret, idx;

	ret = p2pacc_alloc_args_check(adev, args, &size, &alignment);
	if (ret)
		return ret;

	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;

	/*
	 * A reset revokes under owner_lock, so no buffer is born during one;
	 * a revoke may wait for importers for long.
	 */
	ret = mutex_lock_interruptible(&adev->owner_lock);
	if (ret)
		goto out;
	if (adev->resetting)
		bo = ERR_PTR(-EBUSY);
	else
		bo = p2pacc_bo_create(adev, size, alignment);
	mutex_unlock(&adev->owner_lock);
	if (IS_ERR(bo)) {
		ret = PTR_ERR(bo);
		goto out;
	}

	ret = drm_gem_handle_create(file, &bo->base, &args->handle);
	drm_gem_object_put(&bo->base);
	if (ret)
		goto out;

	args->size = size;
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
