// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirren: a directory whose contents live on lower (read-only) branches is
 * renamed without EXDEV and without copying its tree: only the directory
 * itself is made on the writable branch, with a record (the xattr
 * trusted.aufs.dirren) of where its contents are below.  The union shows
 * every branch's contents under the new name and nothing under the old
 * one, after drop_caches, after umount+mount and after a remount that
 * adds a branch above and deletes an unrelated one.  Renamed twice, back,
 * into another directory, by an unprivileged user; rmdir still needs an
 * empty directory.  Without dirren (aufs's default) the rename is EXDEV.
 * A malformed record on a branch is refused (EIO, one aufs: line).
 *
 * Fixture wu (fixture_wu.h): branches top, mid and base, each its own
 * tmpfs, with the seed files.  The aufs module is loaded by the suite.
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_wu.h"

#define NOBODY 65534
#define DIRREN_XATTR "trusted.aufs.dirren"

/* base/d/{f,sub/g}, mid/d/h: the directory d with contents on two branches */
static void lower_tree(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self)
{
	mkdir_at(_metadata, self->base, "d", 0755);
	mkdir_at(_metadata, self->base, "d/sub", 0755);
	ASSERT_EQ(0, put_file(self->base, "d/f", "f\n"));
	ASSERT_EQ(0, put_file(self->base, "d/sub/g", "g\n"));
	mkdir_at(_metadata, self->mid, "d", 0755);
	ASSERT_EQ(0, put_file(self->mid, "d/h", "h\n"));
	mkdir_at(_metadata, self->base, "other", 0755);
}

static void mv(struct __test_metadata *_metadata, const char *mnt, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];

	at(_metadata, a, mnt, from);
	at(_metadata, b, mnt, to);
	ASSERT_EQ(0, rename(a, b)) TH_LOG("rename %s %s: %s", a, b, strerror(errno));
}

/* The union shows the tree of lower_tree() at @rel, and its files. */
static void expect_tree(struct __test_metadata *_metadata, const char *mnt, const char *rel)
{
	char p[PATH_MAX];

	expect_listing(_metadata, mnt, rel, "./../f/h/sub");
	ASSERT_EQ(0, pathf(p, "%s/sub", rel));
	expect_listing(_metadata, mnt, p, "./../g");
	ASSERT_EQ(0, pathf(p, "%s/f", rel));
	expect_content(_metadata, mnt, p, "f\n");
	ASSERT_EQ(0, pathf(p, "%s/h", rel));
	expect_content(_metadata, mnt, p, "h\n");
	ASSERT_EQ(0, pathf(p, "%s/sub/g", rel));
	expect_content(_metadata, mnt, p, "g\n");
}

static void mount_dirren(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self, const char *opt)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro:%s=ro,%s", self->top, self->mid,
				 self->base, opt))
		TH_LOG("mount -o '%s': %s", self->u.data, strerror(errno));
}

/* umount, then mount again with the same data */
static void remount_union(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self)
{
	char data[MOUNT_DATA_MAX];

	memcpy(data, self->u.data, sizeof(data));	/* union_mount() writes u.data */
	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("umount: %s", strerror(errno));
	ASSERT_EQ(0, union_mount(&self->u, 0, "%s", data)) TH_LOG("mount again with '%s': %s", data, strerror(errno));
}

