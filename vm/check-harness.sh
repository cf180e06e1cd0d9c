#!/bin/bash
# make check-harness: prove that `make check` fails when it must.
#
# First vm/results.py alone, on made-up run directories (a second): a clean
# run and a declared skip pass; every other case must fail and be named.
# Then one VM run per injected fault (vm/harness-inject/), switch topology
# only, with p2p-topology beside it as a real suite that must still pass:
# each run must exit non-zero and name its fault in the summary.
#
#   vm/check-harness.sh [--offline]    (--offline: only the first part)
#
# Results stay in $BUILD/vm/check-harness/<case>/ (CHECK_HARNESS_DIR), the
# output of each VM run in <case>.log there; `make check`'s own results in
# $BUILD/vm/check are left alone. HANG_TIMEOUT (45) is the SUITE_TIMEOUT of
# the run whose suite hangs.
. "$(dirname "$0")/lib.sh"
offline_only=
case "${1:-}" in
--offline) offline_only=1 ;;
"") ;;
*) die "usage: vm/check-harness.sh [--offline]" ;;
esac

top=$(realpath -m -- "${CHECK_HARNESS_DIR:-$BUILD/vm/check-harness}")
# --offline keeps the last VM runs' results
if [ -n "$offline_only" ]; then rm -rf "$top/offline"; else rm -rf "$top"; fi
mkdir -p "$top"
failed=0

# The summary of a check.sh log with each FAIL line prefixed by its suite,
# so that a pattern can name both: "6.12/switch/all-skip: FAIL: every test ...".
# Kept in <log>.summary, which the patterns are matched against.
summary() {
	sed -n '/^suite /,$p' "$1" | awk '
		/^[0-9.]+\/[a-z]+\/[^ ]+ / { label = $1 }
		/^ +FAIL: / { sub(/^ +/, ""); print label ": " $0; next }
		{ print }' >"$1.summary"
}

# expect_results <case> <pattern|""> : vm/results.py on $top/offline/<case>
# must pass when the pattern is empty, else fail and print the pattern.
expect_results() {
	local case=$1 pattern=$2 log=$top/offline/$1.log rc=0 results=$REPO/vm/results.py
	# REPO: results.py reads the made-up suite's header there
	REPO=$top/offline/repo KERNEL=6.12 /usr/bin/python3 "$results" \
		"$top/offline/$case/switch" >"$log" 2>&1 || rc=$?
	if [ -z "$pattern" ]; then
		if [ "$rc" -ne 0 ]; then
			echo "FAIL: results.py failed a clean run '$case' (log: $log)"
			sed 's/^/   | /' "$log"
			return 1
		fi
	elif [ "$rc" -eq 0 ]; then
		echo "FAIL: results.py passed '$case' (log: $log)"
		sed 's/^/   | /' "$log"
		return 1
	elif ! summary "$log" || ! grep -Eq -- "$pattern" "$log.summary"; then
		echo "FAIL: results.py failed '$case' but did not say /$pattern/ (log: $log)"
		sed 's/^/   | /' "$log"
		return 1
	fi
	echo "ok: $case"
}

# offline_case <case> <tap> <rc|-> [<header line>] [<console>] [<qemu.rc>]
#              [<SUITE_TIMEOUT>]
# One suite "t" on switch; rc "-" leaves no exit code (a suite cut short).
offline_case() {
	local case=$1 tap=$2 rc=$3 header=${4:-} console=${5:-} qrc=${6:-0} timeout=${7:-}
	local d=$top/offline/$case/switch
	mkdir -p "$d"
	echo "t" >"$d/suites.list"
	[ -z "$timeout" ] || echo "export SUITE_TIMEOUT='$timeout'" >"$d/job.sh"
	printf '%b' "$tap" >"$d/t.tap"
	[ "$rc" = - ] || echo "$rc" >"$d/t.rc"
	if [ -z "$console" ]; then
		console='[    0.000000] Linux version 6.12.117+ (test)\n[p2pmem] guest up\n[p2pmem] job done\n'
	fi
	printf '%b' "$console" >"$d/console.log"
	echo "$qrc" >"$d/qemu.rc"
	# the suite's script, for its expected-skips header
	mkdir -p "$top/offline/repo/selftests/suites"
	printf '#!/bin/bash\n# topologies: switch\n%s\n. tap.sh\n' "$header" \
		>"$top/offline/repo/selftests/suites/t.sh"
}

