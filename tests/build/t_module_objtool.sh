#!/bin/bash
# Kbuild's objtool pass over a whole module, and its check
# (scripts/check-module-objtool.sh, run by kmod/Kbuild), on every installed
# kernel where Kbuild runs objtool over the linked module (IBT: 6.12).
# The module is the Rust object plus a stub C file defining the au_c_*
# functions it calls, with kmod/Kbuild's own check: so it needs no C shim
# for that kernel.  Three builds per kernel:
#   - the object rust-kobj.sh builds for it: objtool silent, check passes;
#   - an object built without -Zcf-protection: objtool warns about missing
#     ENDBRs, the check fails the build;
#   - the good object already run through objtool (what rust-kobj.sh did on
#     every kernel before): objtool skips the module, the check fails it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

kdirs=()
for k in /lib/modules/*/build; do
    [ -x "$k/tools/objtool/objtool" ] || continue
    [ "$("$TOP/scripts/kernel-objtool.sh" --mode "$k" 2>/dev/null)" = module ] && kdirs+=("$(cd "$k" && pwd -P)")
done
if [ "${#kdirs[@]}" = 0 ]; then
    tap_plan 1
    skip "no installed kernel where Kbuild runs objtool over the linked module (IBT)"
    tap_done
fi
tap_plan $((3 * ${#kdirs[@]}))

fake_kdir "$tmp/k61" "${CONFIG_LIKE_61[@]}"
plain_ok=y
"$TOP/scripts/rust-kobj.sh" test "$tmp/plain.o" "$tmp/k61" >"$tmp/plain.log" 2>&1 || plain_ok=

# modbuild NAME KDIR RUSTOBJ: the stub module in $tmp/NAME; Kbuild's output
# in $tmp/NAME.log, its exit code returned.
modbuild() {
    local d=$tmp/$1 kdir=$2 robj=$3
    mkdir -p "$d"
    {
        echo '// Stand-ins for the C shim: the Rust object calls these.'
        echo '#include <linux/module.h>'
        nm -u "$robj" | awk '$2 ~ /^au_c_/ { printf "void %s(void); void %s(void) { }\n", $2, $2 }'
        echo 'static int __init stub_init(void) { return 0; }'
        echo 'static void __exit stub_exit(void) { }'
        echo 'module_init(stub_init);'
        echo 'module_exit(stub_exit);'
        echo 'MODULE_LICENSE("GPL");'
    } >"$d/stub.c"
    # kmod/Kbuild with the stub instead of the shim's objects.
    awk '/^aufs-y :=/ { print "aufs-y := stub.o rust.o"; cont = /\\$/; next }
         cont { cont = /\\$/; next } { print }' "$TOP/kmod/Kbuild" >"$d/Kbuild"
    # Its probe rule (compat.h's .compat_probes.h) needs the probe source.
    cp "$TOP/kmod/compat_probes.c" "$d/"
    make -C "$kdir" M="$d" AU_RUST_OBJ="$robj" AU_TOP="$TOP" modules >"$tmp/$1.log" 2>&1
}

for kdir in "${kdirs[@]}"; do
    rel=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || basename "$kdir")
    n=$((${n:-0} + 1))
    good=$tmp/good$n.o
    if "$TOP/scripts/rust-kobj.sh" "$rel" "$good" "$kdir" >"$tmp/good$n.log" 2>&1 &&
            modbuild "ok$n" "$kdir" "$good" && [ -f "$tmp/ok$n/aufs.objtool-checked" ] &&
            ! grep -q 'warning: objtool' "$tmp/ok$n.log"; then
        ok "$rel: the module with the Rust object built for it: objtool silent, check passes"
        grep '^check-module-objtool' "$tmp/ok$n.log" | diag
    else
        not_ok "$rel: the module with the Rust object built for it"
        cat "$tmp/good$n.log" "$tmp/ok$n.log" 2>/dev/null | tail -n 30 | diag
        skip "$rel: an object processed twice (no good object)"
        skip "$rel: an object without -Zcf-protection (no good object)"
        continue
    fi

    if [ -z "$plain_ok" ]; then
        not_ok "$rel: an object without -Zcf-protection fails the module build (it did not build)"
        diag <"$tmp/plain.log"
    elif ! modbuild "plain$n" "$kdir" "$tmp/plain.o" &&
            grep -q "objtool's pass over aufs.o is not clean" "$tmp/plain$n.log"; then
        ok "$rel: an object without -Zcf-protection fails the module build ($(grep -c "^$tmp/plain$n/aufs.o: warning: objtool: .*ENDBR" "$tmp/plain$n.log") ENDBR warnings from Kbuild's objtool)"
    else
        not_ok "$rel: an object without -Zcf-protection fails the module build"
        tail -n 20 "$tmp/plain$n.log" | diag
    fi

    cp "$good" "$tmp/twice$n.o"
    # shellcheck disable=SC2046
    SRCARCH=x86 "$kdir/tools/objtool/objtool" $("$TOP/scripts/kernel-objtool.sh" --args "$kdir") \
        "$tmp/twice$n.o" >/dev/null 2>&1 || true
    if ! modbuild "twice$n" "$kdir" "$tmp/twice$n.o" &&
            grep -q 'was already processed by objtool' "$tmp/twice$n.log"; then
        ok "$rel: an object objtool already processed fails the module build"
        grep -m 2 'already has' "$tmp/twice$n.log" | diag || true
    else
        not_ok "$rel: an object objtool already processed fails the module build"
        tail -n 20 "$tmp/twice$n.log" | diag
    fi
done
tap_done
