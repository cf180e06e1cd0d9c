#!/bin/bash
# Build out-of-tree modules against the kernel of $FLAVOUR.
#
#   vm/modules.sh <folder>...
#
# Kbuild in 6.12 writes objects next to the sources, so each folder is
# mirrored into $BUILD/modules-$FLAVOUR/<folder> and built there: the repo
# stays clean and the test and perf kernels get their own objects.
. "$(dirname "$0")/lib.sh"

FLAVOUR=${FLAVOUR:-test}
KOBJ=$BUILD/kernel-$FLAVOUR
OUT=$BUILD/modules-$FLAVOUR
take_lock kernel
[ -f "$KOBJ/Module.symvers" ] || die "no kernel in $KOBJ: run 'make kernel'"

for dir in "$@"; do
	mkdir -p "$OUT/$dir"
	# -c: a file is copied only when its content changed, so make sees
	# unchanged mtimes and rebuilds nothing.
	rsync -rc --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		--exclude='*.mod*' --exclude='modules.order' --exclude='Module.symvers' \
		"$REPO/$dir/" "$OUT/$dir/"
	# The exporter's uapi header lives in uapi/; give every module the path.
	make -s -C "$KOBJ" M="$OUT/$dir" P2PMEM_UAPI="$REPO/uapi" \
		KBUILD_EXTRA_SYMBOLS="$(ls "$OUT"/exporter/Module.symvers 2>/dev/null || true)" \
		modules || die "module build failed in $dir"
done
say "modules ($FLAVOUR): $(cd "$OUT" && find . -name '*.ko' | sort | tr '\n' ' ')"
