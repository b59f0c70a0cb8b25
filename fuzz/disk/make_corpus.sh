#!/bin/bash
# Seed corpus for the disk fuzz targets, made with qemu-img: small images
# with every kind of table entry. Usage: make_corpus.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
head -c 300k /dev/urandom >src.raw
truncate -s 1M src.raw
qemu-img create -q -f qcow2 -o cluster_size=4096 v3.qcow2 1M
qemu-io -c 'write -P 7 0 100k' -c 'write -z 200k 8k' -c 'write -z -u 300k 4k' v3.qcow2 >/dev/null
qemu-img create -q -f qcow2 -o cluster_size=512,compat=0.10 v2.qcow2 256k
qemu-io -c 'write -P 9 1k 20k' v2.qcow2 >/dev/null
qemu-img convert -c -O qcow2 -o cluster_size=4096 src.raw compressed.qcow2
qemu-img create -q -f qcow2 -b /nonexistent.raw -F raw -u backing.qcow2 1M
qemu-img convert -O vmdk -o subformat=monolithicSparse src.raw sparse.vmdk
qemu-img convert -O vmdk -o subformat=streamOptimized src.raw stream.vmdk
rm src.raw
