// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hardening: the defects a filesystem maintainer's reading found, one test
 * each, through real syscalls on a real mount.  A read-only branch is never
 * written (hard links, reopen through /proc), image content cannot crash
 * the kernel (a 1000-level lower tree), nothing is copied up before the
 * caller is known to be allowed, lower directories' permissions count,
 * writes stay inside the branch's freeze protection, directory renames and
 * exchanges keep what is below, chattr flags survive copy-up, and the
 * inode number table stays bounded.  Where it matters, the result is
 * checked again after dropping caches and after umount + mount.
 *
 * Branches: a writable "upper" and a read-only "lower", each its own tmpfs
 * (or plain directories when $AUFS_TEST_DIR is on another filesystem).
 */
#include "aufs_test.h"

#include <grp.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "kselftest_harness.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#define NOBODY 65534
#define DEEP 1000

FIXTURE(hd) {
	char dir[PATH_MAX];
	char upper[PATH_MAX];
	char lower[PATH_MAX];
	char mnt[PATH_MAX];
	char opts[256];		/* extra mount options */
	int mounted;
	int tmpfs;
};

static int on_tmpfs(void)
{
	struct statfs sf;

	return statfs(test_root(), &sf) || sf.f_type == 0x01021994;
}

FIXTURE_SETUP(hd)
{
	/*
	 * Only where aufs is loaded (the test VM): never mount, freeze or
	 * chattr anything on another machine.  (A SKIP here would not stop
	 * the test body in this harness.)
	 */
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	umask(0);
	ASSERT_EQ(0, make_workdir(self->dir, "hd"));
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, make_dir(self->upper, self->dir, "upper"));
	ASSERT_EQ(0, make_dir(self->lower, self->dir, "lower"));
	ASSERT_EQ(0, make_dir(self->mnt, self->dir, "mnt"));
	self->tmpfs = on_tmpfs();
	if (self->tmpfs) {
		ASSERT_EQ(0, mount("hd", self->upper, "tmpfs", 0, "size=256m,mode=0755"));
		ASSERT_EQ(0, mount("hd", self->lower, "tmpfs", 0, "size=256m,mode=0755"));
	}
}

FIXTURE_TEARDOWN(hd)
{
	if (self->mounted && umount2(self->mnt, 0)) {
		TH_LOG("teardown: umount %s: %s", self->mnt, strerror(errno));
		_metadata->passed = 0;
		umount2(self->mnt, MNT_DETACH);
	}
	if (self->tmpfs) {
		umount2(self->upper, MNT_DETACH);
		umount2(self->lower, MNT_DETACH);
	}
	rm_tree(self->dir);
}

/* ---- helpers ---- */

#define P(buf, ...) ASSERT_EQ(0, pathf(buf, __VA_ARGS__))

static void hd_mount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro%s", self->upper, self->lower, self->opts));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, d)) TH_LOG("mount %s: %s", d, strerror(errno));
	self->mounted = 1;
}

static void hd_umount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	ASSERT_EQ(0, umount2(self->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	self->mounted = 0;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "2\n", 2) < 0)
			perror("drop_caches");
		close(fd);
	}
}

/* Content of <dir>/<rel> ("" when missing). */
static const char *content(const char *dir, const char *rel)
{
	static char buf[4][4096];
	static int k;
	char p[PATH_MAX];
	char *b = buf[k++ & 3];
	ssize_t n;

	b[0] = 0;
	if (pathf(p, "%s/%s", dir, rel))
		return b;
	n = read_file(p, b, sizeof(buf[0]) - 1);
	b[n < 0 ? 0 : n] = 0;
	return b;
}

/* lstat() of @rel in @dir: 0 or -1. */
static int lstat_in(const char *dir, const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	return pathf(p, "%s/%s", dir, rel) ? -1 : lstat(p, st);
}

static int exists(const char *dir, const char *rel)
{
	struct stat st;

	return !lstat_in(dir, rel, &st);
}


/* Run @fn as uid/gid NOBODY in a child; its exit status (0: all good). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ================================================================== */
/* 1. hard links on a read-only branch                                */
/* ================================================================== */

/*
 * Two names, a and b, of one lower file "lower\n", the union mounted with
 * the fixture's options.  b is opened for reading, a is written ("A\n",
 * which copies it up), then b is reopened for writing through
 * /proc/self/fd (no d_revalidate) and "B\n" is written at its start.
 */
static void reopen_other_name(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	char a[PATH_MAX], b[PATH_MAX], la[PATH_MAX], lb[PATH_MAX], proc[64];
	int fdb, fd;

	P(la, "%s/a", self->lower);
	P(lb, "%s/b", self->lower);
	ASSERT_EQ(0, write_file(la, "lower\n"));
	ASSERT_EQ(0, link(la, lb));
	hd_mount(_metadata, self);
	P(a, "%s/a", self->mnt);
	P(b, "%s/b", self->mnt);
	fdb = open(b, O_RDONLY);
	ASSERT_LE(0, fdb);
	ASSERT_EQ(0, write_file(a, "A\n")) TH_LOG("write a: %s", strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fdb);
	/* no O_TRUNC: nothing but the open itself may copy b up */
	fd = open(proc, O_WRONLY);
	ASSERT_LE(0, fd) TH_LOG("reopen b for write: %s", strerror(errno));
	ASSERT_EQ(2, pwrite(fd, "B\n", 2, 0));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(fdb));
}

/*
 * noplink: the other name, reopened for writing, must get its own copy:
 * the lower file never changes.
 */
