// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: report pci_p2pdma_distance() between two PCI functions
 * picked by vendor:device, so the test suite can prove the VM topology is
 * what it claims (positive behind a switch, refused on q35's root bus).
 *
 * insmod p2p_distance.ko provider=1af4:1110 client=1234:11e8
 * cat /sys/module/p2p_distance/parameters/distance
 *
 * Loading fails with ENODEV when either function is missing.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>

static char *provider;
module_param(provider, charp, 0444);
MODULE_PARM_DESC(provider, "vendor:device of the P2P memory provider");

static char *client;
module_param(client, charp, 0444);
MODULE_PARM_DESC(client, "vendor:device of the P2P client");

static int distance = INT_MIN;
module_param(distance, int, 0444);
MODULE_PARM_DESC(distance, "pci_p2pdma_distance(provider, client), < 0: refused");

static struct pci_dev *p2p_distance_find(const char *id)
{
	unsigned int vendor, device;

	if (!id || sscanf(id, "%x:%x", &vendor, &device) != 2)
		return ERR_PTR(-EINVAL);
	return pci_get_device(vendor, device, NULL) ?: ERR_PTR(-ENODEV);
}

static int __init p2p_distance_init(void)
{
	struct pci_dev *p, *c;
	int ret = 0;

	p = p2p_distance_find(provider);
	if (IS_ERR(p))
		return PTR_ERR(p);
	c = p2p_distance_find(client);
	if (IS_ERR(c)) {
		ret = PTR_ERR(c);
		goto put_provider;
	}

	distance = pci_p2pdma_distance(p, &c->dev, true);
	pr_info("p2p_distance: %s -> %s: %d\n", pci_name(p), pci_name(c), distance);

	pci_dev_put(c);
put_provider:
	pci_dev_put(p);
	return ret;
}

static void __exit p2p_distance_exit(void)
{
}

module_init(p2p_distance_init);
module_exit(p2p_distance_exit);
MODULE_DESCRIPTION("Test-only: report the PCI P2P DMA distance of two functions");
MODULE_LICENSE("GPL");
