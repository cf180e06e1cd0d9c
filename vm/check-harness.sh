#!/bin/bash
# make check-harness: prove that `make check` fails when it must. Two runs,
# each with one injected fault and a real suite beside it; each must exit
# non-zero and name the fault in its summary.
. "$(dirname "$0")/lib.sh"

expect_failure() {
	local what=$1 pattern=$2 log=$BUILD/vm/check-harness-$1.log rc=0
	shift 2
	say "harness self-test: $what"
	VM_QUIET=1 "$REPO/vm/check.sh" --suite p2p-topology "$@" >"$log" 2>&1 || rc=$?
	sed -n '/^suite /,$p' "$log" | sed 's/^/   | /'
	if [ "$rc" -eq 0 ]; then
		echo "FAIL: make check passed despite $what (log: $log)"
		return 1
	fi
	if ! grep -q -- "$pattern" "$log"; then
		echo "FAIL: make check failed but did not report $what (log: $log)"
		return 1
	fi
	echo "ok: make check failed (exit $rc) and reported $what"
}

failed=0
expect_failure failing-test 'FAIL: deliberately_failing_test' --inject failing-test || failed=1
expect_failure guest-warn 'kernel splat: .*WARNING: .*harness_inject' --inject guest-warn || failed=1
[ "$failed" -eq 0 ] && say "harness self-test passed" || die "harness self-test failed"
