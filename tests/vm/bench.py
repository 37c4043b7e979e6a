#!/usr/bin/env python3
"""make bench, inside the VM: the same workloads on the bare branch
filesystem (tmpfs), Debian's overlayfs and aufs, in one run; reported as
times and as ratios to the bare filesystem.  Numbers under TCG are slow in
absolute terms; the ratios are what to compare."""
import os, subprocess, sys, time

REPO = sys.argv[1]
ROOT = "/tmp/aufs-bench"
N_FILES = int(os.environ.get("BENCH_FILES", "2000"))
BIG = int(os.environ.get("BENCH_BIG_MB", "32")) << 20


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def populate(base):
    os.makedirs(f"{base}/d", exist_ok=True)
    for i in range(N_FILES):
        with open(f"{base}/d/f{i}", "w") as f:
            f.write("x" * 100)
    with open(f"{base}/big", "wb") as f:
        f.write(os.urandom(1 << 20) * (BIG >> 20))


def setup():
    sh(f"mkdir -p {ROOT} && mount -t tmpfs -o size=1500m bench {ROOT}")
    for kind in ("bare", "ovl", "aufs"):
        sh(f"mkdir -p {ROOT}/{kind}/base {ROOT}/{kind}/top {ROOT}/{kind}/work {ROOT}/{kind}/mnt")
        populate(f"{ROOT}/{kind}/base")
    sh("modprobe overlay")
    sh(f"insmod {REPO}/kmod/aufs.ko")
    o = f"{ROOT}/ovl"
    sh(f"mount -t overlay overlay -o lowerdir={o}/base,upperdir={o}/top,workdir={o}/work {o}/mnt")
    a = f"{ROOT}/aufs"
    sh(f"mount -t aufs -o br={a}/top=rw:{a}/base=ro none {a}/mnt")
    return {"bare": f"{ROOT}/bare/base", "ovl": f"{ROOT}/ovl/mnt", "aufs": f"{ROOT}/aufs/mnt"}


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def w_stat(m):
    for i in range(N_FILES):
        os.stat(f"{m}/d/f{i}")


def w_readdir(m):
    for _ in range(20):
        os.listdir(f"{m}/d")


def w_read_big(m):
    with open(f"{m}/big", "rb") as f:
        while f.read(1 << 20):
            pass


def w_read_small(m):
    for i in range(N_FILES):
        with open(f"{m}/d/f{i}", "rb") as f:
            f.read()


def w_create(m):
    os.mkdir(f"{m}/new")
    for i in range(N_FILES):
        with open(f"{m}/new/g{i}", "w") as f:
            f.write("y")


def w_copyup_big(m):
    with open(f"{m}/big", "r+b") as f:
        f.write(b"z")


def w_copyup_small(m):
    for i in range(0, N_FILES, 4):
        with open(f"{m}/d/f{i}", "a") as f:
            f.write("z")


def w_unlink(m):
    for i in range(1, N_FILES, 4):
        os.unlink(f"{m}/d/f{i}")


WORKLOADS = [
    ("stat (cold)", w_stat, True),
    ("stat (warm)", w_stat, False),
    ("readdir x20", w_readdir, False),
    ("read small files", w_read_small, False),
    (f"read {BIG >> 20} MiB", w_read_big, False),
    ("create files", w_create, False),
    ("copy-up small (append)", w_copyup_small, False),
    (f"copy-up {BIG >> 20} MiB", w_copyup_big, False),
    ("unlink lower files", w_unlink, False),
]


def main():
    mounts = setup()
    rows = []
    for name, fn, cold in WORKLOADS:
        res = {}
        for kind, m in mounts.items():
            if cold:
                drop_caches()
            t0 = time.perf_counter()
            fn(m)
            res[kind] = time.perf_counter() - t0
        rows.append((name, res))
    print(f"\n{'workload':26} {'bare s':>9} {'overlay s':>10} {'aufs s':>9} {'ovl/bare':>9} {'aufs/bare':>10} {'aufs/ovl':>9}")
    for name, r in rows:
        b, o, a = r["bare"], r["ovl"], r["aufs"]
        print(f"{name:26} {b:9.3f} {o:10.3f} {a:9.3f} {o / b:9.2f} {a / b:10.2f} {a / o:9.2f}")
    print(f"\n({N_FILES} files, TCG guest; ratios > 1 are slower than the bare filesystem)")
    sh(f"umount {ROOT}/aufs/mnt {ROOT}/ovl/mnt")
    sh("rmmod aufs")


if __name__ == "__main__":
    main()
