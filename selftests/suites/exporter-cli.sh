#!/bin/bash
# topologies: switch rootbus
#
# The p2pacc CLI (userspace/) driving the p2p_accel exporter by hand:
# info, alloc, export (with a command holding the dma-buf FD), reset
# through ioctl and sysfs, and a clean module unload at the end.
. "$REPO/selftests/lib/tap.sh"

EXP=$MODULES/exporter/p2p_accel.ko
CLI=$USERSPACE/bin/p2pacc
export PATH=$USERSPACE/bin:$PATH

tap_plan 9
if ! insmod "$EXP"; then
	tap_fail load_p2p_accel "insmod $EXP failed"
	tap_done
fi
BDF=$(basename "$(ls -d /sys/bus/pci/drivers/p2p_accel/0000:* | head -n1)")
USED=/sys/bus/pci/devices/$BDF/devmem_used
tap_pass "load_p2p_accel_binds_$BDF"

info() {
	"$CLI" info && "$CLI" info | grep -q '^mem_size: *268435456 '
}
tap_result cli_info_reports_256MiB_of_device_memory info

helps() {
	local v
	"$CLI" --help >/dev/null || return 1
	for v in info alloc export reset; do
		"$CLI" "$v" --help | head -n1 | grep -q "usage: p2pacc $v" || return 1
	done
}
tap_result cli_help_on_every_verb helps

alloc() {
	"$CLI" alloc 4M --fill 0x5a | tee /dev/stderr | grep -q 'filled with 0x5a and checked'
}
tap_result cli_alloc_writes_and_reads_back_device_memory alloc

# The command runs while the device is owned and the dma-buf exported.
export_run() {
	"$CLI" export 1M -- sh -c '
		test -e /proc/self/fd/$P2PACC_DMABUF_FD &&
		test "$(cat '"$USED"')" = 1048576 &&
		! p2pacc info 2>/dev/null'
}
tap_result cli_export_hands_the_dmabuf_fd_to_a_command_while_owning_the_device export_run

reset_sysfs() {
	"$CLI" export 2M -- sh -c '
		p2pacc reset --sysfs && test "$(cat '"$USED"')" = 0'
}
tap_result cli_reset_through_sysfs_revokes_the_exported_buffer reset_sysfs

tap_result cli_reset_through_the_ioctl "$CLI" reset

released() {
	test "$(cat "$USED")" = 0 && dmesg | grep -q 'owner closed: revoked 1 buffer'
}
tap_result device_memory_is_released_and_the_revoke_logged released

tap_result module_unloads_once_every_fd_is_closed rmmod p2p_accel
tap_done
