#!/bin/bash
# The demo run by `make run`, in the guest. Every line is tagged so the host
# shows it live: the accelerator, Soft-RoCE on the NIC, then the whole flow
# from device memory to the NIC through libibverbs (p2pacc_rdma_loopback).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
export RDMA_CORE=$BUILD/rdma-core LD_LIBRARY_PATH=$BUILD/rdma-core/lib
cd /tmp || exit 1

step() { echo; echo "==== $*"; }

demo() {
	step "kernel $(uname -r), topology $TOPOLOGY"
	step "the accelerator: QEMU ivshmem (1af4:1110), BAR2 is its device memory"
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] || continue
		echo "$(basename "$d"): resource2 $(sed -n 3p "$d/resource")"
		echo "  device memory: $(( $(stat -c %s "$d/resource2") >> 20 )) MiB"
		echo "  path: $(readlink -f "$d")"
	done
	step "Soft-RoCE on the NIC"
	# shellcheck source=vm/guest/netup.sh
	. "$REPO/vm/guest/netup.sh" || return 1
	rdma link show
	"$RDMA_CORE/bin/ibv_devinfo" -d "$RXE" | grep -E 'hca_id|transport|state|active_mtu|link_layer'
	sleep 2
	step "a short RDMA WRITE over rxe (ib_write_bw loopback, 64 KiB x 200)"
	ib_write_bw -d "$RXE" -x 1 -s 65536 -n 200 -F >/tmp/server.out 2>&1 &
	sleep 1
	ib_write_bw -d "$RXE" -x 1 -s 65536 -n 200 -F 127.0.0.1 | sed -n '/#bytes/,/^-/p'
	wait

	step "the accelerator's driver (exporter/p2p_accel.ko)"
	[ -e /sys/module/p2p_accel ] ||
		insmod "${MODULES:-$BUILD/modules-$FLAVOUR}/exporter/p2p_accel.ko" || return 1
	"$BUILD/userspace/bin/p2pacc" info

	step "device memory over RDMA: allocate, export as a dma-buf, ibv_reg_dmabuf_mr() on $RXE,"
	echo "     RC loopback RDMA WRITE / READ / SEND / RECV / atomic, every byte checked,"
	echo "     then a device reset revokes the buffer under the live MR"
	local rc=0
	"$BUILD/userspace/bin/p2pacc_rdma_loopback" -d "$RXE" -g 1 -s 1M --revoke || rc=$?
	case "$TOPOLOGY:$rc" in
	*:0) echo "device memory reached the NIC peer-to-peer, and revoke cut the MR off" ;;
	rootbus:3) echo "as expected on the root bus: the exporter refused the NIC's peer2peer attachment" ;;
	*) echo "p2pacc_rdma_loopback failed (exit status $rc)"; return 1 ;;
	esac
	echo "kernel log (p2p_accel, rxe, revoke):"
	dmesg | grep -iE 'p2p_accel|rxe|revok' | tail -n 5
}

demo 2>&1 | sed -u 's/^/[p2pmem] /'
[ "${PIPESTATUS[0]}" -eq 0 ] || echo "[p2pmem] demo failed"
echo "[p2pmem] job done"
