// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: debugfs files under /sys/kernel/debug/accel/<PCI address>/.
 *
 *   devmem   allocator state: size, bytes used, every allocated range
 *   buffers  live buffers: device offset, size, exported or not, mappings
 *   stats    owner present, buffers revoked, revoke-all events
 *   reset    (write 1) simulate a catastrophic device error: every buffer
 *            is revoked and its memory reclaimed, as on a real reset
 */
#include <linux/debugfs.h>
#include <linux/kstrtox.h>
#include <linux/seq_file.h>
#include <drm/drm_debugfs.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>

#include "p2pacc_debugfs.h"
#include "p2pacc_drv.h"
#include "p2pacc_gem.h"
#include "p2pacc_revoke.h"

static struct p2pacc_device *p2pacc_debugfs_device(struct seq_file *m)
{
	struct drm_debugfs_entry *entry = m->private;

	return to_p2pacc_device(entry->dev);
}

static int p2pacc_debugfs_devmem(struct seq_file *m, void *data)
{
	p2pacc_devmem_print(&p2pacc_debugfs_device(m)->devmem, m);
	return 0;
}

static int p2pacc_debugfs_buffers(struct seq_file *m, void *data)
{
	struct p2pacc_device *adev = p2pacc_debugfs_device(m);
	struct p2pacc_bo *bo;

	mutex_lock(&adev->bo_lock);
	list_for_each_entry(bo, &adev->bos, link) {
		/*
		 * Only bo_lock is held, not the reservation: "exported" and
		 * the counts are racy hints, good enough for a debug dump.
		 */
		seq_printf(m, "offset 0x%llx size %zu%s maps %u vmaps %u\n",
			   bo->node.start, bo->base.size,
			   READ_ONCE(bo->dmabuf) ? " exported" : "",
			   READ_ONCE(bo->maps), READ_ONCE(bo->vmaps));
	}
	mutex_unlock(&adev->bo_lock);
	return 0;
}

static int p2pacc_debugfs_stats(struct seq_file *m, void *data)
{
	struct p2pacc_device *adev = p2pacc_debugfs_device(m);

	mutex_lock(&adev->owner_lock);
	seq_printf(m, "owner %s\n", adev->owner ? "yes" : "no");
	mutex_unlock(&adev->owner_lock);
	seq_printf(m, "revoked_buffers %lld\n",
		   (long long)atomic64_read(&adev->revoked_total));
	seq_printf(m, "revoke_events %lld\n",
		   (long long)atomic64_read(&adev->resets));
	return 0;
}

static ssize_t p2pacc_debugfs_reset_write(struct file *f,
					  const char __user *buf,
					  size_t count, loff_t *ppos)
{
	struct p2pacc_device *adev = f->private_data;
	bool reset;
	int ret, idx;

	ret = kstrtobool_from_user(buf, count, &reset);
	if (ret)
		return ret;
	if (!reset)
		return count;
	if (!drm_dev_enter(&adev->drm, &idx))
		return -ENODEV;
	p2pacc_reset(adev, "reset through debugfs");
	drm_dev_exit(idx);
	return count;
}

static const struct file_operations p2pacc_debugfs_reset_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= p2pacc_debugfs_reset_write,
	.llseek	= noop_llseek,
};

static const struct drm_debugfs_info p2pacc_debugfs_list[] = {
	{ "devmem", p2pacc_debugfs_devmem, 0 },
	{ "buffers", p2pacc_debugfs_buffers, 0 },
	{ "stats", p2pacc_debugfs_stats, 0 },
};

/**
 * p2pacc_debugfs_init() - register the debugfs files
 * @adev: device, before drm_dev_register()
 */
void p2pacc_debugfs_init(struct p2pacc_device *adev)
{
	drm_debugfs_add_files(&adev->drm, p2pacc_debugfs_list,
			      ARRAY_SIZE(p2pacc_debugfs_list));
	debugfs_create_file("reset", 0200, adev->drm.debugfs_root, adev,
			    &p2pacc_debugfs_reset_fops);
}
