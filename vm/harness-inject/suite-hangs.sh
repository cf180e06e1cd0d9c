#!/bin/bash
# topologies: switch
#
# For make check-harness only: a suite that never returns. It ignores
# SIGTERM and leaves a child holding its output open, so only the suite
# timeout's SIGKILL to the whole process group ends it (run it with a small
# SUITE_TIMEOUT).
. "$REPO/selftests/lib/tap.sh"
trap '' TERM
tap_plan 1
sleep 100000 &
sleep 100000
tap_pass "returned"
tap_done
