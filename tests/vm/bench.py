#!/usr/bin/env python3
"""make bench, inside the VM (scripts/vm-run.sh boots it; tests/bench/run.sh
drives it): every workload on the bare branch filesystem, on Debian's
overlayfs and on aufs over the same layers, on tmpfs and on ext4 (a loop
device over an image in the guest's /tmp), interleaved (bare overlay aufs,
bare overlay aufs, ...) for BENCH_ROUNDS rounds.

  tests/vm/bench.py REPO [--quick] [--out DIR]

Prints progress ("# " lines), the table, and the result as JSON between the
lines BENCH-JSON-BEGIN and BENCH-JSON-END (the host cannot be written from
the guest: tests/bench/report.py turns that into build/bench/*.json, .csv,
.png).  --out DIR also writes bench.json and bench.csv there.  --quick: one
round of every workload at a tiny size (tests/vm/t_bench_quick.sh).

If aufs is already loaded it is used as it is (and left loaded); otherwise
REPO/build/kmod/$(uname -r)/aufs.ko is inserted and removed at the end.  Everything mounted is
unmounted, the loop device detached and the work directory removed, also
after an error.  A workload that fails on one stack is an error in that
cell; the run goes on.  Timings are reported, never judged.

Sizes (environment; QUICK defaults in parentheses):
  BENCH_ROUNDS 5 (1), BENCH_FS "tmpfs ext4", BENCH_DEPTHS "2 16 64 127"
  ("2 127"), BENCH_STAT_FILES 300 (10), BENCH_OPEN_FILES 1000 (20),
  BENCH_OPEN_REPS 3 (1), BENCH_READDIR_ENTRIES 3000 (80), BENCH_READDIR_REPS
  10 (1), BENCH_LS_REPS 1 (1), BENCH_BIG_MB 64 (2), BENCH_FIO_MB 16 (1),
  BENCH_COPYUP_MB 16 (1), BENCH_TREE_FILES 800 (30), BENCH_META_FILES 1000 (20),
  BENCH_METACOPY_MB 1024 (2)
Options: BENCH_AUFS_OPTS, appended to aufs's mount options (e.g. ",dirperm1",
  as Docker's aufs driver mounts; default none).
"""
import datetime
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import time
import traceback

REPO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
ARGS = sys.argv[2:]
QUICK = "--quick" in ARGS or os.environ.get("BENCH_QUICK", "") not in ("", "0")
OUT = ARGS[ARGS.index("--out") + 1] if "--out" in ARGS else None
sys.path.insert(0, os.path.join(REPO or ".", "tests", "bench"))
import benchreport  # noqa: E402

STACKS = benchreport.STACKS


def env_int(name, full, quick):
    return int(os.environ.get(name, quick if QUICK else full))


def env_list(name, full, quick):
    return os.environ.get(name, quick if QUICK else full).split()


ROUNDS = env_int("BENCH_ROUNDS", 5, 1)
AUFS_OPTS = os.environ.get("BENCH_AUFS_OPTS", "")
FSTYPES = env_list("BENCH_FS", "tmpfs ext4", "tmpfs ext4")
DEPTHS = [int(d) for d in env_list("BENCH_DEPTHS", "2 16 64 127", "2 127")]
STAT_FILES = env_int("BENCH_STAT_FILES", 300, 10)
OPEN_FILES = env_int("BENCH_OPEN_FILES", 1000, 20)
OPEN_REPS = env_int("BENCH_OPEN_REPS", 3, 1)
RD_ENTRIES = env_int("BENCH_READDIR_ENTRIES", 3000, 80)
RD_REPS = env_int("BENCH_READDIR_REPS", 10, 1)
LS_REPS = env_int("BENCH_LS_REPS", 1, 1)
BIG_MB = env_int("BENCH_BIG_MB", 64, 2)
FIO_MB = env_int("BENCH_FIO_MB", 16, 1)
CU_MB = env_int("BENCH_COPYUP_MB", 16, 1)
TREE_FILES = env_int("BENCH_TREE_FILES", 800, 30)
META_FILES = env_int("BENCH_META_FILES", 1000, 20)
MC_MB = env_int("BENCH_METACOPY_MB", 1024, 2)
RD_LAYERS = 4                     # lowers of the main stack (plus the rw one)
MAX_LOWERS = max(max(DEPTHS) - 1, RD_LAYERS)

