// SPDX-License-Identifier: GPL-2.0-only
/*
 * The writable union, through real syscalls: copy-up (its triggers, what it
 * preserves, its atomicity), whiteouts and opaque directories, writable
 * lower branches, every namespace operation, file I/O (pwrite, O_APPEND,
 * truncate, fallocate, fsync, shared mmap, locks), EROFS, permission
 * checks as an unprivileged user, and clean unmounting afterwards.
 *
 * Every test gets fresh branches, each its own tmpfs (top, mid, base), with
 * the seed article's files: base/{common,hello}.txt, top/{common,foo}.txt.
 * Expected values are derived from what the test put on the branches.
 * The aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include <grp.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "kselftest_harness.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define HELLO_BASE "Hello from the base branch\n"
#define WH_BASE ".wh..wh.aufs"
#define WH_OPQ ".wh..wh..opq"
#define MIB (1024 * 1024)
#define USER_ID 1000
#define GROUP_ID 1000

FIXTURE(wu) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char mid[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	int mounted;
	int br_mounted[3];	/* top, mid, base */
};

/*
 * Each branch its own tmpfs, unless $AUFS_TEST_DIR is on another
 * filesystem (the suite's ext4/xfs runs): then the branches are plain
 * directories there, so the union really stands on that filesystem.
 */
static int branches_on_tmpfs(void)
{
	struct statfs sf;

	return statfs(test_root(), &sf) || sf.f_type == 0x01021994 /* TMPFS_MAGIC */;
}

static int mount_tmpfs(const char *path, const char *opts)
{
	if (!branches_on_tmpfs())
		return 0;
	return mount("aufs-wu", path, "tmpfs", 0, opts);
}

FIXTURE_SETUP(wu)
{
	umask(0);
	ASSERT_EQ(0, make_workdir(self->dir, "wu"));
	/* unprivileged tests must be able to reach the mount point */
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, make_dir(self->top, self->dir, "top"));
	ASSERT_EQ(0, make_dir(self->mid, self->dir, "mid"));
	ASSERT_EQ(0, make_dir(self->base, self->dir, "base"));
	ASSERT_EQ(0, make_dir(self->mnt, self->dir, "mnt"));
	ASSERT_EQ(0, mount_tmpfs(self->top, "size=64m,mode=0755")) TH_LOG("tmpfs: %s", strerror(errno));
	self->br_mounted[0] = 1;
	ASSERT_EQ(0, mount_tmpfs(self->mid, "size=64m,mode=0755"));
	self->br_mounted[1] = 1;
	ASSERT_EQ(0, mount_tmpfs(self->base, "size=64m,mode=0755"));
	self->br_mounted[2] = 1;
	/* the seed experiment's files */
	ASSERT_EQ(0, put_file(self->base, "common.txt", "base\n"));
	ASSERT_EQ(0, put_file(self->base, "hello.txt", HELLO_BASE));
	ASSERT_EQ(0, put_file(self->top, "common.txt", "top\n"));
	ASSERT_EQ(0, put_file(self->top, "foo.txt", "foo\n"));
}

FIXTURE_TEARDOWN(wu)
{
	const char *br[3] = { self->top, self->mid, self->base };
	int union_gone = 1, i;

	if (self->mounted && umount2(self->mnt, 0)) {
		TH_LOG("teardown: umount %s: %s", self->mnt, strerror(errno));
		_metadata->passed = 0;
		umount2(self->mnt, MNT_DETACH);
		union_gone = 0;
	}
	for (i = 0; i < 3; i++) {
		if (!self->br_mounted[i] || !branches_on_tmpfs())
			continue;
		if (umount2(br[i], 0)) {
			/* nothing but the union could hold a branch busy */
			if (union_gone) {
				TH_LOG("teardown: branch %s still busy after the union's umount: %s",
				       br[i], strerror(errno));
				_metadata->passed = 0;
			}
			umount2(br[i], MNT_DETACH);
		}
	}
	rm_tree(self->dir);
}

/* ---- helpers ---- */

static void do_mount(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self, const char *data)
{
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, data))
		TH_LOG("mount -o '%s' %s: %s", data, self->mnt, strerror(errno));
	self->mounted = 1;
}

/* br=<top>=<p0>:<base>=<p1> */
static void mount2(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self,
		   const char *p0, const char *p1)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=%s:%s=%s", self->top, p0, self->base, p1));
	do_mount(_metadata, self, d);
}

/* br=<top>=<p0>:<mid>=<p1>:<base>=<p2> */
static void mount3(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self,
		   const char *p0, const char *p1, const char *p2)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=%s:%s=%s:%s=%s", self->top, p0, self->mid, p1,
			   self->base, p2));
	do_mount(_metadata, self, d);
}

/* The seed layout: br=<top>=rw:<base>=ro */
static void mount_seed(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self)
{
	mount2(_metadata, self, "rw", "ro");
}

static void at(struct __test_metadata *_metadata, char *out, const char *dir, const char *rel)
{
	ASSERT_EQ(0, pathf(out, "%s/%s", dir, rel));
}

static void expect_content(struct __test_metadata *_metadata, const char *dir, const char *rel,
			   const char *want)
{
	char p[PATH_MAX], buf[65536];

	at(_metadata, p, dir, rel);
	ASSERT_EQ((ssize_t)strlen(want), read_file(p, buf, sizeof(buf)))
		TH_LOG("%s: %s (content '%s', want '%s')", p, strerror(errno), buf, want);
	ASSERT_STREQ(want, buf) TH_LOG("content of %s", p);
}

/* lstat(<dir>/<rel>) must fail with err. */
static void expect_errno(struct __test_metadata *_metadata, const char *dir, const char *rel,
			 int err)
{
	char p[PATH_MAX];
	struct stat st;

	at(_metadata, p, dir, rel);
	ASSERT_EQ(-1, lstat(p, &st)) TH_LOG("%s exists (mode 0%o)", p, st.st_mode);
	ASSERT_EQ(err, errno) TH_LOG("lstat %s: %s, expected %s", p, strerror(errno), strerror(err));
}

/* Entries of @dir named like the union's temporary work (.wh..wh.cpup.*, ...). */
static int count_tmp_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, ".wh..wh.cpup.", 13) ||
		     !strncmp(e->d_name, ".wh..wh.rmdir.", 14);
	closedir(d);
	return n;
}

static void expect_absent(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	expect_errno(_metadata, dir, rel, ENOENT);
}

static void lstat_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
		     struct stat *st)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lstat(p, st)) TH_LOG("lstat %s: %s", p, strerror(errno));
}

static void expect_present(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	struct stat st;

	lstat_at(_metadata, dir, rel, &st);
}

static void expect_listing(struct __test_metadata *_metadata, const char *dir, const char *rel,
			   const char *want)
{
	char p[PATH_MAX], got[65536];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, list_dir(p, got, sizeof(got))) TH_LOG("readdir %s: %s", p, strerror(errno));
	ASSERT_STREQ(want, got) TH_LOG("listing of %s", p);
}

/* `echo text > <dir>/<rel>` on an existing file: open O_WRONLY|O_TRUNC, write. */
static void overwrite(struct __test_metadata *_metadata, const char *dir, const char *rel,
		      const char *text)
{
	char p[PATH_MAX];
	int fd;

	at(_metadata, p, dir, rel);
	fd = open(p, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", p, strerror(errno));
	ASSERT_EQ((ssize_t)strlen(text), write(fd, text, strlen(text)))
		TH_LOG("write %s: %s", p, strerror(errno));
	ASSERT_EQ(0, close(fd));
}

/* A new file <dir>/<rel> with text, O_CREAT|O_EXCL. */
static void create_file(struct __test_metadata *_metadata, const char *dir, const char *rel,
			const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	at(_metadata, p, dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", p, strerror(errno));
	ASSERT_EQ((ssize_t)strlen(text), write(fd, text, strlen(text)));
	ASSERT_EQ(0, close(fd));
}

static void mkdir_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
		     mode_t mode)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, mkdir(p, mode)) TH_LOG("mkdir %s: %s", p, strerror(errno));
}

/* <top>/<rel> is a whiteout: a hard link to <top>/.wh..wh.aufs. */
static void expect_whiteout(struct __test_metadata *_metadata, const char *top, const char *rel)
{
	struct stat wh, base;

	lstat_at(_metadata, top, rel, &wh);
	lstat_at(_metadata, top, WH_BASE, &base);
	ASSERT_TRUE(S_ISREG(wh.st_mode)) TH_LOG("%s/%s: mode 0%o", top, rel, wh.st_mode);
	ASSERT_EQ(base.st_ino, wh.st_ino) TH_LOG("%s/%s is not a link to " WH_BASE, top, rel);
	ASSERT_EQ(base.st_dev, wh.st_dev);
	ASSERT_LE(2, wh.st_nlink);
	ASSERT_EQ(0, wh.st_size);
}

static void set_times(struct __test_metadata *_metadata, const char *dir, const char *rel,
		      time_t asec, long ansec, time_t msec, long mnsec)
{
	struct timespec ts[2] = { { asec, ansec }, { msec, mnsec } };
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW))
		TH_LOG("utimensat %s: %s", p, strerror(errno));
}

static void chown_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
		     uid_t uid, gid_t gid)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lchown(p, uid, gid)) TH_LOG("chown %s: %s", p, strerror(errno));
}

static void chmod_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
		     mode_t mode)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, chmod(p, mode)) TH_LOG("chmod %s: %s", p, strerror(errno));
}

static void setx(struct __test_metadata *_metadata, const char *dir, const char *rel,
		 const char *name, const char *value)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lsetxattr(p, name, value, strlen(value), 0))
		TH_LOG("setxattr %s %s: %s", p, name, strerror(errno));
}

/* The xattr <name> of <dir>/<rel> must be want (NULL: must be absent, ENODATA). */
static void expect_xattr(struct __test_metadata *_metadata, const char *dir, const char *rel,
			 const char *name, const char *want)
{
	char p[PATH_MAX], buf[256];
	ssize_t n;

	at(_metadata, p, dir, rel);
	n = lgetxattr(p, name, buf, sizeof(buf) - 1);
	if (!want) {
		ASSERT_EQ(-1, n) TH_LOG("%s has %s", p, name);
		ASSERT_EQ(ENODATA, errno) TH_LOG("getxattr %s %s: %s", p, name, strerror(errno));
		return;
	}
	ASSERT_EQ((ssize_t)strlen(want), n) TH_LOG("getxattr %s %s: %s", p, name, strerror(errno));
	buf[n] = '\0';
	ASSERT_STREQ(want, buf);
}

/* Full binary content of a file into a malloc()ed buffer; its size in *len. */
static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	buf = malloc(st.st_size + 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		if (n <= 0) {
			free(buf);
			buf = NULL;
			break;
		}
		got += n;
	}
	close(fd);
	*len = got;
	return buf;
}

static void fill_pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed) % 251);
}

static int write_bin(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
	return write_file_mode(path, (const char *)data, len, mode);
}

static void expect_bin(struct __test_metadata *_metadata, const char *dir, const char *rel,
		       const unsigned char *want, size_t len)
{
	char p[PATH_MAX];
	unsigned char *got;
	size_t n = 0;

	at(_metadata, p, dir, rel);
	got = slurp(p, &n);
	ASSERT_NE(NULL, got) TH_LOG("read %s: %s", p, strerror(errno));
	EXPECT_EQ(len, n) TH_LOG("size of %s", p);
	EXPECT_EQ(0, memcmp(want, got, n < len ? n : len)) TH_LOG("content of %s", p);
	free(got);
}

