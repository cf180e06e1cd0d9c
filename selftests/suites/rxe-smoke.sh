#!/bin/bash
# topologies: switch
#
# Soft-RoCE works in the guest before anything of ours touches it: rxe0 on
# the virtio-net NIC, loopback to the guest's own address, driven through
# rdma-core 56.1 as built by `make userspace`.
. "$REPO/selftests/lib/tap.sh"
. "$REPO/selftests/lib/rxe.sh"

export LD_LIBRARY_PATH=$RDMA_CORE/lib
GID=1		# ::ffff:<ipv4>, the RoCEv2 GID of the guest's address
PORT=18515

# Runs "<server cmd>" in the background, then "<client cmd> 127.0.0.1";
# passes when both exit 0.
server_client() {
	local srv rc=0 out
	"$@" >/tmp/server.out 2>&1 &
	srv=$!
	# The client connects to the server's TCP port for the key exchange:
	# wait until it listens (30 s at most), not for a fixed time.
	for _ in $(seq 150); do
		ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . && break
		sleep 0.2
	done
	out=$("$@" 127.0.0.1 2>&1) || rc=$?
	wait "$srv" || rc=$((rc ? rc : 100))
	tap_diag "server: $(tail -n 3 /tmp/server.out)" "client: $(echo "$out" | tail -n 3)"
	return "$rc"
}

tap_plan 4
[ -e "/sys/class/infiniband/${RXE:-rxe0}" ] && tap_pass "rxe_device_on_the_nic" ||
	tap_fail "rxe_device_on_the_nic" "no rxe device (netup failed?)"
wait_for_gid && tap_pass "roce_v2_gid_for_the_guest_address" ||
	tap_fail "roce_v2_gid_for_the_guest_address" "GID $GID never appeared"

if server_client timeout 60 "$RDMA_CORE/bin/ibv_rc_pingpong" -d "$RXE" -g "$GID" -p $PORT -n 100; then
	tap_pass "ibv_rc_pingpong_loopback"
else
	tap_fail "ibv_rc_pingpong_loopback"
fi

# Debian's perftest, run over our rdma-core through LD_LIBRARY_PATH.
if server_client timeout 120 ib_write_bw -d "$RXE" -x "$GID" -p $PORT -s 65536 -n 200 -F; then
	tap_pass "ib_write_bw_loopback"
else
	tap_fail "ib_write_bw_loopback"
fi
tap_done
