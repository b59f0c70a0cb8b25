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
recipe=2
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
built() { [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ] && [ -f "$out/System.map" ]; }
if built; then echo "$out"; exit 0; fi
if [ ! -f "$tarball" ]; then
    echo "build-kernel.sh: $tarball not found (apt-get install linux-source-6.1)" >&2
    exit 1
fi

mkdir -p "$cache"
# One build at a time: a second one would replace the first's kernel with
# other bytes (a kernel build is not reproducible), and with it every
# snapshot key made from it.
exec 9>"$cache/kernel.lock"
if ! flock -n 9; then
    echo "build-kernel.sh: waiting for another build of the guest kernel" >&2
    flock 9
fi
if built; then echo "$out"; exit 0; fi
work=$(mktemp -d "$cache/build-XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { echo "build-kernel.sh: [$1/4] $2" >&2; }
step 1 "unpacking linux-source-6.1 into $work"
tar -xf "$tarball" -C "$work"
src="$work/linux-source-6.1"
step 2 "patching and configuring"
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
# Kbuild names each file it makes on stdout: counted, as the progress (a
# live count on a terminal, a line every 250 files in a log).
step 3 "compiling with $jobs jobs (about 1,300 files, several minutes)"
tty=0; [ -t 2 ] && tty=1
# Copies and clears of unknown length 8 bytes per REP step, also in code gcc
# optimizes for size (__init, cold paths): an emulated REP pays per step.
{ make -C "$src" ARCH=x86_64 -j"$jobs" KCFLAGS=-mstringop-strategy=rep_8byte vmlinux bzImage
  echo $? >"$work/make.rc"; } |
    awk -v tty="$tty" '/^  [A-Z]/ { n++
        if (tty) printf "\r  %d files", n > "/dev/stderr"
        else if (n % 250 == 0) printf "  %d files\n", n > "/dev/stderr" }
        END { if (tty) printf "\n" > "/dev/stderr" }'
[ "$(cat "$work/make.rc")" = 0 ] || { echo "build-kernel.sh: the kernel build failed" >&2; exit 1; }
step 4 "installing into $out"
mkdir -p "$out.tmp"
cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/System.map" "$src/.config" "$out.tmp/"
strip --strip-debug "$out.tmp/vmlinux" 2>/dev/null || true
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
