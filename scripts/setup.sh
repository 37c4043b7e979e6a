#!/bin/bash
# Idempotent installer for everything the build and the VM test suite need.
#
#   scripts/setup.sh        (from any directory; CI runs it as root, no stdin)
#
# - Debian packages: installs only the missing ones (one `apt-get update`
#   first, and only when something has to be installed).
# - build/venv: a Python venv with virtme-ng pinned (provides `vng`).
# - build/kselftest/: kselftest.h and kselftest_harness.h extracted from
#   Debian's linux-source tarball (GPL-2.0, used in place, not vendored).
# - checks that scripts/kver.sh finds a 6.1 and a 6.12 kernel with image + headers.
#
# Prints the single line "setup: ok" when there was nothing to do.
# Not root and packages missing: prints the command to run, exits 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
VENV=$BUILD/venv
VNG_VERSION=1.42
KSELFTEST=$BUILD/kselftest
LINUX_SOURCE_PKG=linux-source-6.1

# The two kernel series the module is built and tested for: Debian 12's own
# (the linux-image-amd64 metapackage, 6.1) and 6.12 from Debian 12's
# security suite (the kernel of Debian 13).
KERNEL_612=(linux-image-6.12-amd64 linux-headers-6.12-amd64)

# Packages, by purpose:
#  kernel images + headers (always installed together), module build (gcc,
#  make, kmod; the headers package pulls in linux-kbuild and the matching
#  gcc-12; objtool comes prebuilt in the headers; dwarves for pahole, which
#  Kbuild runs for the module's BTF when the headers ship a vmlinux, as
#  6.12's do), Debian's rustc with its
#  library source (kernel-side Rust), libclang for bindgen, qemu + busybox +
#  cpio for virtme-ng, linux-source for the kselftest headers (xz-utils to
#  unpack it), python3-venv for build/venv; for the branch-filesystem and
#  fault tests in the guest (which sees the host's root filesystem):
#  e2fsprogs + xfsprogs (mkfs/fsck of the ext4 and xfs branch images),
#  squashfs-tools (mksquashfs: the live-system test's images, with
#  busybox-static as their root),
#  dmsetup (device-mapper tables of the fault tests), util-linux (losetup);
#  for make bench: fio (random 4 KiB reads; the bench skips that workload
#  without it) and python3-matplotlib (the plot, drawn on the host); for
#  make deb / test-packaging: dkms and cargo-web (what the aufs-dkms
#  package depends on beyond the above: Debian's cargo for its rustc-web;
#  rustup's stays first in PATH for host builds), man-db + groff-base (man
#  pages rendered and checked).
#  Installing never starts a service (see NO_SERVICES below).
PKGS=(
    linux-image-amd64 linux-headers-amd64
    "${KERNEL_612[@]}"
    gcc make kmod binutils libc6-dev dwarves
    rustc-web rust-web-src libclang-dev
    qemu-system-x86 busybox-static cpio
    "$LINUX_SOURCE_PKG" xz-utils
    python3 python3-venv
    e2fsprogs xfsprogs dmsetup util-linux squashfs-tools
    fio python3-matplotlib
    dkms cargo-web man-db groff-base
)

did=0
say() { echo "setup: $*"; did=1; }
die() { echo "setup: error: $*" >&2; exit 1; }

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${PKGS[@]}"; do
    is_installed "$p" || missing+=("$p")
done
# The image and headers metapackages go together; if no installed kernel has
# both an image and a build tree, (re)install both.
# The same for each series: its image and headers together, and a
# release with both (see scripts/kver.sh) for each.
kernel_missing() { # kernel_missing IMAGE-PKG HEADERS-PKG RELEASE-PREFIX
    is_installed "$1" && is_installed "$2" || return 0
    ! "$ROOT/scripts/kver.sh" 2>/dev/null | grep -q "^$3"
}
add_missing() {
    for p in "$@"; do
        case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
    done
}
if kernel_missing linux-image-amd64 linux-headers-amd64 6.1.; then
    add_missing linux-image-amd64 linux-headers-amd64
