#!/bin/bash
# topologies: switch
#
# For make check-harness only: every test passes, but a module leaks
# memory; kmemleak's scan at the end of the job must find it.
. "$REPO/selftests/lib/tap.sh"
tap_plan 1
tap_result "load_a_module_that_leaks" \
	insmod "$MODULES/selftests/modules/harness_inject/harness_inject.ko" leak=1
rmmod harness_inject
tap_done
