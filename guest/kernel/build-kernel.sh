#!/bin/sh
# Builds nook's default guest kernel from Debian's linux-source-6.1 once per
# machine, into a cache keyed by a hash of everything that goes into it.
#   build-kernel.sh           build if needed; print the cache directory
#   build-kernel.sh --path    print the cache directory without building
#   build-kernel.sh --copy-to DIR   build if needed; copy vmlinux and
#                                   System.map to DIR (for installing)
# The directory then holds vmlinux (ELF with a PVH note), bzImage and
# System.map. NOOK_CACHE_DIR overrides ~/.cache/nook.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
cache=${NOOK_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/nook}

# Bump when the build steps below change what gets built.
recipe=1
version=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || echo missing)
key=$( (echo "$version $recipe"; cat "$here/nook.config" "$here"/patches/*.patch) |
        sha256sum | cut -c1-16)
out="$cache/kernel-$key"

if [ "${1:-}" = "--path" ]; then echo "$out"; exit 0; fi
if [ "${1:-}" = "--copy-to" ]; then
    "$0" >/dev/null
    cp "$out/vmlinux" "$out/System.map" "$2/"
    exit 0
fi
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ] && [ -f "$out/System.map" ]; then
    echo "$out"; exit 0
fi
if [ ! -f "$tarball" ]; then
    echo "build-kernel.sh: $tarball not found (apt-get install linux-source-6.1)" >&2
    exit 1
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-kernel.sh: building the guest kernel in $work (several minutes)" >&2
tar -xf "$tarball" -C "$work"
src="$work/linux-source-6.1"
for p in "$here"/patches/*.patch; do patch -s -p1 -d "$src" < "$p"; done
jobs=$(nproc)
make -s -C "$src" ARCH=x86_64 tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$here/nook.config" >/dev/null
make -s -C "$src" ARCH=x86_64 olddefconfig >&2
# Fail loudly when an option of the fragment did not survive olddefconfig.
missing=$(grep '^CONFIG_' "$here/nook.config" | while read -r line; do
    grep -qx "$line" "$src/.config" || echo "$line"; done)
if [ -n "$missing" ]; then
    echo "build-kernel.sh: options not taken by Kconfig:" >&2; echo "$missing" >&2; exit 1
fi
make -s -C "$src" ARCH=x86_64 -j"$jobs" vmlinux bzImage >&2
mkdir -p "$out.tmp"
cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/System.map" "$src/.config" "$out.tmp/"
strip --strip-debug "$out.tmp/vmlinux" 2>/dev/null || true
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