static int renameat2_(const char *from, const char *to, unsigned int flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

/*
 * Run fn in a child process (as uid/gid when uid != -1, with no
 * supplementary groups) and collect the n ints it fills in.  0 or -1.
 */
typedef void (*child_fn)(FIXTURE_DATA(wu) *self, int *res, int n);

static int run_child(FIXTURE_DATA(wu) *self, uid_t uid, gid_t gid, child_fn fn, int *res, int n)
{
	size_t want = n * sizeof(int), got = 0;
	int p[2], st, i;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		for (i = 0; i < n; i++)
			res[i] = -9999;
		if (uid != (uid_t)-1 &&
		    (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)))
			_exit(3);
		fn(self, res, n);
		if (write(p[1], res, want) != (ssize_t)want)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	while (got < want) {
		ssize_t r = read(p[0], (char *)res + got, want - got);

		if (r <= 0)
			break;
		got += r;
	}
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return (got == want && WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : -1;
}

/* errno of a -1 return, or 0 */
#define ERR_OF(expr) ((expr) == -1 ? errno : 0)

static int open_err(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags, mode);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* ================================================================== */
/* 1. the seed scenarios                                              */
/* ================================================================== */

/* echo changed > mnt/common.txt */
TEST_F(wu, seed_echo_changed_to_common)
{
	mount_seed(_metadata, self);
	overwrite(_metadata, self->mnt, "common.txt", "changed\n");
	expect_content(_metadata, self->top, "common.txt", "changed\n");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	expect_content(_metadata, self->mnt, "common.txt", "changed\n");
}

/* echo "hello, world" > mnt/hello.txt: copied up to top, base untouched */
TEST_F(wu, seed_write_hello_copies_up)
{
	struct stat st;

	mount_seed(_metadata, self);
	expect_absent(_metadata, self->top, "hello.txt");
	overwrite(_metadata, self->mnt, "hello.txt", "hello, world\n");
	expect_content(_metadata, self->top, "hello.txt", "hello, world\n");
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", "hello, world\n");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt");
	/* no copy-up leftovers */
	ASSERT_EQ(0, count_tmp_names(self->top));
}

/* rm mnt/hello.txt: top/.wh.hello.txt, a link to top/.wh..wh.aufs */
TEST_F(wu, seed_unlink_base_file_whiteout)
{
	char p[PATH_MAX];

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink: %s", strerror(errno));
	expect_whiteout(_metadata, self->top, ".wh.hello.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
	ASSERT_EQ(-1, open(p, O_RDONLY));
	ASSERT_EQ(ENOENT, errno);
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* a second unlink: the name is gone */
	ASSERT_EQ(-1, unlink(p));
	ASSERT_EQ(ENOENT, errno);
}

/* rm mnt/dir/a mnt/dir/b; rmdir mnt/dir: top/.wh.dir, base/dir keeps its children */
TEST_F(wu, seed_rmdir_base_dir_whiteout)
{
	char p[PATH_MAX];

	mkdir_at(_metadata, self->base, "dir", 0755);
	ASSERT_EQ(0, put_file(self->base, "dir/a", "a\n"));
	ASSERT_EQ(0, put_file(self->base, "dir/b", "b\n"));
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "dir");
	ASSERT_EQ(-1, rmdir(p));
	ASSERT_EQ(ENOTEMPTY, errno);
	at(_metadata, p, self->mnt, "dir/a");
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink %s: %s", p, strerror(errno));
	at(_metadata, p, self->mnt, "dir/b");
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink %s: %s", p, strerror(errno));
	expect_listing(_metadata, self->mnt, "dir", "./..");
	at(_metadata, p, self->mnt, "dir");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir %s: %s", p, strerror(errno));

	expect_absent(_metadata, self->mnt, "dir");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt");
	expect_whiteout(_metadata, self->top, ".wh.dir");
	expect_absent(_metadata, self->top, "dir");
	expect_content(_metadata, self->base, "dir/a", "a\n");
	expect_content(_metadata, self->base, "dir/b", "b\n");
}

/* mkdir over a whited-out directory: opaque, old children stay hidden */
TEST_F(wu, seed_mkdir_over_whiteout_is_opaque)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "dir", 0755);
	ASSERT_EQ(0, put_file(self->base, "dir/a", "a\n"));
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "dir/a");
	ASSERT_EQ(0, unlink(p));
	at(_metadata, p, self->mnt, "dir");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir: %s", strerror(errno));
	expect_whiteout(_metadata, self->top, ".wh.dir");

	ASSERT_EQ(0, mkdir(p, 0750)) TH_LOG("mkdir: %s", strerror(errno));
	expect_absent(_metadata, self->top, ".wh.dir");
	lstat_at(_metadata, self->top, "dir/" WH_OPQ, &st);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	lstat_at(_metadata, self->mnt, "dir", &st);
	ASSERT_EQ(S_IFDIR | 0750, st.st_mode);
	expect_listing(_metadata, self->mnt, "dir", "./..");
	expect_absent(_metadata, self->mnt, "dir/a");
	/* the new directory works as any */
	create_file(_metadata, self->mnt, "dir/new", "new\n", 0644);
	expect_listing(_metadata, self->mnt, "dir", "./../new");
	expect_content(_metadata, self->top, "dir/new", "new\n");
	expect_content(_metadata, self->base, "dir/a", "a\n");
}

/* ================================================================== */
/* 2. copy-up triggers and what copy-up preserves                     */
/* ================================================================== */

#define DATA "0123456789\n"

/*
 * Opening for write copies up (as overlayfs; aufs waited for the first
 * write, which made writes and mmap copy under their locks: README).
 * Opening for reading does not.
 */
TEST_F(wu, cpup_on_open_for_write)
{
	char p[PATH_MAX];
	struct stat st, top;
	int fd;

	ASSERT_EQ(0, put_file(self->base, "data.txt", DATA));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "data.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	expect_absent(_metadata, self->top, "data.txt");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", DATA);
	expect_content(_metadata, self->mnt, "data.txt", DATA);
	ASSERT_EQ(2, write(fd, "AB", 2)) TH_LOG("write: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", "AB23456789\n");
	ASSERT_EQ(2, write(fd, "CD", 2));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "data.txt", &top);
	lstat_at(_metadata, self->mnt, "data.txt", &st);
	ASSERT_EQ(top.st_size, st.st_size);
	ASSERT_EQ(top.st_mtim.tv_sec, st.st_mtim.tv_sec);
	ASSERT_EQ(top.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	expect_content(_metadata, self->top, "data.txt", "ABCD456789\n");
	expect_content(_metadata, self->mnt, "data.txt", "ABCD456789\n");
	expect_content(_metadata, self->base, "data.txt", DATA);
}

TEST_F(wu, cpup_on_o_trunc_open)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(0, st.st_size);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(0, st.st_size);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_truncate_shrink)
{
	unsigned char want[40];
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, put_file(self->base, "data.txt", DATA));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "data.txt");
	ASSERT_EQ(0, truncate(p, 4)) TH_LOG("truncate: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", "0123");
	expect_content(_metadata, self->mnt, "data.txt", "0123");
	lstat_at(_metadata, self->mnt, "data.txt", &st);
	ASSERT_EQ(4, st.st_size);
	expect_content(_metadata, self->base, "data.txt", DATA);
	/* and growing again: zeros after the kept part */
	ASSERT_EQ(0, truncate(p, 8));
	lstat_at(_metadata, self->top, "data.txt", &st);
	ASSERT_EQ(8, st.st_size);
	expect_bin(_metadata, self->mnt, "data.txt", (const unsigned char *)"0123\0\0\0\0", 8);
	/* a lower file truncated to a larger size: copied whole, then extended */
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, truncate(p, 40)) TH_LOG("truncate up: %s", strerror(errno));
	memset(want, 0, sizeof(want));
	memcpy(want, HELLO_BASE, strlen(HELLO_BASE));
	expect_bin(_metadata, self->top, "hello.txt", want, 40);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_chmod)
{
	char p[PATH_MAX];
	struct stat before, st;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &before));
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	/* the union inode number survives the copy-up */
	ASSERT_EQ(before.st_ino, st.st_ino);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_chown)
{
	char p[PATH_MAX];
	struct stat st;

	chown_at(_metadata, self->base, "hello.txt", USER_ID, GROUP_ID);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, chown(p, 2000, 3000)) TH_LOG("chown: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(3000, st.st_gid);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(USER_ID, st.st_uid);
	ASSERT_EQ(GROUP_ID, st.st_gid);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(3000, st.st_gid);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_utimensat)
{
	struct timespec ts[2] = { { 1300000000, 5 }, { 1400000000, 6 } };
	char p[PATH_MAX];
	struct stat st;

	set_times(_metadata, self->base, "hello.txt", 1000000000, 1, 1100000000, 2);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, 0)) TH_LOG("utimensat: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(1300000000, st.st_atim.tv_sec);
	ASSERT_EQ(5, st.st_atim.tv_nsec);
	ASSERT_EQ(1400000000, st.st_mtim.tv_sec);
	ASSERT_EQ(6, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(1400000000, st.st_mtim.tv_sec);
	ASSERT_EQ(6, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(1000000000, st.st_atim.tv_sec);
	ASSERT_EQ(1100000000, st.st_mtim.tv_sec);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_setxattr_trusted)
{
	char p[PATH_MAX];

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, setxattr(p, "trusted.x", "v1", 2, 0)) TH_LOG("setxattr: %s", strerror(errno));
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.x", "v1");
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.x", "v1");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.x", NULL);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
	/* XATTR_CREATE on an existing name: EEXIST, as on any filesystem */
	ASSERT_EQ(-1, setxattr(p, "trusted.x", "v2", 2, XATTR_CREATE));
	ASSERT_EQ(EEXIST, errno);
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.x", "v1");
}

