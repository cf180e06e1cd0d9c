#!/bin/bash
# topologies: switch
#
# For make check-harness only: the guest kernel panics in the middle of a
# suite (panic=-1 reboots it at once): the job never finishes, the suite
# leaves no exit code.
. "$REPO/selftests/lib/tap.sh"
tap_plan 1
tap_diag "loading harness_inject panic=1: the guest goes down now"
insmod "$MODULES/selftests/modules/harness_inject/harness_inject.ko" panic=1
tap_pass "survived_a_panic"
tap_done
