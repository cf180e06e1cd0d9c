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

# Makes apt see the *source* index (Types: deb-src only) of a newer Debian
# suite, e.g. trixie (rdma-core 56.1) or sid (perftest 25.01, Linux 7.1.8).
# No binary package can come from it, so the machine's own packages are
# untouched and no pin is needed. Its URI is the machine's own Debian
# mirror, read from apt's configuration, never written into the repo.
#   debian_src_suite <suite>
debian_src_suite() {
	local suite=$1 uri file=/etc/apt/sources.list.d/p2pmem-$1-src.sources
	[ -f "$file" ] && return 0
	uri=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || die "cannot find the bookworm mirror in apt's configuration"
	[ "$(id -u)" -eq 0 ] || die "adding $file needs root"
	say "adding $suite deb-src from $uri"
	cat >"$file.tmp" <<-SRC
		Types: deb-src
		URIs: $uri
		Suites: $suite
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	SRC
	mv "$file.tmp" "$file"
	apt-get update -qq
}
