// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: exclusive ownership and revocation.
 *
 * One file owns the device at a time; open() while it is open gives EBUSY.
 * Every buffer belongs to the owner. When the owner goes away, when the
 * device is reset and when it is unbound, each live buffer is revoked:
 *
 *   1. under the buffer's reservation (the dma-buf's resv): mark it
 *      revoked, so mmap and faults fail from now on; dma_buf_revoke()
 *      runs every importer's revoke callback, waits for their fences and
 *      makes the core refuse attach, map and vmap; zap every CPU mapping
 *      made through the device node or the dma-buf FD;
 *   2. then, with no importer or mapping left to reach it, give the
 *      device memory back.
 *
 * Only revocable importers can attach (p2pacc_dmabuf_attach()), so the
 * revoke reaches every importer.
 *
 * A dma-buf FD that outlives the revoke stays a valid FD; every use of it
 * fails with ENODEV until it is closed.
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_print.h>
#include <drm/drm_vma_manager.h>
#include <drm/p2p_accel.h>

#include "p2pacc_drv.h"
#include "p2pacc_gem.h"
#include "p2pacc_revoke.h"

/**
 * p2pacc_bo_revoke() - cut every access to a buffer, then free its memory
 * @bo: buffer; the caller holds a reference
 *
 * The one place that tells importers.
 *
 * Context: process context; takes the buffer's dma_resv lock, so the
 * caller must not hold it nor any lock ordered after it.
 */
void p2pacc_bo_revoke(struct p2pacc_bo *bo)
{
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct drm_gem_object *obj = &bo->base;
	int ret = 0;

	mutex_lock(&adev->bo_lock);
	list_del_init(&bo->link);
	mutex_unlock(&adev->bo_lock);

	dma_resv_lock(obj->resv, NULL);
	if (bo->revoked) {
		dma_resv_unlock(obj->resv);
		return;
	}
	WRITE_ONCE(bo->revoked, true);
	if (bo->dmabuf)
		ret = dma_buf_revoke(bo->dmabuf);
	drm_vma_node_unmap(&obj->vma_node, obj->dev->anon_inode->i_mapping);
	dma_resv_unlock(obj->resv);

	/*
	 * attach refuses importers that cannot be revoked; should one get in
	 * anyway, it may still reach the range, which then stays allocated
	 * until the buffer is freed.
	 */
	if (drm_WARN_ON_ONCE(&adev->drm, ret))
		return;

	/* Nothing can reach the range any more: reclaim it. */
	p2pacc_devmem_free(&adev->devmem, &bo->node);
	atomic64_inc(&adev->revoked_total);
}

/**
 * p2pacc_revoke_all() - revoke every buffer of the device
 * @adev: device
 * @why: what happened, for the kernel log
 *
 * Buffers whose last reference is being dropped right now are left to
 * their free path, which gives their memory back; nothing can reach them.
 *
 * Context: takes @adev->bo_lock and the buffers' dma_resv locks.
 * Return: the number of buffers revoked.
 */
unsigned int p2pacc_revoke_all(struct p2pacc_device *adev, const char *why)
{
	struct p2pacc_bo *bo, *tmp;
	unsigned int n = 0;
	LIST_HEAD(victims);

	mutex_lock(&adev->bo_lock);
	list_for_each_entry_safe(bo, tmp, &adev->bos, link) {
		if (kref_get_unless_zero(&bo->base.refcount))
			list_move_tail(&bo->link, &victims);
	}
	mutex_unlock(&adev->bo_lock);

	/* p2pacc_bo_revoke() takes each buffer off @victims. */
	list_for_each_entry_safe(bo, tmp, &victims, link) {
		p2pacc_bo_revoke(bo);
		drm_gem_object_put(&bo->base);
		n++;
	}

	atomic64_inc(&adev->resets);
	if (n)
		drm_info(&adev->drm, "%s: revoked %u buffer(s), device memory reclaimed\n",
			 why, n);
	return n;
}

/**
 * p2pacc_reset() - simulate a catastrophic error: revoke everything
 * @adev: device
 * @why: what asked for it, for the kernel log
 *
 * The owner (if any) keeps its file and its handles, which now name dead
 * buffers.
 */
void p2pacc_reset(struct p2pacc_device *adev, const char *why)
{
	mutex_lock(&adev->owner_lock);
	p2pacc_revoke_all(adev, why);
	mutex_unlock(&adev->owner_lock);
}

/**
 * p2pacc_owner_open() - &drm_driver.open: admit one owner at a time
 * @drm: DRM device
 * @file: the file being opened
 *
 * Return: 0, or -EBUSY while another file owns the device.
 */
int p2pacc_owner_open(struct drm_device *drm, struct drm_file *file)
{
	struct p2pacc_device *adev = to_p2pacc_device(drm);
	int ret = 0;

	mutex_lock(&adev->owner_lock);
	if (adev->owner)
		ret = -EBUSY;
	else
		adev->owner = file;
	mutex_unlock(&adev->owner_lock);
	return ret;
}

/**
 * p2pacc_owner_close() - &drm_driver.postclose: the owner is gone
 * @drm: DRM device
 * @file: the file being closed
 *
 * Its handles are already closed; buffers still alive are exported (or
 * mapped through a dma-buf) and are revoked before the next owner may
 * open the device.
 */
void p2pacc_owner_close(struct drm_device *drm, struct drm_file *file)
{
	struct p2pacc_device *adev = to_p2pacc_device(drm);

	mutex_lock(&adev->owner_lock);
	if (adev->owner == file) {
		p2pacc_revoke_all(adev, "owner closed");
		adev->owner = NULL;
	}
	mutex_unlock(&adev->owner_lock);
}

/**
 * p2pacc_reset_ioctl() - DRM_IOCTL_P2PACC_RESET (CAP_SYS_ADMIN)
 * @drm: DRM device
 * @data: &struct drm_p2pacc_reset
 * @file: the owner's file
 *
 * Return: 0, -EINVAL on flags or padding, -ENODEV once unplugged.
 */
int p2pacc_reset_ioctl(struct drm_device *drm, void *data,
		       struct drm_file *file)
{
	struct drm_p2pacc_reset *args = data;
	int idx;

	if (args->flags || args->pad)
		return -EINVAL;
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	p2pacc_reset(to_p2pacc_device(drm), "reset by ioctl");
	drm_dev_exit(idx);
	return 0;
}
