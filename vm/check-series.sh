#!/bin/bash
# Check that every patch of both series - dmabuf-core-patches/, then
# importer-rdma/ on top - builds on its own and is checkpatch --strict clean.
#
#   vm/check-series.sh [kernel-obj-dir]        (make check-series)
#
# Applies the patches one at a time with 'git am' onto the pristine tree
# (tag 'base' of $BUILD/linux) in a worktree of its own
# ($BUILD/linux-series), and after each one builds bzImage and modules out of
# tree (default $BUILD/kernel-series, configured like the test kernel) and
# runs scripts/checkpatch.pl --strict --no-signoff on it. The first build is
# a cold one (about as long as the test kernel's); later patches rebuild
# only what they touch.
set -euo pipefail
# checkpatch's spdxcheck.py runs on "python3": Debian's, which has ply and git.
export PATH=/usr/bin:$PATH
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
SRC=$BUILD/linux
TREE=${TREE:-$BUILD/linux-series}
KOBJ=${1:-$BUILD/kernel-series}
CONFIG=${CONFIG:-$BUILD/kernel-test/.config}

say() { echo ">> $*"; }
die() { echo "check-series: $*" >&2; exit 1; }

[ -d "$SRC/.git" ] || die "no kernel tree in $SRC: run 'make kernel'"
[ -f "$CONFIG" ] || die "no kernel config $CONFIG: run 'make kernel'"
patches=()
for p in "$REPO"/dmabuf-core-patches/[0-9][0-9][0-9][0-9]-*.patch \
	"$REPO"/importer-rdma/[0-9][0-9][0-9][0-9]-*.patch; do
	case "$p" in */0000-*) ;; *) [ -f "$p" ] && patches+=("$p") ;; esac
done
[ ${#patches[@]} -gt 0 ] || die "no patches"

if [ ! -d "$TREE" ]; then
	git -C "$SRC" worktree add -q --detach "$TREE" base
fi
git -C "$TREE" am --abort >/dev/null 2>&1 || true
git -C "$TREE" checkout -q --detach base
mkdir -p "$KOBJ"
cp "$CONFIG" "$KOBJ/.config"
make -s -C "$TREE" O="$KOBJ" olddefconfig

cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"
failed=0
for p in "${patches[@]}"; do
	name=$(basename "$p")
	git -C "$TREE" -c user.name=check -c user.email=check@invalid am -q "$p" ||
		die "$name does not apply"
	if (cd "$TREE" && scripts/checkpatch.pl --strict --no-signoff --quiet "$p"); then
		say "$name: checkpatch clean"
	else
		say "$name: checkpatch found problems"
		failed=1
	fi
	if nice -n 15 make -s -C "$TREE" O="$KOBJ" -j"$(nproc)" CC="$cc" \
		bzImage modules >"$KOBJ/build-$name.log" 2>&1; then
		say "$name: builds"
	else
		tail -n 20 "$KOBJ/build-$name.log"
		say "$name: BUILD FAILED (log: $KOBJ/build-$name.log)"
		failed=1
	fi
done
[ "$failed" -eq 0 ] || die "series check failed"
say "series: ${#patches[@]} patches, each builds and is checkpatch clean"
