#!/bin/bash
# Runs the differential tester's fixed-seed suite (tests/difftest) inside
# the test VM; tests/vm/guest-suite.sh picks up every tests/vm/t_*.sh after
# insmod.  `make test-vm` builds the binary (cargo build --release -p
# aufs-difftest).
# Prints TAP ending in "# Totals: ..."; exit 0 pass, 1 failure, 4 skipped.
# The suite compares the trees after dropping the caches and after a
# remount, runs every fourth seed as uid 65534, reports a seed whose
# operation blocks in the kernel as STUCK after 60 s and goes on, and stops
# itself before guest-suite.sh's per-program timeout (tests/difftest/README.md).
set -u
if [ -z "${REPO:-}" ]; then
    REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
fi
args=(suite)
# guest-suite.sh provides a tmpfs scratch directory; the suite mounts its own
# tmpfs below it.
[ -n "${AUFS_TEST_DIR:-}" ] && args+=(--workdir "$AUFS_TEST_DIR/difftest")
bin=$REPO/target/release/aufs-difftest
[ -x "$bin" ] && exec "$bin" "${args[@]}"
echo "TAP version 13"
echo "1..1"
echo "not ok 1 difftest # aufs-difftest binary not built (cargo build --release -p aufs-difftest)"
echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
exit 1
