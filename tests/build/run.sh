#!/bin/bash
# The build tests (make test-host): every tests/build/t_*.sh, TAP each.
# Exit 0 when none failed (a test that skips, exit 4, is not a failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
failed=()
for t in "$here"/t_*.sh; do
    echo "# $(basename "$t")"
    rc=0
    "$t" || rc=$?
    case $rc in 0|4) ;; *) failed+=("$(basename "$t")") ;; esac
done
if [ "${#failed[@]}" != 0 ]; then
    echo "tests/build: failed: ${failed[*]}" >&2
    exit 1
fi
