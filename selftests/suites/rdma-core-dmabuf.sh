#!/bin/bash
# topologies: switch@7.1
#
# rdma-core 56.1's dma-buf MR tests on the accelerator's memory alone
# (tests.test_p2pacc_dmabuf.*, none of which may skip): rdma-core-tests.sh
# with RDMA_CORE_ONLY. make check runs them this way on 7.1, where the whole
# of rdma-core-tests (5 minutes under TCG) does not fit the cold CI run's
# budget; on 6.12 rdma-core-tests runs them among all the others, and
# `make check KERNEL=7.1 T=rdma-core-tests` runs the whole suite on 7.1.
RDMA_CORE_ONLY='tests.test_p2pacc_dmabuf.*' exec bash "$REPO/selftests/suites/rdma-core-tests.sh"
