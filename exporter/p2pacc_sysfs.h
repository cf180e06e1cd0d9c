/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: sysfs attributes of the PCI device.
 */
#ifndef __P2PACC_SYSFS_H__
#define __P2PACC_SYSFS_H__

extern const struct attribute_group *p2pacc_sysfs_groups[];

#endif /* __P2PACC_SYSFS_H__ */
