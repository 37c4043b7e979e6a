#!/bin/bash
# make test: every test, on every installed kernel, with one tally.
#
#   scripts/test.sh        (the Makefile's `test` target, after scripts/setup.sh)
#
# Parts, in order; a failing part does not stop the ones after it:
#   host            cargo test --workspace (the core's unit tests, the tool's)
#   build checks    tests/build/run.sh: the Rust object's flags and ENDBR check,
#                   objtool's pass over the module (per installed kernel)
#   per kernel R    (every release of scripts/kver.sh, or KVER=R only):
#     vm R          make KVER=R module, then the VM suite (tests/vm/guest-suite.sh)
#                   booted from R: tmpfs, then the ext4 and xfs re-runs
#     docker R      Docker's aufs driver (tests/docker/run.sh) booted from R: the
#                   data root on tmpfs and ext4 on the kernel DOCKER_FULL_KVER
#                   (default: the newest), on tmpfs only on the others, so
#                   that the whole run stays near an hour on a 2-CPU machine
#   packaging       make deb, then tests/packaging/run.sh: aufs-dkms and aufs-tools
#                   installed (DKMS builds for every installed kernel), modprobe,
#                   a mount and aubr in one VM per kernel, the packages purged;
#                   the man pages render without warnings
#
# Each part's output is shown as it runs and kept in build/test-logs/.  Its
# last "N passed, N failed[, N skipped]" line is its tally; a part that
# ends without one counts as one failure.  At the end every tally is
# printed, naming its kernel (after a few lines from the log of each part
# that failed), and the very last line is the sum:
# "N passed, N failed[, N skipped]".  Exit 0 only with no failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"
cd "$ROOT" || exit 1

if [ -n "${KVER:-}" ]; then KVERS=$KVER; else KVERS=$(scripts/kver.sh) || exit 1; fi
FULL_DOCKER=${DOCKER_FULL_KVER:-$(printf '%s\n' $KVERS | sort -V | tail -n 1)}
T0=$SECONDS
TP=0 TF=0 TS=0
declare -a TALLY=() FAILS=()

# part NAME LOGFILE CMD...: run CMD, tee its output, record its tally.
part() {
    local name=$1 log=$2 t0=$SECONDS rc line p f s
    shift 2
    echo "=== test: $name ==="
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        p=0 f=1 s=0
        line="no tally (exit $rc): counted as 1 failure"
    else
        read -r p f s <<<"$(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/')"
        s=${s:-0}
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
            f=1; line+=" (but exit $rc: counted as 1 failure)"
        fi
    fi
    TP=$((TP + p)) TF=$((TF + f)) TS=$((TS + s))
    [ "$f" = 0 ] || FAILS+=("$name" "$log")
    TALLY+=("$(printf '%-34s %s  (%d s)' "$name:" "$line" $((SECONDS - t0)))")
}

# cargo test prints one "test result:" line per test binary: their sum.
host_tests() {
    local out rc
    out=$(mktemp)
    cargo test --workspace 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    awk '/^test result:/ { for (i = 1; i <= NF; i++) {
             if ($(i+1) ~ /^passed;?/) p += $i; if ($(i+1) ~ /^failed;?/) f += $i;
             if ($(i+1) ~ /^ignored;?/) s += $i } }
         END { printf "%d passed, %d failed%s\n", p, f, s ? ", " s " skipped" : "" }' "$out"
    rm -f "$out"
    return "$rc"
}

vm_suite() { # vm_suite R
    make --no-print-directory KVER="$1" module tool selftests difftest "$ROOT/build/bench/benchops" || {
        echo "0 passed, 1 failed"; return 1; }
    scripts/vm-run.sh --kver "$1" --timeout 3000 -- tests/vm/guest-suite.sh "$ROOT"
}

docker_test() { # docker_test R FILESYSTEMS
    make --no-print-directory KVER="$1" module tool || { echo "0 passed, 1 failed"; return 1; }
    scripts/docker-setup.sh && KVER=$1 DOCKER_E2E_FS=$2 tests/docker/run.sh
}

# make deb, then the packages installed, loaded in one VM per kernel, removed
packaging_test() {
    make --no-print-directory deb || { echo "0 passed, 1 failed"; return 1; }
    tests/packaging/run.sh
}

part host "$LOGS/host.log" host_tests
part "build checks" "$LOGS/build.log" tests/build/run.sh
for k in $KVERS; do
    part "vm $k" "$LOGS/vm-$k.log" vm_suite "$k"
done
for k in $KVERS; do
    if [ "$k" = "$FULL_DOCKER" ]; then fs=tmpfs,ext4; else fs=tmpfs; fi
    part "docker $k ($fs)" "$LOGS/docker-$k.log" docker_test "$k" "$fs"
done
part packaging "$LOGS/packaging.log" packaging_test

# What failed, in a few lines each, just above the tally: CI shows only the
# end of the output.
if [ "${#FAILS[@]}" -gt 0 ]; then
    echo "=== test: what failed (whole logs in build/test-logs/) ==="
    for ((i = 0; i < ${#FAILS[@]}; i += 2)); do
        echo "--- ${FAILS[i]}:"
        { grep -E '^not ok|Bail out|^vm-run:|Kernel panic|BUG:|Oops|RIP:|WARNING:|error:' "${FAILS[i+1]}" | head -n 8
          tail -n 3 "${FAILS[i+1]}"; } | cut -c 1-200
    done
fi
echo "=== test: tally (logs in build/test-logs/, $((SECONDS - T0)) s in all) ==="
for t in "${TALLY[@]}"; do echo "$t"; done
line="$TP passed, $TF failed"
[ "$TS" = 0 ] || line+=", $TS skipped"
echo "$line"
[ "$TF" = 0 ]
