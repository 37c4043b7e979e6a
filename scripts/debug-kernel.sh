#!/bin/bash
# Build (once, cached outside the repository) a debug kernel from Debian's
# linux-source-6.1: lockdep, KASAN, kmemleak, DEBUG_LIST, DEBUG_OBJECTS,
# DEBUG_ATOMIC_SLEEP, with everything the VM and the tests need built in.
#
#   scripts/debug-kernel.sh         (as root; prints the cache directory)
#
# The cache is $AUFS_DEBUG_KERNEL_CACHE (default /var/cache/aufs-debug-kernel)
# /<linux-source package version>/:
#   linux/        the kernel tree, built in place (KDIR for the module build)
#   vmlinuz-<release>  the bzImage to boot
#   build.log     output of the last configure + build
#   stamp         what the tree was built with (the fragment's hash)
# A second run with the same linux-source version and the same
# scripts/debug-kernel.config does nothing; a changed fragment reconfigures
# and rebuilds incrementally.  The configuration: virtme-ng's own
# (`virtme-configkernel --defconfig`, what `vng --kconfig` does) with
# scripts/debug-kernel.config merged over it (merge_config.sh), then checked.
# The build runs under `nice -n 19` (and idle I/O priority).
#
# Progress goes to stderr; the only stdout line is the cache directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRAGMENT=$ROOT/scripts/debug-kernel.config
VENV=$ROOT/build/venv
PKG=linux-source-6.1
TARBALL=/usr/src/$PKG.tar.xz
CACHE_ROOT=${AUFS_DEBUG_KERNEL_CACHE:-/var/cache/aufs-debug-kernel}
JOBS=${AUFS_DEBUG_KERNEL_JOBS:-$(nproc)}

say() { echo "debug-kernel: $*" >&2; }
die() { echo "debug-kernel: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs build packages, writes $CACHE_ROOT)"

# Build dependencies, installed only when missing.
DEPS=(bc bison flex libelf-dev libssl-dev xz-utils gcc make perl python3 cpio kmod file "$PKG")
missing=()
for p in "${DEPS[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${missing[@]}"; } </dev/null >&2 ||
        die "apt-get failed"
fi
[ -f "$TARBALL" ] || die "$TARBALL missing (package $PKG)"
[ -x "$VENV/bin/virtme-configkernel" ] || die "$VENV/bin/virtme-configkernel missing; run scripts/setup.sh"

srcver=$(dpkg-query -W -f='${Version}' "$PKG")
CACHE=$CACHE_ROOT/$srcver
TREE=$CACHE/linux
LOG=$CACHE/build.log
mkdir -p "$CACHE"

# One builder at a time per cache directory.
exec 9>"$CACHE/lock"
if ! flock -n 9; then
    say "waiting for another build in $CACHE"
    flock 9
fi

vngver=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("virtme-ng"))')
want=$( { cat "$FRAGMENT"; echo "virtme-ng $vngver"; sha256sum "$TARBALL" | cut -d' ' -f1; } |
        sha256sum | cut -d' ' -f1)

image() { ls "$CACHE"/vmlinuz-* 2>/dev/null | head -n 1; }

if [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$want" ] && [ -n "$(image)" ] &&
   [ -f "$TREE/Module.symvers" ] && [ -x "$TREE/tools/objtool/objtool" ]; then
    echo "$CACHE"
    exit 0
fi
rm -f "$CACHE/stamp"

NICE=(nice -n 19)
command -v ionice >/dev/null && NICE=(ionice -c 3 "${NICE[@]}")
t0=$(date +%s)

if [ ! -f "$TREE/Makefile" ]; then
    say "extracting $TARBALL ($srcver) into $TREE"
    rm -rf "$TREE" "$TREE.tmp"
    mkdir -p "$TREE.tmp"
    "${NICE[@]}" tar -xJf "$TARBALL" -C "$TREE.tmp" --strip-components=1
    mv "$TREE.tmp" "$TREE"
fi

: >"$LOG"
cd "$TREE"

# Configure: virtme-ng's config, our fragment over it, olddefconfig.
say "configuring (virtme-configkernel --defconfig + $(basename "$FRAGMENT"))"
{
    rm -f .config
    PATH=$VENV/bin:$PATH "${NICE[@]}" virtme-configkernel --defconfig
    "${NICE[@]}" scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
    "${NICE[@]}" make olddefconfig
} >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; die "configuration failed (log: $LOG)"; }

# Every line of the fragment must hold in the final .config.
bad=()
while IFS= read -r line; do
    case $line in
        CONFIG_*=*)
            grep -qxF -- "$line" .config || bad+=("want '$line', have '$(grep -E "^(# )?${line%%=*}[= ]" .config || echo unset)'") ;;
        "# CONFIG_"*" is not set")
            sym=${line#\# }; sym=${sym%% *}
            ! grep -qE "^$sym=" .config || bad+=("want '$line', have '$(grep -E "^$sym=" .config)'") ;;
    esac
done <"$FRAGMENT"
if [ "${#bad[@]}" -gt 0 ]; then
    printf 'debug-kernel: config mismatch: %s\n' "${bad[@]}" >&2
    die "the fragment does not hold after olddefconfig (a dependency is missing?)"
fi

say "building with -j$JOBS under nice -n 19 (log: $LOG); this takes a while"
if ! "${NICE[@]}" make -j"$JOBS" all >>"$LOG" 2>&1; then
    grep -nE 'error|Error' "$LOG" | tail -n 20 >&2 || true
    tail -n 30 "$LOG" >&2
    die "kernel build failed (log: $LOG)"
fi

# What the module needs from this kernel: the Rust object references the
# return thunk and the retpoline thunks, and rust-kobj.sh runs objtool.
for s in __x86_return_thunk __x86_indirect_thunk_rax memcpy memset; do
    grep -qw "$s" Module.symvers || die "$s is not exported by the debug kernel (Module.symvers)"
done
[ -x tools/objtool/objtool ] || die "tools/objtool/objtool was not built"
release=$(cat include/config/kernel.release)

rm -f "$CACHE"/vmlinuz-* "$CACHE"/config-*
cp arch/x86/boot/bzImage "$CACHE/vmlinuz-$release"
cp .config "$CACHE/config-$release"
echo "$want" >"$CACHE/stamp"
t1=$(date +%s)
say "built $CACHE/vmlinuz-$release in $(( (t1 - t0) / 60 )) min $(( (t1 - t0) % 60 )) s"
echo "$CACHE"
