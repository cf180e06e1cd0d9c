#!/bin/bash
# topologies: switch
#
# For make check-harness only: every test skips and no skip is declared.
. "$REPO/selftests/lib/tap.sh"
tap_plan 3
tap_skip "needs_hardware_we_do_not_have" "no such device"
tap_skip "needs_a_newer_kernel" "not supported"
tap_skip "needs_time" "skipped for speed"
tap_done
