/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: debugfs files under /sys/kernel/debug/accel/<minor>/.
 */
#ifndef __P2PACC_DEBUGFS_H__
#define __P2PACC_DEBUGFS_H__

struct p2pacc_device;

void p2pacc_debugfs_init(struct p2pacc_device *adev);

#endif /* __P2PACC_DEBUGFS_H__ */
