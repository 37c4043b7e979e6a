// SPDX-License-Identifier: GPL-2.0-only
/*
 * Namespace operations through the union: create, mkdir, mknod (fifo,
 * socket, character device), symlink, link, unlink, rmdir, every kind of
 * rename (RENAME_NOREPLACE, RENAME_EXCHANGE, directories with lower
 * contents are EXDEV), directory link counts, names recreated on a branch
 * behind the union's back (udba) and a clean umount after a lot of
 * activity.
 *
 * Fixture wu (fixture_wu.h): fresh branches top, mid and base, each its own
 * tmpfs (plain directories when $AUFS_TEST_DIR is on another filesystem),
 * with the seed article's files base/{common,hello}.txt, top/{common,foo}.txt.
 * Fixture hd (fixture_hd.h): a writable "upper" and a read-only "lower"
 * branch, empty, each its own tmpfs (or plain directories); the tests of
 * the review that introduced it ("hardening") keep its name.
 * Expected values are derived from what the test put on the branches.  The
 * aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_wu.h"
#include "fixture_hd.h"

/* ================================================================== */
/* 1. namespace operations                                            */
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

/* ================================================================== */
/* 2. rename                                                          */
/* ================================================================== */

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
			drop_caches("2");
		if (pass == 2) {
			hd_umount(_metadata, self);
			hd_mount(_metadata, self);
		}
		ASSERT_STREQ("mine/theirs", names_in(self->mnt, "d/c")) TH_LOG("pass %d", pass);
		ASSERT_STREQ("d", names_in(self->mnt, "."));
	}
}

/* ================================================================== */
/* 3. udba-ish: recreated names, and a clean umount                   */
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

	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("umount: %s", strerror(errno));

	/* the branches hold the result; a new mount shows it */
	mount_seed(_metadata, self);
	expect_listing(_metadata, self->mnt, ".", "./../foo.txt/hello.txt/ld/nd");
	expect_listing(_metadata, self->mnt, "nd", "./../g");
	expect_content(_metadata, self->mnt, "hello.txt", "changed\n");
	expect_content(_metadata, self->mnt, "foo.txt", "FOO\n");
	expect_content(_metadata, self->mnt, "ld/y", "x\n");
	expect_xattr(_metadata, self->mnt, "ld/y", "trusted.t", "1");
	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("second umount: %s", strerror(errno));
}

TEST_HARNESS_MAIN
