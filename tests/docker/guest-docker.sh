#!/bin/bash
# Docker's own aufs storage driver end to end, run as root INSIDE the test VM
# (tests/docker/run.sh boots it with scripts/vm-run.sh).
#
#   tests/docker/guest-docker.sh <repo-root> <images-dir> [tmpfs,ext4]
#
# Uses Debian 12's dockerd 20.10 (which still has the aufs graphdriver),
# containerd and runc, unpacked by scripts/docker-setup.sh into
# <repo>/build/docker-root, and the docker-save archives that
# tests/docker/mkimage.py wrote into <images-dir> (no network: nothing is
# pulled).  For each filesystem named (default: tmpfs, then ext4 on a loop
# device) it puts a data root there, starts containerd and
#   dockerd --storage-driver=aufs --bridge=none --iptables=false --ip-masq=false
# and checks: docker info; load + run; a container that deletes, creates,
# appends and replaces a directory; docker diff; the rw layer on disk; commit;
# save (aufs whiteouts, no temporary or metadata names of the module);
# docker build (classic builder) with mv of a lower directory and hard links;
# images of 39, 40, 41, 80 and 125 layers on tmpfs, 41 on ext4 (loaded in the
# background while the checks before run; union view, /sys/fs/aufs branch
# list in Docker's order, 127 branches) and "max depth exceeded" beyond 125;
# eight containers started and removed concurrently; an fd held in a union
# that `docker rm -f` detaches and deletes; dockerd stopped with SIGTERM and
# with SIGKILL, restarted, containers started again; removal of everything
# leaves aufs/diff, layers and mnt empty; pseudo-links: a container that
# changes a hard-linked file, docker stop (dockerd runs auplink flush): no
# pseudo-link left in its writable layer, every name a real link there, and
# no "auplink flush failed" in any dockerd log.  After each filesystem and at the
# end: no oops/BUG/WARNING/lockdep... in dmesg (BAD_RE of
# tests/vm/kernel-check.sh), no taint beyond 4096|8192.
#
# Output: "ok N name" / "not ok N name" with "# " detail lines, and as the
# last line "N passed, N failed".  Exit 0 only with no failure.
#
# AppArmor: Debian's kernel enables it; dockerd and runc use it when
# /sys/kernel/security/apparmor exists, and then need the docker-default
# profile, which cannot be loaded here (no apparmor_parser).  The VM has
# nothing else confined, so securityfs is unmounted for this run: Docker then
# sees no AppArmor (as on a host booted with apparmor=0).
set -u
export LC_ALL=C

# Run from a copy: bash reads a script as it goes, and this one lives in the
# host's working tree, where it may be edited while the VM runs.
if [ -z "${GUEST_DOCKER_COPY:-}" ]; then
    cp "$0" /tmp/guest-docker.sh.run && GUEST_DOCKER_COPY=1 exec bash /tmp/guest-docker.sh.run "$@"
fi

