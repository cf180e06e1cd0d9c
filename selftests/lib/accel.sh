# shellcheck shell=bash
# Loads the accelerator driver and the test importer for a suite whose test
# program writes its own TAP (kselftest harness). Sourced. On failure it
# reports one failed test in TAP and ends the suite.
#
#   load_accel_and_importer    # sets EXP and IMP, the two module paths

load_accel_and_importer() {
	EXP=$MODULES/exporter/p2p_accel.ko
	IMP=$MODULES/selftests/modules/p2pacc_importer/p2pacc_importer.ko
	if ! insmod "$EXP" || ! insmod "$IMP"; then
		echo "TAP version 13"
		echo "1..1"
		echo "not ok 1 load_p2p_accel_and_p2pacc_importer"
		rmmod p2p_accel 2>/dev/null
		exit 1
	fi
}
