/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The aufs selftests' library: aufs_test.c, compiled once and linked into
 * every selftest binary (tests/selftests/Makefile).  Paths, files, mounts,
 * the branches of a fixture, shell commands, the page cache, /proc and
 * /sys, the kernel log, directory listings and tree manifests.  The
 * helpers only return error codes; the tests turn those into ASSERT_*()s.
 * Everything a test creates lives under $AUFS_TEST_DIR (default
 * /tmp/aufs-test, a tmpfs mounted by tests/vm/guest-suite.sh), in a fresh
 * mkdtemp() directory per test.
 */
#ifndef AUFS_TEST_H
#define AUFS_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define AUFS_SUPER_MAGIC 0x61756673
#define AUFS_NAME_MAX 242
#define AUFS_FSTYPE "aufs"
#define AUFS_SOURCE "none"
#define AUFS_SYSFS "/sys/fs/aufs"
/* The kernel copies at most one page of mount data (incl. the NUL). */
#define MOUNT_DATA_MAX 4096

const char *test_root(void);

/* snprintf into a PATH_MAX buffer; -1 when truncated. */
int pathf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Mount data into a MOUNT_DATA_MAX buffer; -1 when it does not fit a page. */
int dataf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A fresh directory <root>/<tag>.XXXXXX. */
int make_workdir(char *out, const char *tag);

/* mkdir <dir>/<name>, storing the path in out (may be NULL). */
int make_dir(char *out, const char *dir, const char *name);

int write_file_mode(const char *path, const char *data, size_t len, mode_t mode);

int write_file(const char *path, const char *text);

/* write_file(<dir>/<name>). */
int put_file(const char *dir, const char *name, const char *text);

/* Read a whole (small) file, NUL-terminated; returns its length or -1. */
ssize_t read_file(const char *path, char *buf, size_t size);

/* rm -rf that never crosses a mount point (a still-mounted aufs). */
void rm_tree(const char *path);

/*
 * For FIXTURE_TEARDOWN: umount, failing the test on error.  (No
 * EXPECT_*() there: after a failed ASSERT the harness leaves its handler
 * trigger set, so "EXPECT_EQ(..) TH_LOG(..)" would log spuriously.)
 */
#define TEARDOWN_UMOUNT(path) do {					\
	if (umount2((path), 0)) {					\
		TH_LOG("teardown: umount %s: %s", (path), strerror(errno)); \
		_metadata->passed = 0;					\
	}								\
} while (0)

int aufs_mount(const char *mnt, unsigned long flags, const char *data);

/*
 * A small ext4 filesystem, made with mkfs.ext4 @mkfs_opts on the image
 * file @img and mounted at @mnt (a loop device, freed at umount): 0; 1 when
 * mkfs.ext4 or a loop device is missing (the caller skips); -1 on error.
 */
int mount_ext4(const char *img, const char *mnt, const char *mkfs_opts);

/* mount -o remount,append:<branch> on @mnt. */
int remount_append(const char *mnt, const char *branch);

/* Undo /proc/mounts octal escapes (\040 etc.). */
void unescape_octal(const char *in, char *out, size_t size);

/* Escape like /proc/mounts does: space, tab, newline and backslash. */
void escape_path(const char *in, char *out, size_t size);

/*
 * Find the /proc/self/mounts line of the (last) mount at mnt.  Copies the
 * raw line (without newline) into line, when not NULL.  Returns 0 or -1.
 */
int mount_line(const char *mnt, char *line, size_t size);

/* The si=<hex> of the aufs mounted at mnt, from /proc/self/mounts. */
int mount_si(const char *mnt, char *si, size_t size);

/*
 * A number the module shows in debugfs for the mount at @mnt
 * (/sys/kernel/debug/aufs/si_<id>/<name>, debugfs mounted if it is not),
 * or -1.
 */
long si_debugfs(const char *mnt, const char *name);

/* /sys/fs/aufs/si_<si>/<name> (name may be NULL for the directory). */
int si_path(char *out, const char *si, const char *name);

ssize_t read_si_file(const char *si, const char *name, char *buf, size_t size);

/* Is "aufs" a registered filesystem type (/proc/filesystems)? */
int aufs_registered(void);

