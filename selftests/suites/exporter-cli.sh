#!/bin/bash
# topologies: switch@6.12 rootbus@named
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# The p2pacc CLI (userspace/) driving the p2p_accel exporter by hand:
# info (from the device, and from sysfs while another process owns it),
# alloc, export (with a command holding the dma-buf FD), a DRM node of
# another driver refused, reset through debugfs and by a PCI function
# reset, and a clean module unload at the end.
#
# q35's root bus gives the accelerator no PCI reset method.
# expected-skips: rootbus: cli_pci_function_reset_revokes_the_exported_buffer
. "$REPO/selftests/lib/tap.sh"

EXP=$MODULES/exporter/p2p_accel.ko
CLI=$USERSPACE/bin/p2pacc
export PATH=$USERSPACE/bin:$PATH

tap_plan 11
if ! insmod "$EXP"; then
	tap_fail load_p2p_accel "insmod $EXP failed"
	tap_done
fi
BDF=$(basename "$(ls -d /sys/bus/pci/drivers/p2p_accel/0000:* | head -n1)")
USED=/sys/bus/pci/devices/$BDF/devmem_used
NODE=/dev/accel/$(ls "/sys/bus/pci/devices/$BDF/accel" | head -n1)
tap_pass "load_p2p_accel_binds_$BDF"

info() {
	local out
	out=$("$CLI" info) || return 1
	echo "$out"
	echo "$out" | grep -q '^source: *the device' &&
	echo "$out" | grep -q '^mem_size: *268435456 '
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

# libp2pacc checks the DRM driver name before any private ioctl: vgem's
# node (built in) opens fine but is refused with ENODEV.
OTHER=$(ls /dev/dri/renderD* /dev/dri/card* 2>/dev/null | head -n1)
refuse_other() {
	local out
	out=$("$CLI" --device "$OTHER" alloc 4K 2>&1) && { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q "$OTHER is not a p2p_accel device"
}
if [ -n "$OTHER" ]; then
	tap_result cli_refuses_a_drm_node_of_another_driver refuse_other
else
	tap_skip cli_refuses_a_drm_node_of_another_driver "no /dev/dri node"
fi

# A shell holding the node open owns the device (no buffer): info cannot
# open it (EBUSY), reads sysfs instead, says so, and finds the owner.
info_while_owned() {
	local holder out rc=0
	( exec 3<>"$NODE" && exec sleep 60 ) </dev/null >/dev/null 2>&1 &
	holder=$!
	for _ in $(seq 50); do
		[ "$(readlink "/proc/$holder/fd/3" 2>/dev/null)" = "$NODE" ] && break
		sleep 0.1
	done
	out=$("$CLI" info) || rc=$?
	echo "$out"
	kill "$holder"
	wait "$holder" 2>/dev/null
	[ "$rc" -eq 0 ] &&
	echo "$out" | grep -q '^source: *sysfs' &&
	echo "$out" | grep -q '^mem_size: *268435456 ' &&
	echo "$out" | grep -q '^mem_used: *0$' &&
	echo "$out" | grep -q "^owner: *pid $holder (.*: 0 bytes in its buffers"
}
tap_result cli_info_reads_sysfs_while_another_process_owns_the_device info_while_owned

# The command runs while the device is owned and the dma-buf exported;
# info sees the owner's buffer in sysfs and in its fdinfo.
export_run() {
	"$CLI" export 1M -- sh -c '
		test -e /proc/self/fd/$P2PACC_DMABUF_FD &&
		test "$(cat '"$USED"')" = 1048576 &&
		info=$(p2pacc info) && echo "$info" &&
		echo "$info" | grep -q "^source: *sysfs" &&
		echo "$info" | grep -q "^mem_used: *1048576\$" &&
		echo "$info" | grep -q "^owner: .*: 1048576 bytes in its buffers, 1048576 of them exported\$"'
}
tap_result cli_export_hands_the_dmabuf_fd_to_a_command_while_owning_the_device export_run

# logs MSG CMD [ARGS]: CMD succeeds and the kernel logs MSG once more.
logs() {
	local msg=$1 before
	shift
	before=$(dmesg | grep -c "$msg")
	"$@" && [ "$(dmesg | grep -c "$msg")" -gt "$before" ]
}

# Neither reset opens the device: both work under its owner.
reset_debugfs() {
	"$CLI" export 2M -- sh -c '
		p2pacc reset && test "$(cat '"$USED"')" = 0'
}
tap_result cli_reset_through_debugfs_revokes_the_exported_buffer \
	logs 'reset through debugfs: revoked 1 buffer' reset_debugfs

# Only where the PCI core has a reset method for the function (behind the
# switch: a secondary bus reset of its downstream port).
reset_pci() {
	"$CLI" export 2M -- sh -c '
		p2pacc reset --pci && test "$(cat '"$USED"')" = 0'
}
if [ -e "/sys/bus/pci/devices/$BDF/reset" ]; then
	tap_result cli_pci_function_reset_revokes_the_exported_buffer \
		logs 'PCI function reset: revoked 1 buffer' reset_pci
else
	tap_skip cli_pci_function_reset_revokes_the_exported_buffer "$BDF has no PCI reset method"
fi

released() {
	test "$(cat "$USED")" = 0 && dmesg | grep -q 'owner closed: revoked 1 buffer'
}
tap_result device_memory_is_released_and_the_revoke_logged released

tap_result module_unloads_once_every_fd_is_closed rmmod p2p_accel
tap_done
