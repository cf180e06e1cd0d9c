// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only dma-buf importer for the p2p_accel selftests.
 *
 * It binds QEMU's edu device (1234:11e8) and attaches to dma-bufs given by
 * userspace on its behalf, so the exporter's peer-to-peer policy sees a
 * real PCI client. Through /dev/p2pacc_importer a test can:
 *
 *  - attach as a pinned peer2peer importer with invalidate_mappings (the
 *    default: revocable, what an RDMA NIC without on-demand paging does),
 *    as a dynamic one, as a pinned one without invalidate_mappings (not
 *    revocable), as a plain static importer (dma_buf_attach()), or as a
 *    "lazy" revocable one that breaks its promise and keeps its mapping
 *    after invalidate_mappings until told to unmap;
 *  - read and write a dma-buf through dma_buf_vmap() (__iomem), or hold a
 *    vmap across calls;
 *  - make the edu DMA engine copy between its internal 4 KiB buffer and
 *    the buffer, using the bus addresses of the exporter's sg_table;
 *  - narrow the edu's DMA mask;
 *  - see how often invalidate_mappings ran, and hold one call until told
 *    to go on, to observe the exporter while a revoke is in progress.
 *
 * Locking, outermost first: &p2pi_ctx.attach_lock -> dma_resv ->
 * &p2pi_ctx.lock -> p2pi_edu_lock. &p2pi_ctx.lock protects the attachment
 * and @revoked; it is taken inside the dma-buf's reservation lock (the
 * invalidate_mappings callback runs with it held) and is held across a
 * DMA, so the callback waits for a DMA in flight: after it returns, the
 * edu never touches the buffer again. Pinning and mapping happen under the
 * reservation, as for an RDMA MR.
 */
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "p2pacc_importer.h"

#define P2PI_EDU_VENDOR		0x1234
#define P2PI_EDU_DEVICE		0x11e8
#define P2PI_EDU_DMA_SRC	0x80
#define P2PI_EDU_DMA_DST	0x88
#define P2PI_EDU_DMA_COUNT	0x90
#define P2PI_EDU_DMA_CMD	0x98
#define P2PI_EDU_CMD_START	BIT(0)
#define P2PI_EDU_CMD_TO_RAM	BIT(1)	/* clear: RAM -> edu buffer */
#define P2PI_EDU_BUF_ADDR	0x40000
#define P2PI_EDU_TIMEOUT_MS	5000
#define P2PI_REVOKE_WAIT_MS	10000

/* The bound edu device; one is enough for the tests. */
static DEFINE_MUTEX(p2pi_edu_lock);
static struct pci_dev *p2pi_edu;
static void __iomem *p2pi_edu_regs;

/*
 * One per open file. @attach_lock serialises attach and detach and is
 * never taken inside a reservation lock; @lock protects the rest below and
 * is taken inside it.
 */
struct p2pi_ctx {
	/* serialises attach and detach */
	struct mutex attach_lock;
	/* protects the fields below up to @revoked */
	struct mutex lock;
	struct pci_dev *edu;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	bool pinned;
	bool pins;
	bool lazy;
	bool revoked;
	/* a held vmap (P2PI_IOC_VMAP_HOLD), under @attach_lock */
	struct dma_buf *vmap_buf;
	struct iosys_map vmap;
	atomic_t revoke_calls;
	atomic_t in_revoke;
	atomic_t block_revoke;
	struct completion release;
};

/* ---- invalidate_mappings ---------------------------------------------- */

/* Under the reservation and &p2pi_ctx.lock: drop the mapping and the pin. */
static void p2pi_unmap_locked(struct p2pi_ctx *ctx)
{
	dma_resv_assert_held(ctx->dmabuf->resv);
	lockdep_assert_held(&ctx->lock);
	if (ctx->sgt) {
		dma_buf_unmap_attachment(ctx->attach, ctx->sgt,
					 DMA_BIDIRECTIONAL);
		ctx->sgt = NULL;
	}
	if (ctx->pinned) {
		dma_buf_unpin(ctx->attach);
		ctx->pinned = false;
	}
}

