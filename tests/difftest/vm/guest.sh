#!/bin/bash
# Runs aufs-difftest alone inside the test VM, for work on the tester
# itself (the full suite runs it through tests/vm/t_difftest.sh):
#
#   scripts/vm-run.sh -- tests/difftest/vm/guest.sh KO BIN [ARGS...]
#
# Loads KO, mounts a tmpfs scratch directory like tests/vm/guest-suite.sh,
# runs BIN ARGS (default: `suite --workdir <scratch>/difftest`), prints the
# wall time, then the kernel lines that mean trouble.  Exit: BIN's status.
set -u
KO=$1 BIN=$2
shift 2
[ $# -gt 0 ] || set -- suite
TESTDIR=/tmp/aufs-test
mkdir -p "$TESTDIR"
mount -t tmpfs -o mode=0755,size=512m aufs-test "$TESTDIR" || exit 1
insmod "$KO" || exit 1
dmesg -c >/dev/null
cd "$TESTDIR"
start=$(date +%s.%N)
if [ "$1" = suite ] || [ "$1" = run ]; then
    "$BIN" "$@" --workdir "$TESTDIR/difftest"
else
    "$BIN" "$@"
fi
rc=$?
end=$(date +%s.%N)
echo "# difftest wall time: $(echo "$end - $start" | bc 2>/dev/null || echo "$start..$end") s, exit $rc"
echo "# ----- kernel lines -----"
dmesg | grep -E 'aufs|Oops|BUG|WARNING|Call Trace|lockdep|KASAN|general protection' | head -80 | sed 's/^/# /'
exit $rc
