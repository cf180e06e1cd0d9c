#!/bin/bash
# Build a kernel from Debian's linux-source-6.12 with our patch series.
#
#   vm/kernel.sh test|perf
#
# The source becomes a git tree ($BUILD/linux, tag "base" = pristine Debian
# source) so the series go in with `git am`. Each flavour builds out of tree
# in $BUILD/kernel-<flavour>, from allnoconfig + vm/kconfig/base.config +
# vm/kconfig/<flavour>.config. Nothing reruns unless its inputs changed.
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: kernel.sh test|perf}
fragment=$REPO/vm/kconfig/$flavour.config
[ -f "$fragment" ] || die "no config fragment $fragment"

SRC=$BUILD/linux
KOBJ=$BUILD/kernel-$flavour
TARBALL=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
# linux-source-6.12 6.12.117-1~deb12u1 (pinned in vm/deps.sh)
TARBALL_SHA256=585a4a074597aefa2b1a68ada83a3184ba351c127544dea80618bbcceaa3961f
mkdir -p "$BUILD"
# The source tree is shared by both flavours: one kernel step at a time.
take_lock kernel

git_src() { git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid "$@"; }

if [ ! -e "$SRC/.git/refs/tags/base" ]; then
	[ -f "$TARBALL" ] || die "$TARBALL missing: run 'make deps'"
	if [ -z "${LINUX_TARBALL:-}" ] &&
	   ! echo "$TARBALL_SHA256  $TARBALL" | sha256sum -c --status; then
		die "$TARBALL is not the pinned linux-source-6.12 (sha256 differs): update vm/deps.sh and vm/kernel.sh deliberately"
	fi
	say "unpacking $(basename "$TARBALL") into $SRC"
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -xf "$TARBALL" -C "$SRC.tmp" --strip-components=1
	git -C "$SRC.tmp" init -q
	git -C "$SRC.tmp" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		-c core.autocrlf=false add -A -f
	git -C "$SRC.tmp" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		commit -q -m "linux-source-6.12 as shipped by Debian"
	git -C "$SRC.tmp" tag base
	mv "$SRC.tmp" "$SRC"
fi

# Apply the series: the core dma-buf patches first, the RDMA importer on top.
series=$(ls "$REPO"/dmabuf-core-patches/*.patch "$REPO"/importer-rdma/*.patch 2>/dev/null |
	grep -v '/0000-' || true)
want=$(content_hash $series)
if ! stamp_ok "$BUILD/.series" "$want"; then
	say "applying $(echo "$series" | grep -c . || true) patch(es) onto base"
	git_src am --abort >/dev/null 2>&1 || true
	git_src checkout -q -f -B p2pmem base
	for p in $series; do
		git_src am -q --keep-cr "$p" || die "patch does not apply: $p"
	done
	echo "$want" >"$BUILD/.series"
fi

# Configure only when a fragment changed, so rebuilds stay incremental.
mkdir -p "$KOBJ"
want=$(content_hash "$REPO/vm/kconfig/base.config" "$fragment")
if ! stamp_ok "$KOBJ/.fragments" "$want" || [ ! -f "$KOBJ/.config" ]; then
	say "configuring the $flavour kernel"
	cat "$REPO/vm/kconfig/base.config" "$fragment" >"$KOBJ/fragment.config"
	make -s -C "$SRC" O="$KOBJ" KCONFIG_ALLCONFIG="$KOBJ/fragment.config" allnoconfig >/dev/null
	# Kconfig silently drops symbols whose dependencies are unmet: catch it.
	missing=0
	while read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" "$KOBJ/.config" || { echo "  not in .config: $line" >&2; missing=1; } ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			grep -q "^$sym=" "$KOBJ/.config" && { echo "  still set: $sym" >&2; missing=1; } ;;
		esac
	done <"$KOBJ/fragment.config"
	[ "$missing" -eq 0 ] || die "config fragment not honoured (unmet dependencies?)"
	echo "$want" >"$KOBJ/.fragments"
fi

cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"
say "building the $flavour kernel in $KOBJ (-j$JOBS, CC=$cc)"
run_logged "$KOBJ/build.log" make -C "$SRC" O="$KOBJ" -j"$JOBS" CC="$cc" \
	KBUILD_BUILD_TIMESTAMP=p2pmem bzImage modules headers_install
