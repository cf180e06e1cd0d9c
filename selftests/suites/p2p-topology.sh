#!/bin/bash
# topologies: switch rootbus
#
# The VM's PCI topology is what the P2P tests rely on: behind the switch the
# accelerator (ivshmem) can do P2P with the edu DMA engine and with the NIC;
# on q35's root bus pci_p2pdma_distance() refuses both.
. "$REPO/selftests/lib/tap.sh"

ACCEL=1af4:1110 EDU=1234:11e8 NIC=1af4:1041
MOD=$MODULES/selftests/modules/p2p_distance/p2p_distance.ko

distance() {
	insmod "$MOD" provider="$1" client="$2" || return 1
	cat /sys/module/p2p_distance/parameters/distance
	rmmod p2p_distance
}

tap_plan 2
for pair in "edu $EDU" "nic $NIC"; do
	set -- $pair
	name="accelerator_to_${1}_p2p_$([ "$TOPOLOGY" = switch ] && echo allowed || echo refused)"
	if ! d=$(distance "$ACCEL" "$2"); then
		tap_fail "$name" "could not measure the distance"
		continue
	fi
	tap_diag "pci_p2pdma_distance(accelerator, $1) = $d on $TOPOLOGY"
	if [ "$TOPOLOGY" = switch ]; then
		[ "$d" -gt 0 ] && tap_pass "$name" || tap_fail "$name" "expected > 0"
	else
		[ "$d" -lt 0 ] && tap_pass "$name" || tap_fail "$name" "expected < 0"
	fi
done
tap_done
