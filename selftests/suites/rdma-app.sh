#!/bin/bash
# topologies: switch rootbus
#
# An application's view, through libibverbs (rdma-core 56.1 with our
# patches): userspace/tools/p2pacc_rdma_loopback allocates device memory
# with libp2pacc, exports it as a dma-buf, registers it on rxe with
# ibv_reg_dmabuf_mr() and runs RC loopback RDMA WRITE, RDMA READ,
# SEND/RECV both ways and an atomic on it, checking every byte through
# the buffer's CPU mapping. rxe is a CPU importer (it vmaps the dma-buf,
# it never DMA-maps it), so every step must pass in both topologies. The
# probe NCCL and UCX make (fd -1, length 0 and one page) must get EBADF:
# "supported".
. "$REPO/selftests/lib/tap.sh"
. "$REPO/selftests/lib/rxe.sh"

APP=$USERSPACE/bin/p2pacc_rdma_loopback
P2PACC=$USERSPACE/bin/p2pacc
EXP=$MODULES/exporter/p2p_accel.ko
GID=1		# ::ffff:<ipv4>, the RoCEv2 GID of the guest's address
export LD_LIBRARY_PATH=$RDMA_CORE/lib

# Runs the app; its output becomes diagnostics; sets $rc and $out.
app() {
	rc=0
	out=$(timeout 300 "$APP" -d "$RXE" -g "$GID" "$@" 2>&1) || rc=$?
	tap_diag "\$ p2pacc_rdma_loopback -d $RXE -g $GID $*" "$out" "exit status $rc"
}

# Passes when the app exits 0 and printed PASS.
expect_pass() {
	local name=$1
	shift
	app "$@"
	if [ "$rc" -eq 0 ] && echo "$out" | grep -qx PASS; then
		tap_pass "$name"
	else
		tap_fail "$name"
	fi
}

# fd -1 gives EBADF, length 0 and one page: what NCCL and UCX look for.
expect_probe() {
	app --probe
	if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c ': EBADF$')" -eq 2 ]; then
		tap_pass "probe_with_fd_minus_1_gets_ebadf"
	else
		tap_fail "probe_with_fd_minus_1_gets_ebadf"
	fi
}

# Every byte of device memory is free again: nothing leaked.
all_memory_free() {
	local info size free
	info=$("$P2PACC" info 2>&1) || { tap_diag "$info"; return 1; }
	size=$(echo "$info" | awk '/^mem_size:/ { print $2 }')
	free=$(echo "$info" | awk '/^mem_free:/ { print $2 }')
	tap_diag "device memory: $free of $size bytes free"
	[ -n "$size" ] && [ "$size" = "$free" ]
}

loaded=
if [ ! -e /sys/module/p2p_accel ]; then
	insmod "$EXP" && loaded=1
fi

case "$TOPOLOGY" in
switch|rootbus)
	tap_plan 8
	if [ ! -e /sys/module/p2p_accel ] || ! wait_for_gid; then
		tap_fail "setup" "p2p_accel not loaded or GID $GID of $RXE missing"
		tap_done
	fi
	tap_result "help_text" sh -c "'$APP' --help | grep -q ibv_reg_dmabuf_mr"
	expect_probe
	expect_pass "write_read_send_recv_atomic_1MiB" -s 1M
	expect_pass "mr_at_an_offset_into_the_buffer_3_iterations" -s 64K -o 8K -n 3
	expect_pass "size_not_a_page_multiple" -s 12345
	expect_pass "one_byte" -s 1
	# Revoke (device reset) while the MR is registered: RDMA WRITE to it
	# must then fail with a remote access error and dereg must work.
	expect_pass "revoked_mr_fails_rdma_write_and_deregisters" -s 64K --revoke
	if all_memory_free; then
		tap_pass "all_device_memory_free_afterwards"
	else
		tap_fail "all_device_memory_free_afterwards"
	fi
	;;
*)
	tap_plan 1
	tap_skip "rdma_app" "unknown topology '$TOPOLOGY'"
	;;
esac

[ -n "$loaded" ] && { rmmod p2p_accel || tap_diag "rmmod p2p_accel failed"; }
tap_done