TEST_F(hd, hardlink_reopen_never_writes_the_lower_branch)
{
	strcpy(self->opts, ",noplink");	/* see the plink_* tests */
	reopen_other_name(_metadata, self);
	ASSERT_STREQ("lower\n", content(self->lower, "a"));
	ASSERT_STREQ("lower\n", content(self->lower, "b"));
	ASSERT_STREQ("A\n", content(self->mnt, "a"));
	ASSERT_STREQ("B\nwer\n", content(self->mnt, "b"));
	drop_caches();
	ASSERT_STREQ("A\n", content(self->mnt, "a"));
	ASSERT_STREQ("B\nwer\n", content(self->mnt, "b"));
	hd_umount(_metadata, self);
	hd_mount(_metadata, self);
	ASSERT_STREQ("A\n", content(self->mnt, "a"));
	ASSERT_STREQ("B\nwer\n", content(self->mnt, "b"));
	ASSERT_STREQ("lower\n", content(self->lower, "a"));
}

/* Unlinking one name of a lower hard link leaves the other whole. */
TEST_F(hd, hardlink_unlink_one_name_keeps_the_other)
{
	char la[PATH_MAX], lb[PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], x[PATH_MAX];
	struct stat st;

	strcpy(self->opts, ",noplink");	/* see the plink_* tests */
	P(la, "%s/a", self->lower);
	P(lb, "%s/b", self->lower);
	ASSERT_EQ(0, write_file(la, "data\n"));
	ASSERT_EQ(0, link(la, lb));
	hd_mount(_metadata, self);
	P(a, "%s/a", self->mnt);
	P(b, "%s/b", self->mnt);
	P(c, "%s/c", self->mnt);
	P(x, "%s/x", self->mnt);
	ASSERT_EQ(0, stat(b, &st));	/* both names cached */
	ASSERT_EQ(0, unlink(a)) TH_LOG("unlink: %s", strerror(errno));
	ASSERT_EQ(0, stat(b, &st));
	ASSERT_LT(0, st.st_nlink) TH_LOG("the surviving name shows no links");
	ASSERT_EQ(0, link(b, c)) TH_LOG("link from the survivor: %s", strerror(errno));
	ASSERT_STREQ("data\n", content(self->mnt, "c"));
	ASSERT_EQ(0, write_file(x, "new\n"));
	ASSERT_EQ(0, rename(x, b)) TH_LOG("rename over the survivor: %s", strerror(errno));
	ASSERT_STREQ("new\n", content(self->mnt, "b"));
	ASSERT_STREQ("data\n", content(self->mnt, "c"));
	ASSERT_FALSE(exists(self->mnt, "a"));
	ASSERT_STREQ("data\n", content(self->lower, "a"));
	ASSERT_STREQ("data\n", content(self->lower, "b"));
}

