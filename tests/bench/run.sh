#!/bin/bash
# make bench [QUICK=1]: one VM boot (scripts/vm-run.sh, 5 GiB) runs
# tests/vm/bench.py; its output is shown (without the JSON block) and kept
# in build/bench/bench.log, then tests/bench/report.py writes
# build/bench/bench.{json,csv,md,png}.  QUICK=1 (--quick): every workload
# once at a tiny size, into build/bench/quick/.  BENCH_* variables of the
# environment are passed to the guest (sizes: see tests/vm/bench.py);
# BENCH_TIMEOUT (default 5400 s) limits the VM.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
quick=() out=$ROOT/build/bench
if [ "${1:-}" = --quick ]; then
    quick=(--quick) out=$ROOT/build/bench/quick
fi
mkdir -p "$out"
# Debian's python3 (the guest's, and the one with python3-matplotlib).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
envs=()
while IFS= read -r v; do envs+=("$v"); done < <(env | grep -E '^BENCH_[A-Z0-9_]+=' || true)
rc=0
VM_CONSOLE_LOG=$out/vm-console.log \
    "$ROOT/scripts/vm-run.sh" ${KVER:+--kver "$KVER"} --memory 5G --timeout "${BENCH_TIMEOUT:-5400}" -- \
    env "${envs[@]}" "$PY" "$ROOT/tests/vm/bench.py" "$ROOT" "${quick[@]}" |
    tee "$out/bench.log" | sed -u '/^BENCH-JSON-BEGIN$/,/^BENCH-JSON-END$/d' || rc=${PIPESTATUS[0]}
"$PY" "$ROOT/tests/bench/report.py" "$out/bench.log" "$out" || rc=1
exit "$rc"