/* user.* on tmpfs (6.1): whatever the branch says, the union says too. */
TEST_F(wu, user_xattr_errno_like_branch)
{
	char probe[PATH_MAX], p[PATH_MAX], buf[64];
	int r_set, e_set, r_get, e_get, r;

	ASSERT_EQ(0, put_file(self->mid, "probe", "p\n"));
	at(_metadata, probe, self->mid, "probe");
	r_set = setxattr(probe, "user.x", "v", 1, 0);
	e_set = errno;
	r_get = getxattr(probe, "user.y", buf, sizeof(buf));
	e_get = errno;
	TH_LOG("tmpfs itself: setxattr user.x -> %d (%s), getxattr user.y -> %d (%s)",
	       r_set, r_set ? strerror(e_set) : "ok", r_get, strerror(e_get));
	mount_seed(_metadata, self);

	/* a lower file, and a file on top */
	at(_metadata, p, self->mnt, "hello.txt");
	r = setxattr(p, "user.x", "v", 1, 0);
	ASSERT_EQ(r_set, r);
	if (r_set)
		ASSERT_EQ(e_set, errno) TH_LOG("union: %s, branch: %s", strerror(errno), strerror(e_set));
	r = getxattr(p, "user.y", buf, sizeof(buf));
	ASSERT_EQ(r_get, r);
	ASSERT_EQ(e_get, errno) TH_LOG("union: %s, branch: %s", strerror(errno), strerror(e_get));
	at(_metadata, p, self->mnt, "foo.txt");
	r = setxattr(p, "user.x", "v", 1, 0);
	ASSERT_EQ(r_set, r);
	if (r_set)
		ASSERT_EQ(e_set, errno);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_removexattr)
{
	char p[PATH_MAX], list[1024];
	ssize_t n, i;
	int has_a = 0, has_b = 0;

	setx(_metadata, self->base, "hello.txt", "trusted.a", "1");
	setx(_metadata, self->base, "hello.txt", "trusted.b", "2");
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, removexattr(p, "trusted.a")) TH_LOG("removexattr: %s", strerror(errno));
	expect_present(_metadata, self->top, "hello.txt");
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.a", NULL);
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.b", "2");
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.a", NULL);
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.b", "2");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.a", "1");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.b", "2");
	n = listxattr(p, list, sizeof(list));
	ASSERT_LT(0, n) TH_LOG("listxattr: %s", strerror(errno));
	for (i = 0; i < n; i += strlen(list + i) + 1) {
		has_a |= !strcmp(list + i, "trusted.a");
		has_b |= !strcmp(list + i, "trusted.b");
	}
	ASSERT_EQ(0, has_a);
	ASSERT_EQ(1, has_b);
	/* removing what is not there */
	ASSERT_EQ(-1, removexattr(p, "trusted.a"));
	ASSERT_EQ(ENODATA, errno);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_link)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat a, b;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	at(_metadata, q, self->mnt, "hello-link");
	ASSERT_EQ(0, link(p, q)) TH_LOG("link: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &a);
	lstat_at(_metadata, self->top, "hello-link", &b);
	ASSERT_EQ(a.st_ino, b.st_ino);
	ASSERT_EQ(2, a.st_nlink);
	lstat_at(_metadata, self->mnt, "hello.txt", &a);
	lstat_at(_metadata, self->mnt, "hello-link", &b);
	ASSERT_EQ(2, a.st_nlink);
	ASSERT_EQ(2, b.st_nlink);
	ASSERT_EQ(a.st_ino, b.st_ino);
	lstat_at(_metadata, self->base, "hello.txt", &a);
	ASSERT_EQ(1, a.st_nlink);
	expect_content(_metadata, self->mnt, "hello-link", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello-link/hello.txt");
	/* a write through one name shows through the other */
	overwrite(_metadata, self->mnt, "hello-link", "via link\n");
	expect_content(_metadata, self->mnt, "hello.txt", "via link\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* removing one name: the other stays, with one link */
	ASSERT_EQ(0, unlink(q));
	lstat_at(_metadata, self->mnt, "hello.txt", &a);
	ASSERT_EQ(1, a.st_nlink);
	expect_absent(_metadata, self->top, ".wh.hello-link");
	expect_content(_metadata, self->mnt, "hello.txt", "via link\n");
}

/*
 * Copy-up (here triggered by chmod) keeps data, uid/gid, atime/mtime to
 * the nanosecond and trusted.* xattrs (also an empty one).
 */
TEST_F(wu, cpup_preserves_data_owner_times_xattrs)
{
	const size_t len = 3 * 4096 + 123;
	unsigned char *data = malloc(len);
	char p[PATH_MAX];
	struct stat st, ust;

	ASSERT_NE(NULL, data);
	fill_pattern(data, len, 7);
	at(_metadata, p, self->base, "meta.bin");
	ASSERT_EQ(0, write_bin(p, data, len, 0644));
	chown_at(_metadata, self->base, "meta.bin", USER_ID, GROUP_ID);
	setx(_metadata, self->base, "meta.bin", "trusted.k", "value");
	ASSERT_EQ(0, lsetxattr(p, "trusted.empty", "", 0, 0));
	/* last, so nothing moves them: lower times fixed */
	set_times(_metadata, self->base, "meta.bin", 1000000000, 123456789, 1200000000, 987654321);
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "meta.bin");
	ASSERT_EQ(0, chmod(p, 0640)) TH_LOG("chmod: %s", strerror(errno));
	/* stat before any read (reading may update atime) */
	lstat_at(_metadata, self->top, "meta.bin", &st);
	lstat_at(_metadata, self->mnt, "meta.bin", &ust);
	EXPECT_EQ(S_IFREG | 0640, st.st_mode);
	EXPECT_EQ(USER_ID, st.st_uid);
	EXPECT_EQ(GROUP_ID, st.st_gid);
	EXPECT_EQ((off_t)len, st.st_size);
	EXPECT_EQ(1000000000, st.st_atim.tv_sec);
	EXPECT_EQ(123456789, st.st_atim.tv_nsec);
	EXPECT_EQ(1200000000, st.st_mtim.tv_sec);
	EXPECT_EQ(987654321, st.st_mtim.tv_nsec);
	EXPECT_EQ(USER_ID, ust.st_uid);
	EXPECT_EQ(GROUP_ID, ust.st_gid);
	EXPECT_EQ(1200000000, ust.st_mtim.tv_sec);
	EXPECT_EQ(987654321, ust.st_mtim.tv_nsec);
	expect_xattr(_metadata, self->top, "meta.bin", "trusted.k", "value");
	expect_xattr(_metadata, self->top, "meta.bin", "trusted.empty", "");
	expect_xattr(_metadata, self->mnt, "meta.bin", "trusted.k", "value");
	expect_bin(_metadata, self->top, "meta.bin", data, len);
	expect_bin(_metadata, self->mnt, "meta.bin", data, len);
	free(data);
}

/* Mode bits including set-id survive a copy-up (here by setxattr). */
TEST_F(wu, cpup_preserves_mode_with_setid_bits)
{
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, put_file(self->base, "sg", "setid\n"));
	chown_at(_metadata, self->base, "sg", USER_ID, GROUP_ID);
	chmod_at(_metadata, self->base, "sg", 06751);
	lstat_at(_metadata, self->base, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "sg");
	ASSERT_EQ(0, setxattr(p, "trusted.t", "1", 1, 0)) TH_LOG("setxattr: %s", strerror(errno));
	lstat_at(_metadata, self->top, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	ASSERT_EQ(USER_ID, st.st_uid);
	ASSERT_EQ(GROUP_ID, st.st_gid);
	lstat_at(_metadata, self->mnt, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	expect_content(_metadata, self->top, "sg", "setid\n");
}

/* security.capability as setcap writes it: cap_net_raw+ep (revision 2). */
static const unsigned int net_raw_cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };

static int has_fcap(const char *dir, const char *rel)
{
	unsigned int v[5];
	char p[PATH_MAX];

	if (pathf(p, "%s/%s", dir, rel))
		return -1;
	if (getxattr(p, "security.capability", v, sizeof(v)) != sizeof(v))
		return errno == ENODATA ? 0 : -1;
	return !memcmp(v, net_raw_cap, sizeof(v));
}

/*
 * File capabilities (a copied-up ping must still work): copy-up keeps
 * security.capability; what removes them on a plain filesystem (chown,
 * write(2), truncate) removes them from the copy, never from the lower
 * file; chmod and utimes keep them.  Again after drop_caches and umount.
 */
TEST_F(wu, cpup_keeps_file_capabilities_until_the_vfs_drops_them)
{
	static const char *const f[] = { "chmod", "utimes", "open", "chown", "write", "truncate" };
	char p[PATH_MAX];
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ASSERT_EQ(0, put_file(self->base, f[i], "capable\n"));
		at(_metadata, p, self->base, f[i]);
		ASSERT_EQ(0, setxattr(p, "security.capability", net_raw_cap, sizeof(net_raw_cap), 0))
			TH_LOG("setxattr %s: %s", p, strerror(errno));
	}
	mount_seed(_metadata, self);
	chmod_at(_metadata, self->mnt, "chmod", 0755);
	set_times(_metadata, self->mnt, "utimes", 1000000000, 0, 1000000000, 0);
	at(_metadata, p, self->mnt, "open");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	close(fd);
	chown_at(_metadata, self->mnt, "chown", USER_ID, GROUP_ID);
	at(_metadata, p, self->mnt, "write");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "x", 1));
	close(fd);
	at(_metadata, p, self->mnt, "truncate");
	ASSERT_EQ(0, truncate(p, 3));
	for (int pass = 0; pass < 3; pass++) {
		if (pass == 1)
			ASSERT_EQ(0, write_file("/proc/sys/vm/drop_caches", "3"));
		if (pass == 2) {
			ASSERT_EQ(0, umount2(self->mnt, 0));
			self->mounted = 0;
			mount_seed(_metadata, self);
		}
		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			int kept = i < 3;

			EXPECT_EQ(kept, has_fcap(self->mnt, f[i])) TH_LOG("%s through the union (pass %d)", f[i], pass);
			EXPECT_EQ(kept, has_fcap(self->top, f[i])) TH_LOG("%s on the copy (pass %d)", f[i], pass);
			EXPECT_EQ(1, has_fcap(self->base, f[i])) TH_LOG("%s on the lower branch", f[i]);
		}
	}
}

/* A hole of 8 MiB stays a hole in the copy. */
TEST_F_TIMEOUT(wu, cpup_keeps_sparseness, 120)
{
	const off_t far = 8 * MIB;
	unsigned char a[4096], b[4096], got[4096];
	char p[PATH_MAX];
	struct stat st;
	int fd;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	at(_metadata, p, self->base, "sparse");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, a, 4096, 0));
	ASSERT_EQ(4096, pwrite(fd, b, 4096, far));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->base, "sparse", &st);
	ASSERT_EQ(far + 4096, st.st_size);
	ASSERT_GE(4 * 4096, st.st_blocks * 512) TH_LOG("the lower file is not sparse");
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "sparse");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "sparse", &st);
	ASSERT_EQ(far + 4096, st.st_size);
	ASSERT_GT(st.st_size / 8, st.st_blocks * 512)
		TH_LOG("copy is not sparse: %lld bytes allocated for %lld",
		       (long long)st.st_blocks * 512, (long long)st.st_size);
	at(_metadata, p, self->top, "sparse");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pread(fd, got, 4096, 0));
	ASSERT_EQ(0, memcmp(a, got, 4096));
	ASSERT_EQ(4096, pread(fd, got, 4096, far));
	ASSERT_EQ(0, memcmp(b, got, 4096));
	memset(b, 0, sizeof(b));
	ASSERT_EQ(4096, pread(fd, got, 4096, far / 2));
	ASSERT_EQ(0, memcmp(b, got, 4096));
	ASSERT_EQ(0, close(fd));
}

/* Copy-up of data larger than one copy chunk, and of a trailing hole. */
TEST_F_TIMEOUT(wu, cpup_large_file_and_trailing_hole, 120)
{
	const size_t len = 5 * MIB / 2 + 777;
	unsigned char *data = malloc(len), *want;
	char p[PATH_MAX];
	struct stat st;
	int fd;

	ASSERT_NE(NULL, data);
	fill_pattern(data, len, 11);
	at(_metadata, p, self->base, "large");
	ASSERT_EQ(0, write_bin(p, data, len, 0644));
	at(_metadata, p, self->base, "tail");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, data, 4096, 0));
	ASSERT_EQ(0, ftruncate(fd, 4 * MIB));
	ASSERT_EQ(0, close(fd));
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "large");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3, pwrite(fd, "END", 3, len - 3)) TH_LOG("pwrite: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	memcpy(data + len - 3, "END", 3);
	expect_bin(_metadata, self->top, "large", data, len);
	expect_bin(_metadata, self->mnt, "large", data, len);

	at(_metadata, p, self->mnt, "tail");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "tail", &st);
	ASSERT_EQ(4 * MIB, st.st_size);
	ASSERT_GT(MIB, st.st_blocks * 512) TH_LOG("the trailing hole was filled");
	want = calloc(1, 4 * MIB);
	ASSERT_NE(NULL, want);
	fill_pattern(want, 4096, 11);
	expect_bin(_metadata, self->top, "tail", want, 4 * MIB);
	free(want);
	free(data);
}

/* Missing parents are made top-down with the lower directories' attributes. */
TEST_F(wu, cpup_creates_parents_with_attributes)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "a", 0755);
	mkdir_at(_metadata, self->base, "a/b", 0755);
	ASSERT_EQ(0, put_file(self->base, "a/b/f", "deep\n"));
	ASSERT_EQ(0, put_file(self->base, "a/b/g", "sibling\n"));
	chmod_at(_metadata, self->base, "a", 0711);
	chmod_at(_metadata, self->base, "a/b", 0750);
	chown_at(_metadata, self->base, "a/b", USER_ID, GROUP_ID);
	set_times(_metadata, self->base, "a/b", 1100000000, 11, 1150000000, 15);
	set_times(_metadata, self->base, "a", 1000000000, 1, 1050000000, 5);
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "a/b/f");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));

	/* stat first: listing a directory updates its atime */
	lstat_at(_metadata, self->top, "a", &st);
	EXPECT_EQ(S_IFDIR | 0711, st.st_mode);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(1000000000, st.st_atim.tv_sec);
	EXPECT_EQ(1, st.st_atim.tv_nsec);
	EXPECT_EQ(1050000000, st.st_mtim.tv_sec);
	EXPECT_EQ(5, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->top, "a/b", &st);
	EXPECT_EQ(S_IFDIR | 0750, st.st_mode);
	EXPECT_EQ(USER_ID, st.st_uid);
	EXPECT_EQ(GROUP_ID, st.st_gid);
	EXPECT_EQ(1100000000, st.st_atim.tv_sec);
	EXPECT_EQ(11, st.st_atim.tv_nsec);
	EXPECT_EQ(1150000000, st.st_mtim.tv_sec);
	EXPECT_EQ(15, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->mnt, "a/b", &st);
	EXPECT_EQ(S_IFDIR | 0750, st.st_mode);
	EXPECT_EQ(1150000000, st.st_mtim.tv_sec);
	EXPECT_EQ(15, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->top, "a/b/f", &st);
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);

	/* only the path to f was copied: the directories, not their other children */
	expect_listing(_metadata, self->top, "a", "./../b");
	expect_listing(_metadata, self->top, "a/b", "./../f");
	expect_listing(_metadata, self->mnt, "a/b", "./../f/g");
	expect_content(_metadata, self->top, "a/b/f", "deep\n");
	expect_content(_metadata, self->mnt, "a/b/g", "sibling\n");
}

