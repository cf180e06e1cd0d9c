#!/bin/bash
# Build rdma-core 56.1 from Debian trixie's source package, with the patches
# in userspace/rdma-core/ applied, in place (usable from the build tree: the
# guest runs it with LD_LIBRARY_PATH, no install).
. "$(dirname "$0")/lib.sh"

VERSION=56.1
TARBALL=rdma-core_$VERSION.orig.tar.gz
SHA256=63ce7f2baa7242c2dbc76375dac957c420187dd27f8c5e148efc07971ee522a8
DL=$BUILD/dl
SRC=$BUILD/rdma-core-src
OUT=$BUILD/rdma-core
take_lock rdma-core
mkdir -p "$DL"
if ! echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status 2>/dev/null; then
	debian_src_suite trixie
	say "downloading rdma-core $VERSION source"
	debver=$(apt-cache showsrc rdma-core | awk -v v="$VERSION" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }')
	[ -n "$debver" ] || { apt-get update -qq; debver=$(apt-cache showsrc rdma-core |
		awk -v v="$VERSION" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }'); }
	[ -n "$debver" ] || die "no rdma-core $VERSION source package in apt's index"
	# _apt cannot write into a root-owned build tree; the download is
	# verified by its sha256 below either way.
	(cd "$DL" && apt-get source -qq --download-only --tar-only "rdma-core=$debver" 2>&1 |
		grep -v 'unsandboxed' || true)
	echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status ||
		die "$DL/$TARBALL missing or its sha256 differs"
fi

patches=$(ls "$REPO"/userspace/rdma-core/*.patch 2>/dev/null | grep -v '/0000-' || true)
want=$(content_hash "$DL/$TARBALL" $patches)
if ! stamp_ok "$SRC/.p2pmem-stamp" "$want"; then
	say "unpacking rdma-core $VERSION and applying $(echo "$patches" | grep -c . || true) patch(es)"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	tar -xzf "$DL/$TARBALL" -C "$SRC" --strip-components=1
	git -C "$SRC" init -q
	git -C "$SRC" add -A -f
	git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
		commit -q -m "rdma-core $VERSION"
	for p in $patches; do
		git -C "$SRC" -c user.name=p2pmem-build -c user.email=build@p2pmem.invalid \
			am -q "$p" || die "patch does not apply: $p"
	done
	echo "$want" >"$SRC/.p2pmem-stamp"
fi

if [ ! -f "$OUT/build.ninja" ] || [ "$SRC/.p2pmem-stamp" -nt "$OUT/build.ninja" ]; then
	say "configuring rdma-core in $OUT"
	rm -rf "$OUT"
	mkdir -p "$OUT"
	(cd "$OUT" && cmake -GNinja -DIN_PLACE=1 -DNO_MAN_PAGES=1 -DENABLE_STATIC=0 \
		-DCYTHON_EXECUTABLE=/usr/bin/cython3 -DPYTHON_EXECUTABLE=/usr/bin/python3 \
		"$SRC" >"$OUT/cmake.log" 2>&1) || { tail -n 30 "$OUT/cmake.log"; die "cmake failed"; }
fi
say "building rdma-core $VERSION"
run_logged "$OUT/ninja.log" ninja -C "$OUT" -j"$JOBS"
