#!/bin/bash
# topologies: switch rootbus
#
# Accelerator device memory as RDMA memory regions: dma-bufs from p2p_accel
# registered on Soft-RoCE (rxe0 on the NIC) through the uverbs ABI, with no
# rdma-core (selftests/rdma/: our own uverbs client and the kselftest
# harness). RDMA WRITE/READ/SEND and atomics between device and host memory,
# revoke on reset and owner close (idle and under traffic), keys of revoked
# MRs, the errno contract of REG_DMABUF_MR. rxe is a CPU importer (it vmaps,
# never DMA-maps), so everything runs in both topologies.
#
# On the root bus the accelerator has no PCI reset method (no FLR, and a
# function on the root bus cannot have its bus reset):
# expected-skips: rootbus: dmabuf_mr.pci_function_reset_revokes_all_of_200_mrs
EXP=$MODULES/exporter/p2p_accel.ko

if ! insmod "$EXP"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_p2p_accel"
	exit 1
fi
# The exporter explains refused attachments at debug level.
DDC=/sys/kernel/debug/dynamic_debug/control
[ -w "$DDC" ] && echo 'module p2p_accel +p' >"$DDC"

rc=0
RXE=${RXE:-rxe0} TOPOLOGY=$TOPOLOGY "$SELFTESTS/rdma/rdma_dmabuf_test" || rc=$?

rmmod p2p_accel || rc=1
exit $rc
