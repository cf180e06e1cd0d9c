// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: exclusive ownership and revocation.
 *
 * One file owns the device at a time; open() while it is open gives EBUSY.
 * Every buffer belongs to the owner. When the owner goes away, when the
 * device is reset (debugfs, a PCI function reset, error recovery), when the
 * system suspends and when the device is unbound, each live buffer is
 * revoked, the way mainline's revocable exporters do it:
 *
 *   1. under the buffer's reservation (the dma-buf's resv): mark it
 *      revoked, so attach, map, vmap, mmap and faults fail from now on;
 *      dma_buf_invalidate_mappings() tells every importer, which stops
 *      its device and unmaps; zap every CPU mapping made through the
 *      device node or the dma-buf FD;
 *   2. wait for the fences of the reservation: until they signal,
 *      importers may still access the memory;
 *   3. wait until every DMA mapping and every vmap of the buffer is gone,
 *      with a warning every second while an importer keeps one, then for
 *      fences added meanwhile;
 *   4. only then scrub the memory and give it back to the allocator.
 *
 * The waits are not bounded by the driver: an importer that breaks its
 * promise to unmap keeps the caller (the owner's close, a reset, suspend,
 * unbind) waiting, with a warning in the log every second, rather than
 * having the memory reused under it.
 *
 * Only importers that implement invalidate_mappings can attach
 * (p2pacc_dmabuf_attach()), so step 3 ends in bounded time unless an
 * importer breaks that promise; then the memory stays allocated, and the
 * log says so, until it does unmap.
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

#include "p2pacc_drv.h"
#include "p2pacc_gem.h"
#include "p2pacc_revoke.h"

/* Until the last DMA mapping and vmap of a revoked buffer are gone. */
static void p2pacc_bo_wait_unmapped(struct p2pacc_bo *bo)
{
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct drm_gem_object *obj = &bo->base;
	unsigned int maps, vmaps, seconds = 0;

	for (;;) {
		dma_resv_lock(obj->resv, NULL);
		maps = bo->maps;
		vmaps = bo->vmaps;
		/* Under the lock: the last unmap completes after this. */
		if (maps || vmaps)
			reinit_completion(&bo->unmapped);
		dma_resv_unlock(obj->resv);
		if (!maps && !vmaps)
			break;
		if (seconds)
			drm_warn(&adev->drm,
				 "revoked buffer 0x%llx+0x%zx: %us waiting for importers to drop %u DMA mapping(s) and %u vmap(s)\n",
				 bo->node.start, obj->size, seconds, maps, vmaps);
		wait_for_completion_timeout(&bo->unmapped, HZ);
		seconds++;
	}
	if (seconds > 1)
		drm_info(&adev->drm, "revoked buffer 0x%llx+0x%zx: importers let go after %us\n",
			 bo->node.start, obj->size, seconds);
}

/**
 * p2pacc_bo_revoke() - cut every access to a buffer, then free its memory
 * @bo: buffer; the caller holds a reference
 *
 * Returns once nobody can reach the memory and it is back in the
 * allocator.
 *
 * Context: process context; takes the buffer's dma_resv lock and sleeps
 * until importers have unmapped, so the caller must not hold the dma_resv
 * lock nor anything an importer needs to unmap.
 */
void p2pacc_bo_revoke(struct p2pacc_bo *bo)
{
	struct p2pacc_device *adev = p2pacc_bo_device(bo);
	struct drm_gem_object *obj = &bo->base;

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
		dma_buf_invalidate_mappings(bo->dmabuf);
	drm_vma_node_unmap(&obj->vma_node, obj->dev->anon_inode->i_mapping);
	dma_resv_unlock(obj->resv);

	dma_resv_wait_timeout(obj->resv, DMA_RESV_USAGE_BOOKKEEP, false,
			      MAX_SCHEDULE_TIMEOUT);
	p2pacc_bo_wait_unmapped(bo);
	/* A dynamic importer may unmap before its own fence signalled. */
	dma_resv_wait_timeout(obj->resv, DMA_RESV_USAGE_BOOKKEEP, false,
			      MAX_SCHEDULE_TIMEOUT);

	p2pacc_bo_release_memory(bo);
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

	/*
	 * p2pacc_bo_revoke() takes each buffer off @victims (under bo_lock,
	 * like any list_del of a buffer's link).
	 */
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
 * p2pacc_reset() - the device memory is lost: revoke everything
 * @adev: device
 * @why: what happened, for the kernel log
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
 * p2pacc_reset_begin() - the device goes into reset: revoke, refuse buffers
 * @adev: device
 * @why: what happened, for the kernel log
 *
 * Until p2pacc_reset_end(), allocations fail with -EBUSY, so nothing
 * touches device memory while the device is in reset.
 */
void p2pacc_reset_begin(struct p2pacc_device *adev, const char *why)
{
	mutex_lock(&adev->owner_lock);
	adev->resetting = true;
	p2pacc_revoke_all(adev, why);
	mutex_unlock(&adev->owner_lock);
}

/**
 * p2pacc_reset_end() - the device is back: allocations work again
 * @adev: device
 */
void p2pacc_reset_end(struct p2pacc_device *adev)
{
	mutex_lock(&adev->owner_lock);
	adev->resetting = false;
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

	/* A revoke in progress may hold the lock for long. */
	if (mutex_lock_interruptible(&adev->owner_lock))
		return -ERESTARTSYS;
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
