#!/bin/bash
# A live system on squashfs, end to end, as Slax/Porteus/Knoppix build one:
# a root tree (Debian's static busybox with its applet links, /etc files,
# data files, a script) packed with mksquashfs, loop-mounted and made the
# bottom of a union under a tmpfs writable branch, entered with chroot and
# used (programs run, files changed and removed: copy-up, whiteouts); two
# more squashfs "modules" (files plus a program each) activated with
# `remount,add:1:` while files are open and programs run, `del:` refused
# with EBUSY while a module's file is open or its program runs and done
# after; /proc/mounts, /sys/fs/aufs/si_*/br* and `aubr --json` checked
# after every change; then the session "saved" (cp -a of the tmpfs branch,
# and mksquashfs of it into a module) and a fresh union of base + saved
# session compared with the session (content, modes, owners, link targets;
# again after drop_caches and after umount + mount).
#
# Run by tests/vm/guest-suite.sh (every executable tests/vm/t_*.sh, aufs
# loaded) or alone in the VM with aufs loaded; works in $AUFS_TEST_DIR
# (default /tmp/aufs-test), images included.  Needs mksquashfs
# (squashfs-tools), /usr/bin/busybox (busybox-static), python3, the
# squashfs and loop modules; skips when one is missing.
# Prints TAP ending in "# Totals: ..."; exit 0 pass, 1 failure, 4 skipped.
set -u
export LC_ALL=C
AUBR=${AUBR:-${REPO:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)}/target/release/aubr}
W=${AUFS_TEST_DIR:-/tmp/aufs-test}/live.$$
BB=/usr/bin/busybox
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

n=0 pass=0 fail=0 skip=0
ok()     { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $1"; shift; local l; for l in "$@"; do echo "# $l"; done; }
# check NAME CMD...: ok when CMD succeeds; its output as comments otherwise.
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(printf '%s' "$out" | head -20)"; fi
}
totals() {
    echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
    [ "$fail" = 0 ] || exit 1
    [ "$pass" = 0 ] && exit 4
    exit 0
}
bail() { # bail REASON: the rest cannot run
    not_ok "$1"; cleanup; totals
}

echo "TAP version 13"
missing=
command -v mksquashfs >/dev/null || missing="mksquashfs (squashfs-tools)"
[ -x "$BB" ] || missing="$missing $BB (busybox-static)"
command -v "$PY" >/dev/null || missing="$missing python3"
[ -x "$AUBR" ] || missing="$missing $AUBR"
grep -qw aufs /proc/filesystems || missing="$missing aufs (not loaded)"
modprobe -q squashfs 2>/dev/null; modprobe -q loop 2>/dev/null
grep -qw squashfs /proc/filesystems || missing="$missing squashfs (kernel)"
if [ -n "$missing" ]; then
    echo "1..0 # SKIP missing:$missing"
    echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
    exit 4
fi

