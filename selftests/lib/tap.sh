# shellcheck shell=bash
# Tiny TAP (kselftest flavour) writer for the shell suites. Sourced.
#
#   tap_plan 3
#   tap_result "name" <command...>   # ok when the command succeeds
#   tap_pass "name" / tap_fail "name" "why" / tap_skip "name" "reason"
#   tap_diag "text"                   # a "# " comment line
#   tap_done                          # exits: 0 all passed/skipped, 1 any failed

_tap_n=0 _tap_failed=0
echo "TAP version 13"

tap_plan() { echo "1..$1"; }
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

tap_done() { [ "$_tap_failed" -eq 0 ]; exit $?; }
