#!/bin/bash
# The benchmark harness cannot rot: `make bench QUICK=1`'s guest part
# (tests/vm/bench.py --quick: every workload once, tiny sizes, tmpfs and
# ext4) inside the guest suite's boot (tests/vm/guest-suite.sh runs every
# tests/vm/t_*.sh with aufs already loaded).  Timings are not judged.
# Checks: it completed; it wrote bench.json and bench.csv with a row for
# every workload; it left no mount, loop device or work directory behind
# and aufs loaded as it found it.  Cells that errored are shown as comments.
# Prints TAP ending in "# Totals: ..."; exit 0 pass, 1 failure.
set -u
if [ -z "${REPO:-}" ]; then
    REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
fi
WORKDIR=/tmp/aufs-bench          # tests/vm/bench.py's
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
out=$(mktemp -d /tmp/bench-quick.XXXXXX)
pass=0 fail=0 n=0
ok()     { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $1"; shift; local l; for l in "$@"; do echo "# $l"; done; }

echo "TAP version 13"
echo "1..3"
loaded_before=$(grep -cw aufs /proc/filesystems)
t0=$SECONDS
"$PY" "$REPO/tests/vm/bench.py" "$REPO" --quick --out "$out" >"$out/log" 2>&1
rc=$?
# The table and progress, as comments (not the JSON block).
sed '/^BENCH-JSON-BEGIN$/,$d; s/^# //; s/^/# /' "$out/log"
echo "# bench.py --quick: exit $rc after $((SECONDS - t0)) s"
if [ "$rc" = 0 ]; then
    ok "bench --quick completed"
else
    not_ok "bench --quick completed" "exit status $rc"
fi

if msg=$("$PY" - "$out" <<'CHECK' 2>&1
import csv, json, sys
out = sys.argv[1]
r = json.load(open(f"{out}/bench.json"))
rows = r["results"]
names = {x["workload"].split(" @")[0].split(" ")[0] for x in rows}
want = {"stat", "neg", "open+close", "readdir", "ls", "seq", "fio", "copy-up", "chmod",
        "chown", "untar", "find", "du", "grep", "rm", "create+rename+unlink"}
missing = want - names
assert not missing, f"workloads missing from bench.json: {sorted(missing)}"
for k in ("kernel", "cpu", "date"):
    assert r["meta"].get(k), f"meta.{k} missing"
fss = {x["fs"] for x in rows}
assert fss == {"tmpfs", "ext4"}, f"filesystems: {sorted(fss)}"
lines = list(csv.reader(open(f"{out}/bench.csv")))
assert len(lines) == len(rows) + 1, f"bench.csv: {len(lines)} lines for {len(rows)} rows"
errs = [f"{x['fs']} {x['workload']} {s}: {e}" for x in rows for s, e in x.get("errors", {}).items()]
print(f"{len(rows)} rows, {sum(len(v) for x in rows for v in x['samples'].values())} samples, {len(errs)} cell error(s)")
for e in errs:
    print("cell error: " + e)
CHECK
); then
    ok "bench --quick wrote bench.json and bench.csv"
    printf '%s\n' "$msg" | sed 's/^/# /'
else
    not_ok "bench --quick wrote bench.json and bench.csv" "$(printf '%s\n' "$msg" | tail -n 3)"
fi

left=()
while read -r m; do left+=("mount $m"); done < <(awk -v w="$WORKDIR" 'index($2, w) == 1 { print $2 }' /proc/self/mounts)
while read -r l; do [ -n "$l" ] && left+=("loop $l"); done < <(losetup -a 2>/dev/null | grep -F "$WORKDIR" || true)
[ ! -e "$WORKDIR" ] || left+=("directory $WORKDIR")
[ "$(grep -cw aufs /proc/filesystems)" = "$loaded_before" ] || left+=("aufs loaded: $loaded_before before, $(grep -cw aufs /proc/filesystems) after")
if [ "${#left[@]}" = 0 ]; then
    ok "bench --quick left nothing behind"
else
    not_ok "bench --quick left nothing behind" "${left[@]}"
fi
rm -rf "$out"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ "$fail" = 0 ]
