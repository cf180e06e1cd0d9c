#!/bin/bash
# topologies: switch
#
# rdma-core 56.1's dma-buf MR tests on the accelerator's memory alone
# (tests.test_p2pacc_dmabuf.*, none of which may skip): rdma-core-tests.sh
# with RDMA_CORE_ONLY. make check runs them this way on both kernels: the
# whole of rdma-core-tests (about 11 minutes under TCG) does not fit the
# cold CI run's budget, and runs when named (`make check T=rdma-core-tests`).
RDMA_CORE_ONLY='tests.test_p2pacc_dmabuf.*' exec bash "$REPO/selftests/suites/rdma-core-tests.sh"