/* For pinned importers a revoke; dynamic ones would map again. */
static void p2pi_revoke(struct dma_buf_attachment *attach)
{
	struct p2pi_ctx *ctx = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	atomic_inc(&ctx->revoke_calls);
	pr_info("p2pacc_importer: revoke callback for %s\n",
		dev_name(attach->dev));

	if (atomic_xchg(&ctx->block_revoke, 0)) {
		atomic_set(&ctx->in_revoke, 1);
		if (!wait_for_completion_timeout(&ctx->release,
						 msecs_to_jiffies(P2PI_REVOKE_WAIT_MS)))
			pr_warn("p2pacc_importer: revoke not released, going on\n");
		atomic_set(&ctx->in_revoke, 0);
	}

	/*
	 * Waits for a DMA in flight; none starts after this. The mapping is
	 * given back now, as invalidate_mappings promises, unless this
	 * importer is the lazy one.
	 */
	mutex_lock(&ctx->lock);
	ctx->revoked = true;
	if (!ctx->lazy)
		p2pi_unmap_locked(ctx);
	mutex_unlock(&ctx->lock);
}

static const struct dma_buf_attach_ops p2pi_revocable_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = p2pi_revoke,
};

static const struct dma_buf_attach_ops p2pi_pinned_ops = {
	.allow_peer2peer = true,
};

/* ---- attach / detach -------------------------------------------------- */

/* Called with &p2pi_ctx.attach_lock held, never under the reservation. */
static int p2pi_detach(struct p2pi_ctx *ctx)
{
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	struct pci_dev *edu;

	lockdep_assert_held(&ctx->attach_lock);

	dmabuf = READ_ONCE(ctx->dmabuf);
	if (!dmabuf)
		return -ENOTCONN;

	/* Unless invalidate_mappings did already. */
	dma_resv_lock(dmabuf->resv, NULL);
	mutex_lock(&ctx->lock);
	p2pi_unmap_locked(ctx);
	attach = ctx->attach;
	edu = ctx->edu;
	ctx->attach = NULL;
	ctx->dmabuf = NULL;
	ctx->edu = NULL;
	ctx->revoked = false;
	ctx->pins = false;
	ctx->lazy = false;
	mutex_unlock(&ctx->lock);
	dma_resv_unlock(dmabuf->resv);

	dma_buf_detach(dmabuf, attach);
	dma_buf_put(dmabuf);
	pci_dev_put(edu);
	return 0;
}

static const struct dma_buf_attach_ops *p2pi_attach_ops(u32 mode)
{
	switch (mode) {
	case P2PI_ATTACH_REVOCABLE:
	case P2PI_ATTACH_DYNAMIC:
	case P2PI_ATTACH_LAZY:
		return &p2pi_revocable_ops;
	case P2PI_ATTACH_UNREVOCABLE:
		return &p2pi_pinned_ops;
	default:
		return NULL;
	}
}

static bool p2pi_mode_pins(u32 mode)
{
	return mode == P2PI_ATTACH_REVOCABLE || mode == P2PI_ATTACH_LAZY ||
	       mode == P2PI_ATTACH_UNREVOCABLE;
}

