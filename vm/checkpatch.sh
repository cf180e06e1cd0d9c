#!/bin/bash
# make checkpatch: scripts/checkpatch.pl --strict over our kernel code (the
# exporter, the test modules, uapi) and over every patch of both series of
# both kernels (6.12: dmabuf-core-patches/, importer-rdma/; 7.1: the same
# with -7.1), each checked by its kernel's checkpatch.
# The project has no named people, so patches carry no Signed-off-by.
. "$(dirname "$0")/lib.sh"
# checkpatch's spdxcheck.py runs on "python3": Debian's, which has ply and git.
export PATH=/usr/bin:$PATH

# UNKNOWN_COMMIT_ID: Fixes: tags name upstream commits, and Debian's source
# tarball has no upstream history to look them up in.
OPTS="--strict --no-signoff --ignore UNKNOWN_COMMIT_ID --quiet --show-types"
CP="$BUILD/linux/scripts/checkpatch.pl $OPTS"
[ -f "$BUILD/linux/scripts/checkpatch.pl" ] || die "no kernel tree: run 'make kernel'"
failed=0

files=$(cd "$REPO" && find exporter uapi selftests/modules -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
	$CP --no-tree -f "$REPO/$f" || { echo "checkpatch: $f"; failed=1; }
done
# Each kernel's series with that kernel's checkpatch (vm/lib.sh kernel_dirs()).
npatches=0
for KERNEL in $KERNELS; do
	kernel_dirs
	[ -f "$SRC/scripts/checkpatch.pl" ] || die "no $KERNEL kernel tree: run 'make kernel KERNEL=$KERNEL'"
	for d in $SERIES; do
		for p in "$d"/*.patch; do
			[ -f "$p" ] || continue
			case "$p" in */0000-*) continue ;; esac
			npatches=$((npatches + 1))
			(cd "$SRC" && scripts/checkpatch.pl $OPTS "$p") ||
				{ echo "checkpatch: $p"; failed=1; }
		done
	done
done
[ "$failed" -eq 0 ] || die "checkpatch found problems"
say "checkpatch --strict: clean ($(echo "$files" | grep -c .) files, $npatches patches of the $KERNELS series)"
