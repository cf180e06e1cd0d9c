// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: a DRM accel driver for an emulated accelerator whose device
 * memory is exported to other devices as static dma-bufs.
 *
 * The accelerator is QEMU's ivshmem-plain PCI function (1af4:1110); its
 * BAR2, 64-bit prefetchable, is the device memory. This file binds it,
 * holds the ioctl table and the file hooks. Buffers live in p2pacc_gem.c,
 * device memory in p2pacc_devmem.c, ownership and revoke in
 * p2pacc_revoke.c.
 *
 * Module unload: refused while a dma-buf or the device node is open. The
 * dma-buf core and the file operations both hold a reference on this
 * module, so rmmod gives EBUSY until every exported FD and the owner's file
 * are closed. Unbinding the device through sysfs is always possible and
 * revokes every buffer first.
 *
 * Device memory does not survive a reset or a system suspend, so both
 * revoke every buffer (p2pacc_revoke.c) before the device goes down: a PCI
 * function reset (reset_prepare), error recovery (error_detected), and
 * suspend. The simulated catastrophe of the tests is the debugfs file
 * "reset".
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <drm/drm_accel.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_file.h>
#include <drm/drm_managed.h>
#include <drm/drm_print.h>
#include <drm/p2p_accel.h>

#include "p2pacc_debugfs.h"
#include "p2pacc_drv.h"
#include "p2pacc_gem.h"
#include "p2pacc_revoke.h"
#include "p2pacc_sysfs.h"

#define P2PACC_VENDOR_ID	0x1af4	/* Red Hat, Inc. */
#define P2PACC_DEVICE_ID	0x1110	/* Inter-VM shared memory */

static int p2pacc_query_ioctl(struct drm_device *drm, void *data,
			      struct drm_file *file)
{
	struct p2pacc_device *adev = to_p2pacc_device(drm);
	struct drm_p2pacc_query *args = data;

	if (args->flags || args->pad)
		return -EINVAL;

	args->mem_size = adev->devmem.size;
	args->mem_free = adev->devmem.size - p2pacc_devmem_used(&adev->devmem);
	args->alignment = P2PACC_DEVMEM_ALIGN;
	args->caps = DRM_P2PACC_CAP_STATIC_DMABUF | DRM_P2PACC_CAP_P2P |
		     DRM_P2PACC_CAP_REVOKE;
	return 0;
}

static const struct drm_ioctl_desc p2pacc_ioctls[] = {
	DRM_IOCTL_DEF_DRV(P2PACC_QUERY, p2pacc_query_ioctl, 0),
	DRM_IOCTL_DEF_DRV(P2PACC_ALLOC, p2pacc_alloc_ioctl, 0),
	DRM_IOCTL_DEF_DRV(P2PACC_MMAP_OFFSET, p2pacc_mmap_offset_ioctl, 0),
};

/* drm-total-memory and drm-shared-memory: the owner's buffers. */
static void p2pacc_show_fdinfo(struct drm_printer *p, struct drm_file *file)
{
	drm_show_memory_stats(p, file);
}

static const struct file_operations p2pacc_fops = {
	.owner		= THIS_MODULE,
	DRM_ACCEL_FOPS,
	.show_fdinfo	= drm_show_fdinfo,
};

static const struct drm_driver p2pacc_driver = {
	.driver_features	= DRIVER_COMPUTE_ACCEL | DRIVER_GEM,
	.open			= p2pacc_owner_open,
	.postclose		= p2pacc_owner_close,
	.show_fdinfo		= p2pacc_show_fdinfo,
	.ioctls			= p2pacc_ioctls,
	.num_ioctls		= ARRAY_SIZE(p2pacc_ioctls),
	.fops			= &p2pacc_fops,
	.name			= P2PACC_DRIVER_NAME,
	.desc			= "accelerator device memory exporter",
#ifdef P2PACC_HAVE_DRM_DRIVER_DATE
	/* DRM_IOCTL_VERSION needs it until 6.14, which removed the field. */
	.date			= "20261122",
#endif
	.major			= 1,
	.minor			= 0,
};

static void p2pacc_devmem_release(struct drm_device *drm, void *data)
{
	p2pacc_devmem_fini(&to_p2pacc_device(drm)->devmem);
}

