#!/bin/bash
# Build out-of-tree modules against the kernel of $KERNEL and $FLAVOUR.
#
#   [KERNEL=6.12|7.1] vm/modules.sh <folder>...
#
# Kbuild in 6.12 writes objects next to the sources, so each folder is
# mirrored into $MODULES/<folder> (build/modules-<flavour>,
# build/modules-7.1-<flavour>) and built there: the repo stays clean and
# each kernel and flavour gets its own objects.
. "$(dirname "$0")/lib.sh"

kernel_dirs
OUT=$MODULES
take_lock "kernel$KSUFFIX"
[ -f "$KOBJ/Module.symvers" ] || die "no kernel in $KOBJ: run 'make kernel KERNEL=$KERNEL'"

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
say "modules ($KERNEL $FLAVOUR): $(cd "$OUT" && find . -name '*.ko' | sort | tr '\n' ' ')"