U=$W/union RW=$W/rw BASE=$W/base M1=$W/mod1 M2=$W/mod2
PIDS=()
cleanup() {
    local p m
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    exec 5<&- 6<&- 7<&- 2>/dev/null
    # Innermost first: proc inside the union, the unions, then branches.
    for m in $(awk -v w="$W" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    rm -rf "$W"
}
trap cleanup EXIT

# remount_errno MNT OPTS: mount(2) MS_REMOUNT, prints 0 or the errno name.
remount_errno() {
    "$PY" - "$1" "$2" <<'PY'
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.mount(b"none", sys.argv[1].encode(), b"aufs", 32, sys.argv[2].encode())
print(0 if r == 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
PY
}

# branches_are MNT PATH=PERM...: /proc/mounts has one aufs line at MNT with
# si=<si>; /sys/fs/aufs/si_<si>/br<N> are exactly the given branches in
# order (and brid<N> present); `aubr --json MNT` says the same.
branches_are() {
    "$PY" - "$AUBR" "$@" <<'PY'
import json, os, subprocess, sys
aubr, mnt, want = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = [l.split() for l in open("/proc/mounts")]
mine = [l for l in lines if l[1] == mnt]
assert len(mine) == 1 and mine[0][2] == "aufs", f"/proc/mounts at {mnt}: {mine}"
opts = mine[0][3].split(",")
si = [o[3:] for o in opts if o.startswith("si=")]
assert len(si) == 1, f"/proc/mounts options {opts}"
d = f"/sys/fs/aufs/si_{si[0]}"
got = []
i = 0
while os.path.exists(f"{d}/br{i}"):
    got.append(open(f"{d}/br{i}").read().strip())
    assert os.path.exists(f"{d}/brid{i}"), f"{d}/brid{i} missing"
    i += 1
assert got == want, f"{d}/br*: {got}, want {want}"
j = json.loads(subprocess.run([aubr, "--json", mnt], check=True, capture_output=True, text=True).stdout)
assert len(j) == 1 and j[0]["si"] == si[0], f"aubr: {j}"
ab = [b["path"] + "=" + b["perm"] + "".join("+" + a for a in b["attrs"]) for b in j[0]["branches"]]
assert ab == want, f"aubr: {ab}, want {want}"
assert [b["index"] for b in j[0]["branches"]] == list(range(len(want)))
PY
}

# snapshot DIR: every name under DIR with type, mode, owner, size, link
# target and content hash, sorted (what a saved session must reproduce).
snapshot() {
    "$PY" - "$1" <<'PY'
import hashlib, os, stat, sys
top = sys.argv[1]
dev = os.lstat(top).st_dev
out = []
for d, dirs, files in os.walk(top):
    dirs[:] = [x for x in dirs if not (d == top and x == "proc")]
    for name in [""] + dirs + files if d == top else dirs + files:
        p = os.path.join(d, name) if name else d
        st = os.lstat(p)
        assert st.st_dev == dev, f"{p}: another filesystem"
        rel = "." + p[len(top):] if p != top else "."
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else "-"
        h = hashlib.md5(open(p, "rb").read()).hexdigest() if stat.S_ISREG(st.st_mode) else "-"
        out.append(f"{rel} {stat.S_IFMT(st.st_mode):o} {stat.S_IMODE(st.st_mode):o} "
                   f"{st.st_uid}:{st.st_gid} {st.st_nlink if not stat.S_ISDIR(st.st_mode) else '-'} {link} {h}")
print("\n".join(sorted(out)))
PY
}

# in_root CMD...: run a command inside the live system (chroot into the union).
in_root() { chroot "$U" /bin/sh -c "$*"; }

mkdir -p "$W" || bail "work directory $W"
t0=$SECONDS

# ---- the root tree and its image ----
R=$W/tree
mkdir -p "$R"/{bin,sbin,etc,proc,dev,tmp,root,home/live,usr/bin,usr/share/data/old,var/log} &&
cp "$BB" "$R/bin/busybox" &&
"$BB" --list | "$PY" -c '
import os, sys
for a in sys.stdin.read().split():
    if a != "busybox":
        os.symlink("busybox", os.path.join(sys.argv[1], a))' "$R/bin" &&
printf 'root:x:0:0:root:/root:/bin/sh\nlive:x:1000:1000:live:/home/live:/bin/sh\n' >"$R/etc/passwd" &&
printf 'root:x:0:\nlive:x:1000:\n' >"$R/etc/group" &&
echo livebox >"$R/etc/hostname" &&
printf 'NAME="aufs live"\nVERSION_ID=1\n' >"$R/etc/os-release" &&
echo 'export PATH=/bin:/sbin:/usr/bin' >"$R/etc/profile" &&
printf '#!/bin/sh\necho "hello from $(cat /etc/hostname), $(ls /usr/share/data | wc -l) data files"\n' >"$R/usr/bin/hello" &&
chmod 755 "$R/usr/bin/hello" &&
echo base >"$R/usr/share/data/version" &&
seq 1 20000 >"$R/usr/share/data/numbers" &&
echo 'to be removed' >"$R/usr/share/data/gone" &&
echo 'to be renamed' >"$R/usr/share/data/before" &&
echo old1 >"$R/usr/share/data/old/a" && echo old2 >"$R/usr/share/data/old/b" &&
echo secret >"$R/root/secret" && chmod 600 "$R/root/secret" &&
echo 'hi' >"$R/home/live/notes" && chown -R 1000:1000 "$R/home/live" &&
ln -s ../share/data/version "$R/usr/bin/version-link" &&
chmod 1777 "$R/tmp" ||
    bail "root tree built"
sq() { mksquashfs "$1" "$2" -noappend -no-progress -quiet -comp gzip >/dev/null; }
t=$SECONDS
check "mksquashfs of the root tree ($(find "$R" | wc -l) names)" sq "$R" "$W/base.sqfs"
echo "# mksquashfs: $((SECONDS - t)) s"
base_sum=$(md5sum <"$W/base.sqfs")

# Modules: each adds files and a program; mod1 also shadows a base file.
T1=$W/tree1 T2=$W/tree2
mkdir -p "$T1/usr/bin" "$T1/usr/share/mod1" "$T1/etc" "$T1/usr/share/data" &&
printf '#!/bin/sh\necho "mod1 $(cat /usr/share/mod1/data)"\n' >"$T1/usr/bin/mod1" &&
chmod 755 "$T1/usr/bin/mod1" && echo payload1 >"$T1/usr/share/mod1/data" &&
echo 'mod1=on' >"$T1/etc/mod1.conf" && echo mod1 >"$T1/usr/share/data/version" &&
mkdir -p "$T2/opt/mod2/bin" "$T2/usr/bin" &&
cp "$BB" "$T2/opt/mod2/bin/sleep" &&
printf '#!/bin/sh\necho "mod2 ready"\n' >"$T2/usr/bin/mod2" && chmod 755 "$T2/usr/bin/mod2" ||
    bail "module trees built"
check "mksquashfs of two modules" sh -c "$(declare -f sq); sq '$T1' '$W/mod1.sqfs' && sq '$T2' '$W/mod2.sqfs'"

# ---- boot: squashfs bottom, tmpfs on top, the union ----
mkdir -p "$U" "$RW" "$BASE" "$M1" "$M2"
mount -t squashfs -o loop,ro "$W/base.sqfs" "$BASE" || bail "loop-mount base.sqfs"
mount -t tmpfs -o size=64m,mode=0755 live-rw "$RW" || bail "tmpfs for the writable branch"
if ! out=$(mount -t aufs -o "br=$RW=rw:$BASE" none "$U" 2>&1); then
    bail "mount the union: $out"
fi
check "branches at boot: tmpfs rw, squashfs defaults to rr" branches_are "$U" "$RW=rw" "$BASE=rr"
mkdir -p "$U/proc" && mount -t proc proc "$U/proc"
check "chroot: sh runs from the squashfs" test "$(in_root 'echo $((6 * 7))')" = 42
check "chroot: ls, cat, a script" sh -c "
    [ \"\$(chroot '$U' /bin/ls /usr/share/data | tr '\n' ' ')\" = 'before gone numbers old version ' ] &&
    [ \"\$(chroot '$U' /bin/cat /etc/hostname)\" = livebox ] &&
    [ \"\$(chroot '$U' /usr/bin/hello)\" = 'hello from livebox, 5 data files' ] &&
    [ \"\$(chroot '$U' /bin/sh -c '. /etc/profile; cat /usr/bin/version-link')\" = base ]"
check "chroot: /proc inside the union shows the chrooted process" \
    test "$(in_root 'readlink /proc/self/exe')" = /bin/busybox

# ---- a session: changes under the union ----
in_root '
    echo "alias ll=\"ls -l\"" >> /etc/profile &&
    rm /usr/share/data/gone &&
    rm -r /usr/share/data/old &&
    mv /usr/share/data/before /usr/share/data/after &&
    chmod 640 /etc/hostname &&
    mkdir -p /home/live/work && echo draft > /home/live/work/doc &&
    chown -R 1000:1000 /home/live/work &&
    echo "boot ok" > /var/log/messages &&
    ln -s /usr/share/data/numbers /root/numbers-link &&
    printf "#!/bin/sh\necho mine\n" > /usr/bin/mine && chmod 755 /usr/bin/mine' 2>&1 |
    sed 's/^/# /'
check "chroot: the session's changes as the live system sees them" sh -c "
    chroot '$U' /bin/sh -c '
        [ ! -e /usr/share/data/gone ] && [ ! -e /usr/share/data/old ] &&
        [ ! -e /usr/share/data/before ] && [ \"\$(cat /usr/share/data/after)\" = \"to be renamed\" ] &&
        [ \"\$(stat -c %a /etc/hostname)\" = 640 ] && [ \"\$(tail -n1 /etc/profile)\" = \"alias ll=\\\"ls -l\\\"\" ] &&
        [ \"\$(mine)\" = mine ] && [ \"\$(hello)\" = \"hello from livebox, 3 data files\" ] &&
        [ \"\$(cat /home/live/work/doc)\" = draft ]'"
check "copy-up and whiteouts on the tmpfs branch" sh -c "
    [ -f '$RW/etc/profile' ] && grep -q alias '$RW/etc/profile' &&
    [ -f '$RW/etc/hostname' ] && [ \"\$(stat -c %a '$RW/etc/hostname')\" = 640 ] &&
    [ -e '$RW/usr/share/data/.wh.gone' ] && [ -e '$RW/usr/share/data/.wh.old' ] &&
    [ -e '$RW/usr/share/data/.wh.before' ] && [ -f '$RW/usr/share/data/after' ] &&
    [ ! -e '$RW/usr/share/data/numbers' ] && [ ! -e '$RW/bin/busybox' ]"
check "the squashfs bottom is unchanged" sh -c "
    [ -f '$BASE/usr/share/data/gone' ] && [ -d '$BASE/usr/share/data/old' ] &&
    [ \"\$(stat -c %a '$BASE/etc/hostname')\" = 644 ] &&
    [ \"\$(md5sum <'$W/base.sqfs')\" = '$base_sum' ]"

# ---- modules activated while the system runs ----
# A base program runs, a base file is held open, a file is open for writing.
chroot "$U" /bin/sleep 600 &
PIDS+=($!)
exec 5<"$U/usr/share/data/numbers" 7>>"$U/var/log/messages"
sleep 0.3
mount -t squashfs -o loop,ro "$W/mod1.sqfs" "$M1" || bail "loop-mount mod1.sqfs"
mount -t squashfs -o loop,ro "$W/mod2.sqfs" "$M2" || bail "loop-mount mod2.sqfs"
check "remount,add:1: of mod1 (=rr) while programs run and files are open" \
    test "$(remount_errno "$U" "add:1:$M1=rr")" = 0
check "branches after add mod1" branches_are "$U" "$RW=rw" "$M1=rr" "$BASE=rr"
check "remount,add:1: of mod2 (no permission given)" test "$(remount_errno "$U" "add:1:$M2")" = 0
check "branches after add mod2: squashfs defaults to rr" branches_are "$U" "$RW=rw" "$M2=rr" "$M1=rr" "$BASE=rr"
check "modules' programs and files seen in the running system" sh -c "
    [ \"\$(chroot '$U' /usr/bin/mod1)\" = 'mod1 payload1' ] &&
    [ \"\$(chroot '$U' /usr/bin/mod2)\" = 'mod2 ready' ] &&
    [ \"\$(chroot '$U' /bin/cat /etc/mod1.conf)\" = mod1=on ] &&
    [ \"\$(chroot '$U' /bin/cat /usr/share/data/version)\" = mod1 ] &&
    [ \"\$(chroot '$U' /bin/cat /usr/bin/version-link)\" = mod1 ]"
check "what was open before the add still works" sh -c "
    kill -0 ${PIDS[0]} && [ \"\$(head -c 6 <&5)\" = \"\$(printf '1\n2\n3\n')\" ] &&
    echo 'module added' >&7 && [ \"\$(tail -n1 '$U/var/log/messages')\" = 'module added' ]"

# mod2's program runs, one of mod1's files is open: neither may go.
chroot "$U" /opt/mod2/bin/sleep 600 &
PIDS+=($!)
exec 6<"$U/usr/share/mod1/data"
sleep 0.5
check "mod2's program runs from the union" sh -c "kill -0 ${PIDS[1]} && [ \"\$(readlink /proc/${PIDS[1]}/exe)\" = '$U/opt/mod2/bin/sleep' ]"
check "del: of mod2 while its program runs: EBUSY" test "$(remount_errno "$U" "del:$M2")" = EBUSY
check "del: of mod1 while its file is open: EBUSY" test "$(remount_errno "$U" "del:$M1")" = EBUSY
check "each refused del: names its branch's full path in one aufs: line" sh -c "
    [ \"\$(dmesg | grep -c 'aufs: del: branch $M2 is busy')\" = 1 ] &&
    [ \"\$(dmesg | grep -c 'aufs: del: branch $M1 is busy')\" = 1 ]"
check "branches unchanged after the refused dels" branches_are "$U" "$RW=rw" "$M2=rr" "$M1=rr" "$BASE=rr"
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null
check "del: of mod2 after its program ended" test "$(remount_errno "$U" "del:$M2")" = 0
check "branches after del mod2" branches_are "$U" "$RW=rw" "$M1=rr" "$BASE=rr"
check "mod1's open file still reads" test "$(cat <&6)" = payload1
check "del: of mod1 while its file is still open: EBUSY" test "$(remount_errno "$U" "del:$M1")" = EBUSY
exec 6<&-
check "del: of mod1 after its file was closed" test "$(remount_errno "$U" "del:$M1")" = 0
check "branches after del mod1" branches_are "$U" "$RW=rw" "$BASE=rr"
check "modules gone from the running system, base shows through again" sh -c "
    [ ! -e '$U/usr/bin/mod1' ] && [ ! -e '$U/usr/bin/mod2' ] && [ ! -e '$U/etc/mod1.conf' ] &&
    [ ! -e '$U/opt' ] && [ \"\$(chroot '$U' /bin/cat /usr/share/data/version)\" = base ] &&
    ! chroot '$U' /usr/bin/mod1 2>/dev/null"
check "the base program and open files survived the module changes" sh -c "
    kill -0 ${PIDS[0]} && echo 'modules removed' >&7 &&
    [ \"\$(tail -n1 '$U/var/log/messages')\" = 'modules removed' ] &&
    [ \"\$(chroot '$U' /usr/bin/hello)\" = 'hello from livebox, 3 data files' ]"
umount "$M1" && umount "$M2"
check "the module images are free again (loop-mounted and unmounted)" sh -c "! grep -q ' $M1 ' /proc/mounts && ! grep -q ' $M2 ' /proc/mounts"

# ---- save the session ----
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null; PIDS=()
exec 5<&- 7<&-
umount "$U/proc"
session=$(snapshot "$U")
echo "# session: $(printf '%s\n' "$session" | wc -l) names"
check "save: cp -a of the writable branch" cp -a "$RW" "$W/saved"
check "save: mksquashfs of the writable branch into a module" sq "$RW" "$W/changes.sqfs"
check "umount of the union, the tmpfs and the base" sh -c "umount '$U' && umount '$RW' && umount '$BASE'"

# ---- next boot: base + saved session ----
same_as_session() { # same_as_session LABEL
    local now
    now=$(snapshot "$U")
    if [ "$now" = "$session" ]; then ok "$1"; else
        not_ok "$1" "$(diff <(printf '%s\n' "$session") <(printf '%s\n' "$now") | head -20)"
    fi
}
mount -t squashfs -o loop,ro "$W/base.sqfs" "$BASE" || bail "loop-mount base.sqfs again"
if out=$(mount -t aufs -o "br=$W/saved=rw:$BASE" none "$U" 2>&1); then
    check "boot from base + saved branch (cp -a)" branches_are "$U" "$W/saved=rw" "$BASE=rr"
    same_as_session "the saved session (cp -a) shows the same files, modes, owners, content"
    sync; echo 3 >/proc/sys/vm/drop_caches
    same_as_session "the saved session (cp -a), after drop_caches"
    check "the saved system runs" test "$(chroot "$U" /usr/bin/mine)/$(chroot "$U" /usr/bin/hello)" = "mine/hello from livebox, 3 data files"
    umount "$U"
    mount -t aufs -o "br=$W/saved=rw:$BASE" none "$U" && same_as_session "the saved session (cp -a), after umount + mount"
    umount "$U"
else
    not_ok "boot from base + saved branch (cp -a)" "$out"
fi
# The changes as a module over the base: its whiteouts must hide base files
# (rr+wh), a fresh tmpfs on top for the new session.
mkdir -p "$W/chg" "$W/rw2"
mount -t squashfs -o loop,ro "$W/changes.sqfs" "$W/chg" && mount -t tmpfs -o size=16m,mode=0755 live-rw2 "$W/rw2" ||
    bail "loop-mount changes.sqfs"
if out=$(mount -t aufs -o "br=$W/rw2=rw:$W/chg=rr+wh:$BASE" none "$U" 2>&1); then
    check "boot from base + changes module (rr+wh) + fresh tmpfs" branches_are "$U" "$W/rw2=rw" "$W/chg=rr+wh" "$BASE=rr"
    same_as_session "the saved session (squashfs module) shows the same files, modes, owners, content"
    sync; echo 3 >/proc/sys/vm/drop_caches
    same_as_session "the saved session (squashfs module), after drop_caches"
    check "the saved system runs and writes to the new tmpfs" sh -c "
        [ \"\$(chroot '$U' /usr/bin/mine)\" = mine ] && chroot '$U' /bin/sh -c 'echo again >> /home/live/work/doc' &&
        [ \"\$(cat '$W/rw2/home/live/work/doc')\" = \"\$(printf 'draft\nagain')\" ]"
    umount "$U"
    # The next boot of that session: a fresh tmpfs again.
    umount "$W/rw2" && mount -t tmpfs -o size=16m,mode=0755 live-rw2 "$W/rw2" &&
        mount -t aufs -o "br=$W/rw2=rw:$W/chg=rr+wh:$BASE" none "$U" &&
        same_as_session "the saved session (squashfs module), after umount + mount"
    umount "$U"
else
    not_ok "boot from base + changes module (rr+wh) + fresh tmpfs" "$out"
fi
echo "# $((SECONDS - t0)) s"
echo "1..$n"
cleanup
trap - EXIT
totals
