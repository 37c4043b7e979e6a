#!/bin/bash
# The aufs test suite, run as root INSIDE the test VM (scripts/vm-run.sh).
#
#   tests/vm/guest-suite.sh <repo-root>
#
# Expects $REPO/build/kmod/$(uname -r)/aufs.ko (or $AUFS_KO), the selftest binaries in $REPO/build/selftests/
# (only those with a source tests/selftests/<name>.c; run in C-locale name
# order, except the ones named in AUFS_LAST_PROGS, default "rmmod", which
# run last, in that order: rmmod unloads aufs) and
# the tool at $REPO/target/release/aubr.  Also runs executable
# tests/vm/t_*.sh scripts (kselftest-style TAP with a "# Totals:" line), if
# any, before the binaries.
#
# Output: each program's TAP stream as it prints it, this suite's own checks
# as "ok N ..."/"not ok N ..." lines (insmod, one "kernel-clean after X" per
# program: no new oops/BUG/WARNING/lockdep/KASAN/... lines in dmesg and no
# new taint flag other than O (4096) and E (8192)), the aufs lines of dmesg
# as "# " comments, and as the very last line "N passed, N failed" (plus
# ", N skipped" when something was skipped).  Exit 0 only with no failure.
#
# Environment: AUFS_TEST_TIMEOUT per program (default 600 s); a program
# still running AUFS_STUCK_GRACE (60) s after that is "stuck in the kernel"
# and ends the suite.
#
# Branch filesystems: before the last programs (AUFS_LAST_PROGS), the
# programs matching AUFS_BRANCHFS_PROGS (default: t_difftest.sh copy_up*
# whiteout namespace file_io xattr_acl hardlink metacopy stress*)
# run again for each filesystem in AUFS_BRANCHFS_TYPES (default: ext4 xfs),
# as "<name>@<fs>", with AUFS_TEST_DIR on that filesystem (a loop device
# over an image in the guest's /tmp; ext4 with user_xattr, acl and project
# quota, xfs with project quota) and AUFS_TEST_BRANCH_FS=<fs>.  The C
# programs then make their branches as directories there (they check the
# filesystem of $AUFS_TEST_DIR); the difftest, which mounts a tmpfs on its
# work directory, runs with LD_PRELOAD=tests/vm/branchfs_preload.c (built
# here with gcc), which makes that tmpfs a directory on <fs>.  Afterwards
# the filesystem is unmounted and checked (e2fsck -fn, xfs_repair -n).
# AUFS_BRANCHFS_TYPES= (empty) turns this off.  A re-run that would end
# after AUFS_SUITE_BUDGET seconds (default 2400; `make test-vm` gives the
# VM 3000), judged by how long the same program took on tmpfs, is skipped
# with that reason instead, so the suite always gets to its summary.
set -u
export LC_ALL=C

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 <repo-root>" >&2
    exit 2
fi
REPO=$(cd "$1" && pwd)
KO=${AUFS_KO:-$REPO/build/kmod/$(uname -r)/aufs.ko}
SELFTESTS=$REPO/build/selftests
AUBR=$REPO/target/release/aubr
SCRIPTS=$REPO/tests/vm
TESTDIR=/tmp/aufs-test
PER_TEST_TIMEOUT=${AUFS_TEST_TIMEOUT:-600}
STUCK_GRACE=${AUFS_STUCK_GRACE:-60}   # after the timeout, before "stuck"

WORK=$(mktemp -d /tmp/guest-suite.XXXXXX)
KLOG=$WORK/dmesg.log     # every kernel line seen, accumulated with dmesg -c

PASS=0 FAIL=0 SKIP=0     # aggregated over programs and suite checks
SUITE_N=0                # numbering of this suite's own TAP lines
declare -a SUMMARY=()
declare -a FAILED=()     # names of what failed, listed again at the end

# BAD_RE, ALLOWED_TAINT, new_kernel_lines, taint, kernel_news
. "$SCRIPTS/kernel-check.sh"

