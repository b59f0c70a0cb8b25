#!/bin/sh
# Installs nook into a scratch root, then compiles and runs an example
# outside the tree against the installed headers and library, found with
# pkg-config. Output is TAP. Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../lib/tap.sh"
build=$1
src=$2
root=$(mktemp -d /tmp/nook-install-XXXXXX)
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --destdir "$root" --quiet >"$root/install.log" 2>&1
ok $? "meson install"
pc=$(find "$root" -name libnook.pc | head -1)
[ -n "$pc" ]
ok $? "libnook.pc installed"
for f in nook vm.h microvm.h parse.h error.h log.h nook-init rootfs/bin/busybox rootfs.cpio vmlinux System.map; do
	[ -n "$(find "$root" -path "*/$f" | head -1)" ]
	ok $? "$f installed"
done
pcdir=$(dirname "$pc")
# The install went to a scratch root: pkg-config maps its paths there.
flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$root pkg-config --cflags --libs libnook)
ok $? "pkg-config --cflags --libs libnook"
cp "$src/examples/microvm_config.c" "$root/app.c"
(cd "$root" && cc -std=c11 -Wall -Wextra -Werror app.c $flags -o app)
ok $? "an out-of-tree program compiles against the installed headers"
libdir=$(dirname "$pcdir")
mkdir -p "$root/rootfs"
out=$(LD_LIBRARY_PATH=$libdir "$root/app" "$root/rootfs")
ok $? "it runs with the installed library"
case $out in *"vcpus=2 memory=512 MiB scope=group ports=1 rlimits=1"*) r=0 ;; *) r=1 ;; esac
ok $r "and sees its settings"
tap_done