/*
 * Kernel log: kmsg_open() positions a reader at the end of the log;
 * kmsg_find() reads what was logged since and reports whether one message
 * text starts with prefix (1), none did (0) or reading failed (-1).  The
 * first matching message is copied to msg.
 */
int kmsg_open(void);

int kmsg_find(int fd, const char *prefix, char *msg, size_t size);

/* Multi-line text as TAP comment lines ("#   <line>") on stderr. */
void log_text(const char *title, const char *text);

/* Sorted directory listing joined with '/', e.g. "./../a/b". */
int list_dir(const char *path, char *out, size_t size);

/*
 * ---- Tree manifests -----------------------------------------------------
 *
 * A manifest is one line per entry below a directory (and "." for the
 * directory itself), sorted by path:
 * "<path> <type> <mode> <size> <fnv1a-64 of the content or link target>",
 * plus " ino=<n>" with MANIFEST_INO, " nlink=<n>" with MANIFEST_NLINK,
 * " mtime=<s.ns>" with MANIFEST_MTIME, " uid=<n> gid=<n>" with
 * MANIFEST_OWNER and " ctime=<s.ns>" with MANIFEST_CTIME.  Directories have
 * size 0 (their size is a filesystem detail).  Does not cross mount points.
 */
#define MANIFEST_INO	1
#define MANIFEST_NLINK	2
#define MANIFEST_MTIME	4
#define MANIFEST_OWNER	8
#define MANIFEST_CTIME	16
#define MANIFEST_ALL	31

struct manifest {
	char **lines;
	size_t n, cap;
	int err;		/* first errno seen while walking, 0 if none */
	char errpath[PATH_MAX];
};

unsigned long long fnv1a_update(unsigned long long h, const void *p, size_t n);

#define FNV1A_INIT 0xcbf29ce484222325ULL

/* fnv1a-64 of a file's content; 0 and errno set on error. */
int file_hash(const char *path, unsigned long long *h, off_t *len);




/* Fill m (zeroed first) with the manifest of dir; 0, or -1 with m->err. */
int manifest_make(struct manifest *m, const char *dir, int flags);

void manifest_free(struct manifest *m);

/*
 * Compare two manifests; logs up to max differing lines ("-" only in a,
 * "+" only in b) as TAP comments under title.  Returns the number of
 * differences.
 */
size_t manifest_diff(const struct manifest *a, const struct manifest *b,
		     const char *title, size_t max);

/*
 * The sorted names in <dir>/<rel> without "." and "..", joined by '/'
 * ("" for an empty directory, "<error>" when it cannot be read).  Returns
 * one of four static buffers, so a few calls can stand in one assertion.
 */
const char *names_in(const char *dir, const char *rel);

/* How many entries of @dir have a name starting with @prefix; -1 when unreadable. */
int names_with_prefix(const char *dir, const char *prefix);

/* ---- Files seen through a directory -------------------------------------- */

/* Content of <dir>/<rel> ("" when missing); one of four static buffers. */
const char *content(const char *dir, const char *rel);

/* lstat() of <dir>/<rel>: 0 or -1. */
int lstat_in(const char *dir, const char *rel, struct stat *st);

/* Does <dir>/<rel> exist (lstat)? */
int exists(const char *dir, const char *rel);

/* chattr: FS_IOC_SETFLAGS of @p with @add set and @del cleared: 0 or -1. */
int set_flags(const char *p, int add, int del);

/* FS_IOC_GETFLAGS of @p, or -1. */
int get_flags(const char *p);

/* ---- Commands and caches ------------------------------------------------- */

/*
 * Run a shell command (stderr joined to stdout); its output, at most
 * outsz - 1 bytes without the trailing newline, goes to out when out is
 * not NULL, else it is discarded.  Returns the exit status, or -1.
 */
