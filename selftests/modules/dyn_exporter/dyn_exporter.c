// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only dynamic dma-buf exporter, so that importers are tested against
 * more than the p2p_accel exporter.
 *
 * Its dma-bufs are zeroed system pages. The ops are those of a dynamic
 * exporter: pin/unpin, and map/unmap called under the reservation lock.
 * vmap gives the kernel a linear view, mmap gives userspace one (which
 * stays valid after a revoke, so a test can see whether anything still
 * lands in the pages). DYNEXP_IOC_REVOKE revokes a dma-buf as mainline's
 * revocable exporters do: under the reservation lock it marks the buffer
 * revoked, calls dma_buf_invalidate_mappings() and waits for the fences;
 * from then on pin, map and vmap fail with -ENODEV. It then waits (10 s at
 * most) for the importers to unmap and vunmap, and reports what they
 * still held right after dma_buf_invalidate_mappings() returned.
 *
 * Counters are atomics: attach and detach run outside the reservation
 * lock, everything else inside it.
 */
#include <linux/atomic.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "dyn_exporter.h"

#define DYNEXP_MAX_SIZE		(64UL << 20)
#define DYNEXP_UNMAP_WAIT_MS	10000

struct dynexp_buf {
	struct dma_buf *dmabuf;
	struct page **pages;
	unsigned long npages;
	void *vaddr;		/* the vmap, shared by every dma_buf_vmap() */
	bool revoked;		/* under the reservation lock */
	atomic_t attachments, pins, maps, vmaps, invalidations;
	wait_queue_head_t unmapped;
};

static const struct dma_buf_ops dynexp_ops;

static int dynexp_attach(struct dma_buf *dmabuf,
			 struct dma_buf_attachment *attach)
{
	struct dynexp_buf *buf = dmabuf->priv;

	atomic_inc(&buf->attachments);
	return 0;
}

static void dynexp_detach(struct dma_buf *dmabuf,
			  struct dma_buf_attachment *attach)
{
	struct dynexp_buf *buf = dmabuf->priv;

	atomic_dec(&buf->attachments);
}

static int dynexp_pin(struct dma_buf_attachment *attach)
{
	struct dynexp_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (buf->revoked)
		return -ENODEV;
	atomic_inc(&buf->pins);
	return 0;
}

static void dynexp_unpin(struct dma_buf_attachment *attach)
{
	struct dynexp_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	atomic_dec(&buf->pins);
}

static struct sg_table *dynexp_map(struct dma_buf_attachment *attach,
				   enum dma_data_direction dir)
{
	struct dynexp_buf *buf = attach->dmabuf->priv;
	struct sg_table *sgt;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (buf->revoked)
		return ERR_PTR(-ENODEV);
	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(sgt, buf->pages, buf->npages, 0,
					buf->npages << PAGE_SHIFT, GFP_KERNEL);
	if (ret)
		goto err_free;
	ret = dma_map_sgtable(attach->dev, sgt, dir, 0);
	if (ret)
		goto err_table;
	atomic_inc(&buf->maps);
	return sgt;

err_table:
	sg_free_table(sgt);
err_free:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void dynexp_unmap(struct dma_buf_attachment *attach,
			 struct sg_table *sgt, enum dma_data_direction dir)
{
	struct dynexp_buf *buf = attach->dmabuf->priv;

	dma_unmap_sgtable(attach->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
	if (atomic_dec_and_test(&buf->maps))
		wake_up_all(&buf->unmapped);
}

static int dynexp_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dynexp_buf *buf = dmabuf->priv;

	dma_resv_assert_held(dmabuf->resv);
	if (buf->revoked)
		return -ENODEV;
	if (!buf->vaddr) {
		buf->vaddr = vmap(buf->pages, buf->npages, VM_MAP, PAGE_KERNEL);
		if (!buf->vaddr)
			return -ENOMEM;
	}
	atomic_inc(&buf->vmaps);
	iosys_map_set_vaddr(map, buf->vaddr);
	return 0;
}

static void dynexp_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dynexp_buf *buf = dmabuf->priv;

	dma_resv_assert_held(dmabuf->resv);
	if (!atomic_dec_and_test(&buf->vmaps))
		return;
	vunmap(buf->vaddr);
	buf->vaddr = NULL;
	wake_up_all(&buf->unmapped);
}