static int p2pacc_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct p2pacc_device *adev;
	resource_size_t size;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	size = pci_resource_len(pdev, P2PACC_DEVMEM_BAR);
	if (!(pci_resource_flags(pdev, P2PACC_DEVMEM_BAR) & IORESOURCE_MEM) ||
	    !size || !IS_ALIGNED(size, P2PACC_DEVMEM_ALIGN)) {
		dev_err(&pdev->dev, "BAR%d is no usable device memory\n",
			P2PACC_DEVMEM_BAR);
		return -ENODEV;
	}
	ret = pcim_request_region(pdev, P2PACC_DEVMEM_BAR, P2PACC_DRIVER_NAME);
	if (ret)
		return ret;

	adev = devm_drm_dev_alloc(&pdev->dev, &p2pacc_driver,
				  struct p2pacc_device, drm);
	if (IS_ERR(adev))
		return PTR_ERR(adev);
	adev->pdev = pdev;
	adev->bar_phys = pci_resource_start(pdev, P2PACC_DEVMEM_BAR);
	adev->bar = devm_ioremap_wc(&pdev->dev, adev->bar_phys, size);
	if (!adev->bar)
		return -ENOMEM;

	ret = drmm_mutex_init(&adev->drm, &adev->owner_lock);
	if (ret)
		return ret;
	ret = drmm_mutex_init(&adev->drm, &adev->bo_lock);
	if (ret)
		return ret;
	INIT_LIST_HEAD(&adev->bos);
	atomic64_set(&adev->revoked_total, 0);
	atomic64_set(&adev->resets, 0);

	ret = p2pacc_devmem_init(&adev->devmem, size);
	if (ret)
		return ret;
	ret = drmm_add_action_or_reset(&adev->drm, p2pacc_devmem_release, NULL);
	if (ret)
		return ret;
	ret = p2pacc_p2p_init(adev);
	if (ret)
		return ret;

	pci_set_drvdata(pdev, adev);
	p2pacc_debugfs_init(adev);

	ret = drm_dev_register(&adev->drm, 0);
	if (ret)
		return ret;

	drm_info(&adev->drm, "%llu MiB of device memory at %pa\n",
		 (unsigned long long)size >> 20, &adev->bar_phys);
	return 0;
}

static void p2pacc_remove(struct pci_dev *pdev)
{
	struct p2pacc_device *adev = pci_get_drvdata(pdev);

	/*
	 * Revoke while the device is still registered, so the memory is
	 * scrubbed for whoever binds it next; no new buffer from here.
	 */
	p2pacc_reset_begin(adev, "device removed");
	/* No new ioctl from here; those in flight have returned. */
	drm_dev_unplug(&adev->drm);
	/* devres unmaps BAR2 and releases it once this returns. */
}

/* A function reset (e.g. sysfs "reset") clears device memory. */
static void p2pacc_reset_prepare(struct pci_dev *pdev)
{
	p2pacc_reset_begin(pci_get_drvdata(pdev), "PCI function reset");
}

static void p2pacc_reset_done(struct pci_dev *pdev)
{
	p2pacc_reset_end(pci_get_drvdata(pdev));
}

/* A PCIe error: whatever happens next, device memory cannot be trusted. */
static pci_ers_result_t p2pacc_error_detected(struct pci_dev *pdev,
					      pci_channel_state_t state)
{
	struct p2pacc_device *adev = pci_get_drvdata(pdev);

	p2pacc_reset_begin(adev, "PCIe error");
	if (state == pci_channel_io_perm_failure)
		return PCI_ERS_RESULT_DISCONNECT;
	return PCI_ERS_RESULT_NEED_RESET;
}

static pci_ers_result_t p2pacc_slot_reset(struct pci_dev *pdev)
{
	return PCI_ERS_RESULT_RECOVERED;
}

static void p2pacc_error_resume(struct pci_dev *pdev)
{
	p2pacc_reset_end(pci_get_drvdata(pdev));
}

static const struct pci_error_handlers p2pacc_err_handlers = {
	.error_detected	= p2pacc_error_detected,
	.slot_reset	= p2pacc_slot_reset,
	.resume		= p2pacc_error_resume,
	.reset_prepare	= p2pacc_reset_prepare,
	.reset_done	= p2pacc_reset_done,
};

/*
 * Device memory does not survive D3cold: nothing may hold on to it. In
 * .prepare, before any device is suspended, so that importers (which may
 * have probed later and would suspend first) still run when they are
 * told.
 */
static int p2pacc_pm_prepare(struct device *dev)
{
	p2pacc_reset(dev_get_drvdata(dev), "system suspend");
	return 0;
}

static const struct dev_pm_ops p2pacc_pm_ops = {
	.prepare	= p2pacc_pm_prepare,
};

static const struct pci_device_id p2pacc_pci_ids[] = {
	{ PCI_DEVICE(P2PACC_VENDOR_ID, P2PACC_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, p2pacc_pci_ids);

static struct pci_driver p2pacc_pci_driver = {
	.name		= P2PACC_DRIVER_NAME,
	.id_table	= p2pacc_pci_ids,
	.probe		= p2pacc_probe,
	.remove		= p2pacc_remove,
	.err_handler	= &p2pacc_err_handlers,
	.dev_groups	= p2pacc_sysfs_groups,
	.driver.pm	= pm_sleep_ptr(&p2pacc_pm_ops),
};
module_pci_driver(p2pacc_pci_driver);

MODULE_DESCRIPTION("Accelerator device memory exported as static dma-bufs");
MODULE_LICENSE("GPL");
/* MODULE_IMPORT_NS() takes a token before 6.13 and a string since. */
MODULE_INFO(import_ns, "DMA_BUF");
