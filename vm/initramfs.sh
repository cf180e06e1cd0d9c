#!/bin/bash
# Build the guest initramfs: static busybox and vm/guest/init, nothing else.
. "$(dirname "$0")/lib.sh"

BUSYBOX=/bin/busybox
OUT=$BUILD/vm/initramfs.cpio.gz
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q static ||
	{ ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' || die "$BUSYBOX is not busybox-static: run 'make deps'"; }

want=$(content_hash "$BUSYBOX" "$REPO/vm/guest/init")
stamp_ok "$OUT.stamp" "$want" && [ -f "$OUT" ] && exit 0

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,host}
cp "$BUSYBOX" "$root/bin/busybox"
install -m 0755 "$REPO/vm/guest/init" "$root/init"
mkdir -p "$(dirname "$OUT")"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$OUT"
echo "$want" >"$OUT.stamp"
say "initramfs: $OUT ($(du -h "$OUT" | cut -f1))"