/* lchown of a lower symlink copies the link itself up. */
TEST_F(wu, cpup_symlink_on_lchown)
{
	char p[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;

	at(_metadata, p, self->base, "lnk");
	ASSERT_EQ(0, symlink("hello.txt", p));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "lnk");
	ASSERT_EQ(0, lchown(p, 2000, 2001)) TH_LOG("lchown: %s", strerror(errno));
	lstat_at(_metadata, self->top, "lnk", &st);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(2001, st.st_gid);
	at(_metadata, p, self->top, "lnk");
	n = readlink(p, buf, sizeof(buf) - 1);
	ASSERT_EQ(9, n);
	buf[n] = '\0';
	ASSERT_STREQ("hello.txt", buf);
	lstat_at(_metadata, self->base, "lnk", &st);
	ASSERT_EQ(0, st.st_uid);
	lstat_at(_metadata, self->mnt, "lnk", &st);
	ASSERT_EQ(2000, st.st_uid);
	expect_absent(_metadata, self->top, "hello.txt");	/* not the target */
	expect_content(_metadata, self->mnt, "lnk", HELLO_BASE);
}

/* chmod of a lower fifo and character device: copied up as what they are. */
TEST_F(wu, cpup_special_files_on_chmod)
{
	char p[PATH_MAX];
	struct stat st;

	at(_metadata, p, self->base, "fifo");
	ASSERT_EQ(0, mknod(p, S_IFIFO | 0644, 0));
	at(_metadata, p, self->base, "null");
	ASSERT_EQ(0, mknod(p, S_IFCHR | 0644, makedev(1, 3)));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "fifo");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod fifo: %s", strerror(errno));
	lstat_at(_metadata, self->top, "fifo", &st);
	ASSERT_EQ(S_IFIFO | 0600, st.st_mode);
	at(_metadata, p, self->mnt, "null");
	ASSERT_EQ(0, chmod(p, 0666)) TH_LOG("chmod chardev: %s", strerror(errno));
	lstat_at(_metadata, self->top, "null", &st);
	ASSERT_EQ(S_IFCHR | 0666, st.st_mode);
	ASSERT_EQ(makedev(1, 3), st.st_rdev);
	lstat_at(_metadata, self->base, "null", &st);
	ASSERT_EQ(S_IFCHR | 0644, st.st_mode);
}

/* chmod of a lower directory: the directory alone is copied, still merged. */
TEST_F(wu, cpup_dir_on_chmod)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "ld", 0755);
	ASSERT_EQ(0, put_file(self->base, "ld/x", "x\n"));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "ld");
	ASSERT_EQ(0, chmod(p, 0700)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0700, st.st_mode);
	lstat_at(_metadata, self->mnt, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0700, st.st_mode);
	expect_listing(_metadata, self->top, "ld", "./..");
	expect_listing(_metadata, self->mnt, "ld", "./../x");
	expect_content(_metadata, self->mnt, "ld/x", "x\n");
	lstat_at(_metadata, self->base, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0755, st.st_mode);
}

/* ================================================================== */
/* 3. a failed copy-up leaves nothing                                 */
/* ================================================================== */

TEST_F_TIMEOUT(wu, cpup_enospc_is_atomic, 120)
{
	unsigned char *data = malloc(MIB);
	char p[PATH_MAX], before[4096];
	struct stat st;
	int fd;

	ASSERT_NE(NULL, data);
	if (!branches_on_tmpfs()) {
		free(data);
		SKIP(return, "needs a tiny tmpfs branch: the suite's tmpfs run has it");
	}
	/* top: a 64 KiB tmpfs that cannot hold the 1 MiB file */
	ASSERT_EQ(0, umount2(self->top, 0));
	self->br_mounted[0] = 0;
	ASSERT_EQ(0, mount_tmpfs(self->top, "size=64k,mode=0755"));
	self->br_mounted[0] = 1;
	ASSERT_EQ(0, put_file(self->top, "foo.txt", "foo\n"));
	fill_pattern(data, MIB, 3);
	at(_metadata, p, self->base, "big");
	ASSERT_EQ(0, write_bin(p, data, MIB, 0644));
	mount_seed(_metadata, self);
	at(_metadata, p, self->top, ".");
	ASSERT_EQ(0, list_dir(p, before, sizeof(before)));
	ASSERT_STREQ("./../foo.txt", before);

	at(_metadata, p, self->mnt, "big");
	/* copy-up happens at open for write: that is where it fails */
	fd = open(p, O_WRONLY);
	ASSERT_EQ(-1, fd) TH_LOG("an open that needs 1 MiB on a 64 KiB branch succeeded");
	ASSERT_EQ(ENOSPC, errno) TH_LOG("open: %s", strerror(errno));
	expect_listing(_metadata, self->top, ".", before);

	/* other triggers fail the same way */
	ASSERT_EQ(-1, chmod(p, 0600));
	ASSERT_EQ(ENOSPC, errno) TH_LOG("chmod: %s", strerror(errno));
	ASSERT_EQ(-1, truncate(p, MIB / 2));
	ASSERT_EQ(ENOSPC, errno) TH_LOG("truncate: %s", strerror(errno));
	expect_listing(_metadata, self->top, ".", before);

	/* the union still shows the lower file, unchanged */
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	expect_bin(_metadata, self->mnt, "big", data, MIB);
	expect_bin(_metadata, self->base, "big", data, MIB);
	/* and the branch is usable: a small copy-up still works */
	overwrite(_metadata, self->mnt, "hello.txt", "small\n");
	expect_content(_metadata, self->top, "hello.txt", "small\n");
	free(data);
}

/* ================================================================== */
/* 4. what was open or mapped before the copy-up                      */
/* ================================================================== */

#define NEWC "new content\n"

TEST_F(wu, cpup_keeps_open_fd_and_mapping)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], buf[256];
	struct stat st;
	ssize_t n;
	void *m;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));

	overwrite(_metadata, self->mnt, "hello.txt", NEWC);	/* the copy-up */
	expect_content(_metadata, self->top, "hello.txt", NEWC);

	/* the old descriptor still reads: the old file or the new one, whole */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ASSERT_LT(0, n) TH_LOG("pread on the old fd: %s", strerror(errno));
	buf[n] = '\0';
	ASSERT_TRUE(!strcmp(buf, HELLO_BASE) || !strcmp(buf, NEWC))
		TH_LOG("old fd reads '%s'", buf);
	TH_LOG("note: the fd opened before the copy-up reads the %s file",
	       strcmp(buf, NEWC) ? "old (lower)" : "new (copied-up)");
	ASSERT_EQ(0, fstat(fd, &st));
	/* the mapping made before still shows the old bytes */
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, close(fd));
	/* a new open reads the new content */
	expect_content(_metadata, self->mnt, "hello.txt", NEWC);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/* ================================================================== */
/* 5. writable lower branches are changed in place                    */
/* ================================================================== */

TEST_F(wu, rw_lower_branch_changed_in_place)
{
	char p[PATH_MAX];
	struct stat st;

	mount2(_metadata, self, "rw", "rw");
	overwrite(_metadata, self->mnt, "hello.txt", "changed\n");
	expect_content(_metadata, self->base, "hello.txt", "changed\n");
	expect_absent(_metadata, self->top, "hello.txt");
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, chmod(p, 0600));
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	expect_absent(_metadata, self->top, "hello.txt");
	/* a name on both: the top one changes */
	overwrite(_metadata, self->mnt, "common.txt", "c\n");
	expect_content(_metadata, self->top, "common.txt", "c\n");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	/* unlink removes it from base; nothing below, so no whiteout */
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink: %s", strerror(errno));
	expect_absent(_metadata, self->base, "hello.txt");
	expect_absent(_metadata, self->top, ".wh.hello.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
}

/* top=rw, mid=rw, base=ro */
TEST_F(wu, rw_several_branches)
{
	mkdir_at(_metadata, self->mid, "md", 0755);
	ASSERT_EQ(0, put_file(self->mid, "m.txt", "mid\n"));
	mkdir_at(_metadata, self->base, "md", 0755);
	ASSERT_EQ(0, put_file(self->base, "md/f", "lower f\n"));
	mount3(_metadata, self, "rw", "rw", "ro");

	/* a file on mid (rw): in place */
	overwrite(_metadata, self->mnt, "m.txt", "M\n");
	expect_content(_metadata, self->mid, "m.txt", "M\n");
	expect_absent(_metadata, self->top, "m.txt");
	/* a base file whose parent is on mid (and not on top): copied to mid */
	overwrite(_metadata, self->mnt, "md/f", "F\n");
	expect_content(_metadata, self->mid, "md/f", "F\n");
	expect_absent(_metadata, self->top, "md");
	expect_content(_metadata, self->base, "md/f", "lower f\n");
	/* a new name in md: on mid, where md's topmost entry is */
	create_file(_metadata, self->mnt, "md/new", "n\n", 0644);
	expect_content(_metadata, self->mid, "md/new", "n\n");
	expect_absent(_metadata, self->top, "md");
	/* a new name in the root: on top */
	create_file(_metadata, self->mnt, "newroot", "r\n", 0644);
	expect_content(_metadata, self->top, "newroot", "r\n");
	expect_absent(_metadata, self->mid, "newroot");
	expect_listing(_metadata, self->mnt, "md", "./../f/new");
}

/*
 * cpup=tdp, as aufs's au_wbr_copyup_tdp() has it (and the project's spec:
 * "nearest writable branch above where the parent exists"): going up from
 * the file's branch, the first writable branch on which the parent
 * directory exists.  The root exists everywhere, so a base file at the root
 * goes to mid; a file whose directory is not on mid goes past it to top.
 */
