#!/bin/bash
# Guest half of tests/packaging/run.sh, in a VM booted from kernel KVER whose
# host has aufs-dkms and aufs-tools installed: the module DKMS installed
# loads with modprobe, mounts a union, aubr shows it, modprobe -r unloads it.
# One "ok - ..." / "not ok - ..." line per check (run.sh numbers them).
#   usage: guest.sh KVER
set -uo pipefail

KVER=${1:?usage: guest.sh KVER}
T=/tmp/aufs-pkgtest
ok() { echo "ok - $KVER: $*"; }
not_ok() { echo "not ok - $KVER: $*"; }
check() {   # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@" >/tmp/aufs-pkgtest.out 2>&1; then ok "$what"; else
        not_ok "$what"; sed 's/^/#   /' /tmp/aufs-pkgtest.out | head -n 20; fi
}

check "booted kernel is $KVER" test "$(uname -r)" = "$KVER"
# DKMS's, compressed as the kernel's own modules are (6.12: aufs.ko.xz).
want=$(modinfo -n aufs 2>&1)
check "modinfo -n aufs is DKMS's ($want)" \
    sh -c "case '$want' in /lib/modules/$KVER/updates/dkms/aufs.ko*) ;; *) exit 1 ;; esac"
check "modprobe aufs" modprobe aufs
# /sys/module/aufs has no path; the build id of the loaded module (its ELF
# note, unique per link, unlike srcversion) says which file it was.
loaded=$(od -An -tx1 -v /sys/module/aufs/notes/.note.gnu.build-id 2>/dev/null | tr -d ' \n' | tail -c 40)
case $want in
    *.xz) unpack=(xz -dc) ;;
    *.zst) unpack=(zstd -qdc) ;;
    *.gz) unpack=(gzip -dc) ;;
    *) unpack=(cat) ;;
esac
"${unpack[@]}" <"$want" >/tmp/aufs-pkgtest.ko 2>/dev/null
file=$(readelf -n /tmp/aufs-pkgtest.ko 2>/dev/null | sed -n 's/^ *Build ID: //p')
check "/sys/module/aufs is that file (build id ${file:-none})" test -n "$file" -a "$loaded" = "$file"

mkdir -p "$T"
mount -t tmpfs tmpfs "$T"
mkdir -p "$T/a" "$T/b" "$T/mnt"
echo base >"$T/b/lower"
check "mount -t aufs -o br=$T/a=rw:$T/b=ro none $T/mnt" \
    mount -t aufs -o "br=$T/a=rw:$T/b=ro" none "$T/mnt"
check "the union shows the lower file" test "$(cat "$T/mnt/lower" 2>&1)" = base
check "a write through the union is copied up to the rw branch" \
    sh -c "echo new >>'$T/mnt/lower' && test \"\$(cat '$T/a/lower')\" = \"base
new\" && test \"\$(cat '$T/b/lower')\" = base"

out=$(/usr/bin/aubr 2>&1)
if printf '%s\n' "$out" | grep -qx "$T/mnt si=[0-9a-f]*" &&
   printf '%s\n' "$out" | grep -qE "^0 +[0-9]+ +rw +$T/a\$" &&
   printf '%s\n' "$out" | grep -qE "^1 +[0-9]+ +ro +$T/b\$"; then
    ok "aubr lists the mount's two branches"
else
    not_ok "aubr lists the mount's two branches"; printf '#   %s\n' "$out"
fi
check "aubr --json $T/mnt: two branches, rw on top" python3 -c '
import json, sys
m = json.loads(sys.stdin.read())
assert len(m) == 1 and [b["perm"] for b in m[0]["branches"]] == ["rw", "ro"], m
' <<<"$(/usr/bin/aubr --json "$T/mnt" 2>&1)"

check "umount $T/mnt" umount "$T/mnt"
umount "$T"
check "modprobe -r aufs" modprobe -r aufs
check "/sys/module/aufs is gone" test ! -e /sys/module/aufs

# The kernel is clean: no oops or warning, no taint but out-of-tree and
# unsigned (DKMS signs with its own key, which the kernel does not trust).
bad=$(dmesg | grep -E 'Oops|BUG:|WARNING:|Call Trace|general protection' | head -n 5)
check "no oops or warning in dmesg" test -z "$bad"
[ -z "$bad" ] || printf '#   %s\n' "$bad"
taint=$(cat /proc/sys/kernel/tainted)
check "taint $taint has no flag but out-of-tree and unsigned" test $((taint & ~(4096 | 8192))) = 0
