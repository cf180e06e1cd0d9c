#!/bin/bash
# make bench, in the guest (perf kernel, switch topology): perftest over rxe
# on host memory and on the accelerator's memory (--use_p2pacc), then
# p2pacc_bench, then a short kernel profile of both MR kinds. Everything
# lands in $OUT (build/bench/<date>/ on the host); every line tagged
# "[p2pmem]" is the host's progress display.
#
# Environment (from job.sh): REPO BUILD FLAVOUR OUT, and the knobs
# BENCH_SIZES (perftest sizes), BENCH_TOOLS, BENCH_REPS (perftest runs of
# each kind, host and device memory alternating), BENCH_ARGS (extra
# p2pacc_bench options), BENCH_PROFILE (1: perf record the kernel).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LC_ALL=C.UTF-8
# The booted kernel's build tree and modules (job.sh names them).
export KOBJ=${KOBJ:-$BUILD/kernel-$FLAVOUR} MODULES=${MODULES:-$BUILD/modules-$FLAVOUR}
PT=$BUILD/perftest
BENCH=$BUILD/userspace/bench/p2pacc_bench
GID=1		# ::ffff:<ipv4>, the RoCEv2 GID of the guest's address
SIZES=${BENCH_SIZES:-4096 65536 1048576}
REPS=${BENCH_REPS:-2}
TOOLS=${BENCH_TOOLS:-ib_write_bw ib_read_bw ib_send_bw ib_write_lat}
cd /tmp || exit 1

log() { echo "[p2pmem] $*"; }
fail() { log "bench failed: $*"; log "job done"; exit 1; }
start=$SECONDS

log "guest up: $(uname -r), $(nproc) vCPUs, topology $TOPOLOGY"
# The serial console at 115200 baud takes ~7 ms a line under TCG, inside
# whatever printed it (a revoke logs per MR): keep the kernel's messages
# off it while measuring, and print them all at the end for the host's
# splat check.
dmesg -n 1
# The clock: what the kernel chose, and why (userspace/BENCH.md).
cs=/sys/devices/system/clocksource/clocksource0
log "clocksource: $(cat $cs/current_clocksource) (available: $(cat $cs/available_clocksource))"
{
	echo "current_clocksource: $(cat $cs/current_clocksource)"
	echo "available_clocksource: $(cat $cs/available_clocksource)"
	echo "cmdline: $(cat /proc/cmdline)"
	grep -m1 'cpu MHz' /proc/cpuinfo
	dmesg | grep -iE 'tsc|hpet|clocksource|pm-timer|acpi_pm|calibrat' || true
} >"$OUT/clock.txt"

# netup.sh loads Soft-RoCE from the booted kernel's module tree ($KOBJ).
# shellcheck source=vm/guest/netup.sh
. "$REPO/vm/guest/netup.sh" || fail "network setup"
. "$REPO/selftests/lib/rxe.sh"
wait_for_gid || fail "GID $GID of $RXE never appeared"
[ -e /sys/module/p2p_accel ] || insmod "$MODULES/exporter/p2p_accel.ko" ||
	fail "insmod p2p_accel"
imp=$MODULES/selftests/modules/p2pacc_importer/p2pacc_importer.ko
if [ -f "$imp" ]; then
	[ -e /sys/module/p2pacc_importer ] || insmod "$imp" ||
		log "p2pacc_importer did not load: no staged-edu mode"
fi
"$BUILD/userspace/bin/p2pacc" info | sed 's/^/[p2pmem]   /'

# ---- perftest: host memory, then device memory on the server side --------
# One accelerator has one owner process: the server (the target of WRITE
# and SEND, the source of READ) takes --use_p2pacc, the client stays in
# host memory. Iterations scale so each run moves about 16 MiB. Host and
# device memory runs alternate, $REPS of each, so that a change in the
# host machine's load weighs on both alike.
iters() {
	local tool=$1 size=$2 n
	case "$tool" in
	*_lat) n=$((4194304 / size)); [ "$n" -lt 10 ] && n=10; [ "$n" -gt 1000 ] && n=1000 ;;
	*) n=$((16777216 / size)); [ "$n" -lt 16 ] && n=16; [ "$n" -gt 4096 ] && n=4096 ;;
	esac
	echo "$n"
}