static int p2pi_attach(struct p2pi_ctx *ctx, struct p2pi_attach *args)
{
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	struct sg_table *sgt;
	struct pci_dev *edu;
	int ret;

	if (args->mode > P2PI_ATTACH_LAZY || args->pad)
		return -EINVAL;

	mutex_lock(&p2pi_edu_lock);
	edu = pci_dev_get(p2pi_edu);
	mutex_unlock(&p2pi_edu_lock);
	if (!edu)
		return -ENODEV;

	dmabuf = dma_buf_get(args->fd);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto err_edu;
	}

	lockdep_assert_held(&ctx->attach_lock);
	if (READ_ONCE(ctx->attach)) {
		ret = -EBUSY;
		goto err_put;
	}

	/* Not under ctx->lock: the core takes the reservation lock. */
	if (args->mode == P2PI_ATTACH_PLAIN)
		attach = dma_buf_attach(dmabuf, &edu->dev);
	else
		attach = dma_buf_dynamic_attach(dmabuf, &edu->dev,
						p2pi_attach_ops(args->mode), ctx);
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto err_put;
	}

	/*
	 * Pin and map under the reservation, and publish the mapping before
	 * unlocking: a revoke finds either no attachment state yet (and the
	 * exporter refused the map) or all of it.
	 */
	dma_resv_lock(dmabuf->resv, NULL);
	if (p2pi_mode_pins(args->mode)) {
		ret = dma_buf_pin(attach);
		if (ret)
			goto err_unlock;
	}
	sgt = dma_buf_map_attachment(attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		if (p2pi_mode_pins(args->mode))
			dma_buf_unpin(attach);
		goto err_unlock;
	}
	mutex_lock(&ctx->lock);
	ctx->edu = edu;
	ctx->dmabuf = dmabuf;
	ctx->attach = attach;
	ctx->sgt = sgt;
	ctx->pinned = p2pi_mode_pins(args->mode);
	ctx->pins = ctx->pinned;
	ctx->lazy = args->mode == P2PI_ATTACH_LAZY;
	ctx->revoked = false;
	mutex_unlock(&ctx->lock);
	dma_resv_unlock(dmabuf->resv);

	args->size = dmabuf->size;
	args->nents = sgt->nents;
	return 0;

err_unlock:
	dma_resv_unlock(dmabuf->resv);
	dma_buf_detach(dmabuf, attach);

err_put:
	dma_buf_put(dmabuf);
err_edu:
	pci_dev_put(edu);
	return ret;
}

/* ---- CPU access through vmap ------------------------------------------ */

static int p2pi_rw(struct p2pi_rw *args)
{
	void __user *uptr = u64_to_user_ptr(args->user_ptr);
	struct iosys_map map;
	struct dma_buf *dmabuf;
	void *bounce;
	int ret;

	if (!args->len || args->len > P2PI_RW_MAX)
		return -EINVAL;

	dmabuf = dma_buf_get(args->fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ret = -EINVAL;
	if (args->offset >= dmabuf->size ||
	    args->len > dmabuf->size - args->offset)
		goto out_put;

	ret = -ENOMEM;
	bounce = kvmalloc(args->len, GFP_KERNEL);
	if (!bounce)
		goto out_put;

	/* User memory is touched only outside the reservation lock. */
	ret = -EFAULT;
	if (args->write && copy_from_user(bounce, uptr, args->len))
		goto out_free;

	dma_resv_lock(dmabuf->resv, NULL);
	ret = dma_buf_vmap(dmabuf, &map);
	if (!ret) {
		if (!map.is_iomem) {
			ret = -EOPNOTSUPP;
		} else if (args->write) {
			memcpy_toio(map.vaddr_iomem + args->offset, bounce,
				    args->len);
		} else {
			memcpy_fromio(bounce, map.vaddr_iomem + args->offset,
				      args->len);
		}
		dma_buf_vunmap(dmabuf, &map);
	}
	dma_resv_unlock(dmabuf->resv);

	if (!ret && !args->write && copy_to_user(uptr, bounce, args->len))
		ret = -EFAULT;
out_free:
	kvfree(bounce);
out_put:
	dma_buf_put(dmabuf);
	return ret;
}

/* ---- DMA by the edu device -------------------------------------------- */

static int p2pi_edu_dma_one(void __iomem *regs, u64 src, u64 dst, u32 len,
			    u32 cmd)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(P2PI_EDU_TIMEOUT_MS);

	writeq(src, regs + P2PI_EDU_DMA_SRC);
	writeq(dst, regs + P2PI_EDU_DMA_DST);
	writeq(len, regs + P2PI_EDU_DMA_COUNT);
	writeq(cmd | P2PI_EDU_CMD_START, regs + P2PI_EDU_DMA_CMD);

	/* QEMU runs the transfer from a timer, about 100 ms later. */
	while (readq(regs + P2PI_EDU_DMA_CMD) & P2PI_EDU_CMD_START) {
		if (time_after(jiffies, timeout))
			return -ETIMEDOUT;
		usleep_range(1000, 2000);
	}
	return 0;
}

