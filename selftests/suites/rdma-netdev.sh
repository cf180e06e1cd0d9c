#!/bin/bash
# topologies: switch@6.12 rootbus@named
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# dma-buf MRs on rxe devices over other netdevs than the virtio NIC, and
# rxe going away under live dma-buf MRs (selftests/rdma/rdma_netdev_test.c,
# raw uverbs). rxe imports dma-bufs as a CPU importer: a netdev with no PCI
# parent (veth, lo) makes no difference. The test creates its own rxe
# devices (rxe_t0, rxe_t1), veths and namespaces with ip and rdma, and
# removes them:
#   - netdev.veth, netdev.lo: an rxe on one end of a veth pair, or on lo,
#     two QPs of it connected to each other, WRITE/READ/SEND/atomics between
#     p2p_accel memory and host memory byte-exact, the revoke fails the keys;
#   - two_namespaces: a veth pair across two network namespaces, an rxe on
#     each end, dma-buf MR traffic between them;
#   - unplug.*: `rdma link delete` of the rxe, or `ip link delete` of its
#     veth, with dma-buf MRs and work requests live (and the revoke while
#     the deletion is pending): the process closes everything, the
#     deletion completes, the accelerator revokes and frees cleanly; no
#     splat (the harness checks the log).
#
# Linux 6.12 has no network namespaces in the test kernel's configuration,
# and its rxe opens its UDP sockets and routes in init_net only (7.1's
# rxe_ns.c lifts that): two rxe devices cannot reach each other across
# namespaces there.
# expected-skips: *@6.12: two_namespaces.dmabuf_mr_traffic_across_the_veth
EXP=$MODULES/exporter/p2p_accel.ko

if ! insmod "$EXP"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_p2p_accel"
	exit 1
fi

rc=0
TOPOLOGY=$TOPOLOGY "$SELFTESTS/rdma/rdma_netdev_test" || rc=$?

rmmod p2p_accel || rc=1
exit $rc