TEST_F(wu, rw_several_cpup_target_nearest_with_parent)
{
	mount3(_metadata, self, "rw", "rw", "ro");
	overwrite(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->mid, "hello.txt", "H\n");
	expect_absent(_metadata, self->top, "hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, rw_several_cpup_target_skips_branch_without_parent)
{
	mkdir_at(_metadata, self->top, "only", 0755);
	mkdir_at(_metadata, self->base, "only", 0755);
	create_file(_metadata, self->base, "only/f", "b\n", 0644);
	mount3(_metadata, self, "rw", "rw", "ro");
	overwrite(_metadata, self->mnt, "only/f", "T\n");
	expect_content(_metadata, self->top, "only/f", "T\n");
	expect_absent(_metadata, self->mid, "only");
	expect_content(_metadata, self->base, "only/f", "b\n");
}

/* ================================================================== */
/* 6. namespace operations                                            */
/* ================================================================== */

TEST_F(wu, ns_create_excl)
{
	char p[PATH_MAX];
	struct stat st;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(-1, open(p, O_WRONLY | O_CREAT | O_EXCL, 0600));
	ASSERT_EQ(EEXIST, errno);
	expect_absent(_metadata, self->top, "hello.txt");
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(-1, open(p, O_WRONLY | O_CREAT | O_EXCL, 0600));
	ASSERT_EQ(EEXIST, errno);
	create_file(_metadata, self->mnt, "new.txt", "n\n", 0640);
	lstat_at(_metadata, self->top, "new.txt", &st);
	ASSERT_EQ(S_IFREG | 0640, st.st_mode);
	ASSERT_EQ(0, st.st_uid);
	lstat_at(_metadata, self->mnt, "new.txt", &st);
	ASSERT_EQ(S_IFREG | 0640, st.st_mode);
	expect_content(_metadata, self->top, "new.txt", "n\n");
	expect_absent(_metadata, self->base, "new.txt");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt/new.txt");
	/* creat(2) of an existing name opens it (O_TRUNC) */
	at(_metadata, p, self->mnt, "new.txt");
	ASSERT_EQ(0, open_err(p, O_WRONLY | O_CREAT | O_TRUNC, 0600));
	lstat_at(_metadata, self->mnt, "new.txt", &st);
	ASSERT_EQ(0, st.st_size);
	ASSERT_EQ(S_IFREG | 0640, st.st_mode);
}

TEST_F(wu, ns_mkdir)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "ld", 0755);
	ASSERT_EQ(0, put_file(self->base, "ld/old", "o\n"));
	mount_seed(_metadata, self);

	mkdir_at(_metadata, self->mnt, "nd", 0715);
	lstat_at(_metadata, self->top, "nd", &st);
	ASSERT_EQ(S_IFDIR | 0715, st.st_mode);
	lstat_at(_metadata, self->mnt, "nd", &st);
	ASSERT_EQ(S_IFDIR | 0715, st.st_mode);
	expect_absent(_metadata, self->top, "nd/" WH_OPQ);	/* nothing below to hide */
	expect_listing(_metadata, self->mnt, "nd", "./..");
	mkdir_at(_metadata, self->mnt, "nd/sub", 0700);
	expect_present(_metadata, self->top, "nd/sub");
	at(_metadata, p, self->mnt, "nd");
	ASSERT_EQ(-1, mkdir(p, 0755));
	ASSERT_EQ(EEXIST, errno);
	at(_metadata, p, self->mnt, "hello.txt");	/* a lower file */
	ASSERT_EQ(-1, mkdir(p, 0755));
	ASSERT_EQ(EEXIST, errno);
	expect_absent(_metadata, self->top, "hello.txt");
	/* in a directory that is only on base: the parent is copied up */
	mkdir_at(_metadata, self->mnt, "ld/sub", 0755);
	expect_present(_metadata, self->top, "ld/sub");
	expect_absent(_metadata, self->top, "ld/sub/" WH_OPQ);
	expect_listing(_metadata, self->mnt, "ld", "./../old/sub");
}

TEST_F(wu, ns_mknod_fifo)
{
	char p[PATH_MAX], c = 0;
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "fifo");
	ASSERT_EQ(0, mknod(p, S_IFIFO | 0640, 0)) TH_LOG("mknod: %s", strerror(errno));
	lstat_at(_metadata, self->mnt, "fifo", &st);
	ASSERT_EQ(S_IFIFO | 0640, st.st_mode);
	lstat_at(_metadata, self->top, "fifo", &st);
	ASSERT_EQ(S_IFIFO | 0640, st.st_mode);
	fd = open(p, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd) TH_LOG("open fifo: %s", strerror(errno));
	ASSERT_EQ(1, write(fd, "x", 1));
	ASSERT_EQ(1, read(fd, &c, 1));
	ASSERT_EQ('x', c);
	ASSERT_EQ(0, close(fd));
}

TEST_F(wu, ns_mknod_socket)
{
	char p[PATH_MAX];
	struct stat st;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "sock");
	ASSERT_EQ(0, mknod(p, S_IFSOCK | 0600, 0)) TH_LOG("mknod: %s", strerror(errno));
	lstat_at(_metadata, self->mnt, "sock", &st);
	ASSERT_EQ(S_IFSOCK | 0600, st.st_mode);
	lstat_at(_metadata, self->top, "sock", &st);
	ASSERT_EQ(S_IFSOCK | 0600, st.st_mode);
}

TEST_F(wu, ns_mknod_char_device)
{
	char p[PATH_MAX], c;
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "null");
	ASSERT_EQ(0, mknod(p, S_IFCHR | 0666, makedev(1, 3))) TH_LOG("mknod: %s", strerror(errno));
	lstat_at(_metadata, self->mnt, "null", &st);
	ASSERT_EQ(S_IFCHR | 0666, st.st_mode);
	ASSERT_EQ(makedev(1, 3), st.st_rdev);
	lstat_at(_metadata, self->top, "null", &st);
	ASSERT_EQ(S_IFCHR | 0666, st.st_mode);
	ASSERT_EQ(makedev(1, 3), st.st_rdev);
	/* it is /dev/null */
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(3, write(fd, "abc", 3));
	ASSERT_EQ(0, read(fd, &c, 1));
	ASSERT_EQ(0, close(fd));
}

TEST_F(wu, ns_symlink_readlink)
{
	char p[PATH_MAX], buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "lnk");
	ASSERT_EQ(0, symlink("hello.txt", p)) TH_LOG("symlink: %s", strerror(errno));
	n = readlink(p, buf, sizeof(buf));
	ASSERT_EQ(9, n);
	buf[n] = '\0';
	ASSERT_STREQ("hello.txt", buf);
	lstat_at(_metadata, self->mnt, "lnk", &st);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ(9, st.st_size);
	at(_metadata, p, self->top, "lnk");
	n = readlink(p, buf, sizeof(buf));
	ASSERT_EQ(9, n);
	buf[n] = '\0';
	ASSERT_STREQ("hello.txt", buf);
	expect_content(_metadata, self->mnt, "lnk", HELLO_BASE);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(-1, symlink("x", p));
	ASSERT_EQ(EEXIST, errno);
}

TEST_F(wu, ns_link_top_file)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat a, b;

	mkdir_at(_metadata, self->top, "d", 0755);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "d/foo2");
	ASSERT_EQ(0, link(p, q)) TH_LOG("link: %s", strerror(errno));
	lstat_at(_metadata, self->mnt, "foo.txt", &a);
	lstat_at(_metadata, self->mnt, "d/foo2", &b);
	ASSERT_EQ(a.st_ino, b.st_ino);
	ASSERT_EQ(2, a.st_nlink);
	ASSERT_EQ(2, b.st_nlink);
	lstat_at(_metadata, self->top, "foo.txt", &a);
	lstat_at(_metadata, self->top, "d/foo2", &b);
	ASSERT_EQ(a.st_ino, b.st_ino);
	expect_content(_metadata, self->mnt, "d/foo2", "foo\n");
	/* onto an existing name (a lower one): EEXIST; a directory: EPERM */
	at(_metadata, q, self->mnt, "hello.txt");
	ASSERT_EQ(-1, link(p, q));
	ASSERT_EQ(EEXIST, errno);
	at(_metadata, p, self->mnt, "d");
	at(_metadata, q, self->mnt, "d-link");
	ASSERT_EQ(-1, link(p, q));
	ASSERT_EQ(EPERM, errno);
	/* unlinking one name leaves the other */
	at(_metadata, p, self->mnt, "foo.txt");
	ASSERT_EQ(0, unlink(p));
	lstat_at(_metadata, self->mnt, "d/foo2", &b);
	ASSERT_EQ(1, b.st_nlink);
	expect_content(_metadata, self->mnt, "d/foo2", "foo\n");
}

TEST_F(wu, ns_unlink)
{
	char p[PATH_MAX];

	mkdir_at(_metadata, self->top, "dir", 0755);
	mount_seed(_metadata, self);
	/* only on top: removed, no whiteout needed */
	at(_metadata, p, self->mnt, "foo.txt");
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink: %s", strerror(errno));
	expect_absent(_metadata, self->top, "foo.txt");
	expect_absent(_metadata, self->top, ".wh.foo.txt");
	expect_absent(_metadata, self->mnt, "foo.txt");
	/* on both: removed from top and whited out */
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink: %s", strerror(errno));
	expect_absent(_metadata, self->top, "common.txt");
	expect_whiteout(_metadata, self->top, ".wh.common.txt");
	expect_absent(_metadata, self->mnt, "common.txt");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	/* errors as on any filesystem */
	at(_metadata, p, self->mnt, "nothing");
	ASSERT_EQ(-1, unlink(p));
	ASSERT_EQ(ENOENT, errno);
	at(_metadata, p, self->mnt, "dir");
	ASSERT_EQ(-1, unlink(p));
	ASSERT_EQ(EISDIR, errno);
	expect_listing(_metadata, self->mnt, ".", "./../dir/hello.txt");
}

TEST_F(wu, ns_rmdir_rules)
{
	char p[PATH_MAX];

	mkdir_at(_metadata, self->base, "d", 0755);
	ASSERT_EQ(0, put_file(self->base, "d/x", "x\n"));
	ASSERT_EQ(0, put_file(self->base, "d/y", "y\n"));
	mkdir_at(_metadata, self->top, "d", 0755);
	ASSERT_EQ(0, put_file(self->top, "d/z", "z\n"));
	mkdir_at(_metadata, self->top, "e", 0755);
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(-1, rmdir(p));
	ASSERT_EQ(ENOTEMPTY, errno);
	at(_metadata, p, self->mnt, "d/z");
	ASSERT_EQ(0, unlink(p));
	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(-1, rmdir(p)) TH_LOG("rmdir with lower children visible succeeded");
	ASSERT_EQ(ENOTEMPTY, errno);
	at(_metadata, p, self->mnt, "d/x");
	ASSERT_EQ(0, unlink(p));
	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(-1, rmdir(p));
	ASSERT_EQ(ENOTEMPTY, errno);
	at(_metadata, p, self->mnt, "d/y");
	ASSERT_EQ(0, unlink(p));
	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir of a logically empty dir: %s", strerror(errno));
	expect_absent(_metadata, self->mnt, "d");
	expect_absent(_metadata, self->top, "d");
	expect_whiteout(_metadata, self->top, ".wh.d");
	expect_content(_metadata, self->base, "d/x", "x\n");
	expect_content(_metadata, self->base, "d/y", "y\n");
	/* a top-only empty directory: no whiteout */
	at(_metadata, p, self->mnt, "e");
	ASSERT_EQ(0, rmdir(p));
	expect_absent(_metadata, self->top, "e");
	expect_absent(_metadata, self->top, ".wh.e");
	/* rmdir of a file */
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(-1, rmdir(p));
	ASSERT_EQ(ENOTDIR, errno);
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt");
}

TEST_F(wu, ns_rename_file_same_dir)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat before, st;

	mount_seed(_metadata, self);
	/* top only */
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "bar.txt");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->top, "bar.txt", "foo\n");
	expect_absent(_metadata, self->top, "foo.txt");
	expect_absent(_metadata, self->top, ".wh.foo.txt");
	/* lower only: copied up, old name whited out; same inode */
	at(_metadata, p, self->mnt, "hello.txt");
	at(_metadata, q, self->mnt, "hello2.txt");
	ASSERT_EQ(0, lstat(p, &before));
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	ASSERT_EQ(0, lstat(q, &st));
	ASSERT_EQ(before.st_ino, st.st_ino);
	expect_content(_metadata, self->top, "hello2.txt", HELLO_BASE);
	expect_whiteout(_metadata, self->top, ".wh.hello.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_listing(_metadata, self->mnt, ".", "./../bar.txt/common.txt/hello2.txt");
	/* on both branches: the lower one must not show through afterwards */
	at(_metadata, p, self->mnt, "common.txt");
	at(_metadata, q, self->mnt, "moved.txt");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "moved.txt", "top\n");
	expect_absent(_metadata, self->mnt, "common.txt");
	expect_whiteout(_metadata, self->top, ".wh.common.txt");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	expect_listing(_metadata, self->mnt, ".", "./../bar.txt/hello2.txt/moved.txt");
}

