#!/bin/bash
# topologies: switch@6.12 rootbus@named
#
# dma-buf MRs on rxe against revoke, many times over
# (selftests/rdma/rdma_stress_test.c, through our uverbs client):
#  - register -> RDMA WRITE/READ/atomics through the MR as rkey and lkey ->
#    revoke at a random point (debugfs reset, owner close, every tenth
#    cycle unbind + rebind) -> the same device memory reallocated under a
#    canary while traffic goes on through the old keys -> dereg; nothing
#    lands or leaks after the revoke returned, statuses per the contract;
#  - registrations that must never get the index of a revoked MR's key
#    before it is deregistered; the revoked dma-buf refused (ENODEV);
#  - (make stress) a run across the wrap of rxe's MR indices: revoked
#    indices are passed, not handed out, and come back only after dereg.
# rxe is a CPU importer (it vmaps, never DMA-maps): everything runs in
# both topologies. make check runs it on 6.12 (make check KERNEL=7.1
# T=rdma-stress runs it on 7.1).
#
# Counts come from the environment; the defaults fit make check, make
# stress runs the full figures:
#   STRESS_RDMA_CYCLES=100 (full 1000)   STRESS_RDMA_KEY_REGS=2000 (full 10000)
#   STRESS_RDMA_WRAP=1 runs the index-wrap test behind the switch (make
#   stress)   STRESS_SEED=<n> replays a run (each test prints its seed)
# With the defaults the suite takes about 40 s per topology in the
# test-kernel VM (TCG, KASAN); with the full counts about 6 minutes, plus
# the wrap.
. "$REPO/selftests/lib/rxe.sh"

EXP=$MODULES/exporter/p2p_accel.ko
GID=1		# ::ffff:<ipv4>, the RoCE v2 GID of the guest's address

if ! insmod "$EXP"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_p2p_accel"
	exit 1
fi
wait_for_gid || echo "# $RXE: GID $GID still empty after 10 s" >&2

# The wrap takes 2**19 registrations (25-40 minutes under TCG): once, behind
# the switch (rxe's allocator does not depend on the PCI topology).
args=()
[ "${STRESS_RDMA_WRAP:-0}" = 1 ] && [ "$TOPOLOGY" = switch ] ||
	args+=(-T mr_index_wrap_reuses_a_revoked_index_only_after_dereg)

rc=0
export STRESS_SEED STRESS_RDMA_CYCLES STRESS_RDMA_KEY_REGS
RXE=${RXE:-rxe0} TOPOLOGY=$TOPOLOGY "$SELFTESTS/rdma/rdma_stress_test" "${args[@]}" || rc=$?

rmmod p2p_accel || rc=1
exit $rc
