// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module for "make check-harness": each parameter provokes one
 * fault that must fail "make check" even when every test passed.
 *
 *   warn=1   WARN once when loaded
 *   leak=1   kmalloc() objects and forget them: kmemleak must report them
 *   panic=1  panic when loaded: the guest dies without finishing its job
 */
#include <linux/bug.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/panic.h>
#include <linux/slab.h>
#include <linux/string.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "WARN once when loaded");

static bool leak;
module_param(leak, bool, 0444);
MODULE_PARM_DESC(leak, "leak a few allocations on purpose (kmemleak must report them)");

static bool do_panic;
module_param_named(panic, do_panic, bool, 0444);
MODULE_PARM_DESC(panic, "panic when loaded");

#define LEAKED_OBJECTS 4

/* Not inlined, so kmemleak's backtrace names this module. */
static noinline void harness_inject_leak(void)
{
	int i;

	for (i = 0; i < LEAKED_OBJECTS; i++) {
		char *p = kmalloc(200, GFP_KERNEL);

		if (!p)
			return;
		/* Recognisable in kmemleak's hex dump; the pointer is dropped. */
		strscpy(p, "harness_inject: deliberately leaked", 200);
	}
}

static int __init harness_inject_init(void)
{
	WARN(warn, "harness_inject: deliberate WARN for the harness self-test\n");
	if (leak)
		harness_inject_leak();
	if (do_panic)
		panic("harness_inject: deliberate panic for the harness self-test");
	return 0;
}

static void __exit harness_inject_exit(void)
{
}

module_init(harness_inject_init);
module_exit(harness_inject_exit);
MODULE_DESCRIPTION("Test-only: deliberately WARN, leak or panic to prove the harness catches it");
MODULE_LICENSE("GPL");
