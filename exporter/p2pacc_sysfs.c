// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_accel: sysfs attributes of the PCI device (driver dev_groups, so
 * they exist exactly while the driver is bound). They let anyone read the
 * memory state while another process owns the device node;
 * exporter/ABI/sysfs-driver-p2p_accel documents them.
 *
 *   devmem_size   (0444) bytes of device memory
 *   devmem_used   (0444) bytes of device memory held by buffers
 */
#include <linux/device.h>
#include <linux/pci.h>
#include <linux/sysfs.h>

#include "p2pacc_drv.h"
#include "p2pacc_sysfs.h"

static struct p2pacc_device *p2pacc_sysfs_device(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static ssize_t devmem_size_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", p2pacc_sysfs_device(dev)->devmem.size);
}
static DEVICE_ATTR_RO(devmem_size);

static ssize_t devmem_used_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct p2pacc_device *adev = p2pacc_sysfs_device(dev);

	return sysfs_emit(buf, "%llu\n", p2pacc_devmem_used(&adev->devmem));
}
static DEVICE_ATTR_RO(devmem_used);

static struct attribute *p2pacc_sysfs_attrs[] = {
	&dev_attr_devmem_size.attr,
	&dev_attr_devmem_used.attr,
	NULL
};

static const struct attribute_group p2pacc_sysfs_group = {
	.attrs = p2pacc_sysfs_attrs,
};

const struct attribute_group *p2pacc_sysfs_groups[] = {
	&p2pacc_sysfs_group,
	NULL
};
