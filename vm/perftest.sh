#!/bin/bash
# Build perftest 25.01 from Debian sid's source package, with the patches in
# userspace/perftest/ applied (--use_p2pacc: device memory of our
# accelerator through dma-buf MRs), against our rdma-core and libp2pacc.
#
#   vm/perftest.sh
#
# Source: $BUILD/perftest-src (a git tree: the orig tarball, then `git am`
# of the series). Build: out of tree in $BUILD/perftest; the programs are
# $BUILD/perftest/ib_{write,read,send}_{bw,lat}, linked with rpaths to
# $BUILD/rdma-core/lib (rxe with reg_dmabuf_mr) and $BUILD/userspace/lib.
# Needs `make userspace` first. Each step reruns only when its inputs change.
. "$(dirname "$0")/lib.sh"

VERSION=25.01.0+0.80
TARBALL=perftest_$VERSION.orig.tar.gz
SHA256=54e86b131f0b06862b8b9cd692739737295463cfef467bdda5f5aa3dae8c5b05
DL=$BUILD/dl
SRC=$BUILD/perftest-src
OUT=$BUILD/perftest
RDMA_CORE=${RDMA_CORE:-$BUILD/rdma-core}
P2PACC=$BUILD/userspace
take_lock perftest
mkdir -p "$DL"

[ -f "$RDMA_CORE/include/infiniband/verbs.h" ] || die "no rdma-core in $RDMA_CORE: run 'make userspace'"
[ -f "$P2PACC/lib/libp2pacc.so" ] || die "no libp2pacc in $P2PACC: run 'make userspace'"

if ! echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status 2>/dev/null; then
	DEBVER=$(debian_source_version perftest "$TARBALL" "$SHA256" sid forky trixie-backports)
	[ -n "$DEBVER" ] || die "no perftest source package in sid, forky or trixie-backports ships $TARBALL (sha256 $SHA256)"
	say "downloading perftest $DEBVER source"
	# _apt cannot write into a root-owned build tree; the download is
	# verified by its sha256 below either way.
	(cd "$DL" && apt-get source -qq --download-only --tar-only "perftest=$DEBVER" 2>&1 |
		grep -v 'unsandboxed' || true)
	echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status ||
		die "$DL/$TARBALL missing or its sha256 differs"
fi

patches=$(ls "$REPO"/userspace/perftest/*.patch 2>/dev/null | grep -v '/0000-' || true)
want=$(content_hash "$DL/$TARBALL" $patches)
if ! stamp_ok "$SRC/.p2pmem-stamp" "$want"; then
	say "unpacking perftest $VERSION and applying $(echo "$patches" | grep -c . || true) patch(es)"
	rm -rf "$SRC" "$OUT"
	mkdir -p "$SRC"
	tar -xzf "$DL/$TARBALL" -C "$SRC" --strip-components=1
	git -C "$SRC" init -q
	git -C "$SRC" add -A -f
	git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		commit -q -m "perftest $VERSION"
	for p in $patches; do
		git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
			am -q "$p" || die "patch does not apply: $p"
	done
	# configure.ac and Makefile.am changed: regenerate what the tarball
	# shipped generated.
	say "perftest: autogen.sh"
	(cd "$SRC" && ./autogen.sh >"$SRC/autogen.log" 2>&1) ||
		{ tail -n 20 "$SRC/autogen.log"; die "perftest autogen.sh failed"; }
	echo "$want" >"$SRC/.p2pmem-stamp"
fi

if [ ! -f "$OUT/Makefile" ] || [ "$SRC/.p2pmem-stamp" -nt "$OUT/Makefile" ]; then
	say "configuring perftest in $OUT (--enable-p2pacc)"
	rm -rf "$OUT"
	mkdir -p "$OUT"
	(cd "$OUT" && "$SRC/configure" --enable-p2pacc --with-p2pacc="$P2PACC" \
		CPPFLAGS="-I$RDMA_CORE/include" \
		LDFLAGS="-L$RDMA_CORE/lib -Wl,-rpath,$RDMA_CORE/lib" \
		>"$OUT/configure.log" 2>&1) ||
		{ tail -n 30 "$OUT/configure.log"; die "perftest configure failed (log: $OUT/configure.log)"; }
	grep -q '^#define HAVE_P2PACC 1' "$OUT/config.h" || die "perftest configured without p2pacc"
	grep -q '^#define HAVE_REG_DMABUF_MR 1' "$OUT/config.h" ||
		die "perftest configured without ibv_reg_dmabuf_mr()"
fi
say "building perftest $VERSION"
run_logged "$OUT/make.log" make -C "$OUT" -j"$JOBS"
help=$("$OUT/ib_write_bw" --help 2>&1 || true)
grep -q -- '--use_p2pacc' <<<"$help" || die "$OUT/ib_write_bw has no --use_p2pacc"