static vm_fault_t dynexp_fault(struct vm_fault *vmf)
{
	struct dynexp_buf *buf = vmf->vma->vm_private_data;

	if (vmf->pgoff >= buf->npages)
		return VM_FAULT_SIGBUS;
	vmf->page = buf->pages[vmf->pgoff];
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct dynexp_vm_ops = {
	.fault = dynexp_fault,
};

static int dynexp_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_ops = &dynexp_vm_ops;
	vma->vm_private_data = dmabuf->priv;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

static void dynexp_free(struct dynexp_buf *buf)
{
	for (unsigned long i = 0; i < buf->npages; i++)
		if (buf->pages[i])
			__free_page(buf->pages[i]);
	kvfree(buf->pages);
	kfree(buf);
}

static void dynexp_release(struct dma_buf *dmabuf)
{
	struct dynexp_buf *buf = dmabuf->priv;

	WARN_ON(buf->vaddr);
	dynexp_free(buf);
}

static const struct dma_buf_ops dynexp_ops = {
	.attach		= dynexp_attach,
	.detach		= dynexp_detach,
	.pin		= dynexp_pin,
	.unpin		= dynexp_unpin,
	.map_dma_buf	= dynexp_map,
	.unmap_dma_buf	= dynexp_unmap,
	.release	= dynexp_release,
	.mmap		= dynexp_mmap,
	.vmap		= dynexp_vmap,
	.vunmap		= dynexp_vunmap,
};

static int dynexp_create(struct dynexp_create __user *uarg)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dynexp_create arg;
	struct dynexp_buf *buf;
	int ret, fd;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.pad || !arg.size || arg.size > DYNEXP_MAX_SIZE ||
	    !PAGE_ALIGNED(arg.size))
		return -EINVAL;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	init_waitqueue_head(&buf->unmapped);
	buf->npages = arg.size >> PAGE_SHIFT;
	buf->pages = kvcalloc(buf->npages, sizeof(*buf->pages), GFP_KERNEL);
	if (!buf->pages) {
		kfree(buf);
		return -ENOMEM;
	}
	for (unsigned long i = 0; i < buf->npages; i++) {
		buf->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!buf->pages[i]) {
			dynexp_free(buf);
			return -ENOMEM;
		}
	}

	info.ops = &dynexp_ops;
	info.size = arg.size;
	info.flags = O_RDWR;
	info.priv = buf;
	buf->dmabuf = dma_buf_export(&info);
	if (IS_ERR(buf->dmabuf)) {
		ret = PTR_ERR(buf->dmabuf);
		dynexp_free(buf);
		return ret;
	}
	fd = dma_buf_fd(buf->dmabuf, O_CLOEXEC);
	if (fd < 0) {
		dma_buf_put(buf->dmabuf);
		return fd;
	}
	arg.fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;	/* the FD stays installed, as for any ioctl */
	return 0;
}

static void dynexp_fill_state(struct dynexp_buf *buf, struct dynexp_state *s)
{
	s->attachments = atomic_read(&buf->attachments);
	s->pins = atomic_read(&buf->pins);
	s->maps = atomic_read(&buf->maps);
	s->vmaps = atomic_read(&buf->vmaps);
	s->revoked = READ_ONCE(buf->revoked);
	s->invalidations = atomic_read(&buf->invalidations);
	s->pad = 0;
}

static int dynexp_state_ioctl(struct dynexp_state __user *uarg, bool revoke)
{
	struct dynexp_state s;
	struct dynexp_buf *buf;
	struct dma_buf *dmabuf;
	long left;
	int ret = 0;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	dmabuf = dma_buf_get(s.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (dmabuf->ops != &dynexp_ops) {
		ret = -EINVAL;
		goto out;
	}
	buf = dmabuf->priv;

	if (!revoke) {
		dynexp_fill_state(buf, &s);
	} else {
		dma_resv_lock(dmabuf->resv, NULL);
		if (buf->revoked) {
			dma_resv_unlock(dmabuf->resv);
			ret = -EALREADY;
			goto out;
		}
		buf->revoked = true;
		dma_buf_invalidate_mappings(dmabuf);
		atomic_inc(&buf->invalidations);
		dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
				      false, MAX_SCHEDULE_TIMEOUT);
		dynexp_fill_state(buf, &s);
		dma_resv_unlock(dmabuf->resv);
		/* Importers without the callback unmap when they are done. */
		left = wait_event_timeout(buf->unmapped,
					  !atomic_read(&buf->maps) &&
					  !atomic_read(&buf->vmaps),
					  msecs_to_jiffies(DYNEXP_UNMAP_WAIT_MS));
		if (!left)
			pr_info("dyn_exporter: revoked buffer still mapped after %u ms\n",
				DYNEXP_UNMAP_WAIT_MS);
	}
	if (copy_to_user(uarg, &s, sizeof(s)))
		ret = -EFAULT;
out:
	dma_buf_put(dmabuf);
	return ret;
}

static long dynexp_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case DYNEXP_IOC_CREATE:
		return dynexp_create(uarg);
	case DYNEXP_IOC_REVOKE:
		return dynexp_state_ioctl(uarg, true);
	case DYNEXP_IOC_STATE:
		return dynexp_state_ioctl(uarg, false);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations dynexp_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= dynexp_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice dynexp_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "dyn_exporter",
	.fops	= &dynexp_fops,
	.mode	= 0600,
};

module_misc_device(dynexp_misc);

MODULE_DESCRIPTION("Test-only dynamic dma-buf exporter over system pages, with revoke");
MODULE_LICENSE("GPL");
/* MODULE_IMPORT_NS() takes a token before 6.13 and a string since. */
MODULE_INFO(import_ns, "DMA_BUF");
