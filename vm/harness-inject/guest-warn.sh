#!/bin/bash
# topologies: switch
#
# For make check-harness only: every test passes, but the kernel WARNs.
. "$REPO/selftests/lib/tap.sh"
tap_plan 1
tap_result "load_a_module_that_warns" \
	insmod "$MODULES/selftests/modules/harness_inject/harness_inject.ko" warn=1
rmmod harness_inject
tap_done
