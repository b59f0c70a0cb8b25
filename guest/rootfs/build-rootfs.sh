#!/bin/sh
# Builds the default guest root filesystem as a directory, which the VMM
# shares read-only over virtio-fs: Debian's static busybox with a link for
# each applet, and a minimal /etc. No device nodes: nook-init mounts
# devtmpfs.
#
# usage: build-rootfs.sh OUTDIR     (BUSYBOX=path overrides /bin/busybox)
set -eu

out=${1:?usage: build-rootfs.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
case $out in /*) ;; *) out="$PWD/$out" ;; esac

die() {
	echo "build-rootfs.sh: $*" >&2
	exit 1
}

[ -x "$busybox" ] || die "$busybox not found: install Debian's busybox-static package"
# A dynamically linked busybox (package busybox) would not run in the guest.
if LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked: install Debian's busybox-static package"
fi

umask 022
stage="$out.tmp.$$"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"

cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin proc sys dev tmp root etc
chmod 1777 tmp
chmod 0700 root
cp "$busybox" bin/busybox
chmod 0755 bin/busybox

"$busybox" --list-full | while read -r applet; do
	case $applet in
	bin/busybox | "") continue ;;
	*/*) [ -d "${applet%/*}" ] || mkdir -p "${applet%/*}" ;;
	esac
	ln -sf /bin/busybox "$applet"
done
[ -L bin/sh ] || die "busybox has no sh applet"

printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >etc/passwd
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >etc/group
echo nook >etc/hostname

# Reproducible: every mtime 0.
find . -exec touch -h -d @0 {} +
cd /
rm -rf "$out"
mv "$stage" "$out"