# Waits until something listens on TCP port $1 (the perftest server).
wait_listen() {
	local _
	for _ in $(seq 100); do
		ss -ltn "sport = :$1" 2>/dev/null | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

mkdir -p "$OUT/perftest"
port=18515
total=$(( $(echo "$TOOLS" | wc -w) * $(echo "$SIZES" | wc -w) * 2 * REPS ))
n=0
export LD_LIBRARY_PATH=$BUILD/rdma-core/lib
for tool in $TOOLS; do
	for size in $SIZES; do
		for r in $(seq "$REPS"); do
		for mem in host p2pacc; do
			n=$((n + 1))
			port=$((port + 1))
			it=$(iters "$tool" "$size")
			f=$OUT/perftest/$tool-$mem-$size-r$r
			args=(-d "$RXE" -x "$GID" -p "$port" -s "$size" -n "$it" -F)
			srv=("${args[@]}")
			[ "$mem" = p2pacc ] && srv+=(--use_p2pacc)
			echo "server: $tool ${srv[*]}" >"$f.cmd"
			echo "client: $tool ${args[*]} 127.0.0.1" >>"$f.cmd"
			timeout 300 "$PT/$tool" "${srv[@]}" >"$f.server" 2>&1 &
			spid=$!
			wait_listen "$port" || log "perftest server on port $port not listening"
			rc=0
			timeout 300 "$PT/$tool" "${args[@]}" 127.0.0.1 >"$f.client" 2>&1 || rc=$?
			wait "$spid" || rc=$((rc ? rc : 100))
			echo "$rc" >"$f.rc"
			# The result row: the line after the header that starts with #bytes.
			row=$(awk '/#bytes/ { getline; print; exit }' "$f.client" | tr -s ' ')
			log "perftest $n/$total $tool $mem $size bytes x $it: ${row:-no result} (exit $rc, $((SECONDS - start)) s)"
		done
		done
	done
done

# ---- our benchmark ----------------------------------------------------------
log "p2pacc_bench: host / dmabuf / staged, write read send, 4K..4M; registration; revoke"
# shellcheck disable=SC2086
"$BENCH" -d "$RXE" -g "$GID" --json "$OUT/p2pacc_bench.json" ${BENCH_ARGS:-} 2>&1 |
	tee "$OUT/p2pacc_bench.txt" | sed -u 's/^/[p2pmem] /'
echo "${PIPESTATUS[0]}" >"$OUT/p2pacc_bench.rc"

# ---- where the kernel spends the time: host MR against dma-buf MR ----------
if [ "${BENCH_PROFILE:-1}" = 1 ] && command -v perf >/dev/null; then
	for mode in host dmabuf; do
		log "profile: perf record -a of p2pacc_bench -m $mode -o write -s 1M"
		perf record -q -a -g -o "/tmp/perf-$mode.data" -- \
			"$BENCH" -d "$RXE" -g "$GID" -m "$mode" -o write -s 1M -b 64M -B 1 \
			-r 0 -R 0 -M 0 -q >"$OUT/profile-$mode.run" 2>&1 || log "perf record failed ($mode)"
		perf report -i "/tmp/perf-$mode.data" --stdio --no-children --sort symbol \
			--percent-limit 1 -g none 2>/dev/null | grep -v '^$' | head -40 >"$OUT/profile-$mode.txt"
		sed -n '/^#/!p' "$OUT/profile-$mode.txt" | head -8 | sed 's/^/[p2pmem]   /'
	done
fi

rmmod p2pacc_importer 2>/dev/null
rmmod p2p_accel 2>/dev/null
dmesg >"$OUT/dmesg.txt"
log "the kernel log of the run, for the splat check:"
cat "$OUT/dmesg.txt"
log "bench in the guest took $((SECONDS - start)) s"
log "job done"