say "harness self-test: vm/results.py on made-up runs"
T='TAP version 13\n'
quit='[    1.000000] Linux version 6.12.117+ (test)\n[p2pmem] guest up\n'
results_case() {
	offline_case "$@"
	expect_results "$1" "$pattern" || failed=1
}
pattern='' results_case clean "${T}1..2\nok 1 a\nok 2 b\n" 0
pattern='' results_case declared-skip "${T}1..2\nok 1 a\nok 2 b # SKIP nope\n" 0 \
	'# expected-skips: rootbus,switch@6.12: x b*'
pattern='' results_case whole-suite-skip-declared "" 4 '# expected-skips: *: (whole*'
pattern='switch/t: FAIL: undeclared skip: b: nope' \
	results_case undeclared-skip "${T}1..2\nok 1 a\nok 2 b # SKIP nope\n" 0
pattern='switch/t: FAIL: undeclared skip: b: nope' \
	results_case skip-declared-for-another-kernel "${T}1..2\nok 1 a\nok 2 b # SKIP nope\n" 0 \
	'# expected-skips: switch@7.1: b'
pattern='switch/t: FAIL: undeclared skip: b: nope' \
	results_case skip-declared-for-another-topology "${T}1..2\nok 1 a\nok 2 b # SKIP nope\n" 0 \
	'# expected-skips: rootbus: b'
pattern='switch/t: FAIL: .*malformed expected-skips line' \
	results_case malformed-declaration "${T}1..1\nok 1 a\n" 0 '# expected-skips: b'
pattern='switch/t: FAIL: every test skipped' \
	results_case all-skip "${T}1..2\nok 1 a # SKIP x\nok 2 b # SKIP y\n" 0
pattern='switch/t: FAIL: undeclared skip: \(whole suite\)' \
	results_case whole-suite-skip "" 4
pattern='switch/t: FAIL: suite emitted no TAP' results_case no-tap "" 0
pattern='switch/t: FAIL: suite emitted no TAP' results_case no-tap-only-noise "hello\n# a comment\n" 0
pattern='switch/t: FAIL: Bail out! lost the device' \
	results_case bail-out "${T}1..2\nok 1 a\nBail out! lost the device\n" 1
pattern='switch/t: FAIL: only 1 of 3 planned' results_case fewer-than-planned "${T}1..3\nok 1 a\n" 0
pattern='switch/t: FAIL: 2 results reported, but the plan is 1..1' \
	results_case more-than-planned "${T}1..1\nok 1 a\nok 2 b\n" 0
pattern='switch/t: FAIL: no plan' results_case no-plan "${T}ok 1 a\n" 0
pattern='switch/t: FAIL: 2 plans' results_case two-plans "${T}1..1\nok 1 a\n1..1\n" 0
pattern='switch/t: FAIL: b: not ok # TODO' \
	results_case todo "${T}1..2\nok 1 a\nnot ok 2 b # TODO fix later\n" 0
pattern='switch/t: FAIL: b: ok # TODO' results_case ok-todo "${T}1..2\nok 1 a\nok 2 b # TODO\n" 0
pattern='switch/t: FAIL: .*results out of order' \
	results_case out-of-order "${T}1..2\nok 2 a\nok 1 b\n" 0
pattern='switch/t: FAIL: suite exited with 2' results_case exit-code "${T}1..1\nok 1 a\n" 2
pattern='switch/t: FAIL: suite timed out .*: it hung' results_case suite-timeout "${T}1..1\n" 124
pattern='switch/t: FAIL: suite timed out after 70s \(SUITE_TIMEOUT=60s\): it hung and ignored SIGTERM' \
	results_case suite-timeout-kill "${T}1..1\n" 137 '' \
	'[p2pmem] suite t: exit 137 after 70s\n[p2pmem] job done\n' 0 60
pattern='switch/t: FAIL: suite was killed by SIGKILL after 5s' \
	results_case suite-killed "${T}1..1\n" 137 '' \
	'[p2pmem] suite t: exit 137 after 5s\n[p2pmem] job done\n' 0 60
