#!/bin/bash
# Docker's aufs storage driver end to end: host side.
#
#   tests/docker/run.sh            (make test-docker; as root)
#
# Needs build/kmod/$KVER/aufs.ko (make KVER=... module) and build/docker-root/
# (scripts/docker-setup.sh).  KVER: the kernel to boot (default: scripts/kver.sh --default).
# Writes the test images (tests/docker/mkimage.py, docker-save archives, no
# network) into build/docker-images/ when they are missing or older than the
# generator, then boots one VM (scripts/vm-run.sh, 3 GiB) that runs
# tests/docker/guest-docker.sh.  Its exit status is the guest script's.
#
# Environment: DOCKER_E2E_FS (default tmpfs,ext4): the filesystems of the
# data roots, one dockerd run each; DOCKER_E2E_TIMEOUT (default 2400 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGES=$ROOT/build/docker-images
GEN=$ROOT/tests/docker/mkimage.py
DEEP="39 40 41 80 125 126"

KVER=${KVER:-$("$ROOT/scripts/kver.sh" --default)}
KO=$ROOT/build/kmod/$KVER/aufs.ko
[ -f "$KO" ] || { echo "run.sh: $KO missing (make KVER=$KVER module)" >&2; exit 1; }
[ -x "$ROOT/build/docker-root/usr/sbin/dockerd" ] ||
    { echo "run.sh: build/docker-root missing (scripts/docker-setup.sh)" >&2; exit 1; }

mkdir -p "$IMAGES"
gen() { # gen FILE ARGS...: (re)write FILE when missing or older than the generator
    local f=$1; shift
    if [ ! -f "$f" ] || [ ! -f "$f.expect" ] || [ "$GEN" -nt "$f" ]; then
        /usr/bin/python3 "$GEN" "$@"
    fi
}
gen "$IMAGES/base.tar" base "$IMAGES/base.tar"
for n in $DEEP; do
    gen "$IMAGES/deep$n.tar" deep "$IMAGES/deep$n.tar" --layers "$n"
done

export VM_CONSOLE_LOG=${VM_CONSOLE_LOG:-$ROOT/build/docker-vm-console.log}
rc=0
"$ROOT/scripts/vm-run.sh" --kver "$KVER" --memory 3G --timeout "${DOCKER_E2E_TIMEOUT:-2400}" -- \
    "$ROOT/tests/docker/guest-docker.sh" "$ROOT" "$IMAGES" "${DOCKER_E2E_FS:-tmpfs,ext4}" || rc=$?

exit "$rc"
