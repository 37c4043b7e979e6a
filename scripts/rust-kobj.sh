#!/bin/bash
# Build the Rust core for the kernel and collapse it into one relocatable
# object for Kbuild: cargo (Debian's rustc, our own core/alloc sysroot),
# ld -r keeping only what the au_rs_* entry points need, objtool where
# Kbuild would not run it, and the gates.
#   usage: rust-kobj.sh KVER OUT.o [KDIR]
# KDIR (default /lib/modules/KVER/build) is the kernel tree the module is
# built for: its configuration gives the code-generation flags
# (kernel-rustflags.sh) and says whether and how objtool runs
# (kernel-objtool.sh), and its objtool is the one used.  make test-debug
# passes its own debug kernel tree.
set -euo pipefail
kver=$1 out=$2
kdir=${3:-/lib/modules/$kver/build}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
[ -d "$kdir" ] || { echo "rust-kobj: no kernel tree $kdir" >&2; exit 1; }
# shellcheck source=scripts/kconfig.sh
. "$top/scripts/kconfig.sh"
kconfig_load "$kdir"

rflags=$("$top/scripts/kernel-rustflags.sh" "$kdir")
sysroot=$("$top/scripts/build-sysroot.sh" "$build" "$rflags")
# One cargo target directory per flag set: building for one kernel and then
# the other does not rebuild everything each time.
tdir=$build/kernel-target/$(echo "$rflags" | sha256sum | cut -c1-10)
mkdir -p "$tdir"
echo "$rflags" >"$tdir/rustflags"
flags="--sysroot=$sysroot $rflags"

RUSTC=${KRUSTC:-/usr/bin/rustc} RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$tdir \
CARGO_PROFILE_RELEASE_OPT_LEVEL=2 CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_ENCODED_RUSTFLAGS=$(echo "$flags" | tr ' ' '\037') \
    cargo rustc --quiet --release --lib -p aufs --target x86_64-unknown-none \
    --features kernel -- --emit=obj

# A plain object, not a staticlib: no rustc allocator shim (ffi/runtime.rs defines
# the allocator symbols itself).  The core and alloc objects it needs come
# from our sysroot's rlibs.
obj=$(ls -t "$tdir"/x86_64-unknown-none/release/deps/aufs-*.o | head -n 1)
lib=$sysroot/lib/rustlib/x86_64-unknown-none/lib
syms=$(nm -g --defined-only "$obj" | awk '$2 == "T" && $3 ~ /^au_rs_/ { print "-u", $3 }' | sort -u)
[ -n "$syms" ] || { echo "rust-kobj: no au_rs_* symbols in $obj" >&2; exit 1; }
# shellcheck disable=SC2086
ld -r $syms -o "$out.tmp" "$obj" --start-group "$lib/liballoc.rlib" "$lib/libcore.rlib" \
    "$lib/libcompiler_builtins.rlib" --end-group

# objtool exactly once, where Kbuild would run it on an object of its own.
objtool=$kdir/tools/objtool/objtool
rm -f "$out.objtool"
case $("$top/scripts/kernel-objtool.sh" --mode "$kdir") in
object)
    # Kbuild runs objtool per object but never on a prebuilt one: here.
    # SRCARCH: 6.12's objtool is a wrapper that picks the real binary by it.
    # shellcheck disable=SC2046
    if ! SRCARCH=x86 "$objtool" $("$top/scripts/kernel-objtool.sh" --args "$kdir") \
            "$out.tmp" 2> "$out.objtool"; then
        cat "$out.objtool" >&2; exit 1
    fi
    # objtool prints "Linked object detected, forcing --link" as an error
    # line; it is not one.  Anything else it says is.
    if grep -v 'Linked object detected' "$out.objtool" | grep -q .; then
        echo "rust-kobj: objtool warnings on the Rust object:" >&2
        grep -v 'Linked object detected' "$out.objtool" >&2
        exit 1
    fi ;;
module)
    # Kbuild runs objtool once over the linked aufs.o (C and Rust together);
    # had objtool already been here, that pass would skip the whole module.
    # scripts/check-module-objtool.sh checks that pass.
    done=$(objdump -h "$out.tmp" | awk '$2 ~ /^(\.orc_unwind|\.orc_unwind_ip|\.return_sites|\.retpoline_sites|\.call_sites|\.ibt_endbr_seal|\.static_call_sites)$/ { print $2 }')
    if [ -n "$done" ]; then
        echo "rust-kobj: the Rust object already has objtool's sections:" $done >&2
        exit 1
    fi ;;
none) ;;
esac

# With IBT, every Rust function C calls or that is called through a pointer
# must begin with endbr64.
if kconfig_on X86_KERNEL_IBT; then
    "$top/scripts/check-endbr.sh" "$out.tmp"
fi

# No SSE/AVX: the kernel does not save those registers for us (the same gate
# as on aufs.ko, here already for the Rust part alone).
n=$(objdump -d "$out.tmp" | grep -cE '%[xyz]mm[0-9]' || true)
[ "$n" = 0 ] || { echo "rust-kobj: $n SIMD instructions in the Rust object" >&2; exit 1; }

# Only kernel exports and the shim's own functions may be undefined.
bad=$(nm -u "$out.tmp" | awk '{print $2}' | grep -vxE \
    'memcpy|memset|memmove|memcmp|bcmp|strlen|__x86_return_thunk|__x86_indirect_thunk_r[a-z0-9]+|au_c_[a-z_0-9]+' || true)
if [ -n "$bad" ]; then
    echo "rust-kobj: undefined symbols outside the allow-list:" >&2
    echo "$bad" >&2
    exit 1
fi
mv "$out.tmp" "$out"
