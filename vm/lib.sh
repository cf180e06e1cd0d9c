# shellcheck shell=bash
# Helpers shared by the vm/ scripts. Sourced, never run.

set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$REPO/build}
JOBS=${JOBS:-$(($(nproc) + 1))}

say() { printf '>> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A stamp records a content hash; a step reruns only when its inputs change.
content_hash() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# Runs a long command with its output in a log; prints a line every so often
# so a person watching knows it is alive, and the log's tail if it fails.
run_logged() {
	local log=$1; shift
	local start=$SECONDS rc=0 next=20
	"$@" >"$log" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		[ $((SECONDS - start)) -ge "$next" ] || continue
		next=$((next + 20))
		kill -0 "$pid" 2>/dev/null &&
			printf '   ... %ds: %s\n' $((SECONDS - start)) "$(tail -n1 "$log" | cut -c1-100)"
	done
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$log" >&2
		die "failed after $((SECONDS - start))s (rc $rc), full log: $log"
	fi
	say "done in $((SECONDS - start))s"
}

# Serializes steps that share a build directory: two `make` runs in one
# kernel objdir corrupt each other, and parallel sessions or CI jobs on one
# machine do run them.
take_lock() {
	local lock=$BUILD/.lock-$1
	mkdir -p "$BUILD"
	exec 9>"$lock"
	if ! flock -n 9; then
		say "waiting for another build holding $lock"
		flock 9
	fi
}
