#!/bin/bash
# The build tests (make test-host, make test): every tests/build/t_*.sh, TAP
# each.  The last line sums their TAP lines: "N passed, N failed[, N skipped]"
# (a program that exits neither 0 nor 4 without a "not ok" line counts as one
# failure).  Exit 0 when none failed (a test that skips, exit 4, is not a
# failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
failed=()
P=0 F=0 S=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$here"/t_*.sh; do
    echo "# $(basename "$t")"
    rc=0
    "$t" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
    s=$(grep -cE '^ok [0-9]+.*# SKIP' "$out" || true)
    f=$(grep -cE '^not ok [0-9]+' "$out" || true)
    p=$(grep -cE '^ok [0-9]+' "$out" || true)
    case $rc in
        0|4) ;;
        *) failed+=("$(basename "$t")"); [ "$f" != 0 ] || f=1 ;;
    esac
    P=$((P + p - s)) F=$((F + f)) S=$((S + s))
done
[ "${#failed[@]}" = 0 ] || echo "# tests/build: failed: ${failed[*]}"
line="$P passed, $F failed"
[ "$S" = 0 ] || line+=", $S skipped"
echo "$line"
[ "${#failed[@]}" = 0 ]
