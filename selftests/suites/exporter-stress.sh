#!/bin/bash
# topologies: switch rootbus@named
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# Stress of the p2p_accel exporter (selftests/exporter/exporter_stress.c,
# kselftest harness): randomized valid and invalid ioctls checked against a
# model of the driver's memory, the owner SIGKILLed mid-transfer, a dma-buf
# FD that outlives its owner (SCM_RIGHTS), fork() and dup() of the owner's
# mappings and FD, unprivileged callers, and unbind/rebind under a live
# owner. Behind the switch the edu importer is attached and transferring
# during kills and rebinds; on rootbus the exporter refuses it, so those
# tests run with CPU mappings only (no skips).
#
# Counts come from the environment; the defaults are the full figures:
#   STRESS_IOCTLS=10000  STRESS_KILLS=100  STRESS_REBINDS=50
#   STRESS_SCM_ROUNDS=5  STRESS_FORKS=6    STRESS_KILL_MAX_MS (600 switch, 150 rootbus)
#   STRESS_SEED=<n>      replays a run (each test prints the seed it used)
# With them the suite takes about 100 s on switch and 75 s on rootbus in the
# test-kernel VM (TCG, KASAN), module load and unload included.
# vm/check.sh does not forward the host's environment into the guest: to
# change them, boot by hand (vm/boot.sh <topology> <dir>) with a job.sh that
# exports them before running vm/guest/run-suites.sh.

. "$REPO/selftests/lib/accel.sh"
load_accel_and_importer

rc=0
export STRESS_SEED STRESS_IOCTLS STRESS_KILLS STRESS_REBINDS STRESS_SCM_ROUNDS \
	STRESS_FORKS STRESS_KILL_MAX_MS
TOPOLOGY=$TOPOLOGY "$SELFTESTS/exporter/exporter_stress" || rc=$?

rmmod p2pacc_importer || rc=1
rmmod p2p_accel || rc=1
exit $rc
