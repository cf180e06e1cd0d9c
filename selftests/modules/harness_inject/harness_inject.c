// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module for "make check-harness": loading it with warn=1 makes
 * the kernel WARN, which must fail "make check" even when every test passed.
 */
#include <linux/bug.h>
#include <linux/module.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "WARN once when loaded");

static int __init harness_inject_init(void)
{
	WARN(warn, "harness_inject: deliberate WARN for the harness self-test\n");
	return 0;
}

static void __exit harness_inject_exit(void)
{
}

module_init(harness_inject_init);
module_exit(harness_inject_exit);
MODULE_DESCRIPTION("Test-only: deliberately WARN to prove the harness catches it");
MODULE_LICENSE("GPL");