/* Bus address of @offset and how many bytes follow it in the same entry. */
static int p2pi_sgt_lookup(struct sg_table *sgt, u64 offset, dma_addr_t *addr,
			   u64 *avail)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		if (offset < sg_dma_len(sg)) {
			*addr = sg_dma_address(sg) + offset;
			*avail = sg_dma_len(sg) - offset;
			return 0;
		}
		offset -= sg_dma_len(sg);
	}
	return -EINVAL;
}

static int p2pi_dma(struct p2pi_ctx *ctx, struct p2pi_dma *args)
{
	u64 off = args->offset, done = 0;
	int ret = 0;

	if (args->pad || args->dir > P2PI_DMA_FROM_EDU || !args->len ||
	    args->edu_offset > P2PI_EDU_DMA_MAX ||
	    args->len > P2PI_EDU_DMA_MAX - args->edu_offset)
		return -EINVAL;

	mutex_lock(&ctx->lock);
	if (!ctx->attach) {
		ret = -ENOTCONN;
		goto out;
	}
	if (ctx->revoked) {
		ret = -ENODEV;
		goto out;
	}
	if (!ctx->sgt) {
		ret = -ENOENT;
		goto out;
	}
	if (off >= ctx->dmabuf->size || args->len > ctx->dmabuf->size - off) {
		ret = -EINVAL;
		goto out;
	}

	mutex_lock(&p2pi_edu_lock);
	if (p2pi_edu != ctx->edu) {
		ret = -ENODEV;
		goto out_edu;
	}
	while (done < args->len) {
		u64 edu_addr = P2PI_EDU_BUF_ADDR + args->edu_offset + done;
		dma_addr_t addr;
		u64 avail;
		u32 len;

		ret = p2pi_sgt_lookup(ctx->sgt, off + done, &addr, &avail);
		if (ret)
			break;
		len = min_t(u64, avail, args->len - done);
		if (args->dir == P2PI_DMA_TO_EDU)
			ret = p2pi_edu_dma_one(p2pi_edu_regs, addr, edu_addr,
					       len, 0);
		else
			ret = p2pi_edu_dma_one(p2pi_edu_regs, edu_addr, addr,
					       len, P2PI_EDU_CMD_TO_RAM);
		if (ret)
			break;
		done += len;
	}
out_edu:
	mutex_unlock(&p2pi_edu_lock);
out:
	mutex_unlock(&ctx->lock);
	return ret;
}

/* ---- held mappings and DMA mask --------------------------------------- */

