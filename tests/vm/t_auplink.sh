#!/bin/bash
# auplink (list, cpup, flush) and auchk on real aufs mounts, in the test VM
# (tests/vm/guest-suite.sh runs every tests/vm/t_*.sh after insmod).
# Prints TAP ending in "# Totals: ..."; exit 0 pass, 1 failure.
#
# A file with three names on a read-only branch (d/a, d/b, e/c) is
# changed through one name: the module copies it up and pseudo-links it.
# auplink list must name the three union paths; cpup must make the other
# two names real hard links of the copy on the writable branch; flush must
# leave .wh..wh.plnk empty. The union must show the same contents and
# inode numbers before and after and after drop_caches, the same contents
# after umount+mount, and then three links at each name. Also: noplink (nothing to do, exit 0), a non-root caller
# (EPERM), usage and a non-aufs path (EINVAL); auchk on an unmounted
# branch with planted leftovers (removed, pseudo-links kept) and on a
# mounted one (refused with EBUSY, nothing removed).
set -u
if [ -z "${REPO:-}" ]; then
    REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
fi
AUPLINK=${AUPLINK:-$REPO/target/release/auplink}
AUCHK=${AUCHK:-$REPO/target/release/auchk}
W=${AUFS_TEST_DIR:-/tmp/aufs-test}/auplink.$$
n=0 fail=0
ok() { n=$((n+1)); echo "ok $n $1"; }
bad() { n=$((n+1)); fail=$((fail+1)); echo "not ok $n $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
echo "TAP version 13"

rm -rf "$W"; mkdir -p "$W"/lo/d "$W"/lo/e "$W"/rw "$W"/u
cd "$W" || exit 1
echo lower > lo/d/a; ln lo/d/a lo/d/b; ln lo/d/a lo/e/c; echo s > lo/single
mount -t aufs -o br=$W/rw=rw:$W/lo=ro none u || { echo "Bail out! mount"; exit 1; }
echo more >> u/d/a
# What a user sees: per name, contents checksum, inode number (snap) and
# link count (links).  Before a flush the union shows the copy's link count
# (the names copied up so far plus the pseudo-link: 2 here, 4 after cpup),
# not the lower file's 3; after it, the real count of names, 3.
snap() { for f in d/a d/b e/c single; do printf '%s %s %s\n' "$f" "$(md5sum < u/$f | cut -c1-32)" "$(stat -c '%i' u/$f)"; done; }
links() { echo $(stat -c %h u/d/a u/d/b u/e/c u/single); }
same_snap() { # same_snap NAME: the union shows what it showed before
    local now; now=$(snap)
    if [ "$now" = "$before" ]; then ok "$1"; else bad "$1"; echo "# before: $(echo $before)"; echo "# now:    $(echo $now)"; fi
}
before=$(snap)
echo "# before: $(echo $before), links $(links)"
check "copy-up of one name made one pseudo-link" test "$(ls -A rw/.wh..wh.plnk | wc -l)" = 1
check "the three union names show the change" test "$(cat u/d/b u/e/c | tr '\n' ' ')" = "lower more lower more "

out=$("$AUPLINK" "$W/u" list); rc=$?
check "list exits 0" test $rc = 0
check "list: first line the union inode number" test "$(echo "$out" | head -1)" = "$(stat -c %i u/d/a)"
check "list: the three union paths" test "$(echo "$out" | tail -n +2 | tr '\n' ' ')" = "$W/u/d/a $W/u/d/b $W/u/e/c "

"$AUPLINK" "$W/u" cpup; rc=$?
check "cpup exits 0" test $rc = 0
ino=$(stat -c %i rw/d/a)
check "cpup: every name is a real link on the writable branch" \
    test "$(stat -c %i rw/d/b 2>/dev/null)" = "$ino" -a "$(stat -c %i rw/e/c 2>/dev/null)" = "$ino"
check "cpup keeps the pseudo-link" test "$(ls -A rw/.wh..wh.plnk | wc -l)" = 1
same_snap "cpup: union unchanged (contents, inode numbers)"

"$AUPLINK" "$W/u" flush; rc=$?
check "flush exits 0" test $rc = 0
check "flush empties .wh..wh.plnk" test -z "$(ls -A rw/.wh..wh.plnk)"
check "flush: branch copy has the three names" test "$(stat -c %h rw/d/a)" = 3
same_snap "flush: union unchanged (contents, inode numbers)"
check "flush: the union shows 3 links for the three names" test "$(links)" = "3 3 3 1"
sync; echo 3 > /proc/sys/vm/drop_caches
same_snap "flush: union unchanged after drop_caches"
check "flush: 3 links after drop_caches" test "$(links)" = "3 3 3 1"
out=$("$AUPLINK" "$W/u" list); rc=$?
check "list after flush: nothing, exit 0" test "$rc:$out" = "0:"
"$AUPLINK" "$W/u" flush; check "flush again: exit 0" test $? = 0
umount u && mount -t aufs -o br=$W/rw=rw:$W/lo=ro none u || { echo "Bail out! remount"; exit 1; }
# Inode numbers come from the xino file, which a new mount starts afresh.
strip() { awk '{print $1, $2}'; }
check "after umount+mount: same contents" test "$(snap | strip)" = "$(echo "$before" | strip)"
check "after umount+mount: 3 links" test "$(links)" = "3 3 3 1"
check "after umount+mount: the names are one file" \
    test "$(stat -c %i u/d/a)" = "$(stat -c %i u/d/b)" -a "$(stat -c %i u/d/a)" = "$(stat -c %i u/e/c)"
echo again >> u/d/b
check "a write through one name shows in the others" test "$(tail -1 u/e/c)" = again
check "no new pseudo-link after remount" test -z "$(ls -A rw/.wh..wh.plnk)"

# A concurrent-looking case: cpup of some names then a union change, flush.
echo x > lo/m1; ln lo/m1 lo/m2; ln lo/m1 lo/m3
umount u; mount -t aufs -o br=$W/rw=rw:$W/lo=ro none u
echo y >> u/m1; rm u/m2
"$AUPLINK" "$W/u" flush; rc=$?
check "flush with a removed name: exit 0" test $rc = 0
check "flush with a removed name: m3 kept the change" test "$(cat u/m3 | tr '\n' ' ')" = "x y "
check "flush with a removed name: m2 stays removed" test ! -e u/m2
check "flush with a removed name: plnk empty" test -z "$(ls -A rw/.wh..wh.plnk)"

# Non-root, usage, not aufs.
if command -v setpriv >/dev/null; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$AUPLINK" "$W/u" list 2>/dev/null; rc=$?
    check "non-root caller: EPERM (1)" test $rc = 1
fi
"$AUPLINK" "$W/u" 2>/dev/null; check "usage: EINVAL (22)" test $? = 22
"$AUPLINK" "$W/u" fold 2>/dev/null; check "unknown command: EINVAL (22)" test $? = 22
"$AUPLINK" "$W/lo" list 2>/dev/null; check "not aufs: EINVAL (22)" test $? = 22
umount u
mkdir -p np; mount -t aufs -o br=$W/rw=rw:$W/lo=ro,noplink none u
"$AUPLINK" "$W/u" flush; check "noplink mount: flush exits 0" test $? = 0

# auchk: refused on a mounted branch, nothing removed.
mkdir -p rw/z/.wh..wh.rmdir.5/sub; echo t > rw/z/.wh..wh.rmdir.5/sub/f
echo half > rw/z/.wh..wh.cpup.a1; mkdir -p rw/.wh..wh.orph; echo o > rw/.wh..wh.orph/x
echo pl > "rw/.wh..wh.plnk/803.1.1"
"$AUCHK" "$W/rw" >/dev/null 2>err; rc=$?
check "auchk on a mounted branch: EBUSY (16)" test $rc = 16
check "auchk on a mounted branch says why" grep -q "branch of a mounted aufs" err
check "auchk on a mounted branch removed nothing" test -e rw/z/.wh..wh.cpup.a1 -a -e rw/z/.wh..wh.rmdir.5/sub/f
umount u
out=$("$AUCHK" "$W/rw"); rc=$?
check "auchk on an unmounted branch: exit 0" test $rc = 0
check "auchk removed the temporary names and the orphan" \
    test ! -e rw/z/.wh..wh.cpup.a1 -a ! -e rw/z/.wh..wh.rmdir.5 -a ! -e rw/.wh..wh.orph/x
check "auchk reported them" test "$(echo "$out" | grep -c '^removed ')" = 3
check "auchk kept the pseudo-link and user files" test -e rw/.wh..wh.plnk/803.1.1 -a -e rw/d/a -a -d rw/z
mount -t aufs -o br=$W/rw=rw:$W/lo=ro none u
check "the union after auchk" test "$(cat u/d/a | tr '\n' ' ')" = "lower more again "
umount u

cd /; rm -rf "$W"
echo "1..$n"
echo "# Totals: pass:$((n-fail)) fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ $fail = 0 ]
