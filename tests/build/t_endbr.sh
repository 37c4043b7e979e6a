#!/bin/bash
# The Rust object's flags follow the kernel's configuration, and
# scripts/check-endbr.sh tells an object built for an IBT kernel from one
# built without -Zcf-protection: it accepts the first and rejects the
# second, naming the functions.  Both objects are built by rust-kobj.sh
# for configuration-only kernel trees that give the flags of Debian's 6.1
# and 6.12, so they come from the caches the real builds fill (quick once
# warm; about two minutes cold).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tap_plan 6

fake_kdir "$tmp/k61" "${CONFIG_LIKE_61[@]}"
fake_kdir "$tmp/k612" "${CONFIG_LIKE_612[@]}"
fake_kdir "$tmp/kcfi" "${CONFIG_LIKE_612[@]}" CFI_CLANG=y

f61=$("$TOP/scripts/kernel-rustflags.sh" "$tmp/k61")
f612=$("$TOP/scripts/kernel-rustflags.sh" "$tmp/k612")
if [[ " $f61 " != *" -Zcf-protection"* && " $f61 " != *" -Zpatchable-function-entry"* &&
      " $f61 " == *" -Zretpoline-external-thunk "* && " $f61 " == *" -Zfunction-return=thunk-extern "* &&
      " $f61 " == *" -C jump-tables=no "* ]]; then
    ok "flags without IBT: retpoline and return thunk, no cf-protection, no padding"
else
    not_ok "flags without IBT"; echo "$f61" | diag
fi
if [ "$f612" = "$f61 -Zcf-protection=branch -Zpatchable-function-entry=16,16" ]; then
    ok "flags with IBT and 16-byte call padding: those of 6.1 plus -Zcf-protection=branch -Zpatchable-function-entry=16,16"
else
    not_ok "flags with IBT"; echo "$f612" | diag
fi
if "$TOP/scripts/kernel-rustflags.sh" "$tmp/kcfi" >/dev/null 2>&1; then
    not_ok "a kCFI kernel is refused"
else
    ok "a kCFI kernel is refused"
fi

# The IBT object: rust-kobj.sh runs check-endbr.sh on it already.
if "$TOP/scripts/rust-kobj.sh" test "$tmp/ibt.o" "$tmp/k612" >"$tmp/ibt.log" 2>&1 &&
        "$TOP/scripts/check-endbr.sh" "$tmp/ibt.o" >"$tmp/ibt.check" 2>&1; then
    ok "check-endbr accepts the object built with -Zcf-protection=branch"
    diag <"$tmp/ibt.check"
else
    not_ok "check-endbr accepts the object built with -Zcf-protection=branch"
    diag <"$tmp/ibt.log"; diag <"$tmp/ibt.check" 2>/dev/null || true
fi

if ! "$TOP/scripts/rust-kobj.sh" test "$tmp/plain.o" "$tmp/k61" >"$tmp/plain.log" 2>&1; then
    not_ok "check-endbr rejects the object built without -Zcf-protection (it did not build)"
    diag <"$tmp/plain.log"
    skip "every au_rs_* function named"
    tap_done
fi
rc=0
"$TOP/scripts/check-endbr.sh" "$tmp/plain.o" >"$tmp/plain.check" 2>&1 || rc=$?
# The same functions must be checked in both objects: all of them fail here.
want=$(sed -n 's/^check-endbr: .*: \([0-9]*\) functions must begin with endbr64 .*/\1/p' "$tmp/ibt.check" 2>/dev/null)
got=$(sed -n 's/.*; 0 do, \([0-9]*\) do not$/\1/p' "$tmp/plain.check")
if [ "$rc" = 1 ] && [ -n "$got" ] && [ "$got" = "$want" ]; then
    ok "check-endbr rejects the object built without -Zcf-protection: all $got functions"
else
    not_ok "check-endbr rejects the object built without -Zcf-protection (exit $rc, ${got:-?} of ${want:-?} rejected)"
fi
head -n 2 "$tmp/plain.check" | diag
missing=$(nm -g --defined-only "$tmp/plain.o" | awk '$2 == "T" && $3 ~ /^au_rs_/ { print $3 }' | sort -u |
    while read -r f; do grep -q "^  $f (" "$tmp/plain.check" || echo "$f"; done)
n=$(nm -g --defined-only "$tmp/plain.o" | awk '$2 == "T" && $3 ~ /^au_rs_/' | wc -l)
if [ -z "$missing" ] && [ "$n" -gt 0 ]; then
    ok "every au_rs_* function ($n) is named in the rejection"
else
    not_ok "every au_rs_* function is named in the rejection"; echo "${missing:-no au_rs_* functions}" | diag
fi
tap_done
