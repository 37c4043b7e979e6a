#!/bin/bash
# Unpack Debian 12's Docker (docker.io 20.10, whose dockerd still has the aufs
# graphdriver), containerd, runc and tini into build/docker-root/, for the
# Docker end-to-end test in the VM (tests/docker/guest-docker.sh).
#
#   scripts/docker-setup.sh        (as root, no stdin; idempotent)
#
# Nothing is installed on this machine and no service is started: the .deb
# files are fetched with `apt-get download` into build/docker-debs/ and
# unpacked with `dpkg-deb -x` into build/docker-root/; the guest runs the
# binaries from build/docker-root/usr/{bin,sbin} (dockerd starts its own
# containerd, which finds containerd-shim-runc-v2 and runc on PATH).
# Their shared-library dependencies (libc6, libdevmapper1.02.1, libsystemd0,
# libseccomp2) must be installed on the host (the guest shares its root
# filesystem); they are checked, and installed with apt-get if missing.
# python3 (the image generator) and busybox-static (the images' root) come
# from scripts/setup.sh; they are checked here too, as are procps (pgrep)
# and e2fsprogs (the ext4 data root), which the guest script uses.
#
# Prints what it does; "docker-setup: ok" alone when there was nothing to do.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
DEBS=$BUILD/docker-debs
DROOT=$BUILD/docker-root
STAMP=$DROOT/.unpacked          # the list of .deb files unpacked, one a line

# The packages unpacked into build/docker-root (not installed).
UNPACK=(docker.io containerd runc tini)
# Runtime dependencies that must be installed on the host (shared with the
# guest); iptables is not needed (dockerd runs with --iptables=false).
HOSTDEPS=(libc6 libdevmapper1.02.1 libsystemd0 libseccomp2 python3 busybox-static procps e2fsprogs)

did=0
say() { echo "docker-setup: $*"; did=1; }
die() { echo "docker-setup: error: $*" >&2; exit 1; }

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

updated=0
apt_update() {
    [ "$updated" = 1 ] && return 0
    say "apt-get update"
    apt-get update -q </dev/null >"$BUILD/docker-setup-apt.log" 2>&1 ||
        { tail -n 20 "$BUILD/docker-setup-apt.log" >&2; die "apt-get update failed"; }
    updated=1
}

mkdir -p "$BUILD"

# 1. Host libraries the binaries link against.
missing=()
for p in "${HOSTDEPS[@]}"; do
    is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}; run as root: apt-get install ${missing[*]}"
    apt_update
    say "installing ${missing[*]} (libraries and tools only, no service)"
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/docker-setup.sh: no service starts during installation\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${missing[@]}" </dev/null >>"$BUILD/docker-setup-apt.log" 2>&1 ||
        { tail -n 20 "$BUILD/docker-setup-apt.log" >&2; die "apt-get install failed"; }
    if [ "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
fi

# 2. The .deb files (downloaded once; any version apt offers is fine, the
#    one that is there is kept).
have_debs() {
    local p
    for p in "${UNPACK[@]}"; do
        compgen -G "$DEBS/${p}_*.deb" >/dev/null || return 1
    done
}
if ! have_debs; then
    mkdir -p "$DEBS"
    get=()
    for p in "${UNPACK[@]}"; do
        compgen -G "$DEBS/${p}_*.deb" >/dev/null || get+=("$p")
    done
    say "apt-get download ${get[*]} into $DEBS"
    # As root, apt would drop to the _apt user, who cannot write here.
    if ! (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "${get[@]}") \
            </dev/null >>"$BUILD/docker-setup-apt.log" 2>&1; then
        apt_update
        (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "${get[@]}") \
            </dev/null >>"$BUILD/docker-setup-apt.log" 2>&1 ||
            { tail -n 20 "$BUILD/docker-setup-apt.log" >&2; die "apt-get download ${get[*]} failed"; }
    fi
    have_debs || die "downloads missing in $DEBS"
fi

# 3. Unpack (again only when the set of .deb files changed).
want=$(cd "$DEBS" && for p in "${UNPACK[@]}"; do ls "${p}"_*.deb | sort | tail -n 1; done)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ] ||
   [ ! -x "$DROOT/usr/sbin/dockerd" ]; then
    say "unpacking $(echo "$want" | tr '\n' ' ')into $DROOT"
    rm -rf "$DROOT.tmp"
    mkdir -p "$DROOT.tmp"
    while read -r deb; do
        dpkg-deb -x "$DEBS/$deb" "$DROOT.tmp"
    done <<<"$want"
    echo "$want" >"$DROOT.tmp/.unpacked"
    rm -rf "$DROOT"
    mv "$DROOT.tmp" "$DROOT"
fi

# 4. Every binary the guest needs is there and its libraries resolve.
for b in usr/sbin/dockerd usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2 \
         usr/sbin/runc usr/bin/docker-init; do
    [ -x "$DROOT/$b" ] || die "$DROOT/$b missing after unpacking"
done
for b in usr/sbin/dockerd usr/bin/containerd usr/sbin/runc; do
    if ldd "$DROOT/$b" 2>/dev/null | grep -q 'not found'; then
        die "$DROOT/$b: $(ldd "$DROOT/$b" | grep 'not found' | tr -s ' \t' ' ')"
    fi
done
[ -x /bin/busybox ] || die "/bin/busybox missing (busybox-static)"

if [ "$did" = 1 ]; then
    echo "docker-setup: ok ($("$DROOT/usr/bin/docker" --version 2>/dev/null || echo docker))"
else
    echo "docker-setup: ok"
fi
