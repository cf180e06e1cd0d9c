#!/bin/bash
# topologies: switch@6.12 rootbus@6.12
#
# Fault injection into every error path of export (device open, GEM alloc,
# PRIME handle-to-fd), attach (each mode of the test importer), map (the
# importer's MAP) and registration (REG_DMABUF_MR on rxe through our
# uverbs client): selftests/faults/fault_injection.c fails the 1st, 2nd,
# ... slab or page allocation of each call (failslab, fail_page_alloc,
# /proc/thread-self/fail-nth: the calling thread only) until the call runs
# out of allocations, for the whole system call and for p2p_accel's own
# code (the stack trace filter on the module's text). Every fault must give
# ENOMEM or be absorbed (the kernel fell back: kmemleak, for one, takes its
# metadata from a reserve when its allocation fails), leak nothing, and
# leave the device answering the same call normally; each test prints its
# number of fault points. The
# kernel log must stay clean and kmemleak empty (the harness checks).
#
# On rootbus the exporter refuses the edu's peer-to-peer attachment
# (EXDEV): attach is swept up to that refusal, and there is no attachment
# to map. rxe is a CPU importer (it vmaps): registration works in both.
# make check runs it on 6.12 (make check KERNEL=7.1 T=fault-injection
# runs it on 7.1).
# expected-skips: rootbus: faults.*.map_pinned_fails_cleanly_at_every_fault_point
# expected-skips: rootbus: faults.*.map_dynamic_fails_cleanly_at_every_fault_point
. "$REPO/selftests/lib/rxe.sh"

GID=1		# ::ffff:<ipv4>, the RoCE v2 GID of the guest's address
FI=/sys/kernel/debug

. "$REPO/selftests/lib/accel.sh"
load_accel_and_importer
# Registration needs rxe's RoCE v2 GID; the test fails without it.
wait_for_gid || echo "# $RXE: GID $GID still empty after 10 s" >&2

rc=0
RXE=${RXE:-rxe0} TOPOLOGY=$TOPOLOGY P2PACC_KO=$EXP \
	"$SELFTESTS/faults/fault_injection" || rc=$?

# The test puts the knobs back itself; after a crash, these are the
# defaults (probability stays 0 throughout: nothing else is ever failed).
for d in failslab fail_page_alloc; do
	echo Y >"$FI/$d/ignore-gfp-wait"
	echo 2 >"$FI/$d/verbose"
	echo 0 >"$FI/$d/require-start"
	echo 18446744073709551615 >"$FI/$d/require-end"
done
echo 1 >"$FI/fail_page_alloc/min-order"

rmmod p2pacc_importer || rc=1
rmmod p2p_accel || rc=1
exit $rc
