#!/bin/bash
# topologies: switch rootbus
#
# Accelerator device memory as RDMA memory regions: dma-bufs from p2p_accel
# registered on Soft-RoCE (rxe0 on the NIC) through the uverbs ABI, with no
# rdma-core (selftests/rdma/: our own uverbs client and the kselftest
# harness). RDMA WRITE/READ/SEND and atomics between device and host memory,
# revoke on reset and owner close (idle and under traffic), keys of revoked
# MRs, the errno contract of REG_DMABUF_MR. On rootbus the exporter refuses
# the NIC's attachment: registration must fail with EXDEV, data tests skip.
#
# On rootbus no dma-buf MR can exist (EXDEV): every data and revoke test skips.
# expected-skips: rootbus: dmabuf_data.* revoke_under_traffic.*
# expected-skips: rootbus: dmabuf_mr.many_mrs_of_one_dmabuf_coexist
# expected-skips: rootbus: dmabuf_mr.deregistered_mr_keys_fail
# expected-skips: rootbus: dmabuf_mr.mr_keeps_working_after_the_dmabuf_fd_is_closed
# expected-skips: rootbus: dmabuf_mr.compare_swap_and_fetch_add_on_device_memory
# expected-skips: rootbus: dmabuf_mr.access_flags_of_the_mr_are_enforced
# expected-skips: rootbus: dmabuf_mr.reset_revokes_the_mr_and_its_keys_fail
# expected-skips: rootbus: dmabuf_mr.owner_close_revokes_the_mr_and_its_keys_fail
# expected-skips: rootbus: dmabuf_mr.pci_function_reset_revokes_all_of_200_mrs
# expected-skips: rootbus: dmabuf_mr.revoked_lkey_as_write_source_completes_with_local_protection_error
# expected-skips: rootbus: dmabuf_mr.revoke_of_an_mr_registered_at_an_offset
# expected-skips: rootbus: dmabuf_mr.revoked_keys_are_not_reused_until_dereg
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
