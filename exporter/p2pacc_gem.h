/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: buffer objects (GEM) backed by device memory, and their
 * dma-bufs.
 */
#ifndef __P2PACC_GEM_H__
#define __P2PACC_GEM_H__

#include <linux/completion.h>
#include <linux/list.h>
#include <drm/drm_gem.h>
#include <drm/drm_mm.h>

struct dma_buf;
struct drm_file;
struct p2pacc_device;

/**
 * struct p2pacc_bo - a buffer of device memory
 *
 * @revoked, @maps, @vmaps and @dmabuf are read and written under the
 * buffer's dma_resv lock (&drm_gem_object.resv), which is also the lock of
 * its dma-buf. Once @revoked is set it never clears; @node stays allocated
 * until no importer can reach it (p2pacc_bo_revoke()), then goes back to
 * the allocator.
 */
struct p2pacc_bo {
	/** @base: GEM object; &drm_gem_object.resv is the buffer's lock. */
	struct drm_gem_object base;
	/** @node: range of device memory, freed by revoke or by free. */
	struct drm_mm_node node;
	/** @link: entry in &p2pacc_device.bos, under its bo_lock. */
	struct list_head link;
	/** @dmabuf: the exported dma-buf while it exists (no reference). */
	struct dma_buf *dmabuf;
	/** @maps: DMA mappings of the dma-buf held by importers. */
	unsigned int maps;
	/** @vmaps: kernel mappings (dma_buf_vmap()) held by importers. */
	unsigned int vmaps;
	/** @unmapped: completed when a revoked buffer loses its last mapping. */
	struct completion unmapped;
	/** @revoked: no new access; the memory goes once @maps and @vmaps are 0. */
	bool revoked;
};

static inline struct p2pacc_bo *to_p2pacc_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct p2pacc_bo, base);
}

static inline struct p2pacc_device *p2pacc_bo_device(struct p2pacc_bo *bo)
{
	return container_of(bo->base.dev, struct p2pacc_device, drm);
}

void p2pacc_bo_release_memory(struct p2pacc_bo *bo);
int p2pacc_alloc_ioctl(struct drm_device *drm, void *data,
		       struct drm_file *file);
int p2pacc_mmap_offset_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file);

#endif /* __P2PACC_GEM_H__ */