/* Drop the attachment's mapping but keep the attachment. */
static int p2pi_unmap(struct p2pi_ctx *ctx)
{
	struct dma_buf *dmabuf = READ_ONCE(ctx->dmabuf);
	int ret = 0;

	lockdep_assert_held(&ctx->attach_lock);
	if (!dmabuf)
		return -ENOTCONN;
	dma_resv_lock(dmabuf->resv, NULL);
	mutex_lock(&ctx->lock);
	if (ctx->sgt || ctx->pinned)
		p2pi_unmap_locked(ctx);
	else
		ret = -ENOENT;
	mutex_unlock(&ctx->lock);
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

/* Map the attachment again, as after P2PI_IOC_UNMAP. */
static int p2pi_map(struct p2pi_ctx *ctx)
{
	struct dma_buf *dmabuf = READ_ONCE(ctx->dmabuf);
	struct sg_table *sgt;
	int ret = 0;

	lockdep_assert_held(&ctx->attach_lock);
	if (!dmabuf)
		return -ENOTCONN;
	dma_resv_lock(dmabuf->resv, NULL);
	mutex_lock(&ctx->lock);
	if (ctx->sgt) {
		ret = -EBUSY;
		goto out;
	}
	if (ctx->pins && !ctx->pinned) {
		ret = dma_buf_pin(ctx->attach);
		if (ret)
			goto out;
		ctx->pinned = true;
	}
	sgt = dma_buf_map_attachment(ctx->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		p2pi_unmap_locked(ctx);
		goto out;
	}
	ctx->sgt = sgt;
out:
	mutex_unlock(&ctx->lock);
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

/* A kernel vmap nobody is told to drop: only P2PI_IOC_VMAP_DROP does. */
static int p2pi_vmap_hold(struct p2pi_ctx *ctx, int fd)
{
	struct dma_buf *dmabuf;
	int ret;

	lockdep_assert_held(&ctx->attach_lock);
	if (ctx->vmap_buf)
		return -EBUSY;
	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	ret = dma_buf_vmap_unlocked(dmabuf, &ctx->vmap);
	if (ret) {
		dma_buf_put(dmabuf);
		return ret;
	}
	ctx->vmap_buf = dmabuf;
	return 0;
}

static int p2pi_vmap_drop(struct p2pi_ctx *ctx)
{
	lockdep_assert_held(&ctx->attach_lock);
	if (!ctx->vmap_buf)
		return -ENOENT;
	dma_buf_vunmap_unlocked(ctx->vmap_buf, &ctx->vmap);
	dma_buf_put(ctx->vmap_buf);
	ctx->vmap_buf = NULL;
	return 0;
}

static int p2pi_dma_mask(u32 bits)
{
	int ret = -ENODEV;

	if (bits < 24 || bits > 64)
		return -EINVAL;
	mutex_lock(&p2pi_edu_lock);
	if (p2pi_edu)
		ret = dma_set_mask_and_coherent(&p2pi_edu->dev,
						DMA_BIT_MASK(bits));
	mutex_unlock(&p2pi_edu_lock);
	return ret;
}

/* ---- misc device ------------------------------------------------------ */

static int p2pi_open(struct inode *inode, struct file *file)
{
	struct p2pi_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	mutex_init(&ctx->attach_lock);
	mutex_init(&ctx->lock);
	init_completion(&ctx->release);
	file->private_data = ctx;
	return 0;
}

static int p2pi_release(struct inode *inode, struct file *file)
{
	struct p2pi_ctx *ctx = file->private_data;

	mutex_lock(&ctx->attach_lock);
	p2pi_detach(ctx);
	p2pi_vmap_drop(ctx);
	mutex_unlock(&ctx->attach_lock);
	mutex_destroy(&ctx->lock);
	mutex_destroy(&ctx->attach_lock);
	kfree(ctx);
	return 0;
}

static long p2pi_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct p2pi_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;
	union {
		struct p2pi_attach attach;
		struct p2pi_rw rw;
		struct p2pi_dma dma;
		struct p2pi_status status;
		__s32 fd;
		__u32 bits;
	} u;
	int ret;

	if (_IOC_SIZE(cmd) > sizeof(u))
		return -ENOTTY;
	if ((_IOC_DIR(cmd) & _IOC_WRITE) &&
	    copy_from_user(&u, uarg, _IOC_SIZE(cmd)))
		return -EFAULT;

	switch (cmd) {
	case P2PI_IOC_ATTACH:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_attach(ctx, &u.attach);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_DETACH:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_detach(ctx);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_RW:
		ret = p2pi_rw(&u.rw);
		break;
	case P2PI_IOC_DMA:
		ret = p2pi_dma(ctx, &u.dma);
		break;
	case P2PI_IOC_STATUS:
		/* No lock: a blocked revoke callback may hold the resv. */
		u.status.revoke_calls = atomic_read(&ctx->revoke_calls);
		u.status.in_revoke = atomic_read(&ctx->in_revoke);
		u.status.attached = !!READ_ONCE(ctx->attach);
		u.status.revoked = READ_ONCE(ctx->revoked);
		u.status.mapped = !!READ_ONCE(ctx->sgt);
		u.status.vmapped = !!READ_ONCE(ctx->vmap_buf);
		ret = 0;
		break;
	case P2PI_IOC_UNMAP:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_unmap(ctx);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_MAP:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_map(ctx);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_VMAP_HOLD:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_vmap_hold(ctx, u.fd);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_VMAP_DROP:
		mutex_lock(&ctx->attach_lock);
		ret = p2pi_vmap_drop(ctx);
		mutex_unlock(&ctx->attach_lock);
		break;
	case P2PI_IOC_DMA_MASK:
		ret = p2pi_dma_mask(u.bits);
		break;
	case P2PI_IOC_BLOCK_REVOKE:
		reinit_completion(&ctx->release);
		atomic_set(&ctx->block_revoke, 1);
		ret = 0;
		break;
	case P2PI_IOC_RELEASE:
		complete(&ctx->release);
		ret = 0;
		break;
	default:
		return -ENOTTY;
	}

	if (!ret && (_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &u, _IOC_SIZE(cmd)))
		ret = -EFAULT;
	return ret;
}

static const struct file_operations p2pi_fops = {
	.owner		= THIS_MODULE,
	.open		= p2pi_open,
	.release	= p2pi_release,
	.unlocked_ioctl	= p2pi_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice p2pi_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "p2pacc_importer",
	.fops	= &p2pi_fops,
	.mode	= 0600,
};

/* ---- the edu device --------------------------------------------------- */

static int p2pi_edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	void __iomem *regs;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	regs = pcim_iomap_region(pdev, 0, "p2pacc_importer");
	if (IS_ERR(regs))
		return PTR_ERR(regs);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev);

	mutex_lock(&p2pi_edu_lock);
	if (p2pi_edu) {
		ret = -EBUSY;
	} else {
		p2pi_edu = pdev;
		p2pi_edu_regs = regs;
	}
	mutex_unlock(&p2pi_edu_lock);
	return ret;
}