fi
if kernel_missing "${KERNEL_612[@]}" 6.12.; then
    add_missing "${KERNEL_612[@]}"
fi

APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: run as root:" >&2
        echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install ${APT_OPTS[*]} ${missing[*]}" >&2
        exit 1
    fi
    say "installing: ${missing[*]}"
    mkdir -p "$BUILD"
    log=$BUILD/setup-apt.log
    export DEBIAN_FRONTEND=noninteractive
    # NO_SERVICES: a package's maintainer scripts must not start services on
    # this machine (xfsprogs ships an xfs_scrub_all timer, for example):
    # while apt runs, policy-rc.d says "forbidden" (exit 101) to
    # invoke-rc.d and deb-systemd-invoke.  An existing policy-rc.d is kept.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/setup.sh: no service starts during installation\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    if ! { apt-get update -q && apt-get install "${APT_OPTS[@]}" "${missing[@]}"; } </dev/null >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "apt-get failed (full log: $log)"
    fi
    for p in "${missing[@]}"; do
        is_installed "$p" || die "package $p still not installed (log: $log)"
    done
    if [ "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
fi

# Kernel images and build trees of the same releases, one of each series.
KVERS=$("$ROOT/scripts/kver.sh") || die "no kernel with both /boot/vmlinuz-\$KVER and /lib/modules/\$KVER/build"
for series in 6.1. 6.12.; do
    grep -q "^$series" <<<"$KVERS" || die "no ${series%.} kernel with both /boot/vmlinuz-\$KVER and /lib/modules/\$KVER/build"
done

# virtme-ng in build/venv (Debian's python3, which has python3-venv).
venv_ok() {
    [ -x "$VENV/bin/vng" ] && [ -x "$VENV/bin/virtme-run" ] &&
        "$VENV/bin/python" -c 'import sys, importlib.metadata as m; sys.exit(m.version("virtme-ng") != sys.argv[1])' \
            "$VNG_VERSION" >/dev/null 2>&1
}
if ! venv_ok; then
    say "creating $VENV with virtme-ng==$VNG_VERSION"
    mkdir -p "$BUILD"
    log=$BUILD/setup-venv.log
    if ! { /usr/bin/python3 -m venv --clear "$VENV" &&
           "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "virtme-ng==$VNG_VERSION"; } </dev/null >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "venv creation failed (full log: $log)"
    fi
    venv_ok || die "virtme-ng $VNG_VERSION not usable in $VENV (log: $log)"
fi

# kselftest headers from Debian's linux-source tarball.
if [ ! -f "$KSELFTEST/kselftest.h" ] || [ ! -f "$KSELFTEST/kselftest_harness.h" ]; then
    tarball=
    for t in /usr/src/"$LINUX_SOURCE_PKG".tar.xz /usr/src/linux-source-*.tar.xz; do
        [ -f "$t" ] && { tarball=$t; break; }
    done
    [ -n "$tarball" ] || die "no /usr/src/linux-source-*.tar.xz (package $LINUX_SOURCE_PKG)"
    say "extracting kselftest headers from $tarball"
    mkdir -p "$BUILD"
    tmp=$(mktemp -d "$BUILD/.kselftest.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    tar -xJf "$tarball" -C "$tmp" --wildcards --strip-components=4 \
        '*/tools/testing/selftests/kselftest.h' \
        '*/tools/testing/selftests/kselftest_harness.h'
    [ -f "$tmp/kselftest.h" ] && [ -f "$tmp/kselftest_harness.h" ] || die "headers not found in $tarball"
    rm -rf "$KSELFTEST"
    mv "$tmp" "$KSELFTEST"
    chmod 755 "$KSELFTEST"
    trap - EXIT
fi

if [ "$did" = 1 ]; then
    echo "setup: ok (kernels: $(echo $KVERS))"
else
    echo "setup: ok"
fi
