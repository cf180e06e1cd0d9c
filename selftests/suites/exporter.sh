#!/bin/bash
# topologies: switch rootbus
#
# The p2p_accel exporter (exporter/) and its test importer
# (selftests/modules/p2pacc_importer/): every ioctl with bad input, CPU
# mappings, P2P DMA by the edu from the exported sg_table (switch; refused
# on rootbus), revoke on owner close, reset and unbind. The TAP comes from
# the kselftest harness in selftests/exporter/exporter_test.c.
EXP=$MODULES/exporter/p2p_accel.ko
IMP=$MODULES/selftests/modules/p2pacc_importer/p2pacc_importer.ko

if ! insmod "$EXP" || ! insmod "$IMP"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_p2p_accel_and_p2pacc_importer"
	rmmod p2p_accel 2>/dev/null
	exit 1
fi
# The exporter explains refused attachments at debug level.
DDC=/sys/kernel/debug/dynamic_debug/control
[ -w "$DDC" ] && echo 'module p2p_accel +p' >"$DDC"

rc=0
TOPOLOGY=$TOPOLOGY "$SELFTESTS/exporter/exporter_test" || rc=$?

rmmod p2pacc_importer || rc=1
rmmod p2p_accel || rc=1
exit $rc
