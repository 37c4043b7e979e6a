#!/usr/bin/python3
"""Write a `docker save` format archive (for `docker load`) with no network.

    mkimage.py base OUT.tar [--tag NAME:TAG]
    mkimage.py deep OUT.tar --layers N [--tag NAME:TAG]

The archive holds manifest.json, <sha256 of config>.json and one
<id>/layer.tar per layer (plain tar, aufs whiteout names), which is what
Docker's loader reads.  Every image's bottom layer is the same busybox-static
root (/bin/busybox from Debian's busybox-static, one symlink per applet in
/bin, the directories Docker expects), so images share it as they would
share a base image.

base (3 layers), the image of the functional checks:
  1  the busybox root
  2  /data/: del.txt, append.txt ("line1"), keep.txt, hl.txt, gone.txt,
     d/{a,b,sub/c}, mvdir/{x,sub/y}, opqdir/{old1,old2}
  3  /data/.wh.gone.txt (whiteout), /data/opqdir/.wh..wh..opq (opaque) with
     /data/opqdir/new, /data/layer3.txt
  visible: no gone.txt, opqdir holds only "new".

deep (N >= 4 layers), the many-branch checks:
  1    the busybox root plus /bottom.txt
  2    /w/: hide1, hide2, keep1, keep2, gone/sub/f, opq/old, opq/sub/old2
  3..N /layers/<i> (one file per layer, so every branch contributes), and
       whiteouts and opaque directories in layers 12, 30, 37, 70 and 110
       (DEEP_EVENTS); layer N also /top.txt.  Layer i does not depend on N
       (but for /top.txt), so deep images share all layers but the top one.

Next to OUT.tar, OUT.tar.expect gets what the union must show: the output
of `find ROOTS | sort; cat FILES` in a container of the image (base: ROOTS
/data, FILES /data/keep.txt /data/append.txt; deep: ROOTS /w /layers
/bottom.txt /top.txt, FILES /bottom.txt /top.txt), computed by applying the
layers with aufs's whiteout rules.

Deterministic: fixed mtimes, uid/gid 0, sorted entries.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MTIME = 1700000000
BUSYBOX = "/bin/busybox"


class Layer:
    def __init__(self):
        self.entries = []   # (TarInfo, bytes or None)
        self.dirs = set()

    def _info(self, name, typ, mode):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.mtime = MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.dirs:
                self.dirs.add(p)
                self.entries.append((self._info(p + "/", tarfile.DIRTYPE, mode), None))

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        if "/" in path:
            self.dir(path.rsplit("/", 1)[0])
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(path, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries.append((ti, data))

    def symlink(self, path, target):
        path = path.strip("/")
        if "/" in path:
            self.dir(path.rsplit("/", 1)[0])
        ti = self._info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries.append((ti, None))

    def whiteout(self, path):
        """aufs whiteout: an empty regular file .wh.<name>."""
        d, _, name = path.strip("/").rpartition("/")
        self.file((d + "/" if d else "") + ".wh." + name, b"", 0o444)

    def opaque(self, dirpath):
        """aufs opaque directory marker."""
        self.dir(dirpath)
        self.file(dirpath.strip("/") + "/.wh..wh..opq", b"", 0o444)

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for ti, data in sorted(self.entries, key=lambda e: e[0].name.rstrip("/")):
                t.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def busybox_root(extra=None):
    layer = Layer()
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "data"):
        layer.dir(d, 0o1777 if d == "tmp" else 0o755)
    with open(BUSYBOX, "rb") as f:
        layer.file("bin/busybox", f.read(), 0o755)
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in sorted(set(applets)):
        if a != "busybox" and "/" not in a:
            layer.symlink("bin/" + a, "busybox")
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    layer.file("etc/group", "root:x:0:\n")
    if extra:
        extra(layer)
    return layer


def write_image(out, tag, layers, name):
    blobs = [layer.tar() for layer in layers]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z",
                     "created_by": "mkimage.py %s layer %d" % (name, i + 1)}
                    for i in range(len(blobs))],
    }
    cfg = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    # The directory of a layer: any unique name; the chain of diff ids.
    layer_dirs = []
    chain = ""
    for d in diff_ids:
        chain = hashlib.sha256((chain + " " + d).encode()).hexdigest() if chain else d[7:]
        layer_dirs.append(chain)
    manifest = [{"Config": cfg_name, "RepoTags": [tag],
                 "Layers": [d + "/layer.tar" for d in layer_dirs]}]
    repo, _, t = tag.rpartition(":")
    repos = {repo: {t: layer_dirs[-1]}}

    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(nm, data, typ=tarfile.REGTYPE):
            ti = tarfile.TarInfo(nm)
            ti.mtime = MTIME
            ti.type = typ
            if typ == tarfile.DIRTYPE:
                ti.mode = 0o755
                t.addfile(ti)
            else:
                ti.mode = 0o644
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        for d, b in zip(layer_dirs, blobs):
            add(d, None, tarfile.DIRTYPE)
            add(d + "/VERSION", b"1.0")
            add(d + "/layer.tar", b)
        add(cfg_name, cfg)
        add("manifest.json", json.dumps(manifest).encode())
        add("repositories", json.dumps(repos).encode())
    os.replace(tmp, out)
    return len(blobs)


def base_image():
    l2 = Layer()
    l2.file("data/del.txt", "delete me\n")
    l2.file("data/append.txt", "line1\n")
    l2.file("data/keep.txt", "keep\n")
    l2.file("data/hl.txt", "hard link me\n")
    l2.file("data/gone.txt", "whited out by layer 3\n")
    l2.file("data/d/a", "a\n")
    l2.file("data/d/b", "b\n")
    l2.file("data/d/sub/c", "c\n")
    l2.file("data/mvdir/x", "x\n")
    l2.file("data/mvdir/sub/y", "y\n")
    l2.file("data/opqdir/old1", "old1\n")
    l2.file("data/opqdir/old2", "old2\n")
    l3 = Layer()
    l3.dir("data")
    l3.whiteout("data/gone.txt")
    l3.opaque("data/opqdir")
    l3.file("data/opqdir/new", "new\n")
    l3.file("data/layer3.txt", "3\n")
    return [busybox_root(), l2, l3]


# Layers of the deep images at fixed positions, so that deep images share
# every layer but their top one (as images built FROM one base do), and
# the whiteouts sit in middle layers of every image.
DEEP_EVENTS = {
    12: "whiteout /w/hide1 and the directory /w/gone",
    30: "opaque /w/opq (plus /w/opq/new)",
    37: "whiteout /layers/005 (a file of layer 5)",
    70: "whiteout /w/hide2, add /w/late",
    110: "opaque /w/opq again (plus /w/opq/newer), whiteout /w/keep2",
}


def deep_image(n):
    assert n >= 4
    layers = [busybox_root(lambda l: l.file("bottom.txt", "bottom\n"))]
    l2 = Layer()
    for f in ("hide1", "hide2", "keep1", "keep2", "gone/sub/f", "opq/old", "opq/sub/old2"):
        l2.file("w/" + f, f + "\n")
    layers.append(l2)
    for i in range(3, n + 1):
        li = Layer()
        li.file("layers/%03d" % i, "layer %d\n" % i)
        if i == 12:
            li.whiteout("w/hide1")
            li.whiteout("w/gone")
        elif i == 30:
            li.opaque("w/opq")
            li.file("w/opq/new", "new\n")
        elif i == 37:
            li.whiteout("layers/005")
        elif i == 70:
            li.whiteout("w/hide2")
            li.file("w/late", "late\n")
        elif i == 110:
            li.opaque("w/opq")
            li.file("w/opq/newer", "newer\n")
            li.whiteout("w/keep2")
        if i == n:
            li.file("top.txt", "top %d\n" % n)
        layers.append(li)
    return layers


def union(layers):
    """What aufs shows of these layers: {path: data or None for a dir}."""
    view = {}
    for layer in layers:
        names = [ti.name.rstrip("/") for ti, _ in layer.entries]
        for nm in names:
            d, _, base = nm.rpartition("/")
            if base == ".wh..wh..opq":
                gone = [p for p in view if p.startswith(d + "/")]
            elif base.startswith(".wh."):
                victim = (d + "/" if d else "") + base[4:]
                gone = [p for p in view if p == victim or p.startswith(victim + "/")]
            else:
                continue
            for p in gone:
                del view[p]
        for ti, data in layer.entries:
            nm = ti.name.rstrip("/")
            if nm.rpartition("/")[2].startswith(".wh."):
                continue
            view[nm] = None if ti.isdir() else (data or b"")
    return view


def expect(layers, roots, cats):
    """The output of: find ROOTS | sort; cat CATS (in the container)."""
    view = union(layers)
    out = []
    for r in roots:
        out += ["/" + p for p in view if p == r or p.startswith(r + "/")]
    text = "".join(p + "\n" for p in sorted(out))
    for c in cats:
        text += view[c].decode()
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["base", "deep"])
    ap.add_argument("out")
    ap.add_argument("--tag")
    ap.add_argument("--layers", type=int, default=0)
    a = ap.parse_args()
    if a.kind == "base":
        tag = a.tag or "aufs-base:latest"
        layers = base_image()
        exp = expect(layers, ["data"], ["data/keep.txt", "data/append.txt"])
    else:
        if a.layers < 4:
            ap.error("deep needs --layers N, N >= 4")
        tag = a.tag or "aufs-deep%d:latest" % a.layers
        layers = deep_image(a.layers)
        exp = expect(layers, ["w", "layers", "bottom.txt", "top.txt"], ["bottom.txt", "top.txt"])
    n = write_image(a.out, tag, layers, tag)
    with open(a.out + ".expect", "w") as f:
        f.write(exp)
    print("%s: %s, %d layers" % (a.out, tag, n))


if __name__ == "__main__":
    sys.exit(main())
