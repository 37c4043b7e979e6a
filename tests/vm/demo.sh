#!/bin/bash
# make demo, inside the VM: load aufs.ko and replay the seed article's
# experiment (base/ and top/ unified under mnt/), then show the branches
# the way aufs users read them.
#   usage: demo.sh REPO
set -eu
REPO=$1
say() { printf '\n%s\n' "$*"; }
run() { printf '\n$ %s\n' "$*"; eval "$*"; }

cd /tmp
run "insmod $REPO/build/kmod/$(uname -r)/aufs.ko"
run "grep aufs /proc/filesystems"
mkdir -p /tmp/aufs-demo && mount -t tmpfs demo /tmp/aufs-demo && cd /tmp/aufs-demo
run "mkdir base top mnt"
run "echo base > base/common.txt; echo hello > base/hello.txt"
run "echo top > top/common.txt; echo foo > top/foo.txt"
run "mount -t aufs -o br=./top:./base none ./mnt"
run "ls mnt"
run "cat mnt/common.txt"
say "# The branches: /proc/mounts gives the si, /sys/fs/aufs/si_<si>/ the rest."
run "grep aufs /proc/mounts"
run "cat /sys/fs/aufs/si_*/br*"
run "$REPO/target/release/aubr"
say "# Writing common.txt changes top's copy; base keeps its own."
run "echo changed > ./mnt/common.txt"
run "cat top/common.txt; cat base/common.txt"
say "# Writing hello.txt (only in the read-only base) copies it up into top."
run "echo hello, world > mnt/hello.txt"
run "ls top; cat top/hello.txt; cat base/hello.txt"
say "# Deleting a name that base still has leaves a whiteout in top."
run "rm mnt/hello.txt; ls -a top; ls mnt"
run "umount mnt"
say "# With both branches writable, a file is changed where it is found."
run "echo only in base > base/only.txt"
run "mount -t aufs -o br=./top=rw:./base=rw none ./mnt"
run "echo edited >> mnt/only.txt; cat base/only.txt; ls top"
run "umount mnt"
run "rmmod aufs"