static void p2pi_edu_remove(struct pci_dev *pdev)
{
	mutex_lock(&p2pi_edu_lock);
	if (p2pi_edu == pdev) {
		p2pi_edu = NULL;
		p2pi_edu_regs = NULL;
	}
	mutex_unlock(&p2pi_edu_lock);
}

static const struct pci_device_id p2pi_edu_ids[] = {
	{ PCI_DEVICE(P2PI_EDU_VENDOR, P2PI_EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, p2pi_edu_ids);

static struct pci_driver p2pi_edu_driver = {
	.name		= "p2pacc_importer",
	.id_table	= p2pi_edu_ids,
	.probe		= p2pi_edu_probe,
	.remove		= p2pi_edu_remove,
};

static int __init p2pi_init(void)
{
	int ret;

	ret = pci_register_driver(&p2pi_edu_driver);
	if (ret)
		return ret;
	ret = misc_register(&p2pi_misc);
	if (ret)
		pci_unregister_driver(&p2pi_edu_driver);
	return ret;
}

static void __exit p2pi_exit(void)
{
	misc_deregister(&p2pi_misc);
	pci_unregister_driver(&p2pi_edu_driver);
}

module_init(p2pi_init);
module_exit(p2pi_exit);

MODULE_DESCRIPTION("Test-only dma-buf importer driving the QEMU edu DMA engine");
MODULE_LICENSE("GPL");
/* MODULE_IMPORT_NS() takes a token before 6.13 and a string since. */
MODULE_INFO(import_ns, "DMA_BUF");
