#!/bin/sh
# Packs the built-in rootfs directory into a cpio "newc" archive, which the
# VMM hands the guest as its initramfs when the root lives in guest memory
# (runs that make or use a snapshot). Its symbolic links are not archive
# entries but a list, NOOK_ROOT_SYMLINKS in guest/protocol.h, that
# nook-init makes before the ready point: where kernel code is emulated
# that is a quarter of what the kernel's unpacker takes per entry.
# Reproducible: sorted names, owner root, inode numbers renumbered, the
# directory's mtimes (all 0).
#
# usage: archive-rootfs.sh ROOTFS_DIR OUTFILE
set -eu

dir=${1:?usage: archive-rootfs.sh ROOTFS_DIR OUTFILE}
out=${2:?usage: archive-rootfs.sh ROOTFS_DIR OUTFILE}
case $out in /*) ;; *) out="$PWD/$out" ;; esac
case $dir in /*) ;; *) dir="$PWD/$dir" ;; esac
command -v cpio >/dev/null || { echo "archive-rootfs.sh: cpio not found: install Debian's cpio package" >&2; exit 1; }

tmp="$out.tmp.$$"
list="$out.links.$$"
trap 'rm -rf "$tmp" "$list"' EXIT
mkdir "$list"
pack() { cpio -o -H newc -R 0:0 --reproducible --quiet; }
# The list: (path, target) pairs, each string NUL-terminated, sorted by
# path (a link's directory is opened once); tabs and newlines are the
# separators on the way.
links=$(cd "$dir" && find . -mindepth 1 -type l -printf '%P\t%l\n' | LC_ALL=C sort)
n=$(cd "$dir" && find . -mindepth 1 -type l -printf x | wc -c)
if [ "$n" -gt 0 ] && { [ "$(printf '%s\n' "$links" | wc -l)" -ne "$n" ] ||
	[ "$(printf '%s' "$links" | tr -cd '\t' | wc -c)" -ne "$n" ]; }; then
	echo "archive-rootfs.sh: a link in $dir has a tab or newline in its name or target" >&2
	exit 1
fi
{
	# "." too: its mode becomes the root's (tmpfs would leave it 1777).
	(cd "$dir" && find . ! -type l | LC_ALL=C sort | pack)
	if [ "$n" -gt 0 ]; then
		printf '%s\n' "$links" | tr '\t\n' '\0\0' >"$list/.nook-symlinks"
		touch -d @0 "$list/.nook-symlinks"
		# A second archive after the first (the kernel takes them in turn).
		(cd "$list" && echo ./.nook-symlinks | pack)
	fi
} >"$tmp"
mv "$tmp" "$out"
