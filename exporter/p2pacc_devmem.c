// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: allocator of device memory.
 *
 * Device memory is BAR2 of the accelerator. Buffers get one contiguous,
 * aligned range each, from a drm_mm range allocator: a request either gets
 * the whole range or fails with -ENOMEM, never a part of it. Ranges never
 * move; they are given back when their buffer is freed or revoked.
 */
#include <linux/seq_file.h>
#include <drm/drm_print.h>

#include "p2pacc_devmem.h"

/**
 * p2pacc_devmem_init() - manage @size bytes of device memory
 * @dm: allocator
 * @size: bytes of device memory, a multiple of P2PACC_DEVMEM_ALIGN
 *
 * Return: 0, or -EINVAL when @size is unusable.
 */
int p2pacc_devmem_init(struct p2pacc_devmem *dm, u64 size)
{
	if (!size || !IS_ALIGNED(size, P2PACC_DEVMEM_ALIGN))
		return -EINVAL;

	mutex_init(&dm->lock);
	drm_mm_init(&dm->mm, 0, size);
	dm->size = size;
	dm->used = 0;
	return 0;
}

/**
 * p2pacc_devmem_fini() - tear the allocator down
 * @dm: allocator, with every range given back
 */
void p2pacc_devmem_fini(struct p2pacc_devmem *dm)
{
	mutex_lock(&dm->lock);
	WARN_ON(dm->used);
	drm_mm_takedown(&dm->mm);
	mutex_unlock(&dm->lock);
	mutex_destroy(&dm->lock);
}

/**
 * p2pacc_devmem_alloc() - take one range of device memory
 * @dm: allocator
 * @node: zeroed node that receives the range
 * @size: bytes, nonzero and a multiple of P2PACC_DEVMEM_ALIGN
 * @alignment: power of two, at least P2PACC_DEVMEM_ALIGN
 *
 * Return: 0, or -ENOMEM when no free range is large enough.
 */
int p2pacc_devmem_alloc(struct p2pacc_devmem *dm, struct drm_mm_node *node,
			u64 size, u64 alignment)
{
	int ret;

	if (WARN_ON(!size || !IS_ALIGNED(size, P2PACC_DEVMEM_ALIGN) ||
		    !is_power_of_2(alignment) ||
		    alignment < P2PACC_DEVMEM_ALIGN))
		return -EINVAL;

	mutex_lock(&dm->lock);
	ret = drm_mm_insert_node_generic(&dm->mm, node, size, alignment, 0,
					 DRM_MM_INSERT_BEST);
	if (!ret)
		dm->used += size;
	mutex_unlock(&dm->lock);

	/* drm_mm says -ENOSPC; for a caller it is a lack of memory. */
	return ret == -ENOSPC ? -ENOMEM : ret;
}

/**
 * p2pacc_devmem_free() - give a range back, if @node holds one
 * @dm: allocator
 * @node: node filled by p2pacc_devmem_alloc(), or never filled
 *
 * Safe to call more than once: a buffer is reclaimed by revoke or by its
 * last reference, whichever comes first.
 */
void p2pacc_devmem_free(struct p2pacc_devmem *dm, struct drm_mm_node *node)
{
	mutex_lock(&dm->lock);
	if (drm_mm_node_allocated(node)) {
		dm->used -= node->size;
		drm_mm_remove_node(node);
	}
	mutex_unlock(&dm->lock);
}

/**
 * p2pacc_devmem_used() - bytes of device memory handed out
 * @dm: allocator
 *
 * Return: bytes in use right now.
 */
u64 p2pacc_devmem_used(struct p2pacc_devmem *dm)
{
	u64 used;

	mutex_lock(&dm->lock);
	used = dm->used;
	mutex_unlock(&dm->lock);
	return used;
}

/**
 * p2pacc_devmem_print() - dump the allocator state
 * @dm: allocator
 * @m: seq_file to print to
 */
void p2pacc_devmem_print(struct p2pacc_devmem *dm, struct seq_file *m)
{
	struct drm_printer p = drm_seq_file_printer(m);

	mutex_lock(&dm->lock);
	seq_printf(m, "size %llu used %llu\n", dm->size, dm->used);
	drm_mm_print(&dm->mm, &p);
	mutex_unlock(&dm->lock);
}
