#!/bin/sh
# Packs the built-in rootfs directory into a cpio "newc" archive, which the
# VMM hands the guest as its initramfs when the root lives in guest memory
# (runs that make or use a snapshot). Reproducible: sorted names, owner
# root, inode numbers renumbered, the directory's mtimes (all 0).
#
# usage: archive-rootfs.sh ROOTFS_DIR OUTFILE
set -eu

dir=${1:?usage: archive-rootfs.sh ROOTFS_DIR OUTFILE}
out=${2:?usage: archive-rootfs.sh ROOTFS_DIR OUTFILE}
case $out in /*) ;; *) out="$PWD/$out" ;; esac
command -v cpio >/dev/null || { echo "archive-rootfs.sh: cpio not found: install Debian's cpio package" >&2; exit 1; }

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) >"$tmp"
mv "$tmp" "$out"
