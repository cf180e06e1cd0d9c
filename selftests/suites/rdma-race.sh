#!/bin/bash
# topologies: switch rootbus@6.12
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# Revoked dma-buf MRs on Soft-RoCE seen from both ends, and revokes racing
# everything an MR goes through (selftests/rdma/rdma_race_test.c, raw
# uverbs, kselftest harness): the completion status of every RC operation
# through a revoked rkey or lkey at both QPs and the flushes after it; UC
# and UD as rxe behaves; an RDMA READ replayed after the revoke;
# SEND/RECV, atomics and ATOMIC_WRITE in flight under a revoke;
# registration and deregistration racing a revoke (counts per outcome);
# 1, 10, 100, 1000 MRs of one buffer revoked at once (timed, printed);
# re-registration and memory windows on a dma-buf MR. rxe is a CPU
# importer: every test runs on both topologies.
#
# Counts come from the environment; the defaults keep make check short:
#   STRESS_RDMA_REG_ROUNDS=30    registration-vs-revoke rounds
#   STRESS_RDMA_DEREG_ROUNDS=30  deregistration-vs-revoke rounds
#   STRESS_RDMA_SCALE_MAX=1000   largest MR count of the timing table
#   STRESS_RDMA_SCALE_PROBES=100 keys probed per MR count (0: every key)
#   STRESS_RDMA_INFLIGHT=2000    work requests per in-flight stream at most
#   STRESS_SEED=<n>              replays the random delays (printed)
# The full figures: STRESS_RDMA_REG_ROUNDS=1000 STRESS_RDMA_DEREG_ROUNDS=1000
# STRESS_RDMA_SCALE_PROBES=0 make check T=rdma-race (vm/check.sh forwards
# STRESS_* into the guest).
EXP=$MODULES/exporter/p2p_accel.ko

if ! insmod "$EXP"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_p2p_accel"
	exit 1
fi
# rxe and the exporter explain refusals at debug level.
DDC=/sys/kernel/debug/dynamic_debug/control
[ -w "$DDC" ] && echo 'module p2p_accel +p' >"$DDC"

rc=0
export STRESS_SEED STRESS_RDMA_REG_ROUNDS STRESS_RDMA_DEREG_ROUNDS \
	STRESS_RDMA_SCALE_MAX STRESS_RDMA_SCALE_PROBES STRESS_RDMA_INFLIGHT
RXE=${RXE:-rxe0} TOPOLOGY=$TOPOLOGY "$SELFTESTS/rdma/rdma_race_test" || rc=$?

rmmod p2p_accel || rc=1
exit $rc