WORK = "/tmp/aufs-bench"          # short: 126 branch paths go in one option string
MB = 1 << 20


T0 = time.time()


def log(msg):
    print(f"# [{time.time() - T0:6.1f}s] {msg}", flush=True)


def run(cmd, **kw):
    """Runs an argv list; raises with its stderr on failure."""
    p = subprocess.run(cmd, stdout=kw.pop("stdout", subprocess.PIPE),
                       stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}...: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return p.stdout


def timed(cmd, ok=(0,)):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t = time.perf_counter() - t0
    if p.returncode not in ok:
        raise RuntimeError(f"{os.path.basename(cmd[0])}: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return t


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Env:
    """Mounts, loop devices and the module this run set up (undone by close())."""

    def __init__(self):
        self.mounts = []
        self.loops = []
        self.loaded_aufs = False

    def mount(self, args, target):
        os.makedirs(target, exist_ok=True)
        run(["mount"] + args + [target])
        self.mounts.append(target)

    def umount(self, target):
        if target in self.mounts:
            self.mounts.remove(target)
            subprocess.run(["umount", target], stderr=subprocess.DEVNULL)
            if os.path.ismount(target):
                log(f"umount {target} failed; lazily detaching it")
                subprocess.run(["umount", "-l", target])

    def close(self):
        for m in reversed(list(self.mounts)):
            self.umount(m)
        for d in self.loops:
            subprocess.run(["losetup", "-d", d], stderr=subprocess.DEVNULL)
        self.loops = []
        if self.loaded_aufs:
            subprocess.run(["rmmod", "aufs"], stderr=subprocess.DEVNULL)
            self.loaded_aufs = False


def load_modules(env):
    subprocess.run(["modprobe", "-q", "overlay"])
    fs = open("/proc/filesystems").read().split()
    if "aufs" not in fs:
        run(["insmod", os.path.join(REPO, "build", "kmod", os.uname().release, "aufs.ko")])
        env.loaded_aufs = True
    else:
        log("aufs already loaded: using it (it stays loaded)")


# ---------------------------------------------------------------- content

def write_file(path, size, seed):
    """size bytes of fixed pseudo-random content, written 1 MiB at a time."""
    rnd = random.Random(seed)
    chunk = rnd.randbytes(min(size, MB) or 1)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n


WORDS = ("static int struct return if else for while unsigned long char void "
         "const size_t error buffer lock inode dentry branch union whiteout copy "
         "lookup readdir mount xino kernel page file open close read write").split()


def make_tree_tar(path):
    """A fixed source-like tree: TREE_FILES files in TREE_FILES/20 directories."""
    rnd = random.Random(8)
    blob = "\n".join(" ".join(rnd.choice(WORDS) for _ in range(10)) for _ in range(2000)).encode()
    ndirs = max(TREE_FILES // 20, 1)
    with tarfile.open(path, "w") as tar:
        def add_dir(name):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(ti)
        add_dir("src")
        for d in range(ndirs):
            add_dir(f"src/d{d:03}")
        for i in range(TREE_FILES):
            size = rnd.randint(200, 8000)
            off = rnd.randint(0, len(blob) - size)
            ti = tarfile.TarInfo(f"src/d{i % ndirs:03}/file{i:05}.c")
            ti.size = size
            ti.mode = 0o644
            ti.mtime = 1700000000
            tar.addfile(ti, io.BytesIO(blob[off:off + size]))


def populate(root):
    """The layers L/000 (bottom) .. L/NNN, the bare scratch directory B."""
    lay = lambda k: f"{root}/L/{k:03}"
    for k in range(MAX_LOWERS):
        os.makedirs(f"{lay(k)}/d")            # every layer has d/: a merged dir at every depth
    bot = lay(0)
    for i in range(STAT_FILES):
        open(f"{bot}/d/f{i}", "w").close()
    os.makedirs(f"{bot}/o")
    for i in range(OPEN_FILES):
        with open(f"{bot}/o/f{i}", "w") as f:
            f.write("x" * 100)
    write_file(f"{bot}/big", BIG_MB * MB, 1)
    write_file(f"{bot}/mc", MC_MB * MB, 4)
    write_file(f"{bot}/rnd", BIG_MB * MB, 2)
    for r in range(ROUNDS):
        for kind in ("cu", "chm", "chn"):
            write_file(f"{bot}/{kind}{r}", CU_MB * MB, 3)
    # readdir: RD_ENTRIES names over RD_LAYERS layers; layer k whites out
    # every tenth name of layer k-1, in aufs's format (.wh.NAME) in rd_aufs/
    # and in overlayfs's (a 0:0 character device) in rd_ovl/; B/rd holds
    # the merged result for the bare filesystem.
    per = max(RD_ENTRIES // RD_LAYERS, 1)
    os.makedirs(f"{root}/B/rd")
    for k in range(RD_LAYERS):
        for fmt in ("aufs", "ovl"):
            os.makedirs(f"{lay(k)}/rd_{fmt}")
        for i in range(per):
            for fmt in ("aufs", "ovl"):
                open(f"{lay(k)}/rd_{fmt}/e{k}_{i}", "w").close()
            hidden = k + 1 < RD_LAYERS and i % 10 == 0
            if not hidden:
                open(f"{root}/B/rd/e{k}_{i}", "w").close()
            if k > 0 and i % 10 == 0:
                open(f"{lay(k)}/rd_aufs/.wh.e{k - 1}_{i}", "w").close()
                os.mknod(f"{lay(k)}/rd_ovl/e{k - 1}_{i}", 0o600 | 0o020000, os.makedev(0, 0))
    shutil.copyfile(f"{bot}/big", f"{root}/B/big")


# ---------------------------------------------------------------- stacks

class Stacks:
    """bare / overlay / aufs views of the lowers L/(n-1)..L/000 plus a rw layer."""

    def __init__(self, env, root, nlowers, tag, aufs_perm, ovl_opts="", aufs_opts=""):
        self.env, self.root, self.tag = env, root, tag
        self.path = {"bare": f"{root}/L/000"}   # where the lower content is
        self.wpath = {"bare": f"{root}/B"}      # where writes go
        self.err = {}
        lowers = [f"{root}/L/{k:03}" for k in reversed(range(nlowers))]
        up = f"{root}/U/{tag}"
        ovl = f"{root}/M/ovl-{tag}"
        au = f"{root}/M/aufs-{tag}"
        self.upper = {"overlay": f"{up}/ovl-up", "aufs": f"{up}/aufs-rw"}
        for d in (f"{up}/ovl-up", f"{up}/ovl-work", f"{up}/aufs-rw"):
            os.makedirs(d)
        try:
            env.mount(["-t", "overlay", "overlay", "-o",
                       f"lowerdir={':'.join(lowers)},upperdir={up}/ovl-up,workdir={up}/ovl-work{ovl_opts}"], ovl)
            self.path["overlay"] = self.wpath["overlay"] = ovl
        except Exception as e:
            self.err["overlay"] = f"mount: {e}"
        try:
            br = ":".join([f"{up}/aufs-rw=rw"] + [f"{l}={aufs_perm}" for l in lowers])
            env.mount(["-t", "aufs", "-o", f"br={br}{AUFS_OPTS}{aufs_opts}", "none"], au)
            self.path["aufs"] = self.wpath["aufs"] = au
        except Exception as e:
            self.err["aufs"] = f"mount: {e}"
        for s, e in self.err.items():
            log(f"{tag}: {s} {e}")

    def close(self):
        for s in ("aufs", "overlay"):
            if s in self.path:
                self.env.umount(self.path[s])


RESULTS = []


def measure(fs, st, name, group, fn, rounds=None, note=None):
    """fn(stack, path, wpath, round) -> seconds; A B C A B C ... for rounds."""
    row = {"fs": fs, "workload": name, "group": group,
           "samples": {s: [] for s in STACKS}, "errors": {}}
    if note:
        row["note"] = note
        RESULTS.append(row)
        log(f"[{fs}] {name}: {note}")
        return
    for s, e in st.err.items():
        row["errors"][s] = e
    for r in range(rounds or ROUNDS):
        for s in STACKS:
            if s in row["errors"]:
                continue
            try:
                row["samples"][s].append(fn(s, st.path[s], st.wpath[s], r))
            except Exception as e:
                row["errors"][s] = str(e).strip().splitlines()[0][:300] if str(e).strip() else repr(e)
                log(f"[{fs}] {name} {s} round {r}: {row['errors'][s]}")
    RESULTS.append(row)
    benchreport.enrich({"results": [row]})
    med = lambda s: benchreport.fmt_time(row["stats"][s]["median"]) if row["stats"][s] else "ERR"
    log(f"[{fs}] {name}: " + "  ".join(f"{s} {med(s)}" for s in STACKS)
        + f"  aufs/bare {benchreport.fmt_ratio(row['ratios']['aufs/bare'])}"
        + f"  aufs/ovl {benchreport.fmt_ratio(row['ratios']['aufs/overlay'])}")


def attr_change(kind, lower_path, after):
    """A chmod ("chm") or chown of a lower file, timed: lower_path(p, r) in
    a union (bare: a file on the branch, so no copy), then after(stack,
    path), untimed, for the unions."""
    def f(s, p, w, r):
        path = f"{w}/big" if s == "bare" else lower_path(p, r)
        t0 = time.perf_counter()
        if kind == "chm":
            os.chmod(path, 0o600 if r % 2 == 0 else 0o644)
        else:
            os.chown(path, 1000 + r, 1000 + r)
        t = time.perf_counter() - t0
        if s != "bare":
            after(s, path)
        return t
    return f


def ops(*args):
    return float(run([BENCHOPS] + [str(a) for a in args]))


def depth_workloads(fs, st, depth):
    def stat_hot(prefix):
        def f(s, p, w, r):
            op = "neg" if prefix == "n" else "stat"
            ops(op, f"{p}/d", prefix, STAT_FILES)          # warm the caches
            return ops(op, f"{p}/d", prefix, STAT_FILES)
        return f

    def stat_cold(prefix):
        def f(s, p, w, r):
            drop_caches()
            return ops("neg" if prefix == "n" else "stat", f"{p}/d", prefix, STAT_FILES)
        return f

    measure(fs, st, f"stat hot @{depth}", "stat", stat_hot("f"))
    measure(fs, st, f"stat cold @{depth}", "stat", stat_cold("f"))
    measure(fs, st, f"neg lookup hot @{depth}", "neg", stat_hot("n"))
    measure(fs, st, f"neg lookup cold @{depth}", "neg", stat_cold("n"))


def main_workloads(fs, st):
    measure(fs, st, f"open+close {OPEN_FILES}x{OPEN_REPS}", "open",
            lambda s, p, w, r: ops("open", f"{p}/o", "f", OPEN_FILES, OPEN_REPS))

    rd = {"bare": "B/rd", "overlay": "rd_ovl", "aufs": "rd_aufs"}

    def rdpath(s, w):
        return f"{st.root}/B/rd" if s == "bare" else f"{w}/{rd[s]}"

    def readdir(s, p, w, r):
        ops("readdir", rdpath(s, w), 1)
        return ops("readdir", rdpath(s, w), RD_REPS)

    def ls_l(s, p, w, r):
        timed(["ls", "-l", "--color=never", rdpath(s, w)])
        return sum(timed(["ls", "-l", "--color=never", rdpath(s, w)]) for _ in range(LS_REPS))

    measure(fs, st, f"readdir {RD_ENTRIES} x{RD_REPS}", "readdir", readdir)
    measure(fs, st, f"ls -l {RD_ENTRIES} x{LS_REPS}", "readdir", ls_l)

    # Sequential read/write of a file already copied up (bare: B/big).
    big = lambda s, p, w: f"{w}/big"
    for s in ("overlay", "aufs"):
        if s in st.path:
            try:
                os.close(os.open(f"{st.path[s]}/big", os.O_WRONLY))
            except OSError as e:
                st.err.setdefault(s, f"copy-up of big: {e}")

    # Untimed: the files the read workloads read are in the page cache
    # for every stack (the depth workloads dropped the caches).
    for s in STACKS:
        for f in (big(s, st.path.get(s), st.wpath.get(s)), f"{st.path.get(s)}/rnd"):
            if s not in st.err:
                try:
                    with open(f, "rb") as fh:
                        while fh.read(MB):
                            pass
                except OSError as e:
                    log(f"[{fs}] warming {f}: {e}")

    def seq_read(s, p, w, r):
        fd = os.open(big(s, p, w), os.O_RDONLY)
        t0 = time.perf_counter()
        while os.read(fd, MB):
            pass
        t = time.perf_counter() - t0
        os.close(fd)
        return t

    buf = random.Random(5).randbytes(MB)

    def seq_write(s, p, w, r):
        fd = os.open(big(s, p, w), os.O_WRONLY)
        t0 = time.perf_counter()
        for _ in range(BIG_MB):
            os.write(fd, buf)
        os.fsync(fd)
        t = time.perf_counter() - t0
        os.close(fd)
        return t

    measure(fs, st, f"seq read {BIG_MB}M (copied up)", "seq", seq_read)
    measure(fs, st, f"seq write+fsync {BIG_MB}M", "seq", seq_write)
    st.err = {k: v for k, v in st.err.items() if not v.startswith("copy-up of big")}

    fio = shutil.which("fio")

    def randread(s, p, w, r):
        out = run([fio, "--name=rr", f"--filename={p}/rnd", "--readonly", "--rw=randread",
                   "--bs=4k", "--ioengine=psync", "--thread", "--disk_util=0", "--eta=never", f"--size={BIG_MB}M", f"--io_size={FIO_MB}M",
                   "--randrepeat=1", "--randseed=7", "--invalidate=0", "--output-format=json"])
        rd_ = json.loads(out[out.index("{"):])["jobs"][0]["read"]
        ios = rd_.get("total_ios") or (rd_["io_bytes"] // 4096)
        lat = rd_.get("lat_ns", {}).get("mean") or rd_.get("clat_ns", {}).get("mean")
        return lat * ios / 1e9 if lat else rd_["runtime"] / 1e3

    measure(fs, st, f"fio randread 4k {FIO_MB}M", "fio", randread,
            note=None if fio else "fio not installed: skipped (scripts/setup.sh installs it)")

    # First write to a large lower file (bare: cp of it on the branch fs),
    # chmod and chown of one: each round a file not copied up yet; the copy
    # is unlinked afterwards (untimed) to give the space back.
    def first_write(s, p, w, r):
        if s == "bare":
            t = timed(["cp", f"{p}/cu{r}", f"{w}/cu{r}"])
            os.unlink(f"{w}/cu{r}")
            return t
        t0 = time.perf_counter()
        fd = os.open(f"{p}/cu{r}", os.O_WRONLY)
        os.write(fd, b"z")
        os.close(fd)
        t = time.perf_counter() - t0
        os.unlink(f"{p}/cu{r}")
        return t

    def unlink(s, path):
        os.unlink(path)

    measure(fs, st, f"copy-up write {CU_MB}M (bare: cp)", "copyup", first_write)
    measure(fs, st, f"chmod {CU_MB}M lower", "copyup",
            attr_change("chm", lambda p, r: f"{p}/chm{r}", unlink))
    measure(fs, st, f"chown {CU_MB}M lower", "copyup",
            attr_change("chn", lambda p, r: f"{p}/chn{r}", unlink))

    # A source tree: untar, find, du -s, grep -r, rm -rf, one after the other.
    tree_ops = [("untar", lambda d: ["tar", "-xf", TREE_TAR, "-C", d], (0,)),
                ("find", lambda d: ["find", d], (0,)),
                ("du -s", lambda d: ["du", "-s", d], (0,)),
                ("grep -r", lambda d: ["grep", "-r", "-c", "whiteout xino", d], (0, 1)),
                ("rm -rf", lambda d: ["rm", "-rf", d], (0,))]
    rows = {n: {"fs": fs, "workload": f"{n} tree {TREE_FILES}", "group": "tree",
                "samples": {s: [] for s in STACKS}, "errors": dict(st.err)} for n, _, _ in tree_ops}
    for r in range(ROUNDS):
        for s in STACKS:
            if s in st.err:
                continue
            d = f"{st.wpath[s]}/tree{r}"
            try:
                os.mkdir(d)
            except OSError as e:
                for n in rows:
                    rows[n]["errors"].setdefault(s, f"mkdir: {e}")
                continue
            for n, cmd, ok in tree_ops:
                if s in rows[n]["errors"]:
                    continue
                try:
                    rows[n]["samples"][s].append(timed(cmd(d), ok))
                except Exception as e:
                    rows[n]["errors"][s] = str(e)[:300]
            subprocess.run(["rm", "-rf", d])
    for n, _, _ in tree_ops:
        RESULTS.append(rows[n])
        log(f"[{fs}] {rows[n]['workload']}: done")

    def meta(s, p, w, r):
        d = f"{w}/meta{r}"
        os.mkdir(d)
        t = ops("meta", d, META_FILES)
        os.rmdir(d)
        return t

    measure(fs, st, f"create+rename+unlink {META_FILES}", "meta", meta)


def metacopy_workloads(fs, st):
    """chmod and chown of a MC_MB lower file with metacopy: aufs with its
    metacopy option, overlayfs with metacopy=on; each round on the same
    lower file, its upper copy removed on the branch (untimed) between
    rounds, with the caches dropped, so every round copies it up anew."""
    def reset(s, path):
        os.stat(path)   # the lower data behind it
        os.unlink(f"{st.upper[s]}/mc")
        drop_caches()

    mc = lambda p, r: f"{p}/mc"
    measure(fs, st, f"chmod {MC_MB}M lower, metacopy", "metacopy", attr_change("chm", mc, reset))
    measure(fs, st, f"chown {MC_MB}M lower, metacopy", "metacopy", attr_change("chn", mc, reset))


def space_mb():
    """The branch filesystem's size: the lower files (big, rnd, B/big, the
    copy-up files, mc), big's copy in each union, room for every copy-up
    copy at once (the unlinked copies are not always freed at once), the
    rest."""
    return 5 * BIG_MB + 3 * ROUNDS * CU_MB * 3 + MC_MB + 300


def bench_fs(env, fs):
    root = f"{WORK}/{fs}"
    os.makedirs(root)
    if fs == "tmpfs":
        mb = space_mb() if not QUICK else 200
        env.mount(["-t", "tmpfs", "-o", f"size={mb}m", "bench"], root)
    elif fs == "ext4":
        img = f"{WORK}/ext4.img"
        mb = space_mb() + 200 if not QUICK else 256
        subprocess.run(["modprobe", "-q", "loop"])
        subprocess.run(["modprobe", "-q", "ext4"])
        run(["truncate", "-s", f"{mb}M", img])
        run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", img])
        dev = run(["losetup", "-f", "--show", img]).strip()
        env.loops.append(dev)
        env.mount(["-t", "ext4", "-o", "noinit_itable", dev], root)   # no background zeroing
    else:
        raise RuntimeError(f"unknown BENCH_FS {fs}")
    log(f"[{fs}] mounted")
    populate(root)
    os.sync()                     # no writeback of the set-up during the first workloads
    log(f"[{fs}] layers populated")
    for depth in DEPTHS:
        st = Stacks(env, root, depth - 1, f"d{depth}", "ro")
        log(f"[{fs}] {depth}-layer stacks mounted")
        try:
            depth_workloads(fs, st, depth)
        finally:
            st.close()
    # The main stack: RD_LAYERS lowers (Docker's ro+wh) plus the rw layer.
    st = Stacks(env, root, RD_LAYERS, "main", "ro+wh")
    try:
        main_workloads(fs, st)
    finally:
        st.close()
    # The same with metacopy (an extension of aufs's; overlayfs's is off by default).
    st = Stacks(env, root, RD_LAYERS, "mc", "ro+wh", ",metacopy=on", ",metacopy")
    try:
        metacopy_workloads(fs, st)
    finally:
        st.close()
    drop_caches()
    env.umount(root)
    if fs == "ext4":
        for d in env.loops:
            subprocess.run(["losetup", "-d", d])
        env.loops = []
        os.unlink(f"{WORK}/ext4.img")


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main():
    global BENCHOPS, TREE_TAR
    if not REPO:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench.py: needs root (it runs in the VM)", file=sys.stderr)
        return 2
    t_start = time.time()
    meta = {"kernel": platform.release(), "cpu": cpu_model(), "ncpu": os.cpu_count(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "quick": QUICK, "rounds": ROUNDS, "fs": FSTYPES, "depths": DEPTHS,
            "sizes": {"stat_files": STAT_FILES, "open_files": OPEN_FILES, "open_reps": OPEN_REPS,
                      "readdir_entries": RD_ENTRIES, "readdir_layers": RD_LAYERS,
                      "readdir_reps": RD_REPS, "ls_reps": LS_REPS, "big_mb": BIG_MB,
                      "fio_mb": FIO_MB, "copyup_mb": CU_MB, "tree_files": TREE_FILES,
                      "meta_files": META_FILES},
            "aufs_options": "depth stacks br=rw:...=ro, main stack ...=ro+wh; "
                            + (f"plus '{AUFS_OPTS}'" if AUFS_OPTS else "defaults otherwise (udba=reval)"),
            "overlay_options": "defaults (lowerdir, upperdir, workdir)",
            "order": "per round: bare, overlay, aufs"}
    env = Env()
    rc = 0
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    try:
        # Built on the host by make (build/bench/benchops); else here.
        src = os.path.join(REPO, "tests", "bench", "benchops.c")
        BENCHOPS = os.path.join(REPO, "build", "bench", "benchops")
        if not (os.access(BENCHOPS, os.X_OK) and os.path.getmtime(BENCHOPS) >= os.path.getmtime(src)):
            BENCHOPS = f"{WORK}/benchops"
            run(["gcc", "-O2", "-o", BENCHOPS, src])
        log(f"benchops: {BENCHOPS}")
        TREE_TAR = f"{WORK}/tree.tar"
        make_tree_tar(TREE_TAR)
        log("tree tar made")
        load_modules(env)
        for fs in FSTYPES:
            try:
                bench_fs(env, fs)
            except Exception:
                log(f"[{fs}] aborted:")
                for line in traceback.format_exc().splitlines():
                    log("  " + line)
                RESULTS.append({"fs": fs, "workload": "(setup)", "group": "setup",
                                "samples": {s: [] for s in STACKS},
                                "errors": {s: "the run on this filesystem aborted (see log)" for s in STACKS}})
                rc = 1
                # Leave nothing of this filesystem mounted before the next one.
                for m in [m for m in env.mounts if m.startswith(f"{WORK}/{fs}")][::-1]:
                    env.umount(m)
                for d in env.loops:
                    subprocess.run(["losetup", "-d", d], stderr=subprocess.DEVNULL)
                env.loops = []
    finally:
        env.close()
        shutil.rmtree(WORK, ignore_errors=True)
    meta["duration_s"] = round(time.time() - t_start, 1)
    result = benchreport.enrich({"meta": meta, "stacks": list(STACKS), "results": RESULTS})
    print()
    print("make bench: " + benchreport.meta_line(result))
    print("median [min-max] of each stack; ratios of medians (>1: aufs slower)")
    print(benchreport.table(result))
    if OUT:
        os.makedirs(OUT, exist_ok=True)
        with open(f"{OUT}/bench.json", "w") as f:
            json.dump(result, f, indent=1)
        with open(f"{OUT}/bench.csv", "w") as f:
            f.write(benchreport.csv_text(result))
    print("BENCH-JSON-BEGIN")
    print(json.dumps(result))
    print("BENCH-JSON-END", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