pattern='switch/t: FAIL: suite did not finish' results_case no-exit-code "${T}1..1\n" -
pattern='switch: the guest never finished its job.*job exited with 137' \
	results_case job-died "${T}1..1\n" - '' "${quit}p2pmem-guest: job exited with 137\n"
pattern='^last [0-9]+ lines of .*console.log' \
	results_case console-tail "${T}1..1\n" - '' "${quit}p2pmem-guest: job exited with 137\n"
pattern='switch: the guest never finished its job.*: the guest kernel panicked: oops' \
	results_case kernel-panic "${T}1..1\n" - '' \
	"${quit}[    2.000000] Kernel panic - not syncing: oops\n"
pattern='switch: VM timed out' results_case vm-timeout "${T}1..1\nok 1 a\n" 0 '' "${quit}" 124
pattern='switch: QEMU exited with 1' results_case qemu-failed "${T}1..1\nok 1 a\n" 0 '' "" 1
pattern='kernel splat: .*unreferenced object' results_case kmemleak "${T}1..1\nok 1 a\n" 0 '' \
	"${quit}[    3.000000] kmemleak report: unreferenced object 0xffff8880 (size 200):\n[p2pmem] job done\n"
pattern='switch: KERNEL=6.12 but the guest booted 7.1' results_case kernel-mismatch \
	"${T}1..1\nok 1 a\n" 0 '' \
	'[    0.000000] Linux version 7.1.0 (test)\n[p2pmem] job done\n'

if [ -n "$offline_only" ]; then
	[ "$failed" -eq 0 ] && say "results.py self-test passed" && exit 0
	die "results.py self-test failed"
fi

# expect_failure <case> <pattern>... -- <check.sh args>: a VM run that must
# fail and whose summary must match every pattern (ERE).
expect_failure() {
	local what=$1 log=$top/$1.log rc=0 patterns=() p
	shift
	while [ "$1" != -- ]; do patterns+=("$1"); shift; done
	shift
	say "harness self-test: $what"
	CHECK_DIR=$top/$what VM_QUIET=1 "$REPO/vm/check.sh" --topology switch \
		--suite p2p-topology "$@" >"$log" 2>&1 || rc=$?
	summary "$log"
	sed 's/^/   | /' "$log.summary"
	if [ "$rc" -eq 0 ]; then
		echo "FAIL: make check passed despite $what (log: $log)"
		return 1
	fi
	for p in "${patterns[@]}" '^[0-9.]+/switch/p2p-topology +2 +0 +0$'; do
		if ! grep -Eq -- "$p" "$log.summary"; then
			echo "FAIL: make check failed (exit $rc) but its summary lacks /$p/ (log: $log)"
			return 1
		fi
	done
	echo "ok: make check failed (exit $rc) and reported $what"
}

start=$SECONDS
expect_failure failing-test 'switch/failing-test: FAIL: deliberately_failing_test' \
	-- --inject failing-test || failed=1
expect_failure guest-warn 'kernel splat: .*WARNING: .*harness_inject' \
	-- --inject guest-warn || failed=1
expect_failure guest-panic 'switch: the guest never finished its job.*: the guest kernel panicked: harness_inject' \
	'switch/guest-panic: FAIL: suite did not finish' '^last [0-9]+ lines of ' \
	-- --inject guest-panic || failed=1
expect_failure job-dies 'switch: the guest never finished its job.*: guest init: job exited with 137' \
	'switch/job-dies: FAIL: suite did not finish' '^last [0-9]+ lines of ' \
	-- --inject job-dies || failed=1
SUITE_TIMEOUT=${HANG_TIMEOUT:-45} expect_failure suite-hangs \
	'switch/suite-hangs: FAIL: suite timed out after [0-9]+s \(SUITE_TIMEOUT=[0-9]+s\): it hung' \
	-- --inject suite-hangs || failed=1
expect_failure all-skip 'switch/all-skip: FAIL: undeclared skip: needs_hardware_we_do_not_have: no such device' \
	'switch/all-skip: FAIL: every test skipped' \
	-- --inject all-skip || failed=1
expect_failure kmemleak-leak 'kernel splat: .*kmemleak report: unreferenced object' \
	-- --inject kmemleak-leak || failed=1
say "VM runs took $((SECONDS - start))s"
[ "$failed" -eq 0 ] && say "harness self-test passed" || die "harness self-test failed"