suite_ok() {   # suite_ok NAME
    SUITE_N=$((SUITE_N + 1)); PASS=$((PASS + 1))
    echo "ok $SUITE_N $1"
}
suite_skip() { # suite_skip NAME REASON
    SUITE_N=$((SUITE_N + 1)); SKIP=$((SKIP + 1))
    echo "ok $SUITE_N $1 # SKIP $2"
}
suite_fail() { # suite_fail NAME [COMMENT_LINE...]
    local name=$1; shift
    SUITE_N=$((SUITE_N + 1)); FAIL=$((FAIL + 1))
    echo "not ok $SUITE_N $name"
    FAILED+=("$name")
    local l
    for l in "$@"; do echo "# $l"; done
}

# check_kernel NAME: one suite TAP line "kernel-clean after NAME".
TAINT_BASE=0
check_kernel() {
    kernel_news
    if [ ${#KNEWS_PROBLEMS[@]} = 0 ]; then
        suite_ok "kernel-clean after $1"
    else
        suite_fail "kernel-clean after $1" "${KNEWS_PROBLEMS[@]}"
    fi
}

# Unmount aufs mounts a program left behind (e.g. after a timeout).
cleanup_mounts() {
    local name=$1 m
    while read -r m; do
        [ -n "$m" ] || continue
        echo "# cleanup after $name: lazily unmounting leftover aufs mount $m"
        umount -l "$m" 2>&1 | sed 's/^/# /'
    done < <(awk '$3 == "aufs" { print $2 }' /proc/self/mounts | sort -r |
             sed 's/\\040/ /g; s/\\011/\t/g; s/\\134/\\/g')
}

# totals_field NAME LINE: the number after " NAME:" in a "# Totals:" line (0 if absent).
totals_field() {
    if [[ " ${2#\# Totals:}" =~ \ $1:([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        echo 0
    fi
}

# run_program NAME PATH [TESTDIR]: run one TAP program (in and with
# AUFS_TEST_DIR=TESTDIR, default $TESTDIR, and the extra NAME=VALUE
# environment in the RUN_ENV array), aggregate its Totals line.
# Returns 1 when the program could not be stopped (stuck in the kernel).
#
# The program's output goes through tee (live, so that the last lines before
# a kernel panic are seen); its status lands in $out.rc.  The suite waits
# for that file, not for the pipe, so a program stuck in uninterruptible
# sleep (that even timeout's SIGKILL cannot end) does not hang the suite:
# after the deadline it is reported and the suite stops.
declare -a RUN_ENV=()
declare -A DURATION=()   # NAME -> seconds its last run took
run_program() {
    local name=$1 path=$2 dir=${3:-$TESTDIR} out=$WORK/$1.out rc pipe deadline t0=$SECONDS
    echo "# ===== $name ====="
    rm -f "$out.rc"
    (
        cd "$dir" || exit 1
        ulimit -c 0
        env AUFS_KO="$KO" AUBR="$AUBR" AUFS_TEST_DIR="$dir" REPO="$REPO" "${RUN_ENV[@]}" \
            timeout -k 10 "$PER_TEST_TIMEOUT" "$path" </dev/null 2>&1
        echo $? >"$out.rc"
    ) | tee "$out" &
    pipe=$!
    deadline=$((SECONDS + PER_TEST_TIMEOUT + STUCK_GRACE))
    while [ ! -s "$out.rc" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 1
    done
    if [ ! -s "$out.rc" ]; then
        kill "$pipe" 2>/dev/null
        suite_fail "$name completed" \
            "$name did not end $((PER_TEST_TIMEOUT + STUCK_GRACE))s after it started, even after SIGKILL:" \
            "stuck in the kernel; stopping the suite here"
        SUMMARY+=("$name: stuck in the kernel (counted as 1 failure)")
        check_kernel "$name"
        command -v ps >/dev/null &&
            ps -eo pid,stat,wchan:32,comm | awk 'NR == 1 || $2 ~ /D/' | sed 's/^/# /'
        return 1
    fi
    # The output pipe closes when every process holding it has exited.  One
    # the program left stuck in the kernel (after an oops that held a lock)
    # never exits: do not wait for it forever.
    local w=0
    while kill -0 "$pipe" 2>/dev/null && [ "$w" -lt 10 ]; do
        sleep 1
        w=$((w + 1))
    done
    if kill -0 "$pipe" 2>/dev/null; then
        echo "# $name: a process it started still holds its output (stuck in the kernel?); not waiting for it"
        kill "$pipe" 2>/dev/null
    fi
    wait "$pipe" 2>/dev/null
    DURATION[$name]=$((SECONDS - t0))
    rc=$(cat "$out.rc")
    local totals p f xf xp s e
    totals=$(grep -E '^# Totals: pass:[0-9]+ fail:[0-9]+' "$out" | tail -n 1)
    if [ -n "$totals" ]; then
        p=$(totals_field pass "$totals") f=$(totals_field fail "$totals")
        xf=$(totals_field xfail "$totals") xp=$(totals_field xpass "$totals")
        s=$(totals_field skip "$totals") e=$(totals_field error "$totals")
        p=$((p + xf)); f=$((f + xp + e))
        # Exit status says failure but no failing test counted: count one.
        if [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$f" = 0 ]; then
            suite_fail "$name exit status" "$name exited with status $rc"
        fi
        PASS=$((PASS + p)); FAIL=$((FAIL + f)); SKIP=$((SKIP + s))
        local t
        while read -r t; do
            FAILED+=("$name: $t")
        done < <(sed -nE 's/^(# )?not ok [0-9]+ (.*)$/\2/p' "$out")
        SUMMARY+=("$name: pass:$p fail:$f skip:$s exit:$rc ($((SECONDS - t0)) s)")
    else
        local why="exited with status $rc and printed no '# Totals:' line"
        [ "$rc" = 124 ] || [ "$rc" = 137 ] && why="timed out after ${PER_TEST_TIMEOUT}s (status $rc)"
        [ "$rc" -gt 128 ] 2>/dev/null && [ "$rc" != 137 ] && why="killed by signal $((rc - 128))"
        suite_fail "$name completed" "$name $why"
        SUMMARY+=("$name: no totals, exit:$rc (counted as 1 failure)")
    fi
    cleanup_mounts "$name"
    check_kernel "$name"
    return 0
}

# ---- Branch filesystems: re-runs with AUFS_TEST_DIR on ext4 and xfs ----
BRANCHFS_TYPES=${AUFS_BRANCHFS_TYPES-ext4 xfs}
BRANCHFS_PROGS=${AUFS_BRANCHFS_PROGS-t_difftest.sh copy_up* whiteout namespace file_io xattr_acl hardlink metacopy stress*}
BRANCHFS_IMG_SIZE=1G     # sparse, in the guest's /tmp
SUITE_BUDGET=${AUFS_SUITE_BUDGET:-2400}
PRELOAD=                 # tests/vm/branchfs_preload.c, built once (for the difftest)
BFS_DEV= BFS_MNT= BFS_IMG=

branchfs_wanted() {      # branchfs_wanted NAME: NAME matches BRANCHFS_PROGS
    local pat
    local -a pats
    read -ra pats <<<"$BRANCHFS_PROGS"
    for pat in "${pats[@]}"; do
        # shellcheck disable=SC2053  # a glob pattern on purpose
        [[ $1 == $pat ]] && return 0
    done
    return 1
}

branchfs_count() {       # tmpfs mounts redirected so far (branchfs_preload.c)
    if [ -f "$BFS_MNT/.branchfs.log" ]; then wc -l <"$BFS_MNT/.branchfs.log"; else echo 0; fi
}

# branchfs_up FS: image + loop device + mkfs + mount on /tmp/aufs-test-FS.
branchfs_up() {
    local fs=$1 opts out
    local -a mkfs
    BFS_MNT=/tmp/aufs-test-$fs BFS_IMG=$WORK/branch-$fs.img BFS_DEV=
    case $fs in
        ext4) mkfs=(mkfs.ext4 -q -F -O quota,project -E lazy_itable_init=1,lazy_journal_init=1)
              opts=user_xattr,acl,prjquota,noinit_itable ;;
        xfs)  mkfs=(mkfs.xfs -q -f); opts=prjquota ;;
        *)    mkfs=("mkfs.$fs"); opts=defaults ;;
    esac
    modprobe -q loop 2>/dev/null
    modprobe -q "$fs" 2>/dev/null
    if ! grep -qw "$fs" /proc/filesystems; then
        suite_skip "$fs branch filesystem" "the kernel has no $fs"
        return 1
    fi
    if ! command -v "${mkfs[0]}" >/dev/null || ! command -v losetup >/dev/null; then
        suite_skip "$fs branch filesystem" "${mkfs[0]} or losetup missing (scripts/setup.sh installs them)"
        return 1
    fi
    if ! out=$(truncate -s "$BRANCHFS_IMG_SIZE" "$BFS_IMG" 2>&1 && "${mkfs[@]}" "$BFS_IMG" 2>&1); then
        suite_fail "$fs branch filesystem" "${mkfs[*]} $BFS_IMG: $out"
        rm -f "$BFS_IMG"
        return 1
    fi
    if ! BFS_DEV=$(losetup -f --show "$BFS_IMG" 2>&1); then
        suite_fail "$fs branch filesystem" "losetup: $BFS_DEV"
        rm -f "$BFS_IMG"
        return 1
    fi
    mkdir -p "$BFS_MNT"
    if ! out=$(mount -t "$fs" -o "$opts" "$BFS_DEV" "$BFS_MNT" 2>&1); then
        suite_fail "$fs branch filesystem" "mount -t $fs -o $opts $BFS_DEV $BFS_MNT: $out"
        losetup -d "$BFS_DEV"
        rm -f "$BFS_IMG"
        return 1
    fi
    chmod 0755 "$BFS_MNT"
    suite_ok "$fs branch filesystem"
    echo "# $fs on $BFS_DEV ($BRANCHFS_IMG_SIZE image) at $BFS_MNT: $(awk -v m="$BFS_MNT" '$2 == m { print $4 }' /proc/self/mounts)"
    return 0
}

# branchfs_down FS: unmount, check the filesystem, free the loop device.
branchfs_down() {
    local fs=$1 out rc=0
    if ! out=$(umount -R "$BFS_MNT" 2>&1); then
        suite_fail "$fs branch filesystem unmounts" "umount -R $BFS_MNT: $out" \
            "$(grep -F " $BFS_MNT" /proc/self/mounts)"
        umount -R -l "$BFS_MNT" 2>/dev/null
        # Still in use (e.g. by a process an oops left behind): no check.
        suite_skip "$fs branch filesystem is consistent afterwards" "not checked: still in use"
        losetup -d "$BFS_DEV" 2>/dev/null
        rm -f "$BFS_IMG"
        check_kernel "$fs branch filesystem"
        return
    fi
    case $fs in
        ext4) out=$(e2fsck -fn "$BFS_DEV" 2>&1) || rc=$? ;;
        xfs)  out=$(xfs_repair -n "$BFS_DEV" 2>&1) || rc=$? ;;
        *)    out="no checker for $fs" ;;
    esac
    if [ "$rc" = 0 ]; then
        suite_ok "$fs branch filesystem is consistent afterwards"
    else
        local -a l
        mapfile -t l < <(printf '%s\n' "$out" | tail -n 40)
        suite_fail "$fs branch filesystem is consistent afterwards" "checker exit status $rc:" "${l[@]}"
    fi
    losetup -d "$BFS_DEV" 2>/dev/null
    rm -f "$BFS_IMG"
    check_kernel "$fs branch filesystem"
}

# run_branchfs: the re-runs; returns 1 when a program got stuck.
run_branchfs() {
    local fs f name n0 out est scripts=0
    local -a todo=() types
    for f in "${PROGS[@]}"; do
        branchfs_wanted "$(basename "$f")" || continue
        todo+=("$f")
        [[ $f != *.sh ]] || scripts=1
    done
    read -ra types <<<"$BRANCHFS_TYPES"
    [ "${#todo[@]}" -gt 0 ] && [ "${#types[@]}" -gt 0 ] || return 0
    echo "# ===== branch filesystems: ${types[*]} ====="
    # The preload library is for the scripts (the difftest); C programs
    # are static and look at $AUFS_TEST_DIR's filesystem themselves.
    if [ -z "$PRELOAD" ] && [ "$scripts" = 1 ]; then
        if out=$(gcc -O2 -shared -fPIC -o "$WORK/branchfs_preload.so" "$SCRIPTS/branchfs_preload.c" 2>&1); then
            PRELOAD=$WORK/branchfs_preload.so
            suite_ok "branch-filesystem preload library"
        else
            suite_fail "branch-filesystem preload library" \
                "gcc $SCRIPTS/branchfs_preload.c: $out" "the difftest runs below use tmpfs branches"
        fi
    fi
    for fs in "${types[@]}"; do
        branchfs_up "$fs" || continue
        for f in "${todo[@]}"; do
            name=$(basename "$f")@$fs
            est=${DURATION[$(basename "$f")]:-60}
            if [ $((SECONDS + est)) -gt "$SUITE_BUDGET" ]; then
                suite_skip "$name" "not run: it took ${est}s on tmpfs; the suite is at ${SECONDS}s of its ${SUITE_BUDGET}s budget (AUFS_SUITE_BUDGET)"
                continue
            fi
            RUN_ENV=(AUFS_TEST_BRANCH_FS="$fs")
            [ -z "$PRELOAD" ] || [[ $f != *.sh ]] || RUN_ENV+=(LD_PRELOAD="$PRELOAD")
            n0=$(branchfs_count)
            run_program "$name" "$f" "$BFS_MNT" || { RUN_ENV=(); return 1; }
            RUN_ENV=()
            n0=$(($(branchfs_count) - n0))
            [ "$n0" = 0 ] || echo "# $name: $n0 tmpfs mount(s) were made directories on $fs (LD_PRELOAD)"
        done
        branchfs_down "$fs"
    done
    return 0
}

echo "# guest-suite: kernel $(uname -r), repo $REPO"

# Baseline: keep the boot log, then start with an empty ring buffer.
new_kernel_lines >/dev/null
TAINT_BASE=$(taint)
echo "# baseline taint: $TAINT_BASE"

mkdir -p "$TESTDIR"
if mount -t tmpfs -o mode=0755,size=512m aufs-test "$TESTDIR"; then
    suite_ok "tmpfs at $TESTDIR"
else
    suite_fail "tmpfs at $TESTDIR"
fi

# Programs in a fixed order: scripts first, then binaries by name (C
# locale), then the binaries of LAST_PROGS in the order given there (the
# branch-filesystem re-runs come just before them).
LAST_PROGS=${AUFS_LAST_PROGS-rmmod}
declare -a PROGS=() LAST=()
read -ra LAST <<<"$LAST_PROGS"
is_last() {              # is_last NAME: NAME is one of LAST_PROGS
    local l
    for l in "${LAST[@]}"; do
        [ "$1" = "$l" ] && return 0
    done
    return 1
}
for f in "$SCRIPTS"/t_*.sh; do
    [ -f "$f" ] && [ -x "$f" ] && PROGS+=("$f")
done
# A binary whose source is gone (renamed or deleted, in an old build
# directory) is not run: tests/selftests/Makefile removes those too.
is_program() {           # is_program PATH: an executable built from tests/selftests/NAME.c
    [ -f "$1" ] && [ -x "$1" ] || return 1
    [ -f "$REPO/tests/selftests/$(basename "$1").c" ] && return 0
    echo "# not run: $1 (no tests/selftests/$(basename "$1").c: a stale build)"
    return 1
}
for f in "$SELFTESTS"/*; do
    ! is_last "$(basename "$f")" && is_program "$f" && PROGS+=("$f")
done
for f in "${LAST[@]}"; do
    is_program "$SELFTESTS/$f" && PROGS+=("$SELFTESTS/$f")
done

insmod_ok=0
if grep -qw aufs /proc/filesystems; then
    suite_fail "insmod" "aufs is already registered before insmod (built-in or loaded?)"
elif [ ! -f "$KO" ]; then
    suite_fail "insmod" "$KO not found (build the module first)"
elif out=$(insmod "$KO" 2>&1); then
    insmod_ok=1
    suite_ok "insmod"
else
    suite_fail "insmod" "insmod $KO failed: $out"
fi
check_kernel "insmod"

if [ "${#PROGS[@]}" = 0 ]; then
    suite_fail "selftests present" "no test programs in $SELFTESTS (build them first)"
elif [ "$insmod_ok" = 0 ]; then
    for f in "${PROGS[@]}"; do
        suite_fail "$(basename "$f")" "not run: the module is not loaded"
    done
else
    stuck=0 branchfs_done=0
    for f in "${PROGS[@]}"; do
        # The branch-filesystem re-runs come before the last programs
        # (LAST_PROGS: rmmod unloads aufs).
        if [ "$branchfs_done" = 0 ] && is_last "$(basename "$f")"; then
            branchfs_done=1
            [ "$stuck" = 1 ] || run_branchfs || stuck=1
        fi
        if [ "$stuck" = 1 ]; then
            suite_fail "$(basename "$f")" "not run: an earlier program is stuck in the kernel"
            continue
        fi
        run_program "$(basename "$f")" "$f" || stuck=1
    done
    [ "$branchfs_done" = 1 ] || [ "$stuck" = 1 ] || run_branchfs || stuck=1
fi

# If the module is still loaded (rmmod normally unloads it), unload it so
# that its exit path is checked too.
if grep -qw aufs /proc/filesystems && [ "$insmod_ok" = 1 ] && [ "${stuck:-0}" = 0 ]; then
    cleanup_mounts "suite"
    if out=$(rmmod aufs 2>&1); then
        suite_ok "final rmmod"
    else
        suite_fail "final rmmod" "$out"
    fi
    check_kernel "final rmmod"
fi

umount "$TESTDIR" 2>/dev/null || umount -l "$TESTDIR" 2>/dev/null || true

# kmemleak (debug kernels only, e.g. make test-debug): two scans, then any
# "unreferenced object" report is a failure, shown as comment lines.
kml_mnt=0
mountpoint -q /sys/kernel/debug 2>/dev/null ||
    { mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null && kml_mnt=1; }
if [ ! -e /sys/kernel/debug/kmemleak ]; then
    [ "$kml_mnt" = 0 ] || umount /sys/kernel/debug 2>/dev/null || true
else
    kml=/sys/kernel/debug/kmemleak
    if echo scan >"$kml" 2>"$WORK/kmemleak.err" && sleep 5 &&
       echo scan >"$kml" 2>>"$WORK/kmemleak.err"; then
        cat "$kml" >"$WORK/kmemleak.txt" 2>&1
        nleak=$(grep -c 'unreferenced object' "$WORK/kmemleak.txt")
        if [ "$nleak" = 0 ]; then
            suite_ok "kmemleak: no unreferenced objects"
        else
            mapfile -t kmlines < <(head -n 400 "$WORK/kmemleak.txt")
            suite_fail "kmemleak: no unreferenced objects" \
                "$nleak unreferenced object(s) (first 400 lines of $kml):" "${kmlines[@]}"
        fi
    else
        suite_fail "kmemleak: no unreferenced objects" \
            "cannot scan ($(cat "$WORK/kmemleak.err")); kmemleak disabled?" \
            "$(dmesg | grep -i kmemleak | tail -n 3)"
    fi
fi

echo "# ===== summary ====="
for s in "${SUMMARY[@]}"; do echo "# $s"; done
echo "# suite checks: $SUITE_N"
echo "# final taint: $(taint)"
echo "# ----- aufs lines in dmesg -----"
# a line repeated back to back (a stress test's refusals) is shown once, counted
grep -i aufs "$KLOG" | awk '
    { k = $0; sub(/^\[ *[0-9.]+\] /, "", k) }
    k == prev { n++; next }
    { flush(); first = $0; prev = k; n = 1 }
    END { flush() }
    function flush() {
        if (n) print "# " first (n > 1 ? "  [and " n - 1 " more times]" : "")
    }'
echo "# -------------------------------"
for t in "${FAILED[@]}"; do echo "# failed: $t"; done

line="$PASS passed, $FAIL failed"
[ "$SKIP" = 0 ] || line+=", $SKIP skipped"
echo "$line"
[ "$FAIL" = 0 ]