/* aufs's default nodirren (and the explicit option): EXDEV, nothing changed */
TEST_F(wu, nodirren_is_exdev)
{
	char a[PATH_MAX], b[PATH_MAX], line[4096];

	lower_tree(_metadata, self);
	mount_dirren(_metadata, self, "nodirren");
	at(_metadata, a, self->mnt, "d");
	at(_metadata, b, self->mnt, "e");
	ASSERT_EQ(-1, rename(a, b));
	ASSERT_EQ(EXDEV, errno);
	expect_tree(_metadata, self->mnt, "d");
	expect_absent(_metadata, self->mnt, "e");
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	ASSERT_EQ(NULL, strstr(line, "dirren")) TH_LOG("%s", line);
	/* turned on live */
	ASSERT_EQ(0, remount(self->mnt, 0, "dirren"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	ASSERT_NE(NULL, strstr(line, ",dirren")) TH_LOG("%s", line);
	mv(_metadata, self->mnt, "d", "e");
	expect_tree(_metadata, self->mnt, "e");
	/* and off again: a new rename with lower contents is EXDEV again */
	ASSERT_EQ(0, remount(self->mnt, 0, "nodirren"));
	mkdir_at(_metadata, self->base, "other/x", 0755);
	ASSERT_EQ(0, put_file(self->base, "other/x/y", "y\n"));
	ASSERT_EQ(0, drop_caches("3"));
	at(_metadata, a, self->mnt, "other/x");
	at(_metadata, b, self->mnt, "other/z");
	ASSERT_EQ(-1, rename(a, b));
	ASSERT_EQ(EXDEV, errno);
}

/* rename with lower contents: merged under the new name, persistent */
TEST_F(wu, renamed_directory_shows_its_lower_contents)
{
	char p[PATH_MAX], v[256];
	ssize_t n;

	lower_tree(_metadata, self);
	mount_dirren(_metadata, self, "dirren");
	mv(_metadata, self->mnt, "d", "e");
	expect_tree(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/e/foo.txt/hello.txt/other");
	/* only the directory itself on top, with its record; the old name whited out */
	expect_listing(_metadata, self->top, "e", "./..");
	expect_whiteout(_metadata, self->top, ".wh.d");
	at(_metadata, p, self->top, "e");
	n = getxattr(p, DIRREN_XATTR, v, sizeof(v));
	ASSERT_EQ(1, n) TH_LOG("getxattr %s: %s", p, strerror(errno));
	ASSERT_EQ(0, memcmp(v, "d", 1));
	/* the record is the union's own: not shown through it */
	at(_metadata, p, self->mnt, "e");
	ASSERT_EQ(-1, getxattr(p, DIRREN_XATTR, v, sizeof(v)));
	/* the lower branches are untouched */
	expect_content(_metadata, self->base, "d/sub/g", "g\n");
	expect_content(_metadata, self->mid, "d/h", "h\n");

	ASSERT_EQ(0, drop_caches("3"));
	expect_tree(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	remount_union(_metadata, self);
	expect_tree(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");

	/* a change inside goes to top, in the renamed directory */
	overwrite(_metadata, self->mnt, "e/sub/g", "G\n");
	expect_content(_metadata, self->top, "e/sub/g", "G\n");
	expect_content(_metadata, self->base, "d/sub/g", "g\n");
	ASSERT_EQ(0, drop_caches("3"));
	expect_content(_metadata, self->mnt, "e/sub/g", "G\n");
}

/* twice, into another directory, a subdirectory of it, and back */
TEST_F(wu, rename_twice_elsewhere_and_back)
{
	lower_tree(_metadata, self);
	mount_dirren(_metadata, self, "dirren");
	mv(_metadata, self->mnt, "d", "e");
	mv(_metadata, self->mnt, "e", "e2");
	expect_tree(_metadata, self->mnt, "e2");
	mv(_metadata, self->mnt, "e2", "other/in");
	expect_tree(_metadata, self->mnt, "other/in");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt/other");
	/* a subdirectory of the renamed one, out of it */
	mv(_metadata, self->mnt, "other/in/sub", "s");
	expect_listing(_metadata, self->mnt, "s", "./../g");
	expect_listing(_metadata, self->mnt, "other/in", "./../f/h");
	ASSERT_EQ(0, drop_caches("3"));
	remount_union(_metadata, self);
	expect_listing(_metadata, self->mnt, "s", "./../g");
	expect_content(_metadata, self->mnt, "s/g", "g\n");
	/* back where they came from */
	mv(_metadata, self->mnt, "s", "other/in/sub");
	mv(_metadata, self->mnt, "other/in", "d");
	expect_tree(_metadata, self->mnt, "d");
	expect_listing(_metadata, self->mnt, "other", "./..");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/d/foo.txt/hello.txt/other");
	ASSERT_EQ(0, drop_caches("3"));
	remount_union(_metadata, self);
	expect_tree(_metadata, self->mnt, "d");
	expect_listing(_metadata, self->mnt, "other", "./..");
}

/* rmdir: ENOTEMPTY while anything shows; once emptied nothing comes back */
TEST_F(wu, rmdir_of_a_renamed_directory)
{
	char p[PATH_MAX];
	const char *files[] = { "e/f", "e/h", "e/sub/g" };
	unsigned int i;

	lower_tree(_metadata, self);
	mount_dirren(_metadata, self, "dirren");
	mv(_metadata, self->mnt, "d", "e");
	at(_metadata, p, self->mnt, "e");
	ASSERT_EQ(-1, rmdir(p));
	ASSERT_EQ(ENOTEMPTY, errno);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		at(_metadata, p, self->mnt, files[i]);
		ASSERT_EQ(0, unlink(p)) TH_LOG("unlink %s: %s", p, strerror(errno));
	}
	at(_metadata, p, self->mnt, "e/sub");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir %s: %s", p, strerror(errno));
	expect_listing(_metadata, self->mnt, "e", "./..");
	at(_metadata, p, self->mnt, "e");
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir %s: %s", p, strerror(errno));
	expect_absent(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	ASSERT_EQ(0, drop_caches("3"));
	remount_union(_metadata, self);
	expect_absent(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	/* a new directory at either name is a new, empty one */
	mkdir_at(_metadata, self->mnt, "d", 0755);
	mkdir_at(_metadata, self->mnt, "e", 0755);
	expect_listing(_metadata, self->mnt, "d", "./..");
	expect_listing(_metadata, self->mnt, "e", "./..");
	expect_content(_metadata, self->base, "d/f", "f\n");
}

/* remount: a branch added above, an unrelated one deleted */
TEST_F(wu, record_survives_a_change_of_branches)
{
	char extra[PATH_MAX];

	mkdir_at(_metadata, self->base, "d", 0755);
	ASSERT_EQ(0, put_file(self->base, "d/f", "f\n"));
	ASSERT_EQ(0, put_file(self->base, "d/h", "h\n"));
	mkdir_at(_metadata, self->base, "d/sub", 0755);
	ASSERT_EQ(0, put_file(self->base, "d/sub/g", "g\n"));
	/* mid is unrelated: empty */
	mount_dirren(_metadata, self, "dirren");
	mv(_metadata, self->mnt, "d", "e");
	ASSERT_EQ(0, pathf(extra, "%s/extra", self->dir));
	ASSERT_EQ(0, mkdir(extra, 0755));
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", self->mid));
	expect_tree(_metadata, self->mnt, "e");
	ASSERT_EQ(0, remount(self->mnt, 0, "add:0:%s=rw,mod:%s=ro+wh", extra, self->top));
	expect_tree(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	ASSERT_EQ(0, drop_caches("3"));
	expect_tree(_metadata, self->mnt, "e");
	/* renamed again from the new top */
	mv(_metadata, self->mnt, "e", "e3");
	expect_tree(_metadata, self->mnt, "e3");
	expect_absent(_metadata, self->mnt, "e");
	expect_absent(_metadata, self->mnt, "d");
	ASSERT_EQ(0, drop_caches("3"));
	expect_tree(_metadata, self->mnt, "e3");
}

static void nobody_renames(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char a[PATH_MAX], b[PATH_MAX];

	(void)n;
	if (pathf(a, "%s/home/d", self->mnt) || pathf(b, "%s/home/e", self->mnt)) {
		res[0] = ENAMETOOLONG;
		return;
	}
	res[0] = ERR_OF(rename(a, b));
	res[1] = strcmp(content(self->mnt, "home/e/sub/g"), "g\n") == 0 ? 0 : 1;
	res[2] = strcmp(names_in(self->mnt, "home/e"), "f/h/sub") == 0 ? 0 : 1;
}

/* an unprivileged user renames a directory it owns */
TEST_F(wu, unprivileged_rename)
{
	char p[PATH_MAX];
	int res[3];

	mkdir_at(_metadata, self->base, "home", 0755);
	ASSERT_EQ(0, pathf(p, "%s/home", self->base));
	ASSERT_EQ(0, chown(p, NOBODY, NOBODY));
	mkdir_at(_metadata, self->base, "home/d", 0755);
	mkdir_at(_metadata, self->base, "home/d/sub", 0755);
	ASSERT_EQ(0, put_file(self->base, "home/d/f", "f\n"));
	ASSERT_EQ(0, put_file(self->base, "home/d/sub/g", "g\n"));
	mkdir_at(_metadata, self->mid, "home", 0755);
	mkdir_at(_metadata, self->mid, "home/d", 0755);
	ASSERT_EQ(0, put_file(self->mid, "home/d/h", "h\n"));
	ASSERT_EQ(0, sh(NULL, 0, "chown -R %d:%d %s/home %s/home", NOBODY, NOBODY, self->base, self->mid));
	mount_dirren(_metadata, self, "dirren");
	ASSERT_EQ(0, run_child(self, NOBODY, NOBODY, nobody_renames, res, 3));
	ASSERT_EQ(0, res[0]) TH_LOG("rename as nobody: %s", strerror(res[0]));
	ASSERT_EQ(0, res[1]);
	ASSERT_EQ(0, res[2]);
	expect_tree(_metadata, self->mnt, "home/e");
	expect_absent(_metadata, self->mnt, "home/d");
	ASSERT_EQ(0, drop_caches("3"));
	remount_union(_metadata, self);
	expect_tree(_metadata, self->mnt, "home/e");
	expect_absent(_metadata, self->mnt, "home/d");
}

/* a malformed record on a branch: EIO and one aufs: line, never followed */
TEST_F(wu, bogus_record_is_refused)
{
	const char *bad[] = { "../etc", "/d", "d//sub", ".wh..wh.plnk", "" };
	char p[PATH_MAX], msg[512];
	unsigned int i;
	struct stat st;
	int kfd;

	lower_tree(_metadata, self);
	mkdir_at(_metadata, self->top, "b", 0755);
	at(_metadata, p, self->top, "b");
	mount_dirren(_metadata, self, "dirren");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, setxattr(p, DIRREN_XATTR, bad[i], strlen(bad[i]), 0)) TH_LOG("%s", strerror(errno));
		ASSERT_EQ(0, drop_caches("3"));
		kfd = kmsg_open();
		ASSERT_LE(0, kfd);
		expect_errno(_metadata, self->mnt, "b", EIO);
		ASSERT_EQ(1, kmsg_find(kfd, "aufs: b: refusing a malformed rename record", msg, sizeof(msg)))
			TH_LOG("no aufs: line for record '%s'", bad[i]);
		close(kfd);
	}
	/* a good one (written by anyone) leads only below, within each branch */
	ASSERT_EQ(0, setxattr(p, DIRREN_XATTR, "d", 1, 0));
	ASSERT_EQ(0, drop_caches("3"));
	expect_tree(_metadata, self->mnt, "b");
	/* without dirren, records are not followed */
	ASSERT_EQ(0, union_umount(&self->u));
	mount_dirren(_metadata, self, "nodirren");
	expect_listing(_metadata, self->mnt, "b", "./..");
	lstat_at(_metadata, self->mnt, "d", &st);
}

TEST_HARNESS_MAIN
