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

KOBJ    := $(BUILD)/kernel-$(FLAVOUR)
export REPO BUILD FLAVOUR

# Out-of-tree kernel modules: every folder holding a Kbuild file.
MODULE_DIRS := $(patsubst %/Kbuild,%,$(wildcard exporter/Kbuild selftests/modules/*/Kbuild))

.PHONY: help deps kernel kernel-test kernel-perf modules userspace rdma-core \
	selftests image run check check-harness checkpatch check-series clean distclean \
	bench

help:
	@echo "p2pmem - accelerator device memory to RDMA over dma-buf"
	@echo
	@echo "  make run            build everything, boot the VM, demo the end-to-end flow"
	@echo "  make check          build everything, run every suite in the VM(s)"
	@echo "  make check T=rxe    run one suite (names: ls selftests/suites)"
	@echo "  make bench          perftest and p2pacc_bench on the perf kernel (switch VM): ratios,"
	@echo "                     JSON and plots in build/bench/<date>/ (userspace/BENCH.md)"
	@echo "  make check-harness  prove that failing tests, splats, crashes, hangs, undeclared"
	@echo "                     skips and leaks each fail 'make check'"
	@echo
	@echo "  make deps           install the Debian packages the build and the VM need"
	@echo "  make kernel         build the test kernel (FLAVOUR=perf for the perf one)"
	@echo "  make modules        build the out-of-tree modules against it"
	@echo "  make userspace      build rdma-core 56.1 (+ userspace/ patches) and our tools"
	@echo "  make selftests      build the test programs"
	@echo "  make image          build the guest initramfs"
	@echo "  make checkpatch     checkpatch --strict over our kernel code and series"
	@echo "  make check-series   every patch of both series applies, builds alone, is clean"
	@echo
	@echo "  variables: BUILD=$(BUILD) FLAVOUR=$(FLAVOUR) TOPO=$(TOPO) (switch|rootbus)"

deps:
	@vm/deps.sh

kernel: deps
	@vm/kernel.sh $(FLAVOUR)

kernel-test kernel-perf: deps
	@vm/kernel.sh $(@:kernel-%=%)

modules: kernel
	@vm/modules.sh $(MODULE_DIRS)

rdma-core: deps
	@vm/rdma-core.sh

userspace: rdma-core
	@if [ -f userspace/Makefile ]; then \
		$(MAKE) -s -C userspace BUILD=$(BUILD) RDMA_CORE=$(BUILD)/rdma-core; fi
	@$(MAKE) -s -C userspace/bench BUILD=$(BUILD) RDMA_CORE=$(BUILD)/rdma-core
	@vm/perftest.sh

selftests: kernel userspace
	@$(MAKE) -s -C selftests BUILD=$(BUILD) KOBJ=$(KOBJ)

image: deps
	@vm/initramfs.sh

run: modules selftests image
	@vm/run-demo.sh

check: modules selftests image
	@vm/check.sh $(if $(T),--suite $(T))

bench: userspace image
	@vm/bench.sh

check-harness: modules selftests image
	@vm/check-harness.sh

checkpatch: kernel
	@vm/checkpatch.sh

check-series: kernel
	@vm/check-series.sh

clean:
	rm -rf $(BUILD)/modules-* $(BUILD)/selftests $(BUILD)/userspace $(BUILD)/vm
	@if [ -f userspace/Makefile ]; then $(MAKE) -s -C userspace clean BUILD=$(BUILD); fi

distclean:
	rm -rf $(BUILD)
