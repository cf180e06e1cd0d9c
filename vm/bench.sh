#!/bin/bash
# make bench: perftest (host memory and --use_p2pacc) and p2pacc_bench on the
# perf kernel in the switch VM, then the plots and a summary of ratios.
#
#   vm/bench.sh [--no-build] [--report DIR]
#
# Builds what is missing (the perf kernel, its modules, perftest 25.01,
# p2pacc_bench), boots the VM with vm/guest/bench.sh as its job and keeps
# everything in $BUILD/bench/<date>/ ($BUILD/bench/latest points to it):
# console.log, perftest/ (each run's command and output), p2pacc_bench.json
# and .txt, profile-*.txt, clock.txt, *.png, summary.txt.
# --no-build boots on what is built already; --report DIR redoes only the
# plots and the summary of a finished run.
#
# Knobs: BENCH_SIZES (perftest message sizes, bytes), BENCH_TOOLS, BENCH_REPS,
# BENCH_ARGS (extra p2pacc_bench options, see its --help), BENCH_PROFILE=0
# (no perf profile), DEVMEM_SIZE, VM_TIMEOUT (default 3600).
. "$(dirname "$0")/lib.sh"

report() {
	/usr/bin/python3 "$REPO/userspace/bench/report.py" "$1" ||
		die "the report failed (results kept in $1)"
}

build=1
case "${1:-}" in
--report)
	report "${2:?usage: bench.sh --report DIR}"
	exit 0 ;;
--no-build) build=0; shift ;;
esac
[ $# -eq 0 ] || die "usage: bench.sh [--no-build] [--report DIR]"

start=$SECONDS
export FLAVOUR=perf
kernel_dirs	# KERNEL (default 6.12): KOBJ, MODULES of its perf kernel
export KERNEL
if [ "$build" = 1 ]; then
	say "the perf kernel, its modules, perftest 25.01 and p2pacc_bench"
	"$REPO/vm/kernel.sh" perf
	"$REPO/vm/modules.sh" exporter selftests/modules/p2pacc_importer
	"$REPO/vm/perftest.sh"
	make -s -C "$REPO/userspace/bench" BUILD="$BUILD" RDMA_CORE="$BUILD/rdma-core"
	[ -f "$BUILD/vm/initramfs.cpio.gz" ] || "$REPO/vm/initramfs.sh"
fi
for f in "$KOBJ/arch/x86/boot/bzImage" "$MODULES/exporter/p2p_accel.ko" \
	 "$BUILD/perftest/ib_write_bw" "$BUILD/userspace/bench/p2pacc_bench" \
	 "$BUILD/vm/initramfs.cpio.gz"; do
	[ -f "$f" ] || die "$f missing: run 'make bench' (without --no-build)"
done

REPO=$(realpath -m -- "$REPO") BUILD=$(realpath -m -- "$BUILD")
dir=$BUILD/bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$dir"
ln -sfn "$(basename "$dir")" "$BUILD/bench/latest"
quote() { printf '%s' "$1" | sed "s/'/'\\\\''/g"; }
cat >"$dir/job.sh" <<-JOB
	#!/bin/bash
	export REPO='$REPO' BUILD='$BUILD' FLAVOUR=perf TOPOLOGY=switch OUT='$dir'
	export KERNEL='$KERNEL' KOBJ='$KOBJ' MODULES='$MODULES'
	export BENCH_SIZES='$(quote "${BENCH_SIZES:-}")' BENCH_TOOLS='$(quote "${BENCH_TOOLS:-}")'
	export BENCH_ARGS='$(quote "${BENCH_ARGS:-}")' BENCH_PROFILE='${BENCH_PROFILE:-1}'
	export BENCH_REPS='${BENCH_REPS:-2}'
	[ -n "\$BENCH_SIZES" ] || unset BENCH_SIZES
	[ -n "\$BENCH_TOOLS" ] || unset BENCH_TOOLS
	exec bash "\$REPO/vm/guest/bench.sh"
JOB
say "booting the switch VM on the $KERNEL perf kernel (console: $dir/console.log)"
vm_start=$SECONDS
rc=0
VM_QUIET=1 VM_TIMEOUT=${VM_TIMEOUT:-3600} "$REPO/vm/boot.sh" switch "$dir" || rc=$?
echo "$rc" >"$dir/qemu.rc"
say "VM done in $((SECONDS - vm_start)) s"
/usr/bin/python3 "$REPO/vm/results.py" --log-only "$dir" || die "kernel splat or failed guest (see above)"
grep -q '^\[p2pmem\] job done' "$dir/console.log" || die "the bench job did not finish"
! grep -q '^\[p2pmem\] bench failed' "$dir/console.log" || die "a bench step failed (see above)"
report "$dir"
say "make bench took $((SECONDS - start)) s; results in $dir"
