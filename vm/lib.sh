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

# The version of Debian source package <pkg> whose index lists <file> with
# this sha256, searched in the newer suites in order (each deb-src index is
# added once); empty if none does. Matching the pinned tarball, not a Debian
# revision, keeps a rebuild of the same upstream source (-1 -> -2) working.
# Reads all of apt-cache's output: `| grep -q` under pipefail fails on
# SIGPIPE whenever grep stops reading before apt-cache has written it all.
#   debian_source_version <pkg> <file> <sha256> <suite>...
debian_source_version() {
	local pkg=$1 file=$2 sha=$3 suite ver=
	shift 3
	lookup() {
		apt-cache showsrc "$pkg" 2>/dev/null |
			awk -v sha="$sha" -v f="$file" '
				$1 == "Package:" { v = "" }
				$1 == "Version:" { v = $2 }
				$1 == sha && $3 == f && v != "" && !n++ { print v }'
	}
	for suite in "$@"; do
		debian_src_suite "$suite" >&2
		ver=$(lookup)
		[ -n "$ver" ] && break
	done
	# indexes added by an earlier run but not downloaded since
	[ -n "$ver" ] || { apt-get update -qq >&2; ver=$(lookup); }
	echo "$ver"
}

# The kernels the harness builds and boots, each from its own source tree:
#   6.12  Debian's linux-source-6.12 (vm/deps.sh pins it)
#   7.1   mainline 7.1.8, the upstream tarball of Debian sid's linux source
#         package (vm/kernel.sh pins it)
# KERNEL picks one (default 6.12). Sets, for KERNEL and FLAVOUR (test|perf):
#   SRC        the git tree (tag "base": pristine) the series go into
#   KOBJ       the out-of-tree objects of the kernel of that flavour
#   MODULES    our out-of-tree modules built against it (vm/modules.sh)
#   SELFTESTS  the test programs, built against its uapi headers and with
#              its kselftest headers (selftests/Makefile)
#   SERIES     the patch series applied onto base, in order
# 6.12's directories carry no suffix, 7.1's carry "-7.1" (build/linux-7.1,
# build/kernel-7.1-test, build/modules-7.1-test, build/selftests-7.1); the
# Makefile's ksfx is the same rule.
KERNELS="6.12 7.1"
kernel_dirs() {
	KERNEL=${KERNEL:-6.12}
	FLAVOUR=${FLAVOUR:-test}
	local sfx
	case "$KERNEL" in
	6.12) sfx= ;;
	7.1) sfx=-7.1 ;;
	*) die "unknown KERNEL '$KERNEL' (one of: $KERNELS)" ;;
	esac
	SRC=$BUILD/linux$sfx
	KOBJ=$BUILD/kernel$sfx-$FLAVOUR
	MODULES=$BUILD/modules$sfx-$FLAVOUR
	SELFTESTS=$BUILD/selftests$sfx
	SERIES="$REPO/dmabuf-core-patches$sfx $REPO/importer-rdma$sfx"
	KSUFFIX=$sfx
}
