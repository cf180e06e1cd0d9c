#!/bin/bash
# topologies: switch
#
# For make check-harness only: a suite whose test fails.
. "$REPO/selftests/lib/tap.sh"
tap_plan 1
tap_fail "deliberately_failing_test" "injected by make check-harness"
tap_done
