#!/usr/bin/python3
"""Hold files open in a union while someone else tears it down.

    holdfd.py FIFO RW_FILE RO_FILE DIR

Opens RW_FILE and RO_FILE for reading and DIR as a directory, prints
"ready", then blocks until a line arrives on FIFO.  Afterwards it reads both
files from offset 0 (pread), fstat()s all three, lists DIR through its fd,
tries an openat() through it, and closes everything, printing one line per
step ("read RW_FILE: 'data'", "listdir: ...: OSError ..." ...).  Errors
from the union being gone are expected and reported, never fatal: the
point is that none of this crashes the kernel or hangs.  Exit 0 when every
step returned (whatever it returned), 1 when the opens failed.
"""
import os
import sys


def step(what, fn):
    try:
        r = fn()
        print("%s: %r" % (what, r), flush=True)
        return r
    except OSError as e:
        print("%s: OSError errno=%d (%s)" % (what, e.errno, e.strerror), flush=True)
        return None


def main():
    fifo, rw, ro, d = sys.argv[1:5]
    try:
        frw = os.open(rw, os.O_RDONLY)
        fro = os.open(ro, os.O_RDONLY)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        print("open failed: %s" % e, flush=True)
        return 1
    print("ready", flush=True)
    with open(fifo) as f:
        f.readline()
    step("read rw", lambda: os.pread(frw, 4096, 0).decode(errors="replace"))
    step("read ro", lambda: os.pread(fro, 4096, 0).decode(errors="replace"))
    step("fstat rw nlink", lambda: os.fstat(frw).st_nlink)
    step("fstat ro size", lambda: os.fstat(fro).st_size)
    step("fstat dir nlink", lambda: os.fstat(fd).st_nlink)
    step("listdir", lambda: sorted(os.listdir(fd)))
    step("openat keep.txt", lambda: os.close(os.open("keep.txt", os.O_RDONLY, dir_fd=fd)))
    step("close rw", lambda: os.close(frw))
    step("close ro", lambda: os.close(fro))
    step("close dir", lambda: os.close(fd))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