/* noplink: after one name is copied up, the two names are two files: two numbers. */
TEST_F(hd, hardlink_copy_up_makes_two_files_with_stable_numbers)
{
	char la[PATH_MAX], lb[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	struct stat sa, sb, sa2, sb2;

	strcpy(self->opts, ",noplink");	/* see the plink_* tests */
	P(la, "%s/a", self->lower);
	P(lb, "%s/b", self->lower);
	ASSERT_EQ(0, write_file(la, "one\n"));
	ASSERT_EQ(0, link(la, lb));
	hd_mount(_metadata, self);
	P(a, "%s/a", self->mnt);
	P(b, "%s/b", self->mnt);
	ASSERT_EQ(0, stat(a, &sa));
	ASSERT_EQ(0, stat(b, &sb));
	ASSERT_EQ(sa.st_ino, sb.st_ino) TH_LOG("one lower file, one number");
	ASSERT_EQ(0, write_file(a, "two\n"));
	ASSERT_EQ(0, stat(a, &sa));
	ASSERT_EQ(0, stat(b, &sb));
	ASSERT_NE(sa.st_ino, sb.st_ino) TH_LOG("two different files report one st_ino");
	ASSERT_STREQ("two\n", content(self->mnt, "a"));
	ASSERT_STREQ("one\n", content(self->mnt, "b"));
	drop_caches();
	ASSERT_EQ(0, stat(a, &sa2));
	ASSERT_EQ(0, stat(b, &sb2));
	ASSERT_EQ(sa.st_ino, sa2.st_ino) TH_LOG("numbers stay across cache eviction");
	ASSERT_EQ(sb.st_ino, sb2.st_ino);
}

/* ================================================================== */
/* 2. a lower tree 1000 levels deep                                   */
/*
 * plink (the default): the names of a lower hard-linked file stay one file.
 * A write through one name copies it up once; every other name then shows
 * the new content, the same st_ino and the same link count, also after the
 * caches are dropped and after a remount; a change through another name
 * links that name to the copy (no second copy); the lower file never
 * changes; the pseudo-link is never visible through the union.
 */
static ino_t ino_of(const char *dir, const char *rel)
{
	struct stat st;

	return lstat_in(dir, rel, &st) ? 0 : st.st_ino;
}

static nlink_t nlink_of(const char *dir, const char *rel)
{
	struct stat st;

	return lstat_in(dir, rel, &st) ? 0 : st.st_nlink;
}

TEST_F(hd, plink_keeps_lower_hard_links_one_file)
{
	char la[PATH_MAX], lb[PATH_MAX], lc[PATH_MAX], p[PATH_MAX];
	int round, fd;

	P(la, "%s/a", self->lower);
	P(lb, "%s/b", self->lower);
	P(lc, "%s/d/c", self->lower);
	ASSERT_EQ(0, write_file(la, "lower\n"));
	ASSERT_EQ(0, link(la, lb));
	P(p, "%s/d", self->lower);
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(0, link(la, lc));
	hd_mount(_metadata, self);
	ASSERT_EQ(ino_of(self->mnt, "a"), ino_of(self->mnt, "b"));
	ASSERT_STREQ("lower\n", content(self->mnt, "d/c"));	/* cached before */
	ASSERT_EQ(0, put_file(self->mnt, "a", "written through a\n"));
	for (round = 0; round < 3; round++) {
		ASSERT_STREQ("written through a\n", content(self->mnt, "a")) TH_LOG("round %d", round);
		ASSERT_STREQ("written through a\n", content(self->mnt, "b")) TH_LOG("round %d", round);
		ASSERT_STREQ("written through a\n", content(self->mnt, "d/c")) TH_LOG("round %d", round);
		ASSERT_EQ(ino_of(self->mnt, "a"), ino_of(self->mnt, "b")) TH_LOG("round %d", round);
		ASSERT_EQ(ino_of(self->mnt, "a"), ino_of(self->mnt, "d/c"));
		ASSERT_EQ(nlink_of(self->mnt, "a"), nlink_of(self->mnt, "b"));
		ASSERT_LE(2, nlink_of(self->mnt, "b"));
		ASSERT_EQ(NULL, strstr(names_in(self->mnt, "."), ".wh."));
		ASSERT_FALSE(exists(self->upper, "b")) TH_LOG("b was copied up");
		ASSERT_TRUE(exists(self->upper, ".wh..wh.plnk"));
		if (round == 0)
			drop_caches();
		if (round == 1) {
			hd_umount(_metadata, self);
			hd_mount(_metadata, self);
		}
	}
	/* a change through another name joins the copy: one file on the branch */
	P(p, "%s/b", self->mnt);
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("open b: %s", strerror(errno));
	ASSERT_EQ(4, write(fd, "+b\n\n", 4));
	close(fd);
	ASSERT_TRUE(exists(self->upper, "b"));
	ASSERT_EQ(ino_of(self->upper, "a"), ino_of(self->upper, "b")) TH_LOG("b copied again");
	ASSERT_STREQ("written through a\n+b\n\n", content(self->mnt, "a"));
	ASSERT_STREQ("written through a\n+b\n\n", content(self->mnt, "d/c"));
	ASSERT_EQ(0, chmod(p, 0600));
	P(p, "%s/d/c", self->mnt);
	ASSERT_EQ(0, access(p, F_OK));
	ASSERT_EQ(ino_of(self->mnt, "a"), ino_of(self->mnt, "d/c"));
	/* unlinking one name leaves the others whole */
	P(p, "%s/a", self->mnt);
	ASSERT_EQ(0, unlink(p));
	ASSERT_STREQ("written through a\n+b\n\n", content(self->mnt, "b"));
	ASSERT_LT(0, nlink_of(self->mnt, "b"));
	drop_caches();
	ASSERT_STREQ("written through a\n+b\n\n", content(self->mnt, "d/c"));
	ASSERT_FALSE(exists(self->mnt, "a"));
	/* the lower branch never changed */
	ASSERT_STREQ("lower\n", content(self->lower, "a"));
	ASSERT_STREQ("lower\n", content(self->lower, "b"));
	ASSERT_EQ(3, nlink_of(self->lower, "a"));
}

/* plink: a name reopened through /proc/self/fd writes the one copy. */
TEST_F(hd, plink_reopen_writes_the_one_copy)
{
	reopen_other_name(_metadata, self);
	ASSERT_STREQ("B\n", content(self->mnt, "a"));
	ASSERT_STREQ("B\n", content(self->mnt, "b"));
	ASSERT_STREQ("lower\n", content(self->lower, "a"));
	ASSERT_STREQ("lower\n", content(self->lower, "b"));
	hd_umount(_metadata, self);
	hd_mount(_metadata, self);
	ASSERT_STREQ("B\n", content(self->mnt, "b"));
	ASSERT_EQ(ino_of(self->mnt, "a"), ino_of(self->mnt, "b"));
}

/* ================================================================== */

TEST_F_TIMEOUT(hd, deep_lower_tree_copy_up, 300)
{
	char p[PATH_MAX];
	int fd, dfd, i, n;
	size_t off;

	/* This one panics a kernel without the fix: skippable to test the rest. */
	if (getenv("AUFS_HD_NO_DEEP"))
		SKIP(return, "AUFS_HD_NO_DEEP is set");
	dfd = open(self->lower, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd);
	for (i = 0; i < DEEP; i++) {
		ASSERT_EQ(0, mkdirat(dfd, "d", 0755)) TH_LOG("level %d: %s", i, strerror(errno));
		fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		ASSERT_LE(0, fd);
		close(dfd);
		dfd = fd;
	}
	fd = openat(dfd, "f", O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "low\n", 4));
	close(fd);
	close(dfd);
	hd_mount(_metadata, self);
	off = snprintf(p, sizeof(p), "%s", self->mnt);
	for (i = 0; i < DEEP; i++)
		off += snprintf(p + off, sizeof(p) - off, "/d");
	ASSERT_LT(off + 3, sizeof(p));
	strcat(p, "/f");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("open deep file for write: %s", strerror(errno));
	ASSERT_EQ(3, write(fd, "up\n", 3));
	ASSERT_EQ(0, close(fd));
	/* the whole chain is on the upper branch, the lower one untouched */
	dfd = open(self->upper, O_RDONLY | O_DIRECTORY);
	for (n = 0; n < DEEP && dfd >= 0; n++) {
		fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = fd;
	}
	ASSERT_LE(0, dfd) TH_LOG("upper chain ends at level %d", n);
	fd = openat(dfd, "f", O_RDONLY);
	close(dfd);
	ASSERT_LE(0, fd);
	{
		char buf[16] = "";

		ASSERT_EQ(7, read(fd, buf, sizeof(buf) - 1));
		ASSERT_STREQ("low\nup\n", buf);
	}
	close(fd);
	drop_caches();
	{
		char buf[16] = "";

		ASSERT_EQ(7, read_file(p, buf, sizeof(buf) - 1));
	}
}

/* ================================================================== */
/* 3. permission before copy-up                                       */
/* ================================================================== */

struct path_arg {
	char path[PATH_MAX];
};

