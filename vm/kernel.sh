#!/bin/bash
# Build a kernel with our patch series.
#
#   [KERNEL=6.12|7.1] vm/kernel.sh test|perf|source
#
# "source" stops once the source tree and its series are in place (CI
# fetches with apt first, then builds while other steps run).
# KERNEL=6.12 (the default): Debian's linux-source-6.12 (version pinned in
# vm/deps.sh, sha256 here). KERNEL=7.1: Linux 7.1.8, linux_7.1.8.orig.tar.xz,
# the upstream tarball of Debian's `linux` source package, downloaded with
# apt-get source from a newer suite's deb-src index (sid, else forky or
# trixie-backports; derived from apt's configuration by debian_src_suite())
# and pinned by sha256: newer tarballs those indexes list answered 404.
#
# The source becomes a git tree ($SRC: build/linux, build/linux-7.1; tag
# "base" = the pristine source) so the series go in with `git am`: the core
# dma-buf patches first, the RDMA importer on top (6.12: dmabuf-core-patches/
# and importer-rdma/; 7.1: dmabuf-core-patches-7.1/ and importer-rdma-7.1/).
# Each flavour builds out of tree in $KOBJ (build/kernel-<flavour>,
# build/kernel-7.1-<flavour>) from allnoconfig + vm/kconfig/base.config +
# vm/kconfig/<flavour>.config, then vm/kconfig/<kernel>.config and
# <kernel>-<flavour>.config where they exist (what Kconfig changed; a later
# line for a symbol replaces an earlier one). Nothing reruns unless its
# inputs changed.
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: [KERNEL=6.12|7.1] kernel.sh test|perf|source}
fragment=$REPO/vm/kconfig/$flavour.config
[ "$flavour" = source ] || [ -f "$fragment" ] || die "no config fragment $fragment"
FLAVOUR=$flavour kernel_dirs

case "$KERNEL" in
6.12)
	TARBALL=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
	# linux-source-6.12 6.12.117-1~deb12u1 (pinned in vm/deps.sh)
	TARBALL_SHA256=585a4a074597aefa2b1a68ada83a3184ba351c127544dea80618bbcceaa3961f
	BASE_MSG="linux-source-6.12 as shipped by Debian"
	;;
7.1)
	UPSTREAM=7.1.8
	TARBALL=$BUILD/dl/linux_$UPSTREAM.orig.tar.xz
	TARBALL_SHA256=47f9ce629bc14dd96c16a6a6a8cae4f7f3c3ff6138e2f64befc7bdad426e9728
	BASE_MSG="Linux $UPSTREAM: linux_$UPSTREAM.orig.tar.xz of Debian's linux source package"
	;;
esac
mkdir -p "$BUILD"
# A source tree is shared by both flavours: one kernel step at a time per
# kernel (6.12 keeps the lock name it always had).
take_lock "kernel$KSUFFIX"

git_src() { git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid "$@"; }

# The 7.1 tarball: from the first of Debian's newer suites whose source index
# lists it, whatever the Debian revision. Only deb-src indexes are added.
fetch_upstream_tarball() {
	local debver
	echo "$TARBALL_SHA256  $TARBALL" | sha256sum -c --status 2>/dev/null && return 0
	mkdir -p "$BUILD/dl"
	debver=$(debian_source_version linux "$(basename "$TARBALL")" "$TARBALL_SHA256" \
		sid forky trixie-backports)
	[ -n "$debver" ] || die "no linux source package in sid, forky or trixie-backports ships $(basename "$TARBALL") (sha256 $TARBALL_SHA256)"
	say "downloading linux_$UPSTREAM.orig.tar.xz (linux $debver, 160 MB)"
	# _apt cannot write into a root-owned build tree; the download is
	# verified by its sha256 below either way.
	(cd "$BUILD/dl" && apt-get source -qq --download-only --tar-only "linux=$debver" 2>&1 |
		grep -v 'unsandboxed' || true)
	echo "$TARBALL_SHA256  $TARBALL" | sha256sum -c --status ||
		die "$TARBALL missing or its sha256 differs from the pinned one"
}

