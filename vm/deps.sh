#!/bin/bash
# Install every Debian package the build and the VM need. Idempotent: when
# everything is present it only runs dpkg-query.
. "$(dirname "$0")/lib.sh"

# The kernel source is pinned: a new Debian point release must be a
# deliberate change here (and in vm/kernel.sh's checksum), not a surprise.
LINUX_SOURCE_VERSION=6.12.117-1~deb12u1

PACKAGES=(
	# kernel build
	"linux-source-6.12=$LINUX_SOURCE_VERSION" build-essential bc flex bison libelf-dev libssl-dev
	dwarves kmod cpio xz-utils ccache rsync sparse perl python3
	# checkpatch.pl checks SPDX license tags with it
	python3-ply python3-git
	# the VM
	qemu-system-x86 busybox-static
	# RDMA userspace: tools used in the guest, and rdma-core 56.1's build deps
	rdma-core ibverbs-utils ibverbs-providers libibverbs-dev rdmacm-utils
	perftest iproute2 libdrm-dev cmake ninja-build libnl-3-dev
	libnl-route-3-dev libudev-dev pkg-config python3-dev cython3
	dpkg-dev
	# make bench: perftest 25.01 from source (autogen.sh, pciutils), the plots
	autoconf automake libtool libpci-dev python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
	case "$p" in \#*) continue ;; esac
	name=${p%%=*}
	dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "ok installed" ||
		{ missing+=("$p"); continue; }
	# A pinned package must be installed at exactly that version.
	case "$p" in *=*)
		[ "$(dpkg-query -W -f='${Version}' "$name")" = "${p#*=}" ] || missing+=("$p") ;;
	esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run 'make deps' as root"
say "installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$BUILD"
run_logged "$BUILD/apt.log" sh -c \
	"apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
