#!/bin/bash
# make test-debug: the VM suite on a debug kernel (lockdep, KASAN, kmemleak,
# DEBUG_LIST, DEBUG_OBJECTS, DEBUG_ATOMIC_SLEEP).
#
#   scripts/test-debug.sh       (as root; make test-debug builds the tool,
#                                selftests and difftest first)
#
# 1. scripts/debug-kernel.sh: the debug kernel, built once and cached in
#    /var/cache/aufs-debug-kernel/<linux-source version>/.
# 2. aufs.ko against that tree, in build/debug/kmod/ (a copy of kmod/'s
#    sources), with the Rust object in build/debug/aufs_rust.o (objtool of
#    the debug tree): build/kmod/'s modules are not touched.
# 3. The unchanged guest suite runs with AUFS_KO=build/debug/kmod/aufs.ko, so
#    it (and rmmod) load the debug module.
# 4. scripts/vm-run.sh --kernel <debug bzImage> runs tests/vm/guest-suite.sh.
#
# Output: the suite's, also kept in build/debug/suite.log (guest console in
# build/debug/vm-console.log, times in build/debug/timing.txt).
# Exit status: the suite's (vm-run.sh's).
# Environment: AUFS_DEBUG_VM_TIMEOUT (whole VM run, default 21600 s; the
# guest suite's AUFS_SUITE_BUDGET is set 30 min below it),
# AUFS_DEBUG_TEST_TIMEOUT (per program in the guest, default 3600 s; the
# debug kernel under TCG is 5-10 times slower than Debian's),
# AUFS_DEBUG_VM_MEMORY (default 3G: KASAN's shadow and kmemleak's metadata
# need room), AUFS_DEBUG_BRANCHFS (the guest suite's AUFS_BRANCHFS_TYPES,
# default "ext4 xfs"; empty: every program on tmpfs only, about a third of
# the time).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/debug
VM_TIMEOUT=${AUFS_DEBUG_VM_TIMEOUT:-21600}
TEST_TIMEOUT=${AUFS_DEBUG_TEST_TIMEOUT:-3600}
VM_MEMORY=${AUFS_DEBUG_VM_MEMORY:-3G}
BRANCHFS=${AUFS_DEBUG_BRANCHFS-ext4 xfs}

say() { echo "test-debug: $*" >&2; }
die() { echo "test-debug: error: $*" >&2; exit 1; }

t0=$(date +%s)
cache=$("$ROOT/scripts/debug-kernel.sh")
kdir=$cache/linux
kimg=$(ls "$cache"/vmlinuz-* | head -n 1)
krel=$(cat "$kdir/include/config/kernel.release")
t1=$(date +%s)
say "debug kernel $krel: $kimg ($((t1 - t0)) s)"

# The module, against the debug tree, outside kmod/.
mkdir -p "$OUT/kmod"
for f in "$OUT"/kmod/*.c "$OUT"/kmod/*.h; do   # sources removed from kmod/
    [ -e "$f" ] || continue
    [ -e "$ROOT/kmod/$(basename "$f")" ] || rm -f "$f" "${f%.*}.o"
done
cp -p "$ROOT"/kmod/*.c "$ROOT"/kmod/*.h "$ROOT"/kmod/Kbuild "$OUT/kmod/"
"$ROOT/scripts/rust-kobj.sh" "$krel" "$OUT/aufs_rust.o" "$kdir"
# AU_TOP: the copied Kbuild finds scripts/check-module-objtool.sh through it.
make -C "$kdir" M="$OUT/kmod" AU_RUST_OBJ="$OUT/aufs_rust.o" AU_TOP="$ROOT" modules
ko=$OUT/kmod/aufs.ko
n=$(objdump -d "$ko" | grep -cE '%[xyz]mm[0-9]' || true)
[ "$n" = 0 ] || die "$ko: $n SIMD instructions"
modinfo "$ko" | grep -E '^(license|version|vermagic):' >&2
modinfo -F vermagic "$ko" | grep -q "^$krel " || die "$ko is not built for $krel"

# The guest suite loads $AUFS_KO: this module, not build/kmod/'s.
rm -rf "$OUT/root"   # what older versions of this script made

say "booting $kimg (timeout ${VM_TIMEOUT}s, ${TEST_TIMEOUT}s per program)"
rc=0
VM_CONSOLE_LOG=$OUT/vm-console.log \
    "$ROOT/scripts/vm-run.sh" --kernel "$kimg" --memory "$VM_MEMORY" --timeout "$VM_TIMEOUT" -- \
    env AUFS_KO="$ko" AUFS_TEST_TIMEOUT="$TEST_TIMEOUT" AUFS_SUITE_BUDGET=$((VM_TIMEOUT - 1800)) \
        AUFS_BRANCHFS_TYPES="$BRANCHFS" \
        "$ROOT/tests/vm/guest-suite.sh" "$ROOT" |
    tee "$OUT/suite.log" || rc=${PIPESTATUS[0]}
t2=$(date +%s)
# Nothing is printed after the suite's last line ("N passed, N failed").
echo "kernel ready: $((t1 - t0)) s, module + VM run: $((t2 - t1)) s, status $rc" >"$OUT/timing.txt"
[ -z "${VM_RUN_VERBOSE:-}" ] || say "$(cat "$OUT/timing.txt") (log: $OUT/suite.log)"
exit "$rc"
