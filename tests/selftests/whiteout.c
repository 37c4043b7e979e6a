// SPDX-License-Identifier: GPL-2.0-only
/*
 * Whiteouts and opaque directories: removing a lower file or directory
 * leaves a whiteout (a hard link to .wh..wh.aufs, or a plain file with
 * nolwh), a directory made over a whited-out one is opaque, making a
 * whited-out name again removes its whiteout, and an exchange of
 * directories keeps deleted lower entries deleted.
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
/* 1. the seed scenarios                                              */
/* ================================================================== */

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
/* 2. whiteouts made and removed                                      */
/* ================================================================== */

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
			drop_caches("2");
		if (pass == 2) {
			hd_umount(_metadata, self);
			hd_mount(_metadata, self);
		}
		ASSERT_STREQ("y", names_in(self->mnt, "a")) TH_LOG("pass %d", pass);
		ASSERT_STREQ("x", names_in(self->mnt, "b")) TH_LOG("pass %d", pass);
	}
	ASSERT_STREQ("gone", names_in(self->lower, "b"));
}

TEST_HARNESS_MAIN
