#!/bin/bash
# make checkpatch: scripts/checkpatch.pl --strict over our kernel code (the
# exporter, the test modules, uapi) and over every patch of both series.
# The project has no named people, so patches carry no Signed-off-by.
. "$(dirname "$0")/lib.sh"
# checkpatch's spdxcheck.py runs on "python3": Debian's, which has ply and git.
export PATH=/usr/bin:$PATH

CP="$BUILD/linux/scripts/checkpatch.pl --strict --no-signoff --quiet --show-types"
[ -f "$BUILD/linux/scripts/checkpatch.pl" ] || die "no kernel tree: run 'make kernel'"
failed=0

files=$(cd "$REPO" && find exporter uapi selftests/modules -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
	$CP --no-tree -f "$REPO/$f" || { echo "checkpatch: $f"; failed=1; }
done
for p in "$REPO"/dmabuf-core-patches/*.patch "$REPO"/importer-rdma/*.patch; do
	[ -f "$p" ] || continue
	case "$p" in */0000-*) continue ;; esac
	(cd "$BUILD/linux" && $CP "$p") || { echo "checkpatch: $p"; failed=1; }
done
[ "$failed" -eq 0 ] || die "checkpatch found problems"
say "checkpatch --strict: clean ($(echo "$files" | grep -c .) files)"
