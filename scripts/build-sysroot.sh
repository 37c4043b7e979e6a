#!/bin/bash
# Build core, alloc and a stub compiler_builtins for x86_64-unknown-none with
# Debian's rustc, into a sysroot cached per rustc version and flag set.
#   usage: build-sysroot.sh OUTDIR "FLAGS"   (prints the sysroot path)
# FLAGS are the kernel's Rust flags (scripts/kernel-rustflags.sh).  They go
# into the library crates as into ours: some are ABI-checked target
# modifiers (rustc refuses a mix), but others are not and would mix
# silently -- core built without -Zcf-protection has no endbr64 in the
# functions reached through its vtables (core::fmt), and those are called
# indirectly.
set -euo pipefail
RUSTC=${KRUSTC:-/usr/bin/rustc}
[ $# = 2 ] || { echo "usage: $0 OUTDIR FLAGS" >&2; exit 2; }
out=$1 flags=$2
ver=$("$RUSTC" --version | awk '{print $2}')
src=$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library
[ -d "$src/core" ] || src=/usr/src/rustc-$ver/library
here=$(cd "$(dirname "$0")" && pwd)
# The cache key: rustc version and everything that goes into the build.
key=$({ echo "$flags"; cat "$here/compiler_builtins.rs" "$0"; } | sha256sum | cut -c1-10)
sysroot=$out/sysroot-$ver-$key
lib=$sysroot/lib/rustlib/x86_64-unknown-none/lib
if [ -f "$lib/.complete" ]; then echo "$sysroot"; exit 0; fi
mkdir -p "$lib"
# Two builds wanting the same sysroot (make -j, a test next to a build):
# one builds it, the other waits and uses it.
exec 9>"$sysroot/.lock"
flock 9
if [ -f "$lib/.complete" ]; then echo "$sysroot"; exit 0; fi
echo "$flags" >"$sysroot/rustflags"
export RUSTC_BOOTSTRAP=1
# shellcheck disable=SC2086
"$RUSTC" --target x86_64-unknown-none --edition 2024 --crate-type rlib --crate-name core \
    $flags --cfg no_fp_fmt_parse -Zforce-unstable-if-unmarked \
    --sysroot /nonexistent -o "$lib/libcore.rlib" "$src/core/src/lib.rs" >&2
# shellcheck disable=SC2086
"$RUSTC" --target x86_64-unknown-none --edition 2021 --crate-type rlib --crate-name compiler_builtins \
    $flags -Zforce-unstable-if-unmarked --sysroot "$sysroot" \
    -o "$lib/libcompiler_builtins.rlib" "$here/compiler_builtins.rs" >&2
# shellcheck disable=SC2086
"$RUSTC" --target x86_64-unknown-none --edition 2024 --crate-type rlib --crate-name alloc \
    $flags -Zforce-unstable-if-unmarked --sysroot "$sysroot" \
    -o "$lib/liballoc.rlib" "$src/alloc/src/lib.rs" >&2
touch "$lib/.complete"
echo "$sysroot"
