#!/bin/bash
# Runs in the guest (chrooted into the host's /): every suite in $SUITES,
# each with a timeout, its TAP in $OUT/<suite>.tap and exit code in
# $OUT/<suite>.rc. The host reads those files and the console log.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LC_ALL=C.UTF-8
# The booted kernel's objects, our modules and test programs built for it
# (vm/check.sh sets them from vm/lib.sh kernel_dirs(); these are 6.12's).
export KOBJ=${KOBJ:-$BUILD/kernel-$FLAVOUR} MODULES=${MODULES:-$BUILD/modules-$FLAVOUR}
export SELFTESTS=${SELFTESTS:-$BUILD/selftests} KERNEL=${KERNEL:-6.12}
export USERSPACE=$BUILD/userspace RDMA_CORE=$BUILD/rdma-core
cd /tmp || exit 1

log() { echo "[p2pmem] $*"; }

log "guest up: $(uname -r) (KERNEL $KERNEL), topology $TOPOLOGY"
# shellcheck source=vm/guest/netup.sh
if ! . "$REPO/vm/guest/netup.sh"; then
	log "network setup failed"
fi

for suite in $SUITES; do
	script=$REPO/selftests/suites/$suite.sh
	[ -f "$script" ] || script=$REPO/vm/harness-inject/$suite.sh
	log "suite $suite: start"
	start=$SECONDS
	timeout -k 10 "${SUITE_TIMEOUT:-600}" bash "$script" 2>&1 | tee "$OUT/$suite.tap"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$OUT/$suite.rc"
	log "suite $suite: exit $rc after $((SECONDS - start))s"
done
# Give pending kernel work (deferred frees, hung-task checks) a moment to
# report before the VM goes down.
sleep 2
# kmemleak (test kernel) scans only when asked: twice, since an object is
# reported once it looked unreferenced in two scans. Each report goes to
# the kernel log, where the host's splat check finds it.
KMEMLEAK=/sys/kernel/debug/kmemleak
if [ -w "$KMEMLEAK" ]; then
	log "kmemleak: scanning"
	echo scan >"$KMEMLEAK"
	sleep 5
	echo scan >"$KMEMLEAK"
	leaks=$(grep -c '^unreferenced object' "$KMEMLEAK")
	log "kmemleak: $leaks unreferenced object(s)"
	head -n 200 "$KMEMLEAK" | while IFS= read -r line; do
		echo "kmemleak report: $line" >/dev/kmsg
	done
fi
log "job done"
