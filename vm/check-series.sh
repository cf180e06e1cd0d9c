#!/bin/bash
# Check that every patch of a kernel's series - the core dma-buf patches,
# then the RDMA importer on top - builds on its own and is checkpatch
# --strict clean, with that kernel's checkpatch.
#
#   [KERNEL="6.12 7.1"] vm/check-series.sh [kernel-obj-dir]   (make check-series)
#
# KERNEL lists the kernels (default: both). 6.12: dmabuf-core-patches/ and
# importer-rdma/ onto Debian's linux-source-6.12; 7.1: dmabuf-core-patches-7.1/
# and importer-rdma-7.1/ onto Linux 7.1.8 (vm/kernel.sh, vm/lib.sh
# kernel_dirs()).
#
# Applies the patches one at a time with 'git am' onto the pristine tree
# (tag 'base' of build/linux, build/linux-7.1) in a worktree of its own
# (build/linux-series, build/linux-7.1-series), and after each one builds
# bzImage and modules out of tree (default build/kernel-series,
# build/kernel-7.1-series; configured like that kernel's test kernel) and
# runs scripts/checkpatch.pl --strict --no-signoff on it. The first build is
# a cold one (about as long as the test kernel's); later patches rebuild
# only what they touch.
. "$(dirname "$0")/lib.sh"
# checkpatch's spdxcheck.py runs on "python3": Debian's, which has ply and git.
export PATH=/usr/bin:$PATH
die() { echo "check-series: $*" >&2; exit 1; }

kernels=${KERNEL:-$KERNELS}
[ $# -eq 0 ] || [ "$(echo $kernels | wc -w)" -eq 1 ] ||
	die "a kernel-obj-dir needs one kernel (KERNEL=6.12 or KERNEL=7.1)"

cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"

check_kernel() {
	KERNEL=$1
	FLAVOUR=test kernel_dirs
	local tree=${TREE:-$BUILD/linux$KSUFFIX-series}
	local obj=${2:-$BUILD/kernel$KSUFFIX-series}
	local config=${CONFIG:-$KOBJ/.config}
	local patches=() p d name failed=0

	[ -d "$SRC/.git" ] || die "no kernel tree in $SRC: run 'make kernel KERNEL=$KERNEL'"
	[ -f "$config" ] || die "no kernel config $config: run 'make kernel KERNEL=$KERNEL'"
	for d in $SERIES; do
		for p in "$d"/[0-9][0-9][0-9][0-9]-*.patch; do
			case "$p" in */0000-*) ;; *) [ -f "$p" ] && patches+=("$p") ;; esac
		done
	done
	[ ${#patches[@]} -gt 0 ] || die "no patches for $KERNEL in $SERIES"
	say "$KERNEL: ${#patches[@]} patches from $(for d in $SERIES; do basename "$d"; done | tr '\n' ' ')"

	if [ ! -d "$tree" ]; then
		git -C "$SRC" worktree add -q --detach "$tree" base
	fi
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	git -C "$tree" checkout -q --detach base
	mkdir -p "$obj"
	cp "$config" "$obj/.config"
	make -s -C "$tree" O="$obj" olddefconfig

	for p in "${patches[@]}"; do
		name=$(basename "$p")
		git -C "$tree" -c user.name=check -c user.email=check@invalid am -q "$p" ||
			die "$KERNEL: $name does not apply"
		# UNKNOWN_COMMIT_ID: Fixes: tags name upstream commits, and the
		# source tarballs have no upstream history to look them up in.
		if (cd "$tree" && scripts/checkpatch.pl --strict --no-signoff \
			--ignore UNKNOWN_COMMIT_ID --quiet "$p"); then
			say "$KERNEL: $name: checkpatch clean"
		else
			say "$KERNEL: $name: checkpatch found problems"
			failed=1
		fi
		if nice -n 15 make -s -C "$tree" O="$obj" -j"$JOBS" CC="$cc" \
			bzImage modules >"$obj/build-$name.log" 2>&1; then
			say "$KERNEL: $name: builds"
		else
			tail -n 20 "$obj/build-$name.log"
			say "$KERNEL: $name: BUILD FAILED (log: $obj/build-$name.log)"
			failed=1
		fi
	done
	[ "$failed" -eq 0 ] || die "$KERNEL: series check failed"
	say "$KERNEL series: ${#patches[@]} patches, each builds and is checkpatch clean"
}

for k in $kernels; do
	check_kernel "$k" "$@"
done
