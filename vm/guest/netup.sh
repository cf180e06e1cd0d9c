# shellcheck shell=bash
# Sourced in the guest: bring up the NIC and put Soft-RoCE on it.
# Sets NETDEV and RXE (the rxe device name) for the caller.

NETDEV=
for d in /sys/class/net/*; do
	[ "$(basename "$d")" = lo ] && continue
	# the virtio-net function, found by PCI ID not by name
	[ "$(cat "$d/device/vendor" 2>/dev/null)" = 0x1af4 ] ||
		[ "$(cat "$d/device/../vendor" 2>/dev/null)" = 0x1af4 ] || continue
	NETDEV=$(basename "$d")
	break
done
[ -n "$NETDEV" ] || { echo "netup: no virtio-net interface" >&2; return 1; }

ip link set lo up
ip link set "$NETDEV" up
ip addr replace 10.0.2.15/24 dev "$NETDEV"
# Soft-RoCE is a module, as in every distribution: modprobe pulls in the
# UDP tunnel and crypto modules it links against, from the kernel's own
# module tree. 6.12's rxe asks for its crc32 transform by name
# (crypto-crc32), which the kernel's request_module() cannot find in that
# tree: load it first where the tree has it (7.1's rxe uses the crc32
# library instead).
if [ ! -d /sys/module/rdma_rxe ]; then
	moddir=${KOBJ:-$BUILD/kernel-${FLAVOUR:-test}}/modinstall
	mods=rdma_rxe
	modprobe -d "$moddir" -n -q crypto-crc32 && mods="crypto-crc32 $mods"
	modprobe -d "$moddir" -a $mods ||
		{ echo "netup: modprobe $mods failed" >&2; return 1; }
fi
RXE=rxe0
[ -e /sys/class/infiniband/$RXE ] ||
	rdma link add $RXE type rxe netdev "$NETDEV" ||
	{ echo "netup: rdma link add failed" >&2; return 1; }
export NETDEV RXE
