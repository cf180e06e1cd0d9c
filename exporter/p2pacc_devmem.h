/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: allocator of device memory (ranges of BAR2).
 */
#ifndef __P2PACC_DEVMEM_H__
#define __P2PACC_DEVMEM_H__

#include <linux/mutex.h>
#include <linux/types.h>
#include <drm/drm_mm.h>

struct seq_file;

/* Smallest alignment and size granularity of a buffer. */
#define P2PACC_DEVMEM_ALIGN	PAGE_SIZE

/**
 * struct p2pacc_devmem - ranges of device memory handed out to buffers
 */
struct p2pacc_devmem {
	/** @lock: protects @mm, @used and the nodes inserted in @mm. */
	struct mutex lock;
	/** @mm: range allocator over [0, @size) of BAR2. */
	struct drm_mm mm;
	/** @size: bytes of device memory. */
	u64 size;
	/** @used: bytes handed out. */
	u64 used;
};

int p2pacc_devmem_init(struct p2pacc_devmem *dm, u64 size);
void p2pacc_devmem_fini(struct p2pacc_devmem *dm);
int p2pacc_devmem_alloc(struct p2pacc_devmem *dm, struct drm_mm_node *node,
			u64 size, u64 alignment);
void p2pacc_devmem_free(struct p2pacc_devmem *dm, struct drm_mm_node *node);
u64 p2pacc_devmem_used(struct p2pacc_devmem *dm);
void p2pacc_devmem_print(struct p2pacc_devmem *dm, struct seq_file *m);

#endif /* __P2PACC_DEVMEM_H__ */
