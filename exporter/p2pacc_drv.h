/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: the device, its locks and the objects every file shares.
 */
#ifndef __P2PACC_DRV_H__
#define __P2PACC_DRV_H__

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>

#include "p2pacc_devmem.h"
#include "p2pacc_p2p.h"

#define P2PACC_DRIVER_NAME	"p2p_accel"
#define P2PACC_DEVMEM_BAR	2

/**
 * struct p2pacc_device - one accelerator (a QEMU ivshmem function)
 *
 * Lock order, outermost first:
 *
 *   @owner_lock -> dma_resv of a buffer -> @devmem.lock
 *   @bo_lock -> @devmem.lock
 *
 * @bo_lock is never held while a dma_resv lock is taken: revoking walks
 * @bos under @bo_lock only to take references, then drops it. The dma_resv
 * lock of a buffer is the lock of its exported dma-buf (they share it), so
 * every dma-buf callback that the core calls with the reservation held
 * (map, unmap, vmap, vunmap) sits inside that order too.
 *
 * A revoke waits, with @owner_lock held and no other lock, until importers
 * have unmapped: nothing an importer does to unmap may take @owner_lock.
 */
struct p2pacc_device {
	/** @drm: DRM device; the accel minor is /dev/accel/accelN. */
	struct drm_device drm;
	/** @pdev: the PCI function. */
	struct pci_dev *pdev;
	/** @bar_phys: CPU physical address of device memory (BAR2). */
	phys_addr_t bar_phys;
	/** @bar: kernel write-combined mapping of the whole of BAR2. */
	void __iomem *bar;
	/** @devmem: allocator of device memory. */
	struct p2pacc_devmem devmem;
	/** @p2p: device memory as a peer-to-peer provider. */
	struct p2pacc_p2p p2p;

	/**
	 * @owner_lock: protects @owner and serialises every revoke-all
	 * (owner close, reset, unbind) against open().
	 */
	struct mutex owner_lock;
	/** @owner: the one open file, or NULL. */
	struct drm_file *owner;
	/**
	 * @resetting: between a PCI reset's (or error recovery's) revoke and
	 * its end: no new buffer may touch the device. Under @owner_lock.
	 */
	bool resetting;

	/** @bo_lock: protects @bos and the &p2pacc_bo.link of each buffer. */
	struct mutex bo_lock;
	/** @bos: buffers that hold device memory (not yet revoked). */
	struct list_head bos;

	/** @revoked_total: buffers revoked since probe (debugfs). */
	atomic64_t revoked_total;
	/** @resets: revoke-all events since probe (debugfs). */
	atomic64_t resets;
};

static inline struct p2pacc_device *to_p2pacc_device(struct drm_device *drm)
{
	return container_of(drm, struct p2pacc_device, drm);
}

#endif /* __P2PACC_DRV_H__ */
