#!/bin/sh
# Sets up a Debian 12 machine for nook: installs the packages it needs,
# builds the guest kernel once into ~/.cache/nook and builds nook into
# build/. Safe to run again; it only does what is missing.
set -eu
cd "$(dirname "$0")/.."

packages="meson ninja-build pkg-config gcc libc6-dev libcmocka-dev
  linux-source-6.1 make flex bison bc libelf-dev libssl-dev patch xz-utils
  busybox-static cpio python3 musl-tools zlib1g-dev libslirp-dev libglib2.0-dev
  qemu-utils e2fsprogs passt bindfs fuse3 python3.11 libpython3.11-testsuite
  iproute2 clang libclang-rt-14-dev libseccomp-dev libcap-dev vdeplug
  libarchive-dev libjson-c-dev skopeo podman containerd runc docker.io"
missing=""
for p in $packages; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "setup: installing$missing" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

guest/kernel/build-kernel.sh >/dev/null
[ -d build ] || meson setup build >/dev/null
ninja -C build -j"$(nproc)" >/dev/null