TEST_F(wu, ns_rename_file_across_dirs)
{
	char p[PATH_MAX], q[PATH_MAX];

	mkdir_at(_metadata, self->base, "src", 0755);
	ASSERT_EQ(0, put_file(self->base, "src/f", "f\n"));
	mkdir_at(_metadata, self->top, "dst", 0755);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "src/f");
	at(_metadata, q, self->mnt, "dst/g");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "dst/g", "f\n");
	expect_content(_metadata, self->top, "dst/g", "f\n");
	expect_absent(_metadata, self->mnt, "src/f");
	expect_listing(_metadata, self->mnt, "src", "./..");
	expect_whiteout(_metadata, self->top, "src/.wh.f");
	expect_content(_metadata, self->base, "src/f", "f\n");
	/* and back, top to top, under the old name: the whiteout goes */
	ASSERT_EQ(0, rename(q, p)) TH_LOG("rename back: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "src/f", "f\n");
	expect_absent(_metadata, self->top, "src/.wh.f");
	expect_listing(_metadata, self->mnt, "dst", "./..");
}

TEST_F(wu, ns_rename_over_lower_file)
{
	char p[PATH_MAX], q[PATH_MAX];

	ASSERT_EQ(0, put_file(self->base, "l1", "l1\n"));
	ASSERT_EQ(0, put_file(self->base, "l2", "l2\n"));
	mount_seed(_metadata, self);
	/* top file over a lower-only file */
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "hello.txt");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "hello.txt", "foo\n");
	expect_absent(_metadata, self->mnt, "foo.txt");
	expect_content(_metadata, self->top, "hello.txt", "foo\n");
	expect_absent(_metadata, self->top, ".wh.hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* lower file over lower file */
	at(_metadata, p, self->mnt, "l1");
	at(_metadata, q, self->mnt, "l2");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "l2", "l1\n");
	expect_absent(_metadata, self->mnt, "l1");
	expect_whiteout(_metadata, self->top, ".wh.l1");
	expect_absent(_metadata, self->top, ".wh.l2");
	expect_content(_metadata, self->base, "l1", "l1\n");
	expect_content(_metadata, self->base, "l2", "l2\n");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/hello.txt/l2");
}

TEST_F(wu, ns_rename_over_upper_file)
{
	char p[PATH_MAX], q[PATH_MAX];

	mount_seed(_metadata, self);
	/* lower-only file over a top-only file */
	at(_metadata, p, self->mnt, "hello.txt");
	at(_metadata, q, self->mnt, "foo.txt");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "foo.txt", HELLO_BASE);
	expect_absent(_metadata, self->mnt, "hello.txt");
	expect_whiteout(_metadata, self->top, ".wh.hello.txt");
	/* top file over a name on both branches */
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "common.txt");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "common.txt", HELLO_BASE);
	expect_content(_metadata, self->top, "common.txt", HELLO_BASE);
	expect_content(_metadata, self->base, "common.txt", "base\n");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt");
}

TEST_F(wu, ns_rename_noreplace)
{
	char p[PATH_MAX], q[PATH_MAX];

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "hello.txt");	/* lower only */
	ASSERT_EQ(-1, renameat2_(p, q, RENAME_NOREPLACE));
	ASSERT_EQ(EEXIST, errno);
	at(_metadata, q, self->mnt, "common.txt");	/* on both */
	ASSERT_EQ(-1, renameat2_(p, q, RENAME_NOREPLACE));
	ASSERT_EQ(EEXIST, errno);
	expect_content(_metadata, self->mnt, "foo.txt", "foo\n");
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "common.txt", "top\n");
	expect_absent(_metadata, self->top, "hello.txt");
	/* to a free name it works */
	at(_metadata, q, self->mnt, "free.txt");
	ASSERT_EQ(0, renameat2_(p, q, RENAME_NOREPLACE)) TH_LOG("renameat2: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "free.txt", "foo\n");
	/* a lower file to a free name */
	at(_metadata, p, self->mnt, "hello.txt");
	at(_metadata, q, self->mnt, "free2.txt");
	ASSERT_EQ(0, renameat2_(p, q, RENAME_NOREPLACE)) TH_LOG("renameat2: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "free2.txt", HELLO_BASE);
	expect_absent(_metadata, self->mnt, "hello.txt");
}

TEST_F(wu, ns_rename_exchange)
{
	char p[PATH_MAX], q[PATH_MAX];

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "foo.txt");
	at(_metadata, q, self->mnt, "hello.txt");
	ASSERT_EQ(0, renameat2_(p, q, RENAME_EXCHANGE)) TH_LOG("renameat2: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "foo.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", "foo\n");
	expect_content(_metadata, self->top, "foo.txt", HELLO_BASE);
	expect_content(_metadata, self->top, "hello.txt", "foo\n");
	expect_absent(_metadata, self->top, ".wh.hello.txt");
	expect_absent(_metadata, self->top, ".wh.foo.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt");
	/* with a missing name: ENOENT */
	at(_metadata, q, self->mnt, "missing");
	ASSERT_EQ(-1, renameat2_(p, q, RENAME_EXCHANGE));
	ASSERT_EQ(ENOENT, errno);
}

TEST_F(wu, ns_rename_dir_on_top_only)
{
	char p[PATH_MAX], q[PATH_MAX];

	mkdir_at(_metadata, self->top, "tp", 0755);
	ASSERT_EQ(0, put_file(self->top, "tp/c", "c\n"));
	mount_seed(_metadata, self);
	/* made through the union */
	mkdir_at(_metadata, self->mnt, "td", 0755);
	create_file(_metadata, self->mnt, "td/x", "x\n", 0644);
	at(_metadata, p, self->mnt, "td");
	at(_metadata, q, self->mnt, "td2");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "td2/x", "x\n");
	expect_absent(_metadata, self->mnt, "td");
	expect_content(_metadata, self->top, "td2/x", "x\n");
	/* there before the mount */
	at(_metadata, p, self->mnt, "tp");
	at(_metadata, q, self->mnt, "td2/tp");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename: %s", strerror(errno));
	expect_content(_metadata, self->mnt, "td2/tp/c", "c\n");
	expect_absent(_metadata, self->top, "tp");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt/td2");
}

/* A top directory renamed over a lower one: empty works (and is opaque). */
TEST_F(wu, ns_rename_dir_over_lower_dir)
{
	char p[PATH_MAX], q[PATH_MAX];

	mkdir_at(_metadata, self->top, "td", 0755);
	ASSERT_EQ(0, put_file(self->top, "td/mine", "m\n"));
	mkdir_at(_metadata, self->base, "empty", 0755);
	mkdir_at(_metadata, self->base, "full", 0755);
	ASSERT_EQ(0, put_file(self->base, "full/theirs", "t\n"));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "td");
	at(_metadata, q, self->mnt, "full");
	ASSERT_EQ(-1, rename(p, q));
	ASSERT_TRUE(errno == ENOTEMPTY || errno == EEXIST) TH_LOG("rename over a full dir: %s",
								  strerror(errno));
	expect_content(_metadata, self->mnt, "full/theirs", "t\n");
	expect_content(_metadata, self->mnt, "td/mine", "m\n");
	at(_metadata, q, self->mnt, "empty");
	ASSERT_EQ(0, rename(p, q)) TH_LOG("rename over an empty lower dir: %s", strerror(errno));
	expect_listing(_metadata, self->mnt, "empty", "./../mine");
	expect_absent(_metadata, self->mnt, "td");
	expect_present(_metadata, self->top, "empty/" WH_OPQ);
	expect_present(_metadata, self->base, "empty");
}

TEST_F(wu, ns_rename_dir_with_lower_children_exdev)
{
	char p[PATH_MAX], q[PATH_MAX];

	mkdir_at(_metadata, self->base, "ld", 0755);
	ASSERT_EQ(0, put_file(self->base, "ld/x", "x\n"));
	mkdir_at(_metadata, self->top, "both", 0755);
	mkdir_at(_metadata, self->base, "both", 0755);
	ASSERT_EQ(0, put_file(self->base, "both/c", "c\n"));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "ld");
	at(_metadata, q, self->mnt, "ld2");
	ASSERT_EQ(-1, rename(p, q));
	ASSERT_EQ(EXDEV, errno);
	expect_content(_metadata, self->mnt, "ld/x", "x\n");
	expect_absent(_metadata, self->mnt, "ld2");
	expect_absent(_metadata, self->top, "ld2");
	at(_metadata, p, self->mnt, "both");
	at(_metadata, q, self->mnt, "both2");
	ASSERT_EQ(-1, rename(p, q));
	ASSERT_EQ(EXDEV, errno);
	expect_content(_metadata, self->mnt, "both/c", "c\n");
	expect_absent(_metadata, self->top, "both2");
}

/* Making a whited-out name again removes its whiteout. */
TEST_F(wu, ns_recreate_removes_whiteout)
{
	char p[PATH_MAX], q[PATH_MAX], buf[64];
	ssize_t n;

	ASSERT_EQ(0, put_file(self->base, "l3", "l3\n"));
	mount_seed(_metadata, self);
	/* a file */
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, unlink(p));
	expect_whiteout(_metadata, self->top, ".wh.hello.txt");
	create_file(_metadata, self->mnt, "hello.txt", "again\n", 0600);
	expect_absent(_metadata, self->top, ".wh.hello.txt");
	expect_content(_metadata, self->mnt, "hello.txt", "again\n");
	/* a symlink */
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(0, unlink(p));
	expect_whiteout(_metadata, self->top, ".wh.common.txt");
	ASSERT_EQ(0, symlink("foo.txt", p)) TH_LOG("symlink: %s", strerror(errno));
	expect_absent(_metadata, self->top, ".wh.common.txt");
	n = readlink(p, buf, sizeof(buf));
	ASSERT_EQ(7, n);
	expect_content(_metadata, self->mnt, "common.txt", "foo\n");
	/* a hard link */
	at(_metadata, p, self->mnt, "l3");
	ASSERT_EQ(0, unlink(p));
	expect_whiteout(_metadata, self->top, ".wh.l3");
	at(_metadata, q, self->mnt, "foo.txt");
	ASSERT_EQ(0, link(q, p)) TH_LOG("link: %s", strerror(errno));
	expect_absent(_metadata, self->top, ".wh.l3");
	expect_content(_metadata, self->mnt, "l3", "foo\n");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt/l3");
}

/* ================================================================== */
/* 7. file I/O and everything else                                    */
/* ================================================================== */

TEST_F(wu, io_pwrite_at_offsets)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], want[64];
	struct stat st;
	int fd;

	memset(want, 0, sizeof(want));
	memcpy(want, HELLO_BASE, len);
	want[3] = 'X';
	want[4] = 'Y';
	want[40] = 'Z';
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, pwrite(fd, "XY", 2, 3)) TH_LOG("pwrite: %s", strerror(errno));
	ASSERT_EQ(1, pwrite(fd, "Z", 1, 40));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(41, st.st_size);
	/* pwrite does not move the offset */
	ASSERT_EQ(0, lseek(fd, 0, SEEK_CUR));
	ASSERT_EQ(0, close(fd));
	expect_bin(_metadata, self->top, "hello.txt", (unsigned char *)want, 41);
	expect_bin(_metadata, self->mnt, "hello.txt", (unsigned char *)want, 41);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_o_append)
{
	char p[PATH_MAX];
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "more\n", 5)) TH_LOG("write: %s", strerror(errno));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(4, write(fd, "end\n", 4));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE "more\nend\n");
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE "more\nend\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* on a top file too */
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "bar\n", 4));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "foo.txt", "foo\nbar\n");
}

