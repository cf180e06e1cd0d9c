#!/bin/bash
# The demo run by `make run`, in the guest. Every line is tagged so the host
# shows it live. Later issues extend it to the whole device-memory-to-NIC flow.
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
}

demo 2>&1 | sed -u 's/^/[p2pmem] /'
echo "[p2pmem] job done"
