#!/bin/bash
# Boot one guest and run a job in it.
#
#   vm/boot.sh <switch|rootbus> <out-dir>
#
# <out-dir> must hold job.sh (run by the guest as root, chrooted into the
# host's /); it is shared read-write, so results land there. The console
# (kernel log and job output) goes to <out-dir>/console.log.
#
# Environment: KERNEL (6.12|7.1, default 6.12), FLAVOUR (test|perf),
# DEVMEM_SIZE (ivshmem BAR2, default 256M), VM_TIMEOUT (seconds, default 3600; every suite also has its own SUITE_TIMEOUT), VM_MEM (default 4G), VM_QUIET=1 to keep
# the console off the terminal.
. "$(dirname "$0")/lib.sh"

topo=${1:?usage: boot.sh switch|rootbus out-dir}
out=$(cd "${2:?usage: boot.sh switch|rootbus out-dir}" && pwd)
kernel_dirs
DEVMEM_SIZE=${DEVMEM_SIZE:-256M}
VM_TIMEOUT=${VM_TIMEOUT:-3600}
# 2 MiB pages for udmabuf's kselftest, which maps 1024 of them.
HUGEPAGES=${HUGEPAGES:-1024}

[ -f "$KOBJ/arch/x86/boot/bzImage" ] || die "no kernel in $KOBJ: run 'make kernel KERNEL=$KERNEL FLAVOUR=$FLAVOUR'"
[ -f "$BUILD/vm/initramfs.cpio.gz" ] || die "no initramfs: run 'make image'"
[ -f "$out/job.sh" ] || die "$out/job.sh missing"

# The accelerator (ivshmem: BAR2 is its device memory), the edu DMA engine
# and the NIC rxe binds to. "switch": each on a downstream port of one PCIe
# switch, where P2P is allowed; "rootbus": on q35's root complex, where
# pci_p2pdma_distance() refuses it (host bridge not on the allow-list).
case "$topo" in
switch)
	topology=(
		-device pcie-root-port,id=rp1,chassis=1,slot=1
		-device x3130-upstream,id=up1,bus=rp1
		-device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
		-device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=2
		-device xio3130-downstream,id=dn3,bus=up1,chassis=4,slot=3
	)
	at_accel=,bus=dn1 at_edu=,bus=dn2 at_nic=,bus=dn3
	;;
rootbus)
	topology=()
	at_accel= at_edu= at_nic=
	;;
*) die "unknown topology '$topo' (switch|rootbus)" ;;
esac

# oops=panic: a task that oopses dies holding its locks, and the guest then
# sits until the VM timeout (an hour); a panic ends the run at once, and the
# splat check names the Oops from the console either way.
# restrict=on: the guest's network never leaves QEMU; rxe loops back to
# the guest's own address. disable-legacy=on: on the root bus QEMU would
# make virtio-net the transitional 1af4:1000, behind a port the modern
# 1af4:1041; the NIC must be the same function in both topologies.
cmd=(
	qemu-system-x86_64 -M q35 -cpu max -smp 2 -m "${VM_MEM:-4G}"
	-nographic -no-reboot -monitor none -serial stdio
	-kernel "$KOBJ/arch/x86/boot/bzImage"
	-initrd "$BUILD/vm/initramfs.cpio.gz"
	-append "console=ttyS0 panic=-1 oops=panic no_hash_pointers hugepages=$HUGEPAGES p2pmem.out=$out"
	"${topology[@]}"
	-object "memory-backend-ram,id=devmem,size=$DEVMEM_SIZE"
	-device "ivshmem-plain,memdev=devmem$at_accel"
	-device "edu,dma_mask=0xffffffffffffffff$at_edu"
	-netdev user,id=n0,restrict=on
	-device "virtio-net-pci,netdev=n0,disable-legacy=on$at_nic"
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
	-virtfs "local,path=$out,mount_tag=out,security_model=none,multidevs=remap"
)
printf '%q ' "${cmd[@]}" >"$out/qemu.cmdline"

rc=0
if [ "${VM_QUIET:-0}" = 1 ]; then
	# progress: only the job's own "[p2pmem]" lines reach the terminal
	: >"$out/console.log"
	tail -n +1 -F "$out/console.log" 2>/dev/null > >(grep -a --line-buffered '^\[p2pmem\]' | sed -u 's/^/   /') &
	progress=$!
	timeout --foreground -k 10 "$VM_TIMEOUT" "${cmd[@]}" </dev/null >"$out/console.log" 2>&1 || rc=$?
	sleep 1
	kill "$progress" 2>/dev/null || true
else
	set +o pipefail
	timeout --foreground -k 10 "$VM_TIMEOUT" "${cmd[@]}" </dev/null 2>&1 | tee "$out/console.log"
	rc=${PIPESTATUS[0]}
fi
[ "$rc" -eq 124 ] && echo "vm: timed out after ${VM_TIMEOUT}s" >&2
exit "$rc"