TEST_F(wu, io_ftruncate)
{
	char p[PATH_MAX], buf[128], want[100];
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 5)) TH_LOG("ftruncate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(5, st.st_size);
	expect_content(_metadata, self->top, "hello.txt", "Hello");
	ASSERT_EQ(0, ftruncate(fd, 100));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(100, st.st_size);
	memset(want, 0, sizeof(want));
	memcpy(want, "Hello", 5);
	ASSERT_EQ(100, pread(fd, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(want, buf, 100));
	ASSERT_EQ(0, close(fd));
	expect_bin(_metadata, self->top, "hello.txt", (unsigned char *)want, 100);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_fallocate)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], buf[4096], zero[4096];
	struct stat st;
	int fd;

	memset(zero, 0, sizeof(zero));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, MIB)) TH_LOG("fallocate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_EQ((ssize_t)len, pread(fd, buf, len, 0));
	ASSERT_EQ(0, memcmp(HELLO_BASE, buf, len));
	ASSERT_EQ(4096, pread(fd, buf, 4096, MIB / 2));
	ASSERT_EQ(0, memcmp(zero, buf, 4096));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_LE(MIB, st.st_blocks * 512);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_fsync_fdatasync)
{
	char p[PATH_MAX];
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);		/* a lower file */
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fdatasync(fd)) TH_LOG("fdatasync: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "h", 1));
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fdatasync(fd)) TH_LOG("fdatasync: %s", strerror(errno));
	ASSERT_EQ(0, syncfs(fd)) TH_LOG("syncfs: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "hello.txt", "hello from the base branch\n");
	/* a directory */
	fd = open(self->mnt, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync on a directory: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
}

TEST_F(wu, io_mmap_shared_write_msync)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], want[64];
	char *m;
	int fd;

	snprintf(want, sizeof(want), "%s", HELLO_BASE);
	memcpy(want, "HELLO", 5);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));
	memcpy(m, "HELLO", 5);
	ASSERT_EQ(0, msync(m, len, MS_SYNC)) TH_LOG("msync: %s", strerror(errno));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "hello.txt", want);
	expect_content(_metadata, self->mnt, "hello.txt", want);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/* res: flock EX|NB, F_GETLK type, F_GETLK pid == parent, F_SETLK overlap, F_SETLK elsewhere */
static void lock_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];
	struct flock fl;
	int fd;

	(void)n;
	pathf(p, "%s/hello.txt", self->mnt);
	fd = open(p, O_RDWR);
	if (fd < 0) {
		res[0] = -errno;
		return;
	}
	res[0] = ERR_OF(flock(fd, LOCK_EX | LOCK_NB));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 10;
	if (fcntl(fd, F_GETLK, &fl) == 0) {
		res[1] = fl.l_type;
		res[2] = fl.l_pid == getppid();
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 5;
	fl.l_len = 1;
	res[3] = ERR_OF(fcntl(fd, F_SETLK, &fl));
	fl.l_start = 20;
	fl.l_len = 10;
	res[4] = ERR_OF(fcntl(fd, F_SETLK, &fl));
	close(fd);
}

/* res[0]: flock EX|NB after the parent unlocked */
static void flock_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];
	int fd;

	(void)n;
	pathf(p, "%s/hello.txt", self->mnt);
	fd = open(p, O_RDONLY);
	res[0] = fd < 0 ? -errno : ERR_OF(flock(fd, LOCK_EX | LOCK_NB));
	if (fd >= 0)
		close(fd);
}

TEST_F(wu, io_flock_and_fcntl_locks)
{
	char p[PATH_MAX];
	struct flock fl;
	int res[5], fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, flock(fd, LOCK_EX)) TH_LOG("flock: %s", strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 10;
	ASSERT_EQ(0, fcntl(fd, F_SETLK, &fl)) TH_LOG("F_SETLK: %s", strerror(errno));

	ASSERT_EQ(0, run_child(self, (uid_t)-1, 0, lock_child, res, 5));
	EXPECT_EQ(EWOULDBLOCK, res[0]) TH_LOG("flock in another process: %d", res[0]);
	EXPECT_EQ(F_WRLCK, res[1]) TH_LOG("F_GETLK type: %d", res[1]);
	EXPECT_EQ(1, res[2]) TH_LOG("F_GETLK pid is not the locker");
	EXPECT_TRUE(res[3] == EAGAIN || res[3] == EACCES) TH_LOG("conflicting F_SETLK: %d", res[3]);
	EXPECT_EQ(0, res[4]) TH_LOG("non-overlapping F_SETLK: %d", res[4]);

	ASSERT_EQ(0, flock(fd, LOCK_UN));
	ASSERT_EQ(0, run_child(self, (uid_t)-1, 0, flock_child, res, 1));
	EXPECT_EQ(0, res[0]) TH_LOG("flock after unlock: %d", res[0]);
	ASSERT_EQ(0, close(fd));
}

/*
 * An open file stays usable after its name is removed (the temporary-file
 * idiom): fstat (st_nlink 0), read, write, ftruncate, fchmod.  EXPECTs
 * only, so the descriptor is always closed.
 */
TEST_F(wu, io_unlinked_open_file_still_usable)
{
	char p[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;
	int fd, r, t, e;

	mount_seed(_metadata, self);
	/* a file on top only */
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, unlink(p));
	r = fstat(fd, &st);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fstat of an unlinked top file: %s", strerror(e));
	if (!r) {
		EXPECT_EQ(0, st.st_nlink);
		EXPECT_EQ(4, st.st_size);
	}
	n = pread(fd, buf, sizeof(buf), 0);
	EXPECT_EQ(4, n) TH_LOG("pread: %s", strerror(errno));
	EXPECT_EQ(3, pwrite(fd, "BAR", 3, 0)) TH_LOG("pwrite: %s", strerror(errno));
	t = ftruncate(fd, 2);
	e = errno;
	EXPECT_EQ(0, t) TH_LOG("ftruncate of an unlinked top file: %s", strerror(e));
	r = fchmod(fd, 0600);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fchmod of an unlinked top file: %s", strerror(e));
	n = pread(fd, buf, sizeof(buf), 0);
	EXPECT_EQ(t ? 4 : 2, n);
	EXPECT_EQ(0, memcmp("BA", buf, 2));
	EXPECT_EQ(0, close(fd));

	/* a file on the lower branch only */
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, unlink(p));
	r = fstat(fd, &st);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fstat of an unlinked lower file: %s", strerror(e));
	if (!r) {
		EXPECT_EQ(0, st.st_nlink);
		EXPECT_EQ((off_t)strlen(HELLO_BASE), st.st_size);
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	EXPECT_EQ((ssize_t)strlen(HELLO_BASE), n) TH_LOG("pread: %s", strerror(errno));
	r = pwrite(fd, "J", 1, 0);
	e = errno;
	EXPECT_EQ(1, r) TH_LOG("first write to an unlinked lower file: %s", strerror(e));
	if (r == 1) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		EXPECT_EQ((ssize_t)strlen(HELLO_BASE), n);
		EXPECT_EQ(0, memcmp("Jello", buf, 5));
	}
	EXPECT_EQ(0, close(fd));
	/* neither name came back, the lower file is untouched */
	expect_absent(_metadata, self->mnt, "foo.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, misc_dir_nlink)
{
	struct stat st;

	mkdir_at(_metadata, self->base, "ld", 0755);
	mkdir_at(_metadata, self->base, "ld/sub", 0755);
	mkdir_at(_metadata, self->top, "md", 0755);
	mkdir_at(_metadata, self->base, "md", 0755);
	mount_seed(_metadata, self);
	lstat_at(_metadata, self->mnt, ".", &st);
	EXPECT_LE(2, st.st_nlink);
	lstat_at(_metadata, self->mnt, "ld", &st);
	EXPECT_LE(2, st.st_nlink);
	lstat_at(_metadata, self->mnt, "md", &st);
	EXPECT_LE(2, st.st_nlink);
	mkdir_at(_metadata, self->mnt, "nd", 0755);
	lstat_at(_metadata, self->mnt, "nd", &st);
	EXPECT_LE(2, st.st_nlink);
	mkdir_at(_metadata, self->mnt, "nd/sub", 0755);
	lstat_at(_metadata, self->mnt, "nd", &st);
	EXPECT_LE(2, st.st_nlink);
	lstat_at(_metadata, self->mnt, "nd/sub", &st);
	EXPECT_LE(2, st.st_nlink);
}

/* No writable branch: every change is EROFS; reading still works. */
TEST_F(wu, misc_erofs_without_writable_branch)
{
	char p[PATH_MAX], q[PATH_MAX];
	int fd;

	mount2(_metadata, self, "ro", "ro");
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
	at(_metadata, p, self->mnt, "new");
	EXPECT_EQ(EROFS, open_err(p, O_WRONLY | O_CREAT, 0644));
	EXPECT_EQ(EROFS, ERR_OF(mkdir(p, 0755)));
	EXPECT_EQ(EROFS, ERR_OF(mknod(p, S_IFIFO | 0644, 0)));
	EXPECT_EQ(EROFS, ERR_OF(symlink("x", p)));
	at(_metadata, q, self->mnt, "foo.txt");
	EXPECT_EQ(EROFS, ERR_OF(link(q, p)));
	at(_metadata, p, self->mnt, "hello.txt");
	EXPECT_EQ(EROFS, ERR_OF(unlink(p)));
	at(_metadata, p, self->mnt, "common.txt");
	EXPECT_EQ(EROFS, ERR_OF(unlink(p)));
	EXPECT_EQ(EROFS, ERR_OF(rename(p, q)));
	at(_metadata, p, self->mnt, "hello.txt");
	EXPECT_EQ(EROFS, open_err(p, O_WRONLY | O_TRUNC, 0));
	EXPECT_EQ(EROFS, ERR_OF(truncate(p, 1)));
	EXPECT_EQ(EROFS, ERR_OF(chmod(p, 0600)));
	EXPECT_EQ(EROFS, ERR_OF(setxattr(p, "trusted.x", "v", 1, 0)));
	/* open for write may succeed (it does not copy up), the write may not */
	fd = open(p, O_WRONLY);
	if (fd < 0) {
		EXPECT_EQ(EROFS, errno);
	} else {
		EXPECT_EQ(-1, write(fd, "x", 1));
		EXPECT_EQ(EROFS, errno);
		close(fd);
	}
	expect_listing(_metadata, self->top, ".", "./../common.txt/foo.txt");
	expect_content(_metadata, self->top, "foo.txt", "foo\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
}

/*
 * As uid 1000: the union refuses what the branch filesystem refuses, with
 * the same errno, and what is allowed is done with the caller's identity.
 */
enum {
	U_PLAIN_CREATE, U_LOWER_DIR_CREATE, U_TOP_DIR_CREATE, U_PLAIN_MKDIR, U_LOWER_DIR_MKDIR,
	U_PLAIN_UNLINK, U_UNION_UNLINK, U_PLAIN_CHMOD, U_LOWER_CHMOD, U_TOP_CHMOD,
	U_PUB_CREATE, U_PUB_UID, U_PLAIN_CHOWN, U_UNION_CHOWN, U_NRES
};

static void unpriv_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;

	(void)n;
	pathf(p, "%s/plain/x", self->dir);
	res[U_PLAIN_CREATE] = open_err(p, O_WRONLY | O_CREAT, 0644);
	pathf(p, "%s/rootdir/x", self->mnt);
	res[U_LOWER_DIR_CREATE] = open_err(p, O_WRONLY | O_CREAT, 0644);
	pathf(p, "%s/topdir/x", self->mnt);
	res[U_TOP_DIR_CREATE] = open_err(p, O_WRONLY | O_CREAT, 0644);
	pathf(p, "%s/plain/sub", self->dir);
	res[U_PLAIN_MKDIR] = ERR_OF(mkdir(p, 0755));
	pathf(p, "%s/rootdir/sub", self->mnt);
	res[U_LOWER_DIR_MKDIR] = ERR_OF(mkdir(p, 0755));
	pathf(p, "%s/plain/file", self->dir);
	res[U_PLAIN_UNLINK] = ERR_OF(unlink(p));
	pathf(p, "%s/rootdir/file", self->mnt);
	res[U_UNION_UNLINK] = ERR_OF(unlink(p));
	pathf(p, "%s/plain/file", self->dir);
	res[U_PLAIN_CHMOD] = ERR_OF(chmod(p, 0666));
	res[U_PLAIN_CHOWN] = ERR_OF(chown(p, USER_ID, GROUP_ID));
	pathf(p, "%s/hello.txt", self->mnt);
	res[U_LOWER_CHMOD] = ERR_OF(chmod(p, 0666));
	res[U_UNION_CHOWN] = ERR_OF(chown(p, USER_ID, GROUP_ID));
	pathf(p, "%s/foo.txt", self->mnt);
	res[U_TOP_CHMOD] = ERR_OF(chmod(p, 0666));
	pathf(p, "%s/pub/mine", self->mnt);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	res[U_PUB_CREATE] = fd < 0 ? errno : 0;
	if (fd >= 0) {
		res[U_PUB_UID] = fstat(fd, &st) ? -1 : (int)st.st_uid;
		close(fd);
	}
}

TEST_F(wu, misc_unprivileged_user_like_branch)
{
	char plain[PATH_MAX];
	int res[U_NRES];
	struct stat st;

	ASSERT_EQ(0, make_dir(plain, self->dir, "plain"));
	ASSERT_EQ(0, put_file(plain, "file", "f\n"));
	mkdir_at(_metadata, self->base, "rootdir", 0755);
	ASSERT_EQ(0, put_file(self->base, "rootdir/file", "f\n"));
	mkdir_at(_metadata, self->top, "topdir", 0755);
	mkdir_at(_metadata, self->base, "pub", 0777);
	mount_seed(_metadata, self);

	ASSERT_EQ(0, run_child(self, USER_ID, GROUP_ID, unpriv_child, res, U_NRES));
	EXPECT_EQ(EACCES, res[U_PLAIN_CREATE]);
	EXPECT_EQ(res[U_PLAIN_CREATE], res[U_LOWER_DIR_CREATE]);
	EXPECT_EQ(res[U_PLAIN_CREATE], res[U_TOP_DIR_CREATE]);
	EXPECT_EQ(EACCES, res[U_PLAIN_MKDIR]);
	EXPECT_EQ(res[U_PLAIN_MKDIR], res[U_LOWER_DIR_MKDIR]);
	EXPECT_EQ(EACCES, res[U_PLAIN_UNLINK]);
	EXPECT_EQ(res[U_PLAIN_UNLINK], res[U_UNION_UNLINK]);
	EXPECT_EQ(EPERM, res[U_PLAIN_CHMOD]);
	EXPECT_EQ(res[U_PLAIN_CHMOD], res[U_LOWER_CHMOD]);
	EXPECT_EQ(res[U_PLAIN_CHMOD], res[U_TOP_CHMOD]);
	EXPECT_EQ(EPERM, res[U_PLAIN_CHOWN]);
	EXPECT_EQ(res[U_PLAIN_CHOWN], res[U_UNION_CHOWN]);
	EXPECT_EQ(0, res[U_PUB_CREATE]) TH_LOG("create in a 0777 lower dir: %s",
					       strerror(res[U_PUB_CREATE]));
	EXPECT_EQ(USER_ID, res[U_PUB_UID]);

	/* what was refused left no trace on top */
	expect_absent(_metadata, self->top, "rootdir");
	expect_absent(_metadata, self->top, "hello.txt");
	expect_absent(_metadata, self->top, "topdir/x");
	lstat_at(_metadata, self->top, "foo.txt", &st);
	EXPECT_EQ(S_IFREG | 0644, st.st_mode);
	/* the allowed create: on top, owned by the caller */
	lstat_at(_metadata, self->top, "pub/mine", &st);
	EXPECT_EQ(USER_ID, st.st_uid);
	EXPECT_EQ(GROUP_ID, st.st_gid);
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
	lstat_at(_metadata, self->top, "pub", &st);
	EXPECT_EQ(S_IFDIR | 0777, st.st_mode);
	EXPECT_EQ(0, st.st_uid);
}

/* rw+nolwh: whiteouts are plain files, no whiteout base is made. */
TEST_F(wu, whiteout_nolwh_is_plain_file)
{
	char p[PATH_MAX];
	struct stat st;

	mount2(_metadata, self, "rw+nolwh", "ro");
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, unlink(p));
	lstat_at(_metadata, self->top, ".wh.hello.txt", &st);
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(1, st.st_nlink);
	expect_absent(_metadata, self->top, ".wh..wh.aufs");
	expect_absent(_metadata, self->mnt, "hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/* O_DIRECT through the union is what the branch filesystem makes of it. */
TEST_F(wu, odirect_like_branch)
{
	char p[PATH_MAX];
	int on_branch, on_union;

	mount_seed(_metadata, self);
	at(_metadata, p, self->base, "hello.txt");
	on_branch = open_err(p, O_RDONLY | O_DIRECT, 0);
	at(_metadata, p, self->mnt, "hello.txt");
	on_union = open_err(p, O_RDONLY | O_DIRECT, 0);
	EXPECT_EQ(on_branch, on_union) TH_LOG("branch: %s, union: %s",
					      strerror(on_branch), strerror(on_union));
}

/* A POSIX ACL xattr (linux/posix_acl_xattr.h layout): version, then
 * entries of tag, perm, id. */
static size_t acl_build(unsigned char *buf, uid_t user, unsigned int user_perm)
{
	static const struct { unsigned short tag, perm; } fixed[] = {
		{ 0x01, 6 },	/* ACL_USER_OBJ rw- */
		{ 0x04, 0 },	/* ACL_GROUP_OBJ --- */
		{ 0x10, 4 },	/* ACL_MASK r-- */
		{ 0x20, 0 },	/* ACL_OTHER --- */
	};
	size_t off = 0;
	unsigned int v = 2, id;
	unsigned short tag, perm;
	int i;

	memcpy(buf + off, &v, 4);
	off += 4;
	for (i = 0; i < 4; i++) {
		/* entries sorted by tag: ACL_USER (0x02) after USER_OBJ */
		tag = fixed[i].tag;
		perm = fixed[i].perm;
		id = (unsigned int)-1;
		memcpy(buf + off, &tag, 2);
		memcpy(buf + off + 2, &perm, 2);
		memcpy(buf + off + 4, &id, 4);
		off += 8;
		if (i == 0) {
			tag = 0x02;
			perm = user_perm;
			id = user;
			memcpy(buf + off, &tag, 2);
			memcpy(buf + off + 2, &perm, 2);
			memcpy(buf + off + 4, &id, 4);
			off += 8;
		}
	}
	return off;
}

enum { A_GRANTED, A_DENIED, A_NRES };

static void acl_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];

	(void)n;
	pathf(p, "%s/granted", self->mnt);
	res[A_GRANTED] = open_err(p, O_RDONLY, 0);
	pathf(p, "%s/denied", self->mnt);
	res[A_DENIED] = open_err(p, O_RDONLY, 0);
}