if [ $# -lt 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
    echo "usage: $0 <repo-root> <images-dir> [filesystems]" >&2
    exit 2
fi
REPO=$(cd "$1" && pwd)
IMAGES=$(cd "$2" && pwd)
IFS=', ' read -r -a FILESYSTEMS <<<"${3:-tmpfs,ext4}"
KO=${AUFS_KO:-$REPO/build/kmod/$(uname -r)/aufs.ko}
DROOT_PKG=$REPO/build/docker-root
HOLDFD=$REPO/tests/docker/holdfd.py
T_START=$(date +%s)

SOCK=/run/e2e-docker.sock
CTRD_SOCK=/run/e2e-containerd/containerd.sock
export DOCKER_HOST=unix://$SOCK
export DOCKER_BUILDKIT=0
DK_TIMEOUT=${DK_TIMEOUT:-300}
# Image depths per data-root filesystem.  Every layer of `docker load` costs
# a re-exec of dockerd (chrootarchive), seconds under TCG, so the 125-layer
# chain (and the 126-layer "max depth exceeded") is loaded on tmpfs only;
# ext4 gets the 41-layer image (a first mount(2) and 3 appends by remount).
DEEP_TMPFS=${DOCKER_E2E_DEEP_TMPFS:-39 40 41 80 125}
DEEP_OTHER=${DOCKER_E2E_DEEP_OTHER:-41}

WORK=/tmp/docker-e2e
mkdir -p "$WORK"
mount -t tmpfs -o mode=0755,size=2600m docker-e2e "$WORK" || { echo "Bail out! tmpfs $WORK"; exit 1; }
export DOCKER_CONFIG=$WORK/client-config HOME=$WORK
KLOG=$WORK/dmesg.log

# The binaries run from a tmpfs copy: executed from the host's root over 9p
# (no page cache) a Go binary takes tens of seconds to start under TCG.
mkdir -p "$WORK/bin"
for b in usr/bin/docker usr/sbin/dockerd usr/bin/containerd usr/bin/containerd-shim-runc-v2 \
         usr/sbin/runc usr/bin/tini-static; do
    cp "$DROOT_PKG/$b" "$WORK/bin/" || { echo "Bail out! cannot copy $DROOT_PKG/$b"; exit 1; }
done
ln -s tini-static "$WORK/bin/docker-init"
# dockerd's aufs driver runs `auplink <mountpoint> flush` before each unmount.
for b in auplink auchk; do
    cp "$REPO/target/release/$b" "$WORK/bin/" || { echo "Bail out! cannot copy $REPO/target/release/$b (make tool)"; exit 1; }
done
export PATH=$WORK/bin:/usr/sbin:/usr/bin:/sbin:/bin

N=0 PASS=0 FAIL=0
PFX=""                        # "[tmpfs] " etc.
ok() { N=$((N + 1)); PASS=$((PASS + 1)); echo "ok $N $PFX$1"; }
notok() {                     # notok NAME [DETAIL...] (each detail may be multi-line)
    local name=$1 l; shift
    N=$((N + 1)); FAIL=$((FAIL + 1))
    echo "not ok $N $PFX$name"
    for l in "$@"; do printf '%s\n' "$l" | head -n 80 | sed 's/^/# /'; done
}
section() { echo "# --- $1 (t=$(elapsed) s)"; }
note() { printf '%s\n' "$@" | sed 's/^/# /'; }
elapsed() { echo $(( $(date +%s) - T_START )); }

dk() { timeout -k 10 "$DK_TIMEOUT" docker "$@"; }

# ---------------------------------------------------------------- kernel log
# BAD_RE, ALLOWED_TAINT, new_kernel_lines, taint, kernel_news
. "$REPO/tests/vm/kernel-check.sh"
TAINT_BASE=$(taint)
check_kernel() {             # check_kernel WHAT
    kernel_news
    if [ ${#KNEWS_PROBLEMS[@]} = 0 ]; then
        ok "kernel clean after $1 (dmesg, taint $KNEWS_TAINT)"
    else
        notok "kernel clean after $1" "${KNEWS_PROBLEMS[@]}"
    fi
}

# ---------------------------------------------------------------- daemons
CTRD_PID= DOCKERD_PID= DLOG= CLOG= DROOT= AUFS= NSTART=0
start_containerd() {
    CLOG=$WORK/containerd-$FS.log
    mkdir -p /run/e2e-containerd
    cat >"$WORK/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd-e2e-$FS"
state = "/run/e2e-containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$CTRD_SOCK"
EOF
    containerd --config "$WORK/containerd.toml" >>"$CLOG" 2>&1 &
    CTRD_PID=$!
    local i
    for i in $(seq 90); do
        [ -S "$CTRD_SOCK" ] && return 0
        kill -0 "$CTRD_PID" 2>/dev/null || break
        sleep 2
    done
    return 1
}
stop_containerd() {
    [ -n "$CTRD_PID" ] || return 0
    kill -TERM "$CTRD_PID" 2>/dev/null
    local i
    for i in $(seq 60); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL "$CTRD_PID" 2>/dev/null
    wait "$CTRD_PID" 2>/dev/null
    CTRD_PID=
    # Shims of containers that are gone exit by themselves; any left is killed.
    pkill_shims
}
pkill_shims() {
    local p
    for p in $(pgrep -x containerd-shim-runc-v2 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}
start_dockerd() {
    NSTART=$((NSTART + 1))
    DLOG=$WORK/dockerd-$FS-$NSTART.log
    dockerd --storage-driver=aufs --bridge=none --iptables=false --ip-masq=false \
        --userland-proxy=false --data-root "$DROOT" --exec-root /run/e2e-docker \
        --pidfile /run/e2e-docker.pid --containerd "$CTRD_SOCK" -H "unix://$SOCK" \
        >"$DLOG" 2>&1 &
    DOCKERD_PID=$!
    local i
    for i in $(seq 120); do
        timeout 20 docker version >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 2
    done
    return 1
}
stop_dockerd() {             # stop_dockerd SIGNAL: 0 when dockerd ended within 120 s
    local sig=$1 i
    [ -n "$DOCKERD_PID" ] || return 0
    kill "-$sig" "$DOCKERD_PID" 2>/dev/null
    for i in $(seq 120); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
        kill -KILL "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
        DOCKERD_PID=
        return 1
    fi
    wait "$DOCKERD_PID" 2>/dev/null
    DOCKERD_PID=
    return 0
}
dlog_tail() { echo "dockerd log ($DLOG), last lines:"; tail -n 15 "$DLOG" 2>/dev/null; }

# ---------------------------------------------------------------- helpers
has_125() { [[ " ${DEEP[*]} " == *" 125 "* ]]; }
aufs_mounts() { awk '$3 == "aufs" { print $2 }' /proc/self/mounts; }
mount_id() {                 # mount_id CONTAINER-ID (full): the aufs id of its rw layer
    cat "$DROOT/image/aufs/layerdb/mounts/$1/mount-id" 2>/dev/null
}
si_of() {                    # si_of MOUNTPOINT: the si= of that aufs mount
    awk -v m="$1" '$3 == "aufs" && $2 == m { print $4 }' /proc/self/mounts |
        tr ',' '\n' | sed -n 's/^si=//p' | head -n 1
}
branches_of() {              # branches_of SI: br0, br1, ... one a line
    local i=0
    while [ -e "/sys/fs/aufs/si_$1/br$i" ]; do
        cat "/sys/fs/aufs/si_$1/br$i"
        i=$((i + 1))
    done
}
expected_branches() {        # Docker's order: rw layer, then layers/<id> (-init first)
    echo "$AUFS/diff/$1=rw"
    sed "s|^|$AUFS/diff/|; s|\$|=ro+wh|" "$AUFS/layers/$1"
}
wait_ready() {               # wait_ready MOUNT-ID: until the container made /ready (120 s)
    local i
    [ -n "$1" ] || return 1
    for i in $(seq 240); do
        [ -e "$AUFS/mnt/$1/ready" ] && return 0
        sleep 0.5
    done
    return 1
}
wait_lines() {               # wait_lines FILE N: until FILE has N lines (120 s)
    local i
    for i in $(seq 240); do
        [ "$(wc -l <"$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.5
    done
    return 1
}
same() {                     # same NAME EXPECTED ACTUAL [CMD]
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        notok "$1" ${4:+"command: $4"} "expected vs got (diff -u):" \
            "$(diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3)"
    fi
}
# Names that must never be in a layer tar: aufs's own metadata (made by the
# real aufs at a branch's root) and this module's temporary names.
FORBIDDEN_RE='(^|/)\.wh\.\.wh\.(aufs|plnk|orph|cpup|rmdir|tmp)|(^|/)\.wh\.\.wh\.[^.]'
layer_names() {              # layer_names SAVE.tar: "top<TAB>name" / "lower<TAB>name"
    python3 - "$1" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
layers = json.load(t.extractfile("manifest.json"))[0]["Layers"]
for i, l in enumerate(layers):
    for m in tarfile.open(fileobj=t.extractfile(l)).getmembers():
        print("%s\t%s" % ("top" if i == len(layers) - 1 else "lower%d" % (i + 1), m.name.rstrip("/")))
EOF
}
check_no_temp_names() {      # check_no_temp_names NAME NAMES-TEXT
    local bad
    bad=$(printf '%s\n' "$2" | cut -f2 | grep -E "$FORBIDDEN_RE" || true)
    if [ -z "$bad" ]; then
        ok "$1"
    else
        notok "$1" "forbidden names in the layer tars:" "$bad"
    fi
}
check_no_leftovers() {       # check_no_leftovers NAME MOUNT-ID...: gone from mounts and disk
    local name=$1 m bad=() mp
    shift
    for m in "$@"; do
        mp=$AUFS/mnt/$m
        aufs_mounts | grep -qxF "$mp" && bad+=("still mounted: $mp")
        for d in diff/$m diff/$m-init layers/$m layers/$m-init mnt/$m mnt/$m-init; do
            [ -e "$AUFS/$d" ] && bad+=("still there: $AUFS/$d")
        done
    done
    local rem
    rem=$(ls -d "$AUFS"/diff/*-removing "$AUFS"/mnt/*-removing 2>/dev/null || true)
    [ -z "$rem" ] || bad+=("-removing directories: $rem")
    if [ "${#bad[@]}" = 0 ]; then ok "$name"; else notok "$name" "${bad[@]}"; fi
}

# ---------------------------------------------------------------- set-up
echo "# guest-docker: kernel $(uname -r), repo $REPO, images $IMAGES, filesystems: ${FILESYSTEMS[*]}"
echo "# $(docker --version 2>&1); $(containerd --version 2>&1 | cut -d' ' -f1-3); $(runc --version 2>&1 | head -n 1)"
new_kernel_lines >/dev/null
echo "# baseline taint: $TAINT_BASE"

if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    ok "cgroup2 at /sys/fs/cgroup (mounted by virtme-ng)"
elif mount -t cgroup2 none /sys/fs/cgroup 2>"$WORK/cg.err"; then
    ok "cgroup2 mounted at /sys/fs/cgroup"
else
    notok "cgroup2 at /sys/fs/cgroup" "$(cat "$WORK/cg.err")" "$(grep cgroup /proc/self/mounts)"
fi

if [ -e /sys/kernel/security/apparmor ]; then
    if umount /sys/kernel/security 2>"$WORK/aa.err" && [ ! -e /sys/kernel/security/apparmor ]; then
        ok "AppArmor out of Docker's way (securityfs unmounted; apparmor enabled=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null))"
    else
        notok "AppArmor out of Docker's way" "umount /sys/kernel/security: $(cat "$WORK/aa.err")"
    fi
else
    ok "AppArmor out of Docker's way (no /sys/kernel/security/apparmor)"
fi

insmod_ok=0
if grep -qw aufs /proc/filesystems; then
    notok "insmod aufs.ko" "aufs is already registered"
elif out=$(insmod "$KO" 2>&1); then
    insmod_ok=1
    ok "insmod aufs.ko"
else
    notok "insmod aufs.ko" "$out"
fi

for f in base.tar deep39.tar deep40.tar deep41.tar deep80.tar deep125.tar deep126.tar; do
    [ -f "$IMAGES/$f" ] && [ -f "$IMAGES/$f.expect" ] || notok "image archive $f" "missing in $IMAGES (tests/docker/run.sh writes them)"
done

# ================================================================= checks
# One whole run: data root on $FS.
run_fs() {
    FS=$1
    PFX="[$FS] "
    local -a DEEP
    local pids=()
    if [ "$FS" = tmpfs ]; then read -r -a DEEP <<<"$DEEP_TMPFS"; else read -r -a DEEP <<<"$DEEP_OTHER"; fi
    local t0 out rc exp got mid mid2 si n cid i
    t0=$(date +%s)
    echo "# ===== data root on $FS ($(elapsed) s) ====="
    # Docker's default data root: branch paths as long as on a real host, so
    # that the first mount(2) holds as many branches as there (38 image
    # layers: 39, 40 and 41 layers need 1, 2, 3 appends by remount).
    DROOT=/var/lib/docker
    mkdir -p "$DROOT"
    case $FS in
    tmpfs)
        mount -t tmpfs -o mode=0755,size=1500m "e2e-$FS" "$DROOT" ||
            { notok "data root on tmpfs" "mount failed"; return 1; } ;;
    ext4)
        modprobe loop 2>/dev/null
        LOOPDEV=
        if truncate -s 2G "$WORK/ext4.img" && mkfs.ext4 -q -F "$WORK/ext4.img" &&
           LOOPDEV=$(losetup -f --show "$WORK/ext4.img") && mount "$LOOPDEV" "$DROOT"; then
            :
        else
            notok "data root on ext4 (loop device)" "modprobe loop / mkfs.ext4 / losetup / mount failed"
            [ -z "$LOOPDEV" ] || losetup -d "$LOOPDEV"
            return 1
        fi ;;
    *) notok "data root on $FS" "unknown filesystem"; return 1 ;;
    esac
    AUFS=$DROOT/aufs
    ok "data root on $FS: $DROOT"

    if ! start_containerd; then
        notok "containerd starts" "$(tail -n 20 "$CLOG")"
        return 1
    fi
    if ! start_dockerd; then
        notok "dockerd --storage-driver=aufs starts" "$(dlog_tail)"
        stop_dockerd KILL; stop_containerd
        return 1
    fi
    ok "containerd and dockerd --storage-driver=aufs started ($(( $(date +%s) - t0 )) s)"

    # --- docker info
    section "docker info"
    out=$(dk info 2>&1)
    local bfs=tmpfs; [ "$FS" = ext4 ] && bfs=extfs
    if grep -qx ' Storage Driver: aufs' <<<"$out" && grep -qx '  Dirperm1 Supported: true' <<<"$out" &&
       grep -qx "  Backing Filesystem: $bfs" <<<"$out"; then
        ok "docker info: Storage Driver: aufs, Dirperm1 Supported: true, Backing Filesystem: $bfs"
    else
        notok "docker info: Storage Driver: aufs, Dirperm1 Supported: true" "$(grep -A8 'Storage Driver' <<<"$out" || echo "$out")"
    fi
    note "docker info: $(grep -A5 'Storage Driver' <<<"$out" | tr -s ' ' | tr '\n' ';')"
    note "docker info: $(grep -E 'Security Options|Cgroup (Driver|Version)' -A2 <<<"$out" | tr -s ' ' | tr '\n' ';')"

    # --- docker load + run
    section "docker load + run"
    local t1; t1=$(date +%s)
    if out=$(dk load -i "$IMAGES/base.tar" 2>&1); then
        ok "docker load of the 3-layer base image ($(( $(date +%s) - t1 )) s)"
    else
        notok "docker load of the 3-layer base image" "$out"
    fi
    # The deep images load in the background while the checks below run:
    # dockerd re-executes itself for every layer it applies (chrootarchive),
    # seconds each under TCG, by far the longest part of the run.
    local bg_load=
    if [ "${#DEEP[@]}" -gt 0 ]; then
        (
            t=$(date +%s)
            # A deep image is dozens of re-execs: three times the usual
            # limit, so that a loaded machine is not taken for a hang.
            for n in "${DEEP[@]}" $(has_125 && echo 126); do
                DK_TIMEOUT=$((DK_TIMEOUT * 3)) dk load -i "$IMAGES/deep$n.tar" >"$WORK/load$n.out" 2>&1
                echo $? >"$WORK/load$n.rc"
            done
            echo $(( $(date +%s) - t )) >"$WORK/load.secs"
        ) &
        bg_load=$!
        note "loading the ${DEEP[*]}$(has_125 && echo ' and 126')-layer images in the background"
    fi

    exp=$(cat "$IMAGES/base.tar.expect")
    got=$(dk run --rm --network none aufs-base sh -c 'find /data | sort; cat /data/keep.txt /data/append.txt' 2>&1)
    same "docker run --rm --network none: the union of the loaded layers (whiteout, opaque dir)" "$exp" "$got"

    # --- a container that deletes, creates, appends, replaces a directory
    section "a container that deletes, creates, appends, replaces a directory"
    cid=$(dk create --name mut --network none aufs-base sh -c \
        'rm /data/del.txt && echo new > /data/new.txt && echo line2 >> /data/append.txt &&
         rm -rf /data/d && mkdir /data/d && echo fresh > /data/d/fresh && ls -a /data/d' 2>&1)
    out=$(dk start -a mut 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [ "$out" = $'.\n..\nfresh' ]; then
        ok "container: rm, create, append to a lower file, rm -rf + mkdir of a lower directory"
    else
        notok "container: rm, create, append to a lower file, rm -rf + mkdir of a lower directory" "rc=$rc" "$out"
    fi
    # What Docker's aufs driver (pkg/archive changes(): each .wh.<name> is a
    # deletion, so the opaque marker d/.wh..wh..opq shows as "D /data/d/.wh..opq")
    # reports for the layer the real aufs writes for these operations.
    exp=$(printf '%s\n' "C /data" "A /data/new.txt" "D /data/del.txt" "C /data/append.txt" \
        "C /data/d" "D /data/d/.wh..opq" "A /data/d/fresh" | sort)
    got=$(dk diff mut 2>&1 | sort)
    same "docker diff: exactly the expected changes" "$exp" "$got" "docker diff mut"
    mid=$(mount_id "$cid")
    exp=$(printf '%s\n' data data/.wh.del.txt data/append.txt data/d data/d/.wh..wh..opq data/d/fresh data/new.txt)
    got=$(cd "$AUFS/diff/$mid" 2>/dev/null && find . -mindepth 1 | sed 's|^\./||' |
          grep -vxE '\.wh\.\.wh\.(aufs|plnk|orph)' | sort)
    same "the container's rw layer on disk (aufs/diff/<id>): exactly whiteout, opaque marker, new files" "$exp" "$got" \
        "find $AUFS/diff/$mid"

    # --- commit, a container of the committed image
    section "commit, a container of the committed image"
    if out=$(dk commit mut aufs-mut:1 2>&1); then ok "docker commit"; else notok "docker commit" "$out"; fi
    exp=$(printf '%s\n' /data /data/append.txt /data/d /data/d/fresh /data/hl.txt /data/keep.txt \
        /data/layer3.txt /data/mvdir /data/mvdir/sub /data/mvdir/sub/y /data/mvdir/x /data/new.txt \
        /data/opqdir /data/opqdir/new line1 line2 new fresh)
    got=$(dk run --rm --network none aufs-mut:1 sh -c \
        'find /data | sort; cat /data/append.txt /data/new.txt /data/d/fresh' 2>&1)
    same "a container of the committed image sees the changes" "$exp" "$got"

    # --- save: aufs whiteouts in the layer tars, no metadata/temporary names
    section "save: aufs whiteouts in the layer tars, no metadata/temporary names"
    if out=$(dk save -o "$WORK/mut.tar" aufs-mut:1 2>&1); then
        local names; names=$(layer_names "$WORK/mut.tar" 2>&1)
        exp=$(printf '%s\n' data data/.wh.del.txt data/append.txt data/d data/d/.wh..wh..opq data/d/fresh data/new.txt)
        got=$(printf '%s\n' "$names" | awk -F'\t' '$1 == "top" { print $2 }' | sort)
        same "docker save: the committed layer is .wh.del.txt, d/.wh..wh..opq and the new files" "$exp" "$got"
        check_no_temp_names "docker save: no .wh..wh.aufs/plnk/orph, no temporary .wh..wh.* names" "$names"
    else
        notok "docker save" "$out"
    fi
    dk rm mut >/dev/null 2>&1

    # --- docker build (classic builder): mv of a lower directory, hard links
    section "docker build (classic builder): mv of a lower directory, hard links"
    mkdir -p "$WORK/ctx-$FS"
    cat >"$WORK/ctx-$FS/Dockerfile" <<'EOF'
FROM aufs-base
RUN mv /data/mvdir /data/moved && test ! -e /data/mvdir && cat /data/moved/x /data/moved/sub/y
RUN ln /data/hl.txt /data/hl2.txt && echo more >> /data/hl2.txt && test "$(stat -c %h /data/hl.txt)" = 2
RUN mkdir -p /data/newdir/deep && echo nd > /data/newdir/deep/f && rm /data/keep.txt && mv /data/d/sub /data/dsub
RUN mv /data/moved /data/moved2 && ln /data/moved2/x /data/moved2/x2 && rm -rf /data/opqdir && mkdir /data/opqdir && echo o > /data/opqdir/o
EOF
    t1=$(date +%s)
    if out=$(dk build --network none -t aufs-built "$WORK/ctx-$FS" 2>&1); then
        ok "docker build (DOCKER_BUILDKIT=0, --network none, 4 RUN steps: mv of lower directories, ln) ($(( $(date +%s) - t1 )) s)"
    else
        notok "docker build (DOCKER_BUILDKIT=0, --network none, 4 RUN steps)" "$(tail -n 30 <<<"$out")"
    fi
    exp=$(printf '%s\n' /data /data/append.txt /data/d /data/d/a /data/d/b /data/del.txt /data/dsub \
        /data/dsub/c /data/hl.txt /data/hl2.txt /data/layer3.txt /data/moved2 /data/moved2/sub \
        /data/moved2/sub/y /data/moved2/x /data/moved2/x2 /data/newdir /data/newdir/deep \
        /data/newdir/deep/f /data/opqdir /data/opqdir/o \
        'hard link me' more 'hard link me' more x c y '2 2' same-inode '2 2' same-inode)
    got=$(dk run --rm --network none aufs-built sh -c '
        find /data | sort; cat /data/hl.txt /data/hl2.txt /data/moved2/x2 /data/dsub/c /data/moved2/sub/y
        echo $(stat -c %h /data/hl.txt /data/hl2.txt)
        [ "$(stat -c %i /data/hl.txt)" = "$(stat -c %i /data/hl2.txt)" ] && echo same-inode
        echo $(stat -c %h /data/moved2/x /data/moved2/x2)
        [ "$(stat -c %i /data/moved2/x)" = "$(stat -c %i /data/moved2/x2)" ] && echo same-inode' 2>&1)
    same "a container of the built image: moved directories, hard links (same inode, 2 links)" "$exp" "$got"
    if out=$(dk save -o "$WORK/built.tar" aufs-built 2>&1); then
        local names; names=$(layer_names "$WORK/built.tar" 2>&1)
        check_no_temp_names "docker save of the built image: no .wh..wh.aufs/plnk/orph/temporary names" "$names"
        if grep -qxP 'lower4\tdata/\.wh\.mvdir' <<<"$names" && grep -qxP 'lower4\tdata/moved/sub/y' <<<"$names"; then
            ok "docker save of the built image: the mv layer has data/.wh.mvdir and data/moved/"
        else
            notok "docker save of the built image: the mv layer has data/.wh.mvdir and data/moved/" \
                "$(grep -P '^lower4\t' <<<"$names")"
        fi
    else
        notok "docker save of the built image" "$out"
    fi

    # --- pseudo-links: dockerd runs auplink flush before it unmounts
    section "pseudo-links: docker stop flushes them (auplink on dockerd's PATH)"
    # An image whose layer holds two names of one file (the built image's
    # hl.txt and hl2.txt, or a commit of a container that links them).
    local plimg=aufs-built
    if ! dk image inspect aufs-built >/dev/null 2>&1; then
        plimg=aufs-plk
        dk rm -f plkmk >/dev/null 2>&1
        dk run --name plkmk --network none aufs-base sh -c 'ln /data/hl.txt /data/hl2.txt' >/dev/null 2>&1 &&
            dk commit plkmk aufs-plk >/dev/null 2>&1 || note "could not make aufs-plk"
        dk rm -f plkmk >/dev/null 2>&1
    fi
    cid=$(dk run -d --name plk --network none "$plimg" sh -c \
        "echo plk >> /data/hl.txt; touch /ready; trap 'exit 0' TERM; sleep 600 & wait" 2>&1)
    mid=$(mount_id "$cid")
    local pl=$AUFS/diff/$mid/.wh..wh.plnk
    if wait_ready "$mid"; then
        local n1 n2 h
        n1=$(ls -A "$pl" 2>/dev/null | wc -l)
        dk stop -t 5 plk >/dev/null 2>&1
        n2=$(ls -A "$pl" 2>/dev/null | wc -l)
        h=$(stat -c '%h %i' "$AUFS/diff/$mid/data/hl.txt" "$AUFS/diff/$mid/data/hl2.txt" 2>&1 | tr '\n' ' ')
        if [ "$n1" -ge 1 ] && [ "$n2" = 0 ] && [ "$(tail -n 1 "$AUFS/diff/$mid/data/hl2.txt" 2>&1)" = plk ] &&
            [ "$(echo $h | awk '{print $1, $3, ($2 == $4)}')" = "2 2 1" ]; then
            ok "docker stop: the pseudo-link is flushed ($n1 before, none after), both names real links in the rw layer"
        else
            notok "docker stop: the pseudo-link is flushed" "pseudo-links before: $n1, after: $n2" \
                "rw layer hl.txt, hl2.txt (links, inode): $h" "$(grep -i auplink "$DLOG" | tail -n 5)"
        fi
        got=$(dk start plk >/dev/null 2>&1 && wait_ready "$mid" &&
            dk exec plk sh -c 'tail -n 1 /data/hl2.txt; echo $(stat -c %h /data/hl.txt /data/hl2.txt)' 2>&1)
        same "docker start again: the change at both names, 2 links" "$(printf 'plk\n2 2')" "$got"
    else
        notok "a container that changes a hard-linked lower file" "$cid" "$(dk logs plk 2>&1 | tail -n 5)"
    fi
    dk rm -f plk >/dev/null 2>&1
    [ "$plimg" = aufs-built ] || dk rmi aufs-plk >/dev/null 2>&1

    # --- eight containers at once, then removed at once
    section "eight containers at once, then removed at once"
    t1=$(date +%s)
    pids=()
    for i in 1 2 3 4 5 6 7 8; do
        dk run -d --name "cc$i" --network none aufs-base sh -c \
            "echo $i > /data/c; cat /data/c; touch /ready; trap 'exit 0' TERM; sleep 600 & wait" \
            >"$WORK/cc$i.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    local running; running=$(dk ps -q --filter name=cc | wc -l)
    local bad=() mids=()
    for i in 1 2 3 4 5 6 7 8; do
        mid=$(mount_id "$(tail -n 1 "$WORK/cc$i.out")")
        mids+=("$mid")
        wait_ready "$mid" && [ "$(cat "$AUFS/mnt/$mid/data/c" 2>&1)" = "$i" ] ||
            bad+=("cc$i: $(cat "$WORK/cc$i.out") logs: $(dk logs "cc$i" 2>&1 | tr '\n' ' ')")
    done
    if [ "$running" = 8 ] && [ "${#bad[@]}" = 0 ]; then
        ok "eight containers started concurrently, each sees its own writes ($(( $(date +%s) - t1 )) s)"
    else
        notok "eight containers started concurrently" "running: $running" "${bad[@]}"
    fi
    pids=()
    for i in 1 2 3 4 5 6 7 8; do
        dk rm -f "cc$i" >"$WORK/ccrm$i.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    bad=()
    for i in 1 2 3 4 5 6 7 8; do
        [ "$(cat "$WORK/ccrm$i.out")" = "cc$i" ] || bad+=("docker rm -f cc$i: $(cat "$WORK/ccrm$i.out")")
    done
    grep -i 'device or resource busy\|EBUSY' "$DLOG" >/dev/null && bad+=("dockerd log: $(grep -i 'device or resource busy\|EBUSY' "$DLOG" | tail -n 5)")
    if [ "${#bad[@]}" = 0 ]; then
        ok "eight containers removed concurrently (docker rm -f): no error, no EBUSY"
    else
        notok "eight containers removed concurrently (docker rm -f): no error, no EBUSY" "${bad[@]}"
    fi
    check_no_leftovers "after the concurrent removal: no aufs mount, no diff/layers/mnt directory, no -removing left" "${mids[@]}"

    # --- an fd held in a union while docker rm -f detaches it and deletes its branches
    section "an fd held in a union while docker rm -f detaches it and deletes its branches"
    cid=$(dk run -d --name held --network none aufs-base sh -c \
        "echo rwdata > /data/rw.txt; touch /ready; trap 'exit 0' TERM; sleep 600 & wait" 2>&1)
    mid=$(mount_id "$cid")
    if wait_ready "$mid" && [ -f "$AUFS/mnt/$mid/data/rw.txt" ]; then
        rm -f "$WORK/fifo"; mkfifo "$WORK/fifo"
        python3 "$HOLDFD" "$WORK/fifo" "$AUFS/mnt/$mid/data/rw.txt" "$AUFS/mnt/$mid/data/keep.txt" \
            "$AUFS/mnt/$mid/data" >"$WORK/holdfd.out" 2>&1 &
        local hpid=$!
        for i in $(seq 30); do grep -q '^ready$' "$WORK/holdfd.out" && break; sleep 1; done
        out=$(dk rm -f held 2>&1); rc=$?
        if [ "$rc" = 0 ] && ! aufs_mounts | grep -qxF "$AUFS/mnt/$mid" && [ ! -e "$AUFS/diff/$mid" ]; then
            ok "docker rm -f with an fd open in the union: detached lazily, branch directories deleted"
        else
            notok "docker rm -f with an fd open in the union: detached lazily, branch directories deleted" \
                "rc=$rc: $out" "mounted: $(aufs_mounts | grep -cxF "$AUFS/mnt/$mid")" \
                "$(ls -d "$AUFS/diff/$mid"* 2>&1)"
        fi
        echo go >"$WORK/fifo" &
        local fpid=$!
        for i in $(seq 60); do kill -0 "$hpid" 2>/dev/null || break; sleep 1; done
        if kill -0 "$hpid" 2>/dev/null; then
            notok "reading and closing the held fds afterwards" "holdfd.py still running after 60 s (stuck in the kernel?)" \
                "$(cat "$WORK/holdfd.out")" "$(cat "/proc/$hpid/stack" 2>/dev/null)"
            kill -KILL "$hpid" "$fpid" 2>/dev/null
        else
            wait "$hpid"; rc=$?
            out=$(cat "$WORK/holdfd.out")
            if [ "$rc" = 0 ] && grep -qxF "read rw: 'rwdata\n'" <<<"$out" && grep -qxF "read ro: 'keep\n'" <<<"$out" &&
               grep -qx done <<<"$out"; then
                ok "reading and closing the held fds afterwards: the data, no error, no hang"
            else
                notok "reading and closing the held fds afterwards" "rc=$rc" "$out"
            fi
            note "$(grep -E '^(fstat|listdir|openat|close)' <<<"$out" | tr '\n' ';')"
        fi
        wait "$fpid" 2>/dev/null
    else
        notok "docker rm -f with an fd open in the union" "container 'held' did not come up: $(dk logs held 2>&1)" "$(dlog_tail)"
        dk rm -f held >/dev/null 2>&1
    fi

    # --- deep images (loaded in the background)
    section "deep images: ${DEEP[*]} layers"
    if [ -n "$bg_load" ]; then
        wait "$bg_load"
        local loaded=()
        for n in "${DEEP[@]}"; do
            if [ "$(cat "$WORK/load$n.rc" 2>/dev/null)" = 0 ]; then
                loaded+=("$n")
            else
                notok "docker load of the $n-layer image" "exit status $(cat "$WORK/load$n.rc" 2>&1) (124: timeout)" \
                    "$(cat "$WORK/load$n.out" 2>&1)"
            fi
        done
        [ "${#loaded[@]}" = 0 ] ||
            ok "docker load of the ${loaded[*]}-layer images (in the background: $(cat "$WORK/load.secs") s)"
        note "$(dk images --format '{{.Repository}}:{{.Tag}} {{.Size}}' 2>&1 | tr '\n' ' ')"
        DEEP=("${loaded[@]}")
    fi
    if has_125; then
        out=$(cat "$WORK/load126.out" 2>&1); rc=$(cat "$WORK/load126.rc" 2>&1)
        if [ "$rc" != 0 ] && grep -q 'max depth exceeded' <<<"$out" && ! grep -qi mount <<<"$out"; then
            ok "docker load of a 126-layer image: Docker's own \"max depth exceeded\""
        else
            notok "docker load of a 126-layer image: Docker's own \"max depth exceeded\"" "rc=$rc" "$out"
        fi
    fi
    # All at once: create, one `docker start` for all, the checks while all
    # run (41 + 42 + 43 + 82 + 127 branches mounted), one `docker rm -f`,
    # then a `docker run --rm` of each image, concurrently.
    local -A dmid=()
    local started=()
    for n in "${DEEP[@]}"; do
        if cid=$(dk create --name "deep$n" --network none "aufs-deep$n" sh -c \
            'find /w /layers /bottom.txt /top.txt | sort; cat /bottom.txt /top.txt; touch /ready; trap "exit 0" TERM; sleep 600 & wait' 2>&1); then
            dmid[$n]=$(mount_id "$cid")
            started+=("deep$n")
        else
            notok "$n layers: docker create" "$cid"
        fi
    done
    if [ "${#started[@]}" -gt 0 ] && ! out=$(dk start "${started[@]}" 2>&1); then
        notok "docker start ${started[*]}" "$out" "$(dlog_tail)"
    fi
    for n in "${DEEP[@]}"; do
        [ -n "${dmid[$n]:-}" ] || continue
        mid=${dmid[$n]}
        if ! wait_ready "$mid"; then
            notok "$n layers: docker create + start" "no /ready in the container:" "$(dk logs "deep$n" 2>&1)" "$(dlog_tail)"
            continue
        fi
        ok "$n layers: docker create + start"
        exp=$(cat "$IMAGES/deep$n.tar.expect")
        for i in 1 2 3 4 5 6 7 8 9 10; do   # the log lags behind /ready a little
            got=$(dk logs "deep$n" 2>&1)
            [ "$got" != "$exp" ] || break
            sleep 1
        done
        same "$n layers: bottom and top layer files visible, middle-layer whiteouts/opaque dirs hide" "$exp" "$got"
        si=$(si_of "$AUFS/mnt/$mid")
        exp=$(expected_branches "$mid")
        got=$(branches_of "$si")
        if [ -n "$si" ] && [ "$exp" = "$got" ] && [ "$(wc -l <<<"$got")" = $((n + 2)) ]; then
            ok "$n layers: /sys/fs/aufs/si_$si/br0..br$((n + 1)): $((n + 2)) branches in Docker's order"
        else
            notok "$n layers: /sys/fs/aufs/si_*/br* = $((n + 2)) branches in Docker's order" \
                "mount $AUFS/mnt/$mid si=$si: $(wc -l <<<"$got") branches" \
                "$(diff <(printf '%s\n' "$exp") <(printf '%s\n' "$got") | head -n 20)"
        fi
        if [ "$n" = 125 ]; then
            [ ! -x "$REPO/target/release/aubr" ] ||
                note "aubr $AUFS/mnt/$mid (first and last lines):" \
                    "$("$REPO/target/release/aubr" "$AUFS/mnt/$mid" 2>&1 | sed -n '1,4p;$p')"
            out=$(dk commit "deep$n" aufs-deep126-commit 2>&1); rc=$?
            if [ "$rc" != 0 ] && grep -q 'max depth exceeded' <<<"$out" && ! grep -qi mount <<<"$out"; then
                ok "docker commit of a 125-layer container: Docker's own \"max depth exceeded\""
            else
                notok "docker commit of a 125-layer container: Docker's own \"max depth exceeded\"" "rc=$rc" "$out"
            fi
        fi
    done
    if [ "${#started[@]}" -gt 0 ]; then
        out=$(dk rm -f "${started[@]}" 2>&1) || notok "docker rm -f ${started[*]}" "$out"
        check_no_leftovers "deep containers removed: no aufs mount, no directory left" "${dmid[@]}"
    fi
    pids=()
    for n in "${DEEP[@]}"; do
        dk run --rm --network none "aufs-deep$n" cat /bottom.txt /top.txt >"$WORK/deeprun$n.out" 2>&1 &
        pids+=($!)
    done
    [ "${#pids[@]}" = 0 ] || wait "${pids[@]}"
    for n in "${DEEP[@]}"; do
        same "$n layers: docker run --rm (the ${DEEP[*]}-layer images at once)" "$(printf 'bottom\ntop %s' "$n")" \
            "$(cat "$WORK/deeprun$n.out")"
    done

    # --- dockerd: graceful stop, restart, SIGKILL, restart
    section "dockerd: graceful stop, restart, SIGKILL, restart"
    cid=$(dk run -d --name keep1 --network none aufs-base sh -c \
        "date >> /data/starts; touch /ready; trap 'exit 0' TERM; sleep 600 & wait" 2>&1)
    dk create --name idle1 --network none aufs-mut:1 cat /data/new.txt >/dev/null 2>&1
    local mk; mk=$(mount_id "$cid")
    wait_ready "$mk" || notok "container keep1 started" "$cid" "$(dk logs keep1 2>&1)"
    local imgs_before ctrs_before
    imgs_before=$(dk images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort)
    ctrs_before=$(dk ps -a --format '{{.Names}} {{.ID}} {{.Image}}' | sort)
    if stop_dockerd TERM && [ -z "$(aufs_mounts | grep -F "$AUFS/")" ]; then
        ok "dockerd stopped gracefully (SIGTERM) with a running container: every aufs mount unmounted"
    else
        notok "dockerd stopped gracefully (SIGTERM) with a running container" \
            "aufs mounts left: $(aufs_mounts | grep -F "$AUFS/")" "$(dlog_tail)"
    fi
    if start_dockerd; then
        got=$(dk images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort)
        same "after the restart: the same images" "$imgs_before" "$got"
        got=$(dk ps -a --format '{{.Names}} {{.ID}} {{.Image}}' | sort)
        same "after the restart: the same containers" "$ctrs_before" "$got"
        out=$(dk start keep1 2>&1) && got=$(dk start -a idle1 2>&1)
        if [ "$?" = 0 ] && [ "$got" = new ] && wait_lines "$AUFS/mnt/$mk/data/starts" 2; then
            ok "after the restart: docker start works (a running and a created container; rw layer kept)"
        else
            notok "after the restart: docker start works" "$out" "$got" "$(cat "$AUFS/mnt/$mk/data/starts" 2>&1)"
        fi
    else
        notok "dockerd restarts after a graceful stop" "$(dlog_tail)"
    fi
    if stop_dockerd KILL; then
        note "dockerd killed with SIGKILL; aufs mounts now: $(aufs_mounts | grep -cF "$AUFS/")"
    fi
    if start_dockerd; then
        got=$(dk images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort)
        same "after SIGKILL and a restart: the same images" "$imgs_before" "$got"
        got=$(dk ps -a --format '{{.Names}} {{.ID}} {{.Image}}' | sort)
        same "after SIGKILL and a restart: the same containers" "$ctrs_before" "$got"
        note "keep1 after the restart: running=$(dk inspect -f '{{.State.Running}}' keep1 2>&1)"
        dk stop -t 5 keep1 >/dev/null 2>&1
        if out=$(dk start keep1 2>&1) && wait_lines "$AUFS/mnt/$mk/data/starts" 3 &&
           [ "$(aufs_mounts | grep -cxF "$AUFS/mnt/$mk")" = 1 ]; then
            ok "after SIGKILL and a restart: docker stop + start works, one aufs mount of its rw layer"
        else
            notok "after SIGKILL and a restart: docker stop + start works, one aufs mount of its rw layer" \
                "$out" "starts: $(cat "$AUFS/mnt/$mk/data/starts" 2>&1)" \
                "mounts of $AUFS/mnt/$mk: $(aufs_mounts | grep -cxF "$AUFS/mnt/$mk")" "$(dlog_tail)"
        fi
    else
        notok "dockerd restarts after SIGKILL" "$(dlog_tail)"
    fi

    # --- remove everything: aufs/diff, layers, mnt empty
    section "remove everything: aufs/diff, layers, mnt empty"
    local all
    all=$(dk ps -aq)
    [ -z "$all" ] || dk rm -f $all >"$WORK/rmall.out" 2>&1 || notok "docker rm -f of every container" "$(cat "$WORK/rmall.out")"
    # Tags first (their untagged parents, the build's steps, go with them),
    # then whatever is left, a few rounds.
    : >"$WORK/rmiall.out"
    for i in 1 2 3; do
        all=$(dk images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>')
        [ -z "$all" ] || dk rmi -f $all >>"$WORK/rmiall.out" 2>&1
        all=$(dk images -aq | sort -u)
        [ -z "$all" ] && break
        dk rmi -f $all >>"$WORK/rmiall.out" 2>&1
    done
    [ -z "$(dk images -aq)" ] || notok "docker rmi -f of every image" "$(grep -v '^Deleted:\|^Untagged:' "$WORK/rmiall.out" | tail -n 20)"
    got=$( { dk ps -aq; dk images -aq; find "$AUFS/diff" "$AUFS/layers" "$AUFS/mnt" -mindepth 1 -maxdepth 1; } 2>&1)
    if [ -z "$got" ] &&
       [ -z "$(aufs_mounts | grep -F "$AUFS/")" ]; then
        ok "docker rm + rmi of everything: aufs/diff, aufs/layers, aufs/mnt empty, no aufs mount"
    else
        notok "docker rm + rmi of everything: aufs/diff, aufs/layers, aufs/mnt empty, no aufs mount" \
            "$got" "aufs mounts: $(aufs_mounts | grep -F "$AUFS/")"
    fi

    # --- stop
    section "stop"
    if stop_dockerd TERM; then ok "dockerd stopped"; else notok "dockerd stopped" "$(dlog_tail)"; fi
    stop_containerd
    local errs; errs=$(grep -hE 'level=(error|fatal)' "$WORK"/dockerd-"$FS"-*.log | grep -iE 'aufs|mount' | head -n 10)
    errs_pl=$(grep -hiE 'auplink flush (failed|error)' "$WORK"/dockerd-"$FS"-*.log | head -n 5)
    if [ -z "$errs_pl" ]; then
        ok "dockerd logs: no 'auplink flush failed' warning (auplink ran before every unmount)"
    else
        notok "dockerd logs: no 'auplink flush failed' warning" "$errs_pl"
    fi
    [ -z "$errs" ] || note "dockerd errors that mention aufs or mount:" "$errs"
    umount "$DROOT" 2>/dev/null || { sleep 2; umount "$DROOT"; } ||
        notok "umount of the data root" "$(grep -F "$DROOT" /proc/self/mounts)"
    if [ "$FS" = ext4 ]; then
        losetup -d "$LOOPDEV"
        if out=$(e2fsck -fn "$WORK/ext4.img" 2>&1); then
            ok "e2fsck -fn of the ext4 data root: clean"
        else
            notok "e2fsck -fn of the ext4 data root: clean" "$out"
        fi
        rm -f "$WORK/ext4.img"
    fi
    echo "# ===== $FS done in $(( $(date +%s) - t0 )) s ====="
    check_kernel "the run on $FS"
    PFX=""
}

if [ "$insmod_ok" = 1 ]; then
    for fs in "${FILESYSTEMS[@]}"; do
        run_fs "$fs"
        [ -z "$DOCKERD_PID" ] || stop_dockerd KILL
        [ -z "$CTRD_PID" ] || stop_containerd
        PFX=""
    done
    left=$(aufs_mounts)
    if [ -z "$left" ]; then ok "no aufs mount left"; else notok "no aufs mount left" "$left"; fi
    if out=$(rmmod aufs 2>&1); then ok "rmmod aufs"; else notok "rmmod aufs" "$out"; fi
fi
check_kernel "the whole run"

echo "# ----- aufs lines in dmesg -----"
grep -i aufs "$KLOG" | sed 's/^/# /' | head -n 60
echo "# guest time: $(elapsed) s (after $(cut -d. -f1 /proc/uptime) s of uptime)"
umount "$WORK" 2>/dev/null
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