static int try_changes_as_nobody(void *arg)
{
	const char *p = ((struct path_arg *)arg)->path;
	int fd, flags = 0, bad = 0;

	/* system.* is the owner's: refused before anything is copied */
	if (setxattr(p, "system.posix_acl_access", "x", 1, 0) == 0 || errno != EPERM)
		bad |= 1;
	if (removexattr(p, "system.posix_acl_access") == 0 || errno != EPERM)
		bad |= 2;
	if (chown(p, NOBODY, NOBODY) == 0 || errno != EPERM)
		bad |= 4;
	fd = open(p, O_RDONLY);
	if (fd < 0 || ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0 ||
	    (errno != EPERM && errno != EACCES))
		bad |= 8;
	if (fd >= 0)
		close(fd);
	if (setxattr(p, "user.k", "v", 1, 0) == 0 || errno != EACCES)
		bad |= 16;
	return bad;
}

TEST_F(hd, nothing_is_copied_up_before_permission_and_existence)
{
	struct path_arg a;
	int r;

	ASSERT_EQ(0, put_file(self->lower, "f", "root's\n"));
	hd_mount(_metadata, self);
	P(a.path, "%s/f", self->mnt);
	r = as_nobody(try_changes_as_nobody, &a);
	ASSERT_EQ(0, r) TH_LOG("refused changes: bad mask %d", r);
	ASSERT_FALSE(exists(self->upper, "f")) TH_LOG("a refused change copied the file up");
	/* removing what does not exist: ENODATA, nothing copied */
	ASSERT_EQ(-1, removexattr(a.path, "trusted.absent"));
	ASSERT_EQ(ENODATA, errno);
	ASSERT_FALSE(exists(self->upper, "f"));
	/* allowed: copied up */
	ASSERT_EQ(0, setxattr(a.path, "trusted.k", "v", 1, 0)) TH_LOG("%s", strerror(errno));
	ASSERT_TRUE(exists(self->upper, "f"));
}

/* ================================================================== */
/* 4. permission of lower directories (and dirperm1)                  */
/* ================================================================== */

static int peek_as_nobody(void *arg)
{
	const char *d = ((struct path_arg *)arg)->path;
	char p[PATH_MAX + 16];
	struct stat st;
	DIR *dir;
	int bad = 0;

	dir = opendir(d);
	if (dir)
		closedir(dir);
	else
		bad |= errno == EACCES ? 1 : 64;
	snprintf(p, sizeof(p), "%s/secret", d);
	if (stat(p, &st))
		bad |= errno == EACCES ? 2 : 64;
	return bad;	/* 3: both refused, 0: both allowed */
}

TEST_F(hd, lower_directory_permission_counts_unless_dirperm1)
{
	char d[PATH_MAX];
	struct path_arg a;
	DIR *dir;

	ASSERT_EQ(0, make_dir(d, self->lower, "d"));
	ASSERT_EQ(0, put_file(d, "secret", "s\n"));
	ASSERT_EQ(0, chmod(d, 0700));
	ASSERT_EQ(0, make_dir(d, self->upper, "d"));
	ASSERT_EQ(0, chmod(d, 0755));
	hd_mount(_metadata, self);
	P(a.path, "%s/d", self->mnt);
	/* root looks first: what the dcache holds must not matter */
	dir = opendir(a.path);
	ASSERT_NE(NULL, dir);
	closedir(dir);
	ASSERT_STREQ("secret", names_in(self->mnt, "d"));
	ASSERT_EQ(3, as_nobody(peek_as_nobody, &a)) TH_LOG("a 0700 lower directory was readable");
	hd_umount(_metadata, self);
	strcpy(self->opts, ",dirperm1");
	hd_mount(_metadata, self);
	ASSERT_EQ(0, as_nobody(peek_as_nobody, &a)) TH_LOG("dirperm1: the topmost directory decides");
}

/*
 * The lower directory's owner changes its mode on the branch, through an
 * fd (no path there needed): each change counts at the next walk of the
 * same process, with the same credentials, whatever was granted before.
 */
struct chmod_arg {
	char path[PATH_MAX];
	int fd;
};

static int peek_chmod_peek(void *arg)
{
	struct chmod_arg *a = arg;
	struct path_arg pa;
	int r = 0;

	memcpy(pa.path, a->path, sizeof(pa.path));
	r |= peek_as_nobody(&pa) ? 1 : 0;		/* granted */
	r |= peek_as_nobody(&pa) ? 2 : 0;		/* granted again */
	if (fchmod(a->fd, 0))
		return 64;
	r |= peek_as_nobody(&pa) != 3 ? 4 : 0;		/* refused at once */
	if (fchmod(a->fd, 0755))
		return 64;
	r |= peek_as_nobody(&pa) ? 8 : 0;		/* granted again */
	return r;
}

TEST_F(hd, lower_directory_permission_change_counts_at_once)
{
	char d[PATH_MAX];
	struct chmod_arg a;

	ASSERT_EQ(0, make_dir(d, self->lower, "d"));
	ASSERT_EQ(0, put_file(d, "secret", "s\n"));
	ASSERT_EQ(0, chmod(d, 0755));
	ASSERT_EQ(0, chown(d, NOBODY, NOBODY));
	a.fd = open(d, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, a.fd);
	ASSERT_EQ(0, make_dir(d, self->upper, "d"));
	ASSERT_EQ(0, chmod(d, 0755));
	hd_mount(_metadata, self);
	P(a.path, "%s/d", self->mnt);
	ASSERT_EQ(0, as_nobody(peek_chmod_peek, &a))
		TH_LOG("1, 2: refused; 4: a lower chmod 0 did not count; 8: nor chmod 0755");
	close(a.fd);
}

/* ================================================================== */
/* 5 + 10 + 12. opening for write, mmap, maps                         */
/* ================================================================== */

TEST_F(hd, open_for_write_without_writable_branch_is_erofs)
{
	char d[MOUNT_DATA_MAX], p[PATH_MAX];
	int fd;

	ASSERT_EQ(0, put_file(self->lower, "f", "x\n"));
	ASSERT_EQ(0, dataf(d, "br=%s=ro:%s=ro", self->upper, self->lower));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, d));
	self->mounted = 1;
	P(p, "%s/f", self->mnt);
	ASSERT_EQ(-1, open(p, O_WRONLY));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(-1, open(p, O_RDWR));
	ASSERT_EQ(EROFS, errno);
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_FALSE(exists(self->upper, "f"));
}