int sh(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* sync, then write @what ("1", "2" or "3") to /proc/sys/vm/drop_caches: 0 or -1. */
int drop_caches(const char *what);

/* ---- The branches of a fixture ------------------------------------------- */

/*
 * Is $AUFS_TEST_DIR on tmpfs (or unknown)?  Then each branch is its own
 * tmpfs; when it is on another filesystem (the suite's ext4/xfs re-runs),
 * branches are plain directories there, so the union stands on that
 * filesystem.
 */
int branches_on_tmpfs(void);

/*
 * mkdir <dir>/<name> (its path into out) and, when branches_on_tmpfs(),
 * mount a tmpfs there (@source, @opts): *mounted tells whether one was.
 * 0, or -1 with errno.
 */
int branch_make(char *out, const char *dir, const char *name, const char *source,
		const char *opts, int *mounted);

/*
 * Unmount a branch tmpfs of branch_make(): 0, or -1 (with errno) when it
 * was busy and had to be detached lazily.
 */
int branch_release(const char *path);

/* ---- A fixture's union: work directory, branches, mount point ------------ */

#define AU_BR_MAX 3

/* union_setup() flags */
#define AU_TMPFS_BRANCHES 1	/* each branch its own tmpfs (branch_make()) */
#define AU_TMPFS_DIR	2	/* one tmpfs over the work directory, when
				 * branches_on_tmpfs() */
#define AU_OPEN_DIR	4	/* chmod 0755 the work directory (mkdtemp() makes
				 * it 0700), for tests that drop privileges */

struct au_branch {
	const char *name;	/* <dir>/<name>; NULL ends the list */
	char *path;		/* the fixture's PATH_MAX buffer, filled in */
	const char *tmpfs;	/* its tmpfs options (NULL: the union's) */
	int mounted;		/* a tmpfs of branch_make() */
};

/*
 * What a fixture fills in before union_setup(): tag, flags, tmpfs, source,
 * dir, mnt and br[] (the path buffers stay the fixture's, with the names
 * its tests use); the rest is state.
 */
struct au_union {
	const char *tag;	/* the work directory's name, <root>/<tag>.XXXXXX */
	int flags;
	const char *tmpfs;	/* tmpfs options (AU_TMPFS_BRANCHES, AU_TMPFS_DIR) */
	const char *source;	/* the tmpfs mounts' source (NULL: tag) */
	char *dir;		/* the fixture's PATH_MAX buffers, filled in */
	char *mnt;		/* <dir>/mnt */
	struct au_branch br[AU_BR_MAX + 1];
	char data[MOUNT_DATA_MAX];	/* the mount data of union_mount() */
	int dir_mounted;	/* AU_TMPFS_DIR's tmpfs */
	int mounted;		/* the union, at mnt */
	char err[PATH_MAX + 128];	/* what failed, for a log line */
};

/*
 * Make the work directory (a tmpfs over it with AU_TMPFS_DIR), the
 * branches in br[] order (each a tmpfs with AU_TMPFS_BRANCHES) and mnt:
 * 0, or -1 with errno and u->err.  Nothing is mounted on mnt yet.
 */
int union_setup(struct au_union *u);

/*
 * Mount the union at u->mnt with the mount data fmt (into u->data) and
 * @flags: 0, or -1 with errno.
 */
int union_mount(struct au_union *u, unsigned long flags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* umount u->mnt: 0, or -1 with errno (u->mounted stays set). */
int union_umount(struct au_union *u);

/* What union_release() and union_teardown() found (each logged as a TAP comment). */
#define AU_UNION_BUSY	1	/* the union's umount failed: detached lazily */
#define AU_BRANCH_BUSY	2	/* a branch tmpfs was busy after the union's umount */

/* umount the union, then the branch tmpfs mounts; AU_* bits, 0 when clean. */
int union_release(struct au_union *u);

/* union_release(), the work directory's tmpfs, rm_tree(dir): AU_* bits. */
int union_teardown(struct au_union *u);

/*
 * The seed article's experiment: base/{common,hello}.txt and
 * top/{common,foo}.txt.  0 or -1.
 */
#define HELLO_BASE "Hello from the base branch\n"
int put_seed_files(const char *top, const char *base);

/*
 * For FIXTURE_TEARDOWN: union_teardown(), failing the test on every
 * problem but the @tolerated AU_* bits.
 */
#define UNION_TEARDOWN(u, tolerated) do {				\
	if (union_teardown(u) & ~(tolerated))				\
		_metadata->passed = 0;					\
} while (0)

/* mount -o remount with @flags and the data fmt on @mnt: 0 or the errno. */
int remount(const char *mnt, unsigned long flags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* AUFS_TEST_H */
