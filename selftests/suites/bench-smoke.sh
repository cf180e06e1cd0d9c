#!/bin/bash
# topologies: switch@6.12
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# The benchmark tools of `make bench`, at tiny sizes and a few iterations:
# they run, and the data they move arrives. No figure decides anything here.
#
# - perftest 25.01 with our backend (userspace/perftest/, built by
#   vm/perftest.sh into $BUILD/perftest): ib_write_bw, ib_read_bw and
#   ib_send_bw with the server's buffer in device memory (--use_p2pacc;
#   the client stays in host memory: one accelerator has one owner
#   process). Passes when both sides exit 0, the server registered its
#   buffer with ibv_reg_dmabuf_mr() and the client printed a result row.
#   perftest checks no data itself: the data check is p2pacc_bench's.
# - p2pacc_bench (userspace/bench/): host, dma-buf (zero-copy), staged
#   through the mapping and, with the p2pacc_importer module and QEMU's
#   edu, staged through the edu DMA engine; WRITE, READ and SEND at 4 KiB
#   and 64 KiB, every byte delivered checked against its pattern; the
#   registration cost at two sizes; revoke with 1 and 10 MRs, each MR
#   checked to fail RDMA WRITE with a remote access error afterwards.
#   Passes when it exits 0 and its JSON says every point was verified.
. "$REPO/selftests/lib/tap.sh"
. "$REPO/selftests/lib/rxe.sh"

PT=$BUILD/perftest
BENCH=$USERSPACE/bench/p2pacc_bench
EXP=$MODULES/exporter/p2p_accel.ko
IMP=$MODULES/selftests/modules/p2pacc_importer/p2pacc_importer.ko
GID=1		# ::ffff:<ipv4>, the RoCEv2 GID of the guest's address
PORT=18600
export LD_LIBRARY_PATH=$RDMA_CORE/lib

loaded=
for m in "$EXP" "$IMP"; do
	name=$(basename "$m" .ko)
	[ -e "/sys/module/$name" ] && continue
	insmod "$m" && loaded="$name $loaded"
done

# Waits until something listens on TCP port $1 (the perftest server).
wait_listen() {
	local _
	for _ in $(seq 100); do
		ss -ltn "sport = :$1" 2>/dev/null | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

# perftest <tool>: the server on device memory, the client on host memory.
perftest_p2pacc() {
	local tool=$1 srv rc=0 out
	PORT=$((PORT + 1))
	local args=(-d "$RXE" -x "$GID" -p "$PORT" -s 65536 -n 20 -F)
	timeout 120 "$PT/$tool" "${args[@]}" --use_p2pacc >/tmp/bench-smoke-server.out 2>&1 &
	srv=$!
	wait_listen "$PORT" || tap_diag "server not listening on $PORT"
	out=$(timeout 120 "$PT/$tool" "${args[@]}" 127.0.0.1 2>&1) || rc=$?
	wait "$srv" || rc=$((rc ? rc : 100))
	tap_diag "\$ $tool ${args[*]} --use_p2pacc    (server)" \
		"$(grep -E 'p2p_accel|ibv_reg_dmabuf_mr|Couldn|rror' /tmp/bench-smoke-server.out)" \
		"\$ $tool ${args[*]} 127.0.0.1    (client)" \
		"$(sed -n '/#bytes/,+1p' <<<"$out")" "exit status $rc"
	[ "$rc" -eq 0 ] &&
		grep -q 'Calling ibv_reg_dmabuf_mr' /tmp/bench-smoke-server.out &&
		grep -q 'bytes of p2p_accel device memory' /tmp/bench-smoke-server.out &&
		awk '/#bytes/ { getline; exit !($1 == 65536 && $2 == 20) }' <<<"$out"
}

tap_plan 6
if [ ! -e /sys/module/p2p_accel ] || ! wait_for_gid; then
	tap_fail "setup" "p2p_accel not loaded or GID $GID of $RXE missing"
	tap_done
fi

if "$PT/ib_write_bw" --help 2>&1 | grep -q -- '--use_p2pacc'; then
	tap_pass "perftest_has_use_p2pacc"
else
	tap_fail "perftest_has_use_p2pacc" "$PT/ib_write_bw --help has no --use_p2pacc (run 'make userspace')"
fi
for tool in ib_write_bw ib_read_bw ib_send_bw; do
	if perftest_p2pacc "$tool"; then
		tap_pass "perftest_${tool}_server_on_device_memory"
	else
		tap_fail "perftest_${tool}_server_on_device_memory"
	fi
done

json=/tmp/bench-smoke.json
rc=0
out=$(timeout 600 "$BENCH" -d "$RXE" -g "$GID" -s 4K,64K -b 512K -l 64K -B 2 -t 8 \
	-r 4K,1M -R 1,10 -M 1M -e 4K -q --json "$json" 2>&1) || rc=$?
tap_diag "$out" "exit status $rc"
points=$(grep -c '"mode":' "$json" 2>/dev/null || true)
verified=$(grep -c '"verified": true' "$json" 2>/dev/null || true)
if [ "$rc" -eq 0 ] && [ "${points:-0}" -ge 18 ] && [ "$points" = "$verified" ]; then
	tap_pass "p2pacc_bench_moves_and_verifies_every_byte"
else
	tap_fail "p2pacc_bench_moves_and_verifies_every_byte" \
		"$points points, $verified verified (18 at least: 3 modes x 3 ops x 2 sizes)"
fi
if [ "$rc" -eq 0 ] && grep -q '"all_unusable": true' "$json" &&
   ! grep -q '"all_unusable": false' "$json"; then
	tap_pass "p2pacc_bench_revoked_mrs_all_refuse_rdma"
else
	tap_fail "p2pacc_bench_revoked_mrs_all_refuse_rdma"
fi

for m in $loaded; do
	rmmod "$m" || tap_diag "rmmod $m failed"
done
tap_done
