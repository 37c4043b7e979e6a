// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hard links and inode numbers: a read-only branch is never written
 * through another name of a hard-linked lower file, with noplink two names
 * become two files with stable numbers, with plink (the default) they stay
 * one file, a rename between two names of one lower file does nothing, and
 * the inode number table stays bounded.  Where it matters, the result is
 * checked again after dropping caches and after umount + mount.
 *
 * Fixture hd (fixture_hd.h): a writable "upper" and a read-only "lower"
 * branch, empty, each its own tmpfs (or plain directories); the tests of
 * the review that introduced it ("hardening") keep its name.
 * Expected values are derived from what the test put on the branches.  The
 * aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_hd.h"

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
	drop_caches("2");
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
	drop_caches("2");
	ASSERT_EQ(0, stat(a, &sa2));
	ASSERT_EQ(0, stat(b, &sb2));
	ASSERT_EQ(sa.st_ino, sa2.st_ino) TH_LOG("numbers stay across cache eviction");
	ASSERT_EQ(sb.st_ino, sb2.st_ino);
}

/* ================================================================== */
/* 2. pseudo-links                                                    */
/* ================================================================== */

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
			drop_caches("2");
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
	drop_caches("2");
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
/* 3. rename between names of one lower file                          */
/* ================================================================== */

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
		drop_caches("2");
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
/* 4. the inode number table is bounded                               */
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
	drop_caches("2");
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
	drop_caches("2");
	ASSERT_EQ(0, stat(p, &st2));
	ASSERT_EQ(st.st_ino, st2.st_ino) TH_LOG("copy-up changed the inode number");
	ASSERT_EQ(n0 + 100, xino_entries(self->mnt));
	for (i = 0; i < 100; i++) {
		P(p, "%s/l%d", self->mnt, i);
		ASSERT_EQ(0, unlink(p));
	}
	drop_caches("2");
	ASSERT_EQ(n0, xino_entries(self->mnt)) TH_LOG("entries of deleted copies stay");
}

TEST_HARNESS_MAIN