/*
 * Copy-up at open for write, then a shared mapping of the copy.  The
 * mapping shows the union path in /proc/PID/maps and keeps the union
 * mount busy after the file is closed (defect 12).  fallocate and a write
 * that drops set-id bits reach the branch filesystem through the real
 * file, which finds its own dentry (xfs's fallocate uses file_dentry()).
 */
TEST_F(hd, copy_up_at_open_then_shared_mapping)
{
	char p[PATH_MAX], line[PATH_MAX + 256];
	int fd, found = 0;
	FILE *maps;
	struct stat st;
	char *m;

	ASSERT_EQ(0, put_file(self->lower, "f", "0123456789abcdef"));
	hd_mount(_metadata, self);
	P(p, "%s/f", self->mnt);
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_TRUE(exists(self->upper, "f")) TH_LOG("not copied up at open for write");
	m = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, fallocate(fd, 0, 0, 8192)) TH_LOG("fallocate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(8192, st.st_size);
	ASSERT_EQ(0, ftruncate(fd, 16));
	ASSERT_EQ(0, close(fd));
	memcpy(m, "MAPPED", 6);
	ASSERT_EQ(0, msync(m, 16, MS_SYNC));
	maps = fopen("/proc/self/maps", "r");
	ASSERT_NE(NULL, maps);
	while (fgets(line, sizeof(line), maps))
		found |= strstr(line, p) != NULL;
	fclose(maps);
	ASSERT_TRUE(found) TH_LOG("/proc/self/maps does not show %s", p);
	ASSERT_EQ(-1, umount2(self->mnt, 0)) TH_LOG("a mapped union file must keep the mount busy");
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, munmap(m, 16));
	ASSERT_STREQ("MAPPED6789abcdef", content(self->upper, "f"));
	ASSERT_STREQ("MAPPED6789abcdef", content(self->mnt, "f"));
	ASSERT_STREQ("0123456789abcdef", content(self->lower, "f"));
}

/* An open file unlinked with its directory: still usable, even written. */
TEST_F(hd, orphan_copy_up_after_its_directory_went)
{
	char d[PATH_MAX], p[PATH_MAX], proc[64], buf[16] = "";
	struct stat st;
	int fd, wfd;

	ASSERT_EQ(0, make_dir(d, self->lower, "d"));
	ASSERT_EQ(0, put_file(d, "f", "lower\n"));
	hd_mount(_metadata, self);
	P(p, "%s/d/f", self->mnt);
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unlink(p));
	P(d, "%s/d", self->mnt);
	ASSERT_EQ(0, rmdir(d));
	ASSERT_EQ(0, fchmod(fd, 0600)) TH_LOG("fchmod of the orphan: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0600, st.st_mode & 07777);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wfd = open(proc, O_WRONLY);
	ASSERT_LE(0, wfd) TH_LOG("reopen the orphan for write: %s", strerror(errno));
	ASSERT_EQ(2, pwrite(wfd, "UP", 2, 0));
	close(wfd);
	ASSERT_EQ(6, pread(fd, buf, sizeof(buf) - 1, 0));
	ASSERT_STREQ("UPwer\n", buf);
	close(fd);
	ASSERT_STREQ("lower\n", content(self->lower, "d/f"));
	ASSERT_STREQ("", names_in(self->mnt, "."));
}

/*
 * A write by someone who may not keep the set-id bits removes them (the
 * kill-privileges path): through the union, without deadlocking on the
 * lower inode the real write holds.
 */
static int write_as_nobody(void *arg)
{
	int fd = open(((struct path_arg *)arg)->path, O_WRONLY | O_APPEND);

	if (fd < 0)
		return 1;
	if (write(fd, "x", 1) != 1)
		return 2;
	if (fallocate(fd, 0, 0, 4096))
		return 3;
	return close(fd) ? 4 : 0;
}

TEST_F(hd, write_by_another_user_drops_setid_bits)
{
	struct path_arg a;
	struct stat st;
	char p[PATH_MAX];

	ASSERT_EQ(0, pathf(p, "%s/suid", self->lower));
	ASSERT_EQ(0, write_file(p, "s"));
	ASSERT_EQ(0, chmod(p, 06777));
	hd_mount(_metadata, self);
	P(a.path, "%s/suid", self->mnt);
	ASSERT_EQ(0, as_nobody(write_as_nobody, &a));
	ASSERT_EQ(0, stat(a.path, &st));
	ASSERT_EQ(0, st.st_mode & (S_ISUID | S_ISGID)) TH_LOG("mode %o", st.st_mode);
	ASSERT_EQ(0, pathf(p, "%s/suid", self->upper));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(0, st.st_mode & (S_ISUID | S_ISGID));
	ASSERT_EQ(0, pathf(p, "%s/suid", self->lower));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(06777, st.st_mode & 07777) TH_LOG("the lower file changed");
}

/* ================================================================== */
/* 6. one copy-up does not block the mount's namespace operations     */
/* ================================================================== */

static int cpup_tmp_present(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, ".wh..wh.cpup.", 13);
	closedir(d);
	return n;
}

TEST_F_TIMEOUT(hd, copy_up_does_not_block_other_operations, 300)
{
	char big[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	static char chunk[1 << 20];
	int fd, i, seen = 0, status;
	pid_t pid;

	P(big, "%s/big", self->lower);
	memset(chunk, 'z', sizeof(chunk));
	fd = open(big, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	for (i = 0; i < 96; i++)
		ASSERT_EQ((ssize_t)sizeof(chunk), write(fd, chunk, sizeof(chunk)));
	close(fd);
	hd_mount(_metadata, self);
	P(p, "%s/big", self->mnt);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = open(p, O_WRONLY);	/* the copy-up */
		_exit(fd < 0);
	}
	for (i = 0; i < 20000 && !seen; i++) {
		seen = cpup_tmp_present(self->upper);
		if (!seen)
			usleep(1000);
	}
	ASSERT_TRUE(seen) TH_LOG("no copy-up in progress was ever seen");
	/* while it runs: create, mkdir, unlink, rename elsewhere in the mount */
	P(q, "%s/new", self->mnt);
	ASSERT_EQ(0, write_file(q, "n\n"));
	P(q, "%s/dir", self->mnt);
	ASSERT_EQ(0, mkdir(q, 0755));
	P(q, "%s/new", self->mnt);
	ASSERT_EQ(0, unlink(q));
	ASSERT_TRUE(cpup_tmp_present(self->upper))
		TH_LOG("the operations waited for the whole copy-up");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, cpup_tmp_present(self->upper));
}

