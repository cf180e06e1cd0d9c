/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the test programs that drive the test importer
 * (selftests/modules/p2pacc_importer, /dev/p2pacc_importer) and the
 * exporter's PCI driver binding. Include after accel_test.h and
 * p2pacc_importer.h.
 */
#ifndef P2PMEM_IMPORTER_TEST_H
#define P2PMEM_IMPORTER_TEST_H

/* Copy through the importer's dma_buf_vmap() of @dmabuf. */
static inline int importer_rw(int imp, int dmabuf, uint64_t off, void *buf,
			      uint64_t len, int write)
{
	struct p2pi_rw rw = {
		.offset = off, .len = len, .user_ptr = (uintptr_t)buf,
		.write = write, .fd = dmabuf,
	};

	return xioctl(imp, P2PI_IOC_RW, &rw);
}

/* What the importer saw; all zero if the ioctl fails. */
static inline struct p2pi_status importer_status(int imp)
{
	struct p2pi_status s = { 0 };

	xioctl(imp, P2PI_IOC_STATUS, &s);
	return s;
}

/* Is the PCI function @bdf bound to p2p_accel? */
static inline int driver_bound(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/" ACCEL_DRIVER "/%s",
		 bdf);
	return access(path, F_OK) == 0;
}

#endif /* P2PMEM_IMPORTER_TEST_H */
