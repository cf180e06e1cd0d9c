#!/bin/bash
# make run: boot the switch-topology VM and run the demo (vm/guest/demo.sh)
# on the kernel of KERNEL (6.12|7.1, default 6.12).
. "$(dirname "$0")/lib.sh"

kernel_dirs
dir=$BUILD/vm/run/$KERNEL
rm -rf "$dir"
mkdir -p "$dir"
cat >"$dir/job.sh" <<JOB
#!/bin/bash
export REPO='$REPO' BUILD='$BUILD' FLAVOUR='$FLAVOUR' TOPOLOGY='${TOPO:-switch}'
export KERNEL='$KERNEL' KOBJ='$KOBJ' MODULES='$MODULES'
exec bash "\$REPO/vm/guest/demo.sh"
JOB
say "booting the $KERNEL ${TOPO:-switch} VM (full console log: $dir/console.log)"
rc=0
VM_QUIET=1 "$REPO/vm/boot.sh" "${TOPO:-switch}" "$dir" || rc=$?
echo "$rc" >"$dir/qemu.rc"
/usr/bin/python3 "$REPO/vm/results.py" --log-only "$dir" || die "the demo failed (see above)"
grep -q '^\[p2pmem\] job done' "$dir/console.log" || die "the demo did not finish"
! grep -q '^\[p2pmem\] demo failed' "$dir/console.log" || die "a demo step failed (see above)"
say "demo finished cleanly"