/* ================================================================== */
/* 7. freeze protection, syncfs, fsync of a directory                 */
/* ================================================================== */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[3 * PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

TEST_F_TIMEOUT(hd, writes_wait_for_a_frozen_ext4_upper, 300)
{
	char img[PATH_MAX], ext[PATH_MAX], d[MOUNT_DATA_MAX], p[PATH_MAX], q[PATH_MAX];
	int fd, efd, dfd, status;
	pid_t w, c;

	if (sh("command -v mkfs.ext4 >/dev/null"))
		SKIP(return, "mkfs.ext4 not available");
	P(img, "%s/ext4.img", self->dir);
	P(ext, "%s/ext4", self->dir);
	ASSERT_EQ(0, mkdir(ext, 0755));
	ASSERT_EQ(0, sh("modprobe loop 2>/dev/null; truncate -s 64M %s && mkfs.ext4 -q -F %s && mount -o loop %s %s",
			img, img, img, ext));
	ASSERT_EQ(0, put_file(self->lower, "low", "low\n"));
	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", ext, self->lower));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, d));
	self->mounted = 1;
	P(p, "%s/f", self->mnt);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	efd = open(ext, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, ioctl(efd, FIFREEZE, 0)) TH_LOG("FIFREEZE: %s", strerror(errno));
	w = fork();
	if (!w)
		_exit(write(fd, "frozen\n", 7) != 7);
	P(q, "%s/low", self->mnt);
	c = fork();
	if (!c) {
		int f = open(q, O_WRONLY);	/* a copy-up onto the frozen branch */

		_exit(f < 0 || write(f, "L", 1) != 1);
	}
	usleep(500 * 1000);
	ASSERT_EQ(0, waitpid(w, &status, WNOHANG)) TH_LOG("a write went through to a frozen branch");
	ASSERT_EQ(0, waitpid(c, &status, WNOHANG)) TH_LOG("a copy-up went through to a frozen branch");
	ASSERT_EQ(0, ioctl(efd, FITHAW, 0));
	ASSERT_EQ(w, waitpid(w, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_EQ(c, waitpid(c, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_EQ(0, syncfs(fd));
	close(fd);
	dfd = open(self->mnt, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, fsync(dfd)) TH_LOG("fsync(dirfd): %s", strerror(errno));
	/* freezing the union itself syncs and thaws */
	ASSERT_EQ(0, ioctl(dfd, FIFREEZE, 0)) TH_LOG("FIFREEZE aufs: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(dfd, FITHAW, 0));
	close(dfd);
	close(efd);
	ASSERT_STREQ("frozen\n", content(ext, "f"));
	ASSERT_STREQ("Low\n", content(ext, "low"));
	ASSERT_STREQ("low\n", content(self->lower, "low"));
	hd_umount(_metadata, self);
	ASSERT_EQ(0, umount2(ext, 0));
}

/* ================================================================== */
/* 8 + 9. exchanges and directory renames keep what is below          */
/* ================================================================== */

TEST_F(hd, exchange_of_directories_keeps_deleted_lower_entries_deleted)
{
	char d[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	int pass;

	ASSERT_EQ(0, make_dir(d, self->lower, "b"));
	ASSERT_EQ(0, put_file(d, "gone", "g\n"));
	hd_mount(_metadata, self);
	P(b, "%s/b/gone", self->mnt);
	ASSERT_EQ(0, unlink(b));
	P(a, "%s/a", self->mnt);
	ASSERT_EQ(0, mkdir(a, 0755));
	ASSERT_EQ(0, put_file(a, "x", "x\n"));
	P(b, "%s/b", self->mnt);
	ASSERT_EQ(0, put_file(b, "y", "y\n"));
	ASSERT_EQ(0, syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE))
		TH_LOG("exchange: %s", strerror(errno));
	for (pass = 0; pass < 3; pass++) {
		if (pass == 1)
			drop_caches();
		if (pass == 2) {
			hd_umount(_metadata, self);
			hd_mount(_metadata, self);
		}
		ASSERT_STREQ("y", names_in(self->mnt, "a")) TH_LOG("pass %d", pass);
		ASSERT_STREQ("x", names_in(self->mnt, "b")) TH_LOG("pass %d", pass);
	}
	ASSERT_STREQ("gone", names_in(self->lower, "b"));
}

TEST_F(hd, rename_of_directory_with_lower_contents_below_is_exdev)
{
	char d[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	int pass;

	ASSERT_EQ(0, make_dir(d, self->lower, "d"));
	ASSERT_EQ(0, make_dir(d, self->lower, "d/c"));
	ASSERT_EQ(0, put_file(d, "theirs", "t\n"));
	hd_mount(_metadata, self);
	P(d, "%s/d/c", self->mnt);
	ASSERT_EQ(0, put_file(d, "mine", "m\n"));	/* d and d/c copied up */
	P(src, "%s/d", self->mnt);
	P(dst, "%s/e", self->mnt);
	ASSERT_EQ(-1, rename(src, dst));
	ASSERT_EQ(EXDEV, errno);
	for (pass = 0; pass < 3; pass++) {
		if (pass == 1)
			drop_caches();
		if (pass == 2) {
			hd_umount(_metadata, self);
			hd_mount(_metadata, self);
		}
		ASSERT_STREQ("mine/theirs", names_in(self->mnt, "d/c")) TH_LOG("pass %d", pass);
		ASSERT_STREQ("d", names_in(self->mnt, "."));
	}
}

/* ================================================================== */
/* 11. chattr flags survive copy-up                                    */
/* ================================================================== */

static int set_flags(const char *p, int add, int del)
{
	int fd = open(p, O_RDONLY), f = 0, r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_GETFLAGS, &f);
	if (!r) {
		f = (f | add) & ~del;
		r = ioctl(fd, FS_IOC_SETFLAGS, &f);
	}
	close(fd);
	return r;
}

static int get_flags(const char *p)
{
	int fd = open(p, O_RDONLY), f = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &f))
		f = -1;
	close(fd);
	return f;
}

TEST_F(hd, append_only_survives_copy_up)
{
	char lf[PATH_MAX], uf[PATH_MAX], p[PATH_MAX];
	int fd;

	P(lf, "%s/log", self->lower);
	P(uf, "%s/log", self->upper);
	ASSERT_EQ(0, write_file(lf, "first\n"));
	if (set_flags(lf, FS_APPEND_FL, 0))
		SKIP(return, "the lower filesystem has no chattr +a: %s", strerror(errno));
	hd_mount(_metadata, self);
	P(p, "%s/log", self->mnt);
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("append open: %s", strerror(errno));
	ASSERT_EQ(7, write(fd, "second\n", 7));
	close(fd);
	ASSERT_TRUE(get_flags(uf) & FS_APPEND_FL) TH_LOG("the copy lost append-only");
	ASSERT_TRUE(get_flags(p) & FS_APPEND_FL);
	ASSERT_EQ(-1, truncate(p, 0));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, unlink(p));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, open(p, O_WRONLY));
	ASSERT_EQ(EPERM, errno);
	ASSERT_STREQ("first\nsecond\n", content(self->mnt, "log"));
	ASSERT_STREQ("first\n", content(self->lower, "log"));
	set_flags(uf, 0, FS_APPEND_FL);
	set_flags(lf, 0, FS_APPEND_FL);
}

/*
 * The copy has the source's flags exactly: a flag the new file would
 * inherit from its directory on the upper branch (ext4 and xfs pass
 * nodump down to new files) is not the file's.
 */
TEST_F(hd, copy_up_has_exactly_the_source_flags)
{
	char ld[PATH_MAX], ud[PATH_MAX], p[PATH_MAX], uf[PATH_MAX];

	P(ld, "%s/d", self->lower);
	P(ud, "%s/d", self->upper);
	ASSERT_EQ(0, mkdir(ld, 0755));
	ASSERT_EQ(0, mkdir(ud, 0755));
	P(p, "%s/d/f", self->lower);
	ASSERT_EQ(0, write_file(p, "lower\n"));
	if (set_flags(ud, FS_NODUMP_FL, 0))
		SKIP(return, "the upper filesystem has no chattr +d: %s", strerror(errno));
	hd_mount(_metadata, self);
	P(p, "%s/d/f", self->mnt);
	ASSERT_EQ(0, get_flags(p) & FS_NODUMP_FL);
	ASSERT_EQ(0, write_file(p, "upper\n"));	/* copy-up */
	P(uf, "%s/d/f", self->upper);
	ASSERT_EQ(0, access(uf, F_OK));
	ASSERT_EQ(0, get_flags(uf) & FS_NODUMP_FL) TH_LOG("the copy inherited nodump");
	ASSERT_EQ(0, get_flags(p) & FS_NODUMP_FL);
	/* and a flag the source has is kept */
	P(p, "%s/d/g", self->lower);
	ASSERT_EQ(0, write_file(p, "g\n"));
	ASSERT_EQ(0, set_flags(p, FS_NOATIME_FL, 0));
	P(p, "%s/d/g", self->mnt);
	ASSERT_EQ(0, write_file(p, "g2\n"));
	P(uf, "%s/d/g", self->upper);
	ASSERT_EQ(FS_NOATIME_FL, get_flags(uf) & (FS_NOATIME_FL | FS_NODUMP_FL));
	set_flags(ud, 0, FS_NODUMP_FL);
}

/*
 * rename(2) between two names of one file is a successful no-op (POSIX):
 * also for two hard links of one lower file, with plink (one union inode)
 * and with noplink (two union objects): nothing is copied up and both
 * names stay.  When the file is immutable under noplink the VFS, seeing
 * two inodes, refuses first (EPERM, a documented difference from a plain
 * filesystem); nothing changes then either.
 */
TEST_F(hd, rename_between_hard_links_of_one_lower_file_does_nothing)
{
	char a[PATH_MAX], b[PATH_MAX], la[PATH_MAX];
	int round, r;

	P(la, "%s/a", self->lower);
	P(b, "%s/b", self->lower);
	ASSERT_EQ(0, write_file(la, "one file\n"));
	ASSERT_EQ(0, link(la, b));
	P(a, "%s/a", self->mnt);
	P(b, "%s/b", self->mnt);
	/* rounds: plink, plink immutable, noplink, noplink immutable */
	for (round = 0; round < 4; round++) {
		strcpy(self->opts, round < 2 ? "" : ",noplink");
		set_flags(la, 0, FS_IMMUTABLE_FL);
		if (round % 2 && set_flags(la, FS_IMMUTABLE_FL, 0))
			continue;	/* no chattr +i on this filesystem */
		hd_mount(_metadata, self);
		ASSERT_STREQ("one file\n", content(self->mnt, "a"));	/* cached */
		r = rename(a, b);
		if (round != 3) {
			ASSERT_EQ(0, r) TH_LOG("round %d: rename: %s", round, strerror(errno));
		} else {
			ASSERT_TRUE(r == 0 || errno == EPERM) TH_LOG("rename: %s", strerror(errno));
		}
		ASSERT_STREQ("one file\n", content(self->mnt, "a")) TH_LOG("round %d", round);
		ASSERT_STREQ("one file\n", content(self->mnt, "b"));
		drop_caches();
		ASSERT_TRUE(exists(self->mnt, "a"));
		ASSERT_TRUE(exists(self->mnt, "b"));
		ASSERT_FALSE(exists(self->upper, "a")) TH_LOG("round %d: copied up", round);
		ASSERT_FALSE(exists(self->upper, "b"));
		ASSERT_FALSE(exists(self->upper, ".wh.a"));
		hd_umount(_metadata, self);
	}
	set_flags(la, 0, FS_IMMUTABLE_FL);
}

/* ================================================================== */
/* 12. a mount point in a directory that is copied up stays mounted   */
/* ================================================================== */

static int mounted_at(const char *path)
{
	char line[2 * PATH_MAX], target[PATH_MAX], esc[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	escape_path(path, esc, sizeof(esc));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", target) == 1 && !strcmp(target, esc))
			found = 1;
	fclose(f);
	return found;
}

/*
 * Containers bind-mount files (/etc/hosts...) into directories that live on
 * an image layer.  Copying such a directory up (a file created next to the
 * mount point) must not invalidate it, even while others look it up: a
 * revalidation that looked the directory up just before its copy-up ended
 * must neither take the copy for another directory (the dentry and every
 * mount below it would go) nor put back the info from before the copy-up.
 */
#define NMP 20
#define NLOOKERS 2

TEST_F_TIMEOUT(hd, mount_points_survive_copy_up_of_their_directories, 300)
{
	char d[PATH_MAX], src[PATH_MAX], mp[NMP][PATH_MAX], dir[NMP][PATH_MAX];
	struct stat st;
	int i, c, bad, lost = 0, status;
	pid_t pid[NLOOKERS];

	P(src, "%s/hosts.container", self->dir);
	ASSERT_EQ(0, write_file(src, "container\n"));
	for (i = 0; i < NMP; i++) {
		P(d, "%s/etc%d", self->lower, i);
		ASSERT_EQ(0, mkdir(d, 0755));
		ASSERT_EQ(0, put_file(d, "hosts", "image\n"));
	}
	hd_mount(_metadata, self);
	for (i = 0; i < NMP; i++) {
		P(mp[i], "%s/etc%d/hosts", self->mnt, i);
		P(dir[i], "%s/etc%d", self->mnt, i);
		ASSERT_EQ(0, mount(src, mp[i], NULL, MS_BIND, NULL)) TH_LOG("bind: %s", strerror(errno));
	}
	for (c = 0; c < NLOOKERS; c++) {
		pid[c] = fork();
		ASSERT_LE(0, pid[c]);
		if (!pid[c]) {
			/* look the mount points and their directories up all the time */
			for (;;)
				for (i = 0; i < NMP; i++) {
					stat(mp[i], &st);
					stat(dir[(i + c) % NMP], &st);
				}
		}
	}
	for (i = 0, bad = 0; i < NMP; i++)
		bad += put_file(dir[i], "new", "x\n") != 0;	/* copies etc<i> up */
	for (c = 0; c < NLOOKERS; c++) {
		kill(pid[c], SIGKILL);
		ASSERT_EQ(pid[c], waitpid(pid[c], &status, 0));
	}
	ASSERT_EQ(0, bad) TH_LOG("%d files could not be made next to a mount point", bad);
	for (i = 0; i < NMP; i++) {
		if (!mounted_at(mp[i]))
			lost++;
		else
			ASSERT_STREQ("container\n", content(self->mnt, mp[i] + strlen(self->mnt) + 1));
		umount2(mp[i], MNT_DETACH);
	}
	ASSERT_EQ(0, lost) TH_LOG("%d bind mounts went with the copy-up of their directory", lost);
	ASSERT_STREQ("image\n", content(self->mnt, "etc0/hosts"));
}

/* ================================================================== */
/* 13. the inode number table stays bounded                           */
/* ================================================================== */

static long xino_entries(const char *mnt)
{
	return si_debugfs(mnt, "xino_entries");
}

TEST_F_TIMEOUT(hd, inode_number_table_is_bounded, 300)
{
	char p[PATH_MAX], name[32];
	struct stat st, st2;
	long n0, n;
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		ASSERT_EQ(0, put_file(self->lower, name, "l\n"));
	}
	hd_mount(_metadata, self);
	n0 = xino_entries(self->mnt);
	ASSERT_LE(0, n0) TH_LOG("no debugfs xino_entries");
	for (i = 0; i < 3000; i++) {
		P(p, "%s/tmp%d", self->mnt, i % 7);
		ASSERT_EQ(0, write_file(p, "t"));
		ASSERT_EQ(0, stat(p, &st));
		ASSERT_EQ(0, unlink(p));
	}
	drop_caches();
	n = xino_entries(self->mnt);
	ASSERT_EQ(n0, n) TH_LOG("a create/delete loop grew the table from %ld to %ld", n0, n);
	/* copies keep their numbers: one entry each, while they exist */
	P(p, "%s/l0", self->mnt);
	ASSERT_EQ(0, stat(p, &st));
	for (i = 0; i < 100; i++) {
		P(p, "%s/l%d", self->mnt, i);
		ASSERT_EQ(0, chmod(p, 0600));
	}
	P(p, "%s/l0", self->mnt);
	drop_caches();
	ASSERT_EQ(0, stat(p, &st2));
	ASSERT_EQ(st.st_ino, st2.st_ino) TH_LOG("copy-up changed the inode number");
	ASSERT_EQ(n0 + 100, xino_entries(self->mnt));
	for (i = 0; i < 100; i++) {
		P(p, "%s/l%d", self->mnt, i);
		ASSERT_EQ(0, unlink(p));
	}
	drop_caches();
	ASSERT_EQ(n0, xino_entries(self->mnt)) TH_LOG("entries of deleted copies stay");
}

TEST_HARNESS_MAIN
