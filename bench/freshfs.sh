#!/bin/sh
# bench/freshfs.sh [dir] [size]: mount a newly made ext4 file system (a loop
# file next to the mount point) at dir, default /mnt/runledger-bench, for
# `make bench-e2e BENCH_ARGS='--workdir <dir>'`. Needs root.
#
# Why: ours creates ~120,000 files a minute under the default load. On a file
# system that has already seen millions of files created and deleted (earlier
# benchmark runs), ext4 spends far longer finding free inodes
# (find_inode_bit), up to half of the collector's CPU in our profiles. A
# fresh file system per run makes runs comparable. Run it again before each
# run: it unmounts and recreates.
set -eu
dir=${1:-/mnt/runledger-bench}
size=${2:-8G}
img="$dir.img"
if mountpoint -q "$dir"; then umount "$dir"; fi
rm -f "$img"
truncate -s "$size" "$img"
mkfs.ext4 -q -F -N 1000000 "$img"
mkdir -p "$dir"
mount -o loop "$img" "$dir"
echo "fresh ext4 at $dir ($size, 1,000,000 inodes); remove with: umount $dir && rm $img"
