# SPDX-License-Identifier: GPL-2.0
#
# p2pmem: peer-to-peer device memory from an accelerator to RDMA over dma-buf.
# The one entry point. `make help` lists the targets.

REPO    := $(CURDIR)
BUILD   ?= $(REPO)/build
FLAVOUR ?= test
TOPO    ?= switch
# Suite to run (`make check T=rxe`); empty runs every suite.
T       ?=
# Kernel: 6.12 (Debian's linux-source-6.12) or 7.1 (mainline 7.1.8); empty
# builds and checks both.
KERNEL  ?=
KERNELS := $(if $(KERNEL),$(KERNEL),6.12 7.1)

export REPO BUILD FLAVOUR
# A kernel's directories in BUILD: 6.12's carry no suffix, the others
# "-<kernel>" (build/linux-7.1, build/kernel-7.1-test; vm/lib.sh kernel_dirs()).
ksfx = $(if $(filter 6.12,$(1)),,-$(1))
# Runs a command once per kernel of KERNELS, with KERNEL set.
each_kernel = $(foreach k,$(KERNELS),KERNEL=$(k) $(1) &&) true

# Out-of-tree kernel modules: every folder holding a Kbuild file.
MODULE_DIRS := $(patsubst %/Kbuild,%,$(wildcard exporter/Kbuild selftests/modules/*/Kbuild))

.PHONY: help deps kernel kernel-test kernel-perf modules userspace rdma-core \
	selftests image run check check-harness checkpatch check-series clean distclean \
	bench stress

help:
	@echo "p2pmem - accelerator device memory to RDMA over dma-buf"
	@echo
	@echo "  make run            build everything, boot the VM, demo the end-to-end flow"
	@echo "  make check          build everything, run every suite in the VMs, both kernels"
	@echo "  make check T=rxe    run one suite (names: ls selftests/suites)"
	@echo "  make bench          perftest and p2pacc_bench on the perf kernel (switch VM): ratios,"
	@echo "                     JSON and plots in build/bench/<date>/ (userspace/BENCH.md)"
	@echo "  make check-harness  prove that failing tests, splats, crashes, hangs, undeclared"
	@echo "                     skips and leaks each fail 'make check'"
	@echo "  make stress         the stress suites with their full counts (README: Reliability)"
	@echo
	@echo "  make deps           install the Debian packages the build and the VM need"
	@echo "  make kernel         build the test kernels (FLAVOUR=perf for the perf ones)"
	@echo "  make modules        build the out-of-tree modules against it"
	@echo "  make userspace      build rdma-core 56.1 (+ userspace/ patches) and our tools"
	@echo "  make selftests      build the test programs"
	@echo "  make image          build the guest initramfs"
	@echo "  make checkpatch     checkpatch --strict over our kernel code and series"
	@echo "  make check-series   every patch of both series applies, builds alone, is clean"
	@echo
	@echo "  variables: BUILD=$(BUILD) FLAVOUR=$(FLAVOUR) TOPO=$(TOPO) (switch|rootbus)"
	@echo "             KERNEL=$(KERNEL) (6.12|7.1; empty: both)"

deps:
	@vm/deps.sh

kernel: deps
	@$(call each_kernel,vm/kernel.sh $(FLAVOUR))

kernel-test kernel-perf: deps
	@$(call each_kernel,vm/kernel.sh $(@:kernel-%=%))

modules: kernel
	@$(call each_kernel,vm/modules.sh $(MODULE_DIRS))

rdma-core: deps
	@vm/rdma-core.sh

userspace: rdma-core
	@if [ -f userspace/Makefile ]; then \
		$(MAKE) -s -C userspace BUILD=$(BUILD) RDMA_CORE=$(BUILD)/rdma-core; fi
	@$(MAKE) -s -C userspace/bench BUILD=$(BUILD) RDMA_CORE=$(BUILD)/rdma-core
	@vm/perftest.sh

# The test programs of each kernel, against its uapi and kselftest headers.
selftests: kernel userspace
	@$(foreach k,$(KERNELS),$(MAKE) -s -C selftests BUILD=$(BUILD) \
		KOBJ=$(BUILD)/kernel$(call ksfx,$(k))-$(FLAVOUR) KSRC=$(BUILD)/linux$(call ksfx,$(k)) \
		OUT=$(BUILD)/selftests$(call ksfx,$(k)) &&) true

image: deps
	@vm/initramfs.sh

run: modules selftests image
	@$(call each_kernel,vm/run-demo.sh)

check: modules selftests image
	@KERNEL="$(KERNELS)" vm/check.sh $(if $(T),--suite $(T))

# On one kernel: KERNEL's, else 6.12.
bench: userspace image
	@KERNEL=$(firstword $(KERNELS)) vm/bench.sh

check-harness: modules selftests image
	@vm/check-harness.sh

# The stress suites with the full figures (README: Reliability): make check
# runs smaller counts of rdma-stress. Results in $(BUILD)/vm/stress/.
stress: modules selftests image
	@STRESS_RDMA_CYCLES=1000 STRESS_RDMA_KEY_REGS=10000 STRESS_RDMA_WRAP=1 \
		SUITE_TIMEOUT=$${SUITE_TIMEOUT:-7200} VM_TIMEOUT=$${VM_TIMEOUT:-14400} \
		CHECK_DIR=$${CHECK_DIR:-$(BUILD)/vm/stress} KERNEL="$(KERNELS)" \
		vm/check.sh --suite exporter-stress --suite rdma-stress

checkpatch: kernel
	@vm/checkpatch.sh

check-series: kernel
	@$(call each_kernel,vm/check-series.sh)

clean:
	rm -rf $(BUILD)/modules-* $(BUILD)/selftests $(BUILD)/selftests-* $(BUILD)/userspace $(BUILD)/vm
	@if [ -f userspace/Makefile ]; then $(MAKE) -s -C userspace clean BUILD=$(BUILD); fi

distclean:
	rm -rf $(BUILD)