if [ ! -e "$SRC/.git/refs/tags/base" ]; then
	if [ "$KERNEL" = 6.12 ]; then
		[ -f "$TARBALL" ] || die "$TARBALL missing: run 'make deps'"
		if [ -z "${LINUX_TARBALL:-}" ] &&
		   ! echo "$TARBALL_SHA256  $TARBALL" | sha256sum -c --status; then
			die "$TARBALL is not the pinned linux-source-6.12 (sha256 differs): update vm/deps.sh and vm/kernel.sh deliberately"
		fi
	else
		fetch_upstream_tarball
	fi
	say "unpacking $(basename "$TARBALL") into $SRC"
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -xf "$TARBALL" -C "$SRC.tmp" --strip-components=1
	git -C "$SRC.tmp" init -q
	git -C "$SRC.tmp" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		-c core.autocrlf=false add -A -f
	git -C "$SRC.tmp" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		commit -q -m "$BASE_MSG"
	git -C "$SRC.tmp" tag base
	mv "$SRC.tmp" "$SRC"
fi

# Apply the series: the core dma-buf patches first, the RDMA importer on top.
series=$(for d in $SERIES; do ls "$d"/*.patch 2>/dev/null; done | grep -v '/0000-' || true)
want=$(content_hash $series)
if ! stamp_ok "$BUILD/.series$KSUFFIX" "$want"; then
	say "applying $(echo "$series" | grep -c . || true) patch(es) onto base ($KERNEL)"
	git_src am --abort >/dev/null 2>&1 || true
	git_src checkout -q -f -B p2pmem base
	for p in $series; do
		git_src am -q --keep-cr "$p" || die "patch does not apply: $p"
	done
	echo "$want" >"$BUILD/.series$KSUFFIX"
fi
[ "$flavour" != source ] || exit 0

# Configure only when a fragment changed, so rebuilds stay incremental.
fragments=("$REPO/vm/kconfig/base.config" "$fragment")
for f in "$REPO/vm/kconfig/$KERNEL.config" "$REPO/vm/kconfig/$KERNEL-$flavour.config"; do
	[ -f "$f" ] && fragments+=("$f")
done
mkdir -p "$KOBJ"
want=$(content_hash "${fragments[@]}")
if ! stamp_ok "$KOBJ/.fragments" "$want" || [ ! -f "$KOBJ/.config" ]; then
	say "configuring the $KERNEL $flavour kernel ($(printf '%s ' "${fragments[@]##*/}"))"
	# One line per symbol, the last fragment's: a kernel's own fragment
	# replaces what Kconfig no longer offers.
	cat "${fragments[@]}" | awk '
		/^CONFIG_[A-Za-z0-9_]+=/ { s = $0; sub(/=.*/, "", s) }
		/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { s = $2 }
		s != "" { if (!(s in v)) o[n++] = s; v[s] = $0; s = "" }
		END { for (i = 0; i < n; i++) print v[o[i]] }' >"$KOBJ/fragment.config"
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
say "building the $KERNEL $flavour kernel in $KOBJ (-j$JOBS, CC=$cc)"
run_logged "$KOBJ/build.log" make -C "$SRC" O="$KOBJ" -j"$JOBS" CC="$cc" \
	KBUILD_BUILD_TIMESTAMP=p2pmem bzImage modules headers_install
# In-tree modules (rdma_rxe) go where the guest's modprobe finds them:
# modprobe -d $KOBJ/modinstall (vm/guest and selftests/lib/rxe.sh).
run_logged "$KOBJ/modules_install.log" make -C "$SRC" O="$KOBJ" \
	INSTALL_MOD_PATH="$KOBJ/modinstall" INSTALL_MOD_STRIP=1 modules_install