/* Access an ACL grants on the branch is granted through the union. */
TEST_F(wu, posix_acl_of_the_branch_counts)
{
	unsigned char acl[64];
	char p[PATH_MAX];
	int res[A_NRES];
	size_t len;

	ASSERT_EQ(0, put_file(self->base, "granted", "g\n"));
	ASSERT_EQ(0, put_file(self->base, "denied", "d\n"));
	at(_metadata, p, self->base, "granted");
	ASSERT_EQ(0, chmod(p, 0600));
	len = acl_build(acl, USER_ID, 4);
	if (setxattr(p, "system.posix_acl_access", acl, len, 0)) {
		if (errno == EOPNOTSUPP)
			SKIP(return, "branch filesystem has no POSIX ACLs");
		ASSERT_EQ(0, errno) TH_LOG("setting the ACL: %s", strerror(errno));
	}
	at(_metadata, p, self->base, "denied");
	ASSERT_EQ(0, chmod(p, 0600));
	mount_seed(_metadata, self);

	ASSERT_EQ(0, run_child(self, USER_ID, GROUP_ID, acl_child, res, A_NRES));
	EXPECT_EQ(0, res[A_GRANTED]) TH_LOG("open as %d: %s", USER_ID, strerror(res[A_GRANTED]));
	EXPECT_EQ(EACCES, res[A_DENIED]);
	/* the ACL reads back through the union */
	at(_metadata, p, self->mnt, "granted");
	EXPECT_EQ((ssize_t)len, getxattr(p, "system.posix_acl_access", NULL, 0));
}

/* ================================================================== */
/* 8. udba-ish: recreated names, and a clean umount                   */
/* ================================================================== */

TEST_F(wu, udba_recreated_names_show_new_attributes)
{
	char p[PATH_MAX];
	struct stat st, old;
	int fd;

	at(_metadata, p, self->base, "lnk");
	ASSERT_EQ(0, symlink("foo.txt", p));
	mount_seed(_metadata, self);

	/* lower file -> directory -> file */
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &old));
	ASSERT_TRUE(S_ISREG(old.st_mode));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, mkdir(p, 0700)) TH_LOG("mkdir: %s", strerror(errno));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(S_IFDIR | 0700, st.st_mode);
	expect_listing(_metadata, self->mnt, "hello.txt", "./..");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir: %s", strerror(errno));
	create_file(_metadata, self->mnt, "hello.txt", "xy", 0600);
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	ASSERT_EQ(2, st.st_size);
	expect_content(_metadata, self->mnt, "hello.txt", "xy");

	/* a top file, replaced while another process holds it open */
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unlink(p));
	create_file(_metadata, self->mnt, "foo.txt", "longer content\n", 0600);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	ASSERT_EQ(15, st.st_size);
	expect_content(_metadata, self->mnt, "foo.txt", "longer content\n");

	/* a lower symlink replaced by a directory */
	at(_metadata, p, self->mnt, "lnk");
	ASSERT_EQ(0, lstat(p, &st));
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, mkdir(p, 0711));
	ASSERT_EQ(0, lstat(p, &st));
	ASSERT_EQ(S_IFDIR | 0711, st.st_mode);
}

/* After a lot of activity umount(2) succeeds, and a new mount sees the result. */
TEST_F(wu, udba_umount_after_activity)
{
	char p[PATH_MAX], q[PATH_MAX];
	void *m;
	int fd;

	mkdir_at(_metadata, self->base, "ld", 0755);
	ASSERT_EQ(0, put_file(self->base, "ld/x", "x\n"));
	mount_seed(_metadata, self);

	overwrite(_metadata, self->mnt, "hello.txt", "changed\n");
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(0, unlink(p));
	mkdir_at(_metadata, self->mnt, "nd", 0755);
	create_file(_metadata, self->mnt, "nd/f", "f\n", 0644);
	at(_metadata, p, self->mnt, "nd/f");
	at(_metadata, q, self->mnt, "nd/g");
	ASSERT_EQ(0, rename(p, q));
	at(_metadata, p, self->mnt, "ld/x");
	at(_metadata, q, self->mnt, "ld/y");
	ASSERT_EQ(0, link(p, q));
	ASSERT_EQ(0, setxattr(q, "trusted.t", "1", 1, 0));
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	memcpy(m, "FOO", 3);
	ASSERT_EQ(0, munmap(m, 4));
	ASSERT_EQ(0, close(fd));
	expect_listing(_metadata, self->mnt, ".", "./../foo.txt/hello.txt/ld/nd");
	expect_listing(_metadata, self->mnt, "ld", "./../x/y");

	ASSERT_EQ(0, umount2(self->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	self->mounted = 0;

	/* the branches hold the result; a new mount shows it */
	mount_seed(_metadata, self);
	expect_listing(_metadata, self->mnt, ".", "./../foo.txt/hello.txt/ld/nd");
	expect_listing(_metadata, self->mnt, "nd", "./../g");
	expect_content(_metadata, self->mnt, "hello.txt", "changed\n");
	expect_content(_metadata, self->mnt, "foo.txt", "FOO\n");
	expect_content(_metadata, self->mnt, "ld/y", "x\n");
	expect_xattr(_metadata, self->mnt, "ld/y", "trusted.t", "1");
	ASSERT_EQ(0, umount2(self->mnt, 0)) TH_LOG("second umount: %s", strerror(errno));
	self->mounted = 0;
}

TEST_HARNESS_MAIN
