# shellcheck shell=bash
# Tiny TAP (kselftest flavour) writer for the shell suites. Sourced.
#
#   tap_plan 3
#   tap_result "name" <command...>   # ok when the command succeeds
#   tap_pass "name" / tap_fail "name" "why" / tap_skip "name" "reason"
#   tap_diag "text"                   # a "# " comment line
#   tap_bail "why"                    # "Bail out!": the suite cannot go on; exits 1
#   tap_done                          # exits: 0 all passed/skipped, 1 any failed
#                                     # or fewer/more results than planned
#
# A skip fails `make check` unless the suite's header declares it
# (`# expected-skips: <topology>: <test-glob>...`, see vm/results.py).

_tap_n=0 _tap_failed=0 _tap_plan=
echo "TAP version 13"

tap_plan() { _tap_plan=$1; echo "1..$1"; }
tap_bail() { echo "Bail out! $*"; exit 1; }
tap_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
tap_pass() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n $1"; }
tap_fail() {
	_tap_n=$((_tap_n + 1)) _tap_failed=$((_tap_failed + 1))
	[ -n "${2:-}" ] && tap_diag "$2"
	echo "not ok $_tap_n $1"
}
tap_skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n $1 # SKIP $2"; }

# Runs a command with its output as diagnostics, and reports its status.
tap_result() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ -n "$out" ] && tap_diag "$out"
	if [ "$rc" -eq 0 ]; then tap_pass "$name"; else tap_fail "$name" "exit status $rc"; fi
}

tap_done() {
	if [ -n "$_tap_plan" ] && [ "$_tap_n" -ne "$_tap_plan" ]; then
		tap_diag "planned $_tap_plan results, reported $_tap_n"
		exit 1
	fi
	[ "$_tap_failed" -eq 0 ]
	exit $?
}
