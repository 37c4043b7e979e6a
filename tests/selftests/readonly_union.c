// SPDX-License-Identifier: GPL-2.0-only
/*
 * Read-only view of a union: lookup order, whiteouts, opaque directories,
 * merged readdir, file contents (read, pread, mmap), symlinks, stat and
 * statfs, reserved names and name length.
 *
 * The first test is the seed article's experiment: base/{common,hello}.txt,
 * top/{common,foo}.txt, mounted br=<top>=rw:<base>=ro.
 * The aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include <sys/mman.h>
#include <sys/statfs.h>

#include "kselftest_harness.h"

FIXTURE(ru) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char mid[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	struct au_union u;
};

FIXTURE_SETUP(ru)
{
	self->u = (struct au_union){
		.tag = "ru", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "mid", self->mid }, { "base", self->base } },
	};
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, put_seed_files(self->top, self->base));
}

FIXTURE_TEARDOWN(ru)
{
	UNION_TEARDOWN(&self->u, 0);
}

static void do_mount(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self, const char *data)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "%s", data))
		TH_LOG("mount -o '%s' %s: %s", data, self->mnt, strerror(errno));
}

/* The seed layout: br=<top>=rw:<base>=ro */
static void mount_two(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->top, self->base));
	do_mount(_metadata, self, d);
}

/* br=<top>=rw:<mid>=<midperm>:<base>=ro */
static void mount_three(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self,
			const char *midperm)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=%s:%s=ro", self->top, self->mid, midperm, self->base));
	do_mount(_metadata, self, d);
}

/* <dir>/<rel> into out */
static void at(struct __test_metadata *_metadata, char *out, const char *dir, const char *rel)
{
	ASSERT_EQ(0, pathf(out, "%s/%s", dir, rel));
}

/* The file <mnt>/<rel> must read exactly want. */
static void expect_content(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self,
			   const char *rel, const char *want)
{
	char p[PATH_MAX], buf[65536];

	at(_metadata, p, self->mnt, rel);
	ASSERT_EQ((ssize_t)strlen(want), read_file(p, buf, sizeof(buf)))
		TH_LOG("%s: %s", p, strerror(errno));
	ASSERT_STREQ(want, buf);
}

/* stat of <mnt>/<rel> must fail with err. */
static void expect_stat_errno(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self,
			      const char *rel, int err)
{
	char p[PATH_MAX];
	struct stat st;

	at(_metadata, p, self->mnt, rel);
	ASSERT_EQ(-1, lstat(p, &st)) TH_LOG("%s exists", p);
	ASSERT_EQ(err, errno) TH_LOG("lstat %s: %s, expected %s", p, strerror(errno), strerror(err));
}

/* The sorted listing of <mnt>/<rel> must be want ("./../a/b"). */
static void expect_listing(struct __test_metadata *_metadata, FIXTURE_DATA(ru) *self,
			   const char *rel, const char *want)
{
	char p[PATH_MAX], got[65536];

	at(_metadata, p, self->mnt, rel);
	ASSERT_EQ(0, list_dir(p, got, sizeof(got))) TH_LOG("readdir %s: %s", p, strerror(errno));
	ASSERT_STREQ(want, got);
}

static void mkdir_in(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, mkdir(p, 0755)) TH_LOG("mkdir %s: %s", p, strerror(errno));
}

/* ---- the seed experiment ---- */

TEST_F(ru, seed_readdir)
{
	mount_two(_metadata, self);
	expect_listing(_metadata, self, ".", "./../common.txt/foo.txt/hello.txt");
}

TEST_F(ru, seed_contents)
{
	mount_two(_metadata, self);
	expect_content(_metadata, self, "common.txt", "top\n");
	expect_content(_metadata, self, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self, "foo.txt", "foo\n");
}

/* ---- whiteouts ---- */

TEST_F(ru, whiteout_on_rw_top_hides)
{
	char p[PATH_MAX];
	int fd;

	ASSERT_EQ(0, put_file(self->top, ".wh.hello.txt", ""));
	/* a whited-out directory too */
	mkdir_in(_metadata, self->base, "gone");
	ASSERT_EQ(0, put_file(self->base, "gone/inside", "x\n"));
	ASSERT_EQ(0, put_file(self->top, ".wh.gone", ""));
	mount_two(_metadata, self);

	expect_stat_errno(_metadata, self, "hello.txt", ENOENT);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);
	ASSERT_EQ(-1, fd);
	ASSERT_EQ(ENOENT, errno);
	expect_stat_errno(_metadata, self, "gone", ENOENT);
	expect_stat_errno(_metadata, self, "gone/inside", ENOENT);
	/* neither the name nor the .wh. entries are listed */
	expect_listing(_metadata, self, ".", "./../common.txt/foo.txt");
}

/* A plain ro branch holds no whiteouts: its .wh. file hides nothing. */
TEST_F(ru, whiteout_on_plain_ro_ignored)
{
	ASSERT_EQ(0, put_file(self->mid, ".wh.hello.txt", ""));
	mount_three(_metadata, self, "ro");
	expect_content(_metadata, self, "hello.txt", HELLO_BASE);
	expect_listing(_metadata, self, ".", "./../common.txt/foo.txt/hello.txt");
}

TEST_F(ru, whiteout_on_ro_wh_hides)
{
	ASSERT_EQ(0, put_file(self->mid, ".wh.hello.txt", ""));
	mount_three(_metadata, self, "ro+wh");
	expect_stat_errno(_metadata, self, "hello.txt", ENOENT);
	expect_listing(_metadata, self, ".", "./../common.txt/foo.txt");
}

/* ---- directories ---- */

TEST_F(ru, opaque_dir_hides_lower_children)
{
	mkdir_in(_metadata, self->top, "d");
	ASSERT_EQ(0, put_file(self->top, "d/a", "a\n"));
	ASSERT_EQ(0, put_file(self->top, "d/.wh..wh..opq", ""));
	mkdir_in(_metadata, self->base, "d");
	ASSERT_EQ(0, put_file(self->base, "d/b", "b\n"));
	mount_two(_metadata, self);
	expect_listing(_metadata, self, "d", "./../a");
	expect_stat_errno(_metadata, self, "d/b", ENOENT);
	expect_content(_metadata, self, "d/a", "a\n");
}

/* An opaque dir in the middle: top and mid merge, base is cut off. */
TEST_F(ru, opaque_dir_in_middle_branch)
{
	mkdir_in(_metadata, self->top, "d");
	ASSERT_EQ(0, put_file(self->top, "d/a", "a\n"));
	mkdir_in(_metadata, self->mid, "d");
	ASSERT_EQ(0, put_file(self->mid, "d/m", "m\n"));
	ASSERT_EQ(0, put_file(self->mid, "d/.wh..wh..opq", ""));
	mkdir_in(_metadata, self->base, "d");
	ASSERT_EQ(0, put_file(self->base, "d/b", "b\n"));
	mount_three(_metadata, self, "ro+wh");
	expect_listing(_metadata, self, "d", "./../a/m");
	expect_content(_metadata, self, "d/m", "m\n");
	expect_stat_errno(_metadata, self, "d/b", ENOENT);
}

TEST_F(ru, lower_entry_of_other_type_ignored)
{
	char p[PATH_MAX];
	struct stat st;

	/* top/x is a file, base/x a directory */
	ASSERT_EQ(0, put_file(self->top, "x", "x on top\n"));
	mkdir_in(_metadata, self->base, "x");
	ASSERT_EQ(0, put_file(self->base, "x/child", "c\n"));
	/* top/y is a directory, base/y a file */
	mkdir_in(_metadata, self->top, "y");
	ASSERT_EQ(0, put_file(self->top, "y/one", "1\n"));
	ASSERT_EQ(0, put_file(self->base, "y", "y on base\n"));
	mount_two(_metadata, self);

	at(_metadata, p, self->mnt, "x");
	ASSERT_EQ(0, lstat(p, &st));
	ASSERT_TRUE(S_ISREG(st.st_mode));
	expect_content(_metadata, self, "x", "x on top\n");
	expect_stat_errno(_metadata, self, "x/child", ENOTDIR);

	at(_metadata, p, self->mnt, "y");
	ASSERT_EQ(0, lstat(p, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	expect_listing(_metadata, self, "y", "./../one");
}

TEST_F(ru, merged_dir_without_duplicates)
{
	mkdir_in(_metadata, self->top, "d");
	ASSERT_EQ(0, put_file(self->top, "d/a", "a\n"));
	ASSERT_EQ(0, put_file(self->top, "d/same", "same on top\n"));
	mkdir_in(_metadata, self->top, "d/sub");
	mkdir_in(_metadata, self->base, "d");
	ASSERT_EQ(0, put_file(self->base, "d/b", "b\n"));
	ASSERT_EQ(0, put_file(self->base, "d/same", "same on base\n"));
	mkdir_in(_metadata, self->base, "d/sub");
	ASSERT_EQ(0, put_file(self->base, "d/sub/deep", "deep\n"));
	mount_two(_metadata, self);
	expect_listing(_metadata, self, "d", "./../a/b/same/sub");
	expect_listing(_metadata, self, "d/sub", "./../deep");
	expect_content(_metadata, self, "d/same", "same on top\n");
	expect_content(_metadata, self, "d/b", "b\n");
	expect_content(_metadata, self, "d/sub/deep", "deep\n");
}

/* A big directory split over both branches, read in several getdents calls. */
TEST_F_TIMEOUT(ru, merged_dir_large, 180)
{
	char p[PATH_MAX], name[64];
	struct dirent *de;
	static unsigned char seen[2000];
	int i, count = 0;
	DIR *d;

	mkdir_in(_metadata, self->top, "big");
	mkdir_in(_metadata, self->base, "big");
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "big/entry-with-a-longish-name-%04d", i);
		/* even on top, odd on base, every tenth on both */
		if (i % 2 == 0 || i % 10 == 1) {
			ASSERT_EQ(0, put_file(self->top, name, "t"));
		}
		if (i % 2 == 1 || i % 10 == 0) {
			ASSERT_EQ(0, put_file(self->base, name, "b"));
		}
	}
	mount_two(_metadata, self);
	at(_metadata, p, self->mnt, "big");
	d = opendir(p);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ASSERT_EQ(1, sscanf(de->d_name, "entry-with-a-longish-name-%d", &i))
			TH_LOG("unexpected name %s", de->d_name);
		ASSERT_TRUE(i >= 0 && i < 2000);
		ASSERT_EQ(0, seen[i]) TH_LOG("%s listed twice", de->d_name);
		seen[i] = 1;
		count++;
	}
	closedir(d);
	ASSERT_EQ(2000, count);
}

TEST_F(ru, dot_and_dotdot)
{
	char p[PATH_MAX];
	struct stat root, d, e, st;

	mkdir_in(_metadata, self->top, "d");
	mkdir_in(_metadata, self->base, "d");
	mkdir_in(_metadata, self->base, "d/e");
	mount_two(_metadata, self);
	ASSERT_EQ(0, stat(self->mnt, &root));
	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(0, stat(p, &d));
	at(_metadata, p, self->mnt, "d/e");
	ASSERT_EQ(0, stat(p, &e));

	at(_metadata, p, self->mnt, "d/..");
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(root.st_ino, st.st_ino);
	ASSERT_EQ(root.st_dev, st.st_dev);
	at(_metadata, p, self->mnt, "d/.");
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(d.st_ino, st.st_ino);
	at(_metadata, p, self->mnt, "d/e/..");
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(d.st_ino, st.st_ino);
	at(_metadata, p, self->mnt, "d/e/../../hello.txt");
	ASSERT_EQ(0, stat(p, &st));
	expect_listing(_metadata, self, "d/e", "./..");
	expect_listing(_metadata, self, "d", "./../e");
}

/* Inode numbers: distinct per file, stable, and what readdir reports. */
TEST_F(ru, inode_numbers)
{
	char p[PATH_MAX];
	struct stat a, b, c, again;
	struct dirent *de;
	DIR *d;

	mount_two(_metadata, self);
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(0, stat(p, &a));
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &b));
	ASSERT_EQ(0, stat(p, &again));
	at(_metadata, p, self->mnt, "foo.txt");
	ASSERT_EQ(0, stat(p, &c));
	ASSERT_NE(a.st_ino, b.st_ino);
	ASSERT_NE(a.st_ino, c.st_ino);
	ASSERT_NE(b.st_ino, c.st_ino);
	ASSERT_EQ(b.st_ino, again.st_ino);

	d = opendir(self->mnt);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!strcmp(de->d_name, ".."))
			continue;
		ASSERT_EQ(0, fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW));
		EXPECT_EQ(st.st_ino, de->d_ino) TH_LOG("d_ino of %s", de->d_name);
	}
	closedir(d);
}

/* ---- file contents ---- */

TEST_F(ru, read_pread_mmap)
{
	const size_t size = 3 * 4096 + 100;
	char p[PATH_MAX];
	unsigned char *want, *buf;
	size_t i, got = 0;
	void *m;
	int fd;

	want = malloc(size);
	buf = malloc(size + 16);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < size; i++)
		want[i] = (unsigned char)((i * 7 + 3) % 251);
	at(_metadata, p, self->base, "big.bin");
	ASSERT_EQ(0, write_file_mode(p, (const char *)want, size, 0644));
	mount_two(_metadata, self);

	at(_metadata, p, self->mnt, "big.bin");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", p, strerror(errno));
	/* read(2) in odd-sized chunks until EOF */
	for (;;) {
		ssize_t n = read(fd, buf + got, 1000);

		ASSERT_LE(0, n);
		if (n == 0)
			break;
		got += n;
		ASSERT_GE(size, got);
	}
	ASSERT_EQ(size, got);
	ASSERT_EQ(0, memcmp(want, buf, size));
	/* pread across a page boundary, and at/after EOF */
	ASSERT_EQ(300, pread(fd, buf, 300, 4000));
	ASSERT_EQ(0, memcmp(want + 4000, buf, 300));
	ASSERT_EQ(10, pread(fd, buf, 50, size - 10));
	ASSERT_EQ(0, memcmp(want + size - 10, buf, 10));
	ASSERT_EQ(0, pread(fd, buf, 50, size));
	/* mmap, private and shared, read-only */
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap private: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(want, m, size));
	ASSERT_EQ(0, munmap(m, size));
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap shared: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(want, m, size));
	ASSERT_EQ(0, munmap(m, size));
	/* mmap at an offset */
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 8192);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, memcmp(want + 8192, m, 4096));
	ASSERT_EQ(0, munmap(m, 4096));
	ASSERT_EQ(0, close(fd));
	free(want);
	free(buf);
}

TEST_F(ru, readlink_symlink_on_base)
{
	char p[PATH_MAX], buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	at(_metadata, p, self->base, "lnk");
	ASSERT_EQ(0, symlink("hello.txt", p));
	at(_metadata, p, self->base, "dangling");
	ASSERT_EQ(0, symlink("no/such/target", p));
	mount_two(_metadata, self);

	at(_metadata, p, self->mnt, "lnk");
	ASSERT_EQ(0, lstat(p, &st));
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ((off_t)strlen("hello.txt"), st.st_size);
	n = readlink(p, buf, sizeof(buf));
	ASSERT_EQ((ssize_t)strlen("hello.txt"), n);
	buf[n] = '\0';
	ASSERT_STREQ("hello.txt", buf);
	/* following it stays inside the union */
	expect_content(_metadata, self, "lnk", HELLO_BASE);

	at(_metadata, p, self->mnt, "dangling");
	n = readlink(p, buf, sizeof(buf));
	ASSERT_EQ((ssize_t)strlen("no/such/target"), n);
	ASSERT_EQ(-1, stat(p, &st));
	ASSERT_EQ(ENOENT, errno);
}

/* ---- attributes ---- */

static void set_attrs(struct __test_metadata *_metadata, const char *path, mode_t mode,
		      uid_t uid, gid_t gid, time_t mtime, long nsec)
{
	struct timespec ts[2] = { { mtime - 100, 0 }, { mtime, nsec } };

	ASSERT_EQ(0, chmod(path, mode));
	ASSERT_EQ(0, chown(path, uid, gid));
	ASSERT_EQ(0, utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW));
}

static void same_attrs(struct __test_metadata *_metadata, const struct stat *want,
		       const struct stat *got)
{
	ASSERT_EQ(want->st_mode, got->st_mode);
	ASSERT_EQ(want->st_size, got->st_size);
	ASSERT_EQ(want->st_uid, got->st_uid);
	ASSERT_EQ(want->st_gid, got->st_gid);
	ASSERT_EQ(want->st_mtim.tv_sec, got->st_mtim.tv_sec);
	ASSERT_EQ(want->st_mtim.tv_nsec, got->st_mtim.tv_nsec);
}

TEST_F(ru, stat_attributes_of_topmost)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat want, got, lower;

	at(_metadata, p, self->top, "common.txt");
	set_attrs(_metadata, p, 0640, 1234, 2345, 1600000000, 123456789);
	at(_metadata, q, self->base, "common.txt");
	set_attrs(_metadata, q, 0604, 11, 22, 1000000000, 0);
	at(_metadata, p, self->top, "d");
	ASSERT_EQ(0, mkdir(p, 0700));
	set_attrs(_metadata, p, 0750, 77, 88, 1500000000, 5);
	at(_metadata, q, self->base, "d");
	ASSERT_EQ(0, mkdir(q, 0755));
	mount_two(_metadata, self);

	/* on both: the top one wins */
	at(_metadata, p, self->top, "common.txt");
	ASSERT_EQ(0, stat(p, &want));
	at(_metadata, q, self->base, "common.txt");
	ASSERT_EQ(0, stat(q, &lower));
	ASSERT_NE(want.st_mode, lower.st_mode);
	at(_metadata, p, self->mnt, "common.txt");
	ASSERT_EQ(0, stat(p, &got));
	same_attrs(_metadata, &want, &got);
	/* only on base */
	at(_metadata, p, self->base, "hello.txt");
	ASSERT_EQ(0, stat(p, &want));
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &got));
	same_attrs(_metadata, &want, &got);
	/* a directory on both */
	at(_metadata, p, self->top, "d");
	ASSERT_EQ(0, stat(p, &want));
	at(_metadata, p, self->mnt, "d");
	ASSERT_EQ(0, stat(p, &got));
	ASSERT_EQ(want.st_mode, got.st_mode);
	ASSERT_EQ(want.st_uid, got.st_uid);
	ASSERT_EQ(want.st_gid, got.st_gid);
	ASSERT_EQ(want.st_mtim.tv_sec, got.st_mtim.tv_sec);
}

TEST_F(ru, st_dev_is_the_union)
{
	char p[PATH_MAX];
	struct stat root, file, br;
	int fd;

	mount_two(_metadata, self);
	ASSERT_EQ(0, stat(self->mnt, &root));
	ASSERT_EQ(0, stat(self->top, &br));
	ASSERT_NE(br.st_dev, root.st_dev);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &file));
	ASSERT_EQ(root.st_dev, file.st_dev);
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &file));
	ASSERT_EQ(root.st_dev, file.st_dev);
	close(fd);
}

TEST_F(ru, statfs_magic_and_namelen)
{
	char p[PATH_MAX];
	struct statfs sf;
	int fd;

	mount_two(_metadata, self);
	ASSERT_EQ(0, statfs(self->mnt, &sf));
	ASSERT_EQ(AUFS_SUPER_MAGIC, (unsigned long)sf.f_type);
	ASSERT_EQ(AUFS_NAME_MAX, sf.f_namelen);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstatfs(fd, &sf));
	ASSERT_EQ(AUFS_SUPER_MAGIC, (unsigned long)sf.f_type);
	close(fd);
}

/* ---- names ---- */

TEST_F(ru, whiteout_names_are_eperm)
{
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, put_file(self->top, ".wh.hello.txt", ""));
	mkdir_in(_metadata, self->top, "d");
	mount_two(_metadata, self);

	at(_metadata, p, self->mnt, ".wh.foo");
	ASSERT_EQ(-1, lstat(p, &st));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, open(p, O_RDONLY));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, creat(p, 0644));
	ASSERT_EQ(EPERM, errno);
	/* an existing whiteout is not reachable by name either */
	at(_metadata, p, self->mnt, ".wh.hello.txt");
	ASSERT_EQ(-1, lstat(p, &st));
	ASSERT_EQ(EPERM, errno);
	at(_metadata, p, self->mnt, "d/.wh..wh..opq");
	ASSERT_EQ(-1, lstat(p, &st));
	ASSERT_EQ(EPERM, errno);
	/* and nothing was created on the branch */
	at(_metadata, p, self->top, ".wh.foo");
	ASSERT_EQ(-1, lstat(p, &st));
	ASSERT_EQ(ENOENT, errno);
}

TEST_F(ru, name_length_limit)
{
	char name242[AUFS_NAME_MAX + 1], name243[AUFS_NAME_MAX + 2], other242[AUFS_NAME_MAX + 1];
	char p[PATH_MAX], want[PATH_MAX];
	struct stat st;

	memset(name242, 'n', AUFS_NAME_MAX);
	name242[AUFS_NAME_MAX] = '\0';
	memset(other242, 'o', AUFS_NAME_MAX);
	other242[AUFS_NAME_MAX] = '\0';
	memset(name243, 'n', AUFS_NAME_MAX + 1);
	name243[AUFS_NAME_MAX + 1] = '\0';
	ASSERT_EQ(0, put_file(self->base, name242, "long\n"));
	mount_two(_metadata, self);

	expect_stat_errno(_metadata, self, name243, ENAMETOOLONG);
	at(_metadata, p, self->mnt, name243);
	ASSERT_EQ(-1, open(p, O_RDONLY));
	ASSERT_EQ(ENAMETOOLONG, errno);
	expect_stat_errno(_metadata, self, other242, ENOENT);
	at(_metadata, p, self->mnt, name242);
	ASSERT_EQ(0, stat(p, &st));
	expect_content(_metadata, self, name242, "long\n");
	snprintf(want, sizeof(want), "./../common.txt/foo.txt/hello.txt/%s", name242);
	expect_listing(_metadata, self, ".", want);
}

/* ---- three branches ---- */

TEST_F(ru, three_branches_bottom_only)
{
	mkdir_in(_metadata, self->base, "deep");
	mkdir_in(_metadata, self->base, "deep/er");
	ASSERT_EQ(0, put_file(self->base, "deep/er/file", "bottom\n"));
	ASSERT_EQ(0, put_file(self->base, "only-base", "only base\n"));
	ASSERT_EQ(0, put_file(self->mid, "only-mid", "only mid\n"));
	ASSERT_EQ(0, put_file(self->mid, "common.txt", "mid\n"));
	mount_three(_metadata, self, "ro");
	expect_content(_metadata, self, "deep/er/file", "bottom\n");
	expect_content(_metadata, self, "only-base", "only base\n");
	expect_content(_metadata, self, "only-mid", "only mid\n");
	expect_content(_metadata, self, "common.txt", "top\n");
	expect_listing(_metadata, self, ".",
		       "./../common.txt/deep/foo.txt/hello.txt/only-base/only-mid");
	expect_listing(_metadata, self, "deep/er", "./../file");
}

/*
 * A casefolded lower directory (ext4 casefold, chattr +F): the union finds
 * a name however it is spelt, as the branch does, also once a readdir has
 * cached the directory's merged listing, which spells it otherwise; and
 * again after the caches are dropped.
 */
TEST_F(ru, casefolded_branch_finds_every_spelling)
{
	char img[PATH_MAX], cf[PATH_MAX], p[PATH_MAX], d[MOUNT_DATA_MAX], cmd[PATH_MAX + 32];
	const char *spell[] = { "Readme", "README", "readme" };
	struct stat st;
	unsigned int i;
	int r, pass;

	if (system("modprobe -q ext4; test -e /sys/fs/ext4/features/casefold"))
		SKIP(return, "no ext4 casefolding in this kernel");
	ASSERT_EQ(0, make_dir(cf, self->dir, "cf"));
	ASSERT_EQ(0, pathf(img, "%s/cf.img", self->dir));
	r = mount_ext4(img, cf, "-O casefold");
	if (r == 1)
		SKIP(return, "no mkfs.ext4 or loop device");
	ASSERT_EQ(0, r) TH_LOG("mkfs.ext4 -O casefold");
	ASSERT_EQ(0, make_dir(p, cf, "d"));
	snprintf(cmd, sizeof(cmd), "chattr +F '%s'", p);
	if (system(cmd)) {
		umount2(cf, 0);
		SKIP(return, "chattr +F: no casefolding in this kernel");
	}
	ASSERT_EQ(0, put_file(p, "Readme", "read me\n"));
	ASSERT_EQ(0, make_dir(NULL, self->top, "d"));
	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->top, cf));
	do_mount(_metadata, self, d);
	for (pass = 0; pass < 2; pass++) {
		if (pass)
			ASSERT_EQ(0, write_file("/proc/sys/vm/drop_caches", "2"));
		EXPECT_STREQ("Readme", names_in(self->mnt, "d"));
		for (i = 0; i < 3; i++) {
			ASSERT_EQ(0, pathf(p, "%s/d/%s", self->mnt, spell[i]));
			EXPECT_EQ(0, stat(p, &st)) TH_LOG("%s: %s (pass %d)", p, strerror(errno), pass);
		}
		ASSERT_EQ(0, pathf(p, "%s/d/nope", self->mnt));
		EXPECT_EQ(-1, stat(p, &st));
		EXPECT_EQ(ENOENT, errno);
	}
	ASSERT_EQ(0, union_umount(&self->u));
	EXPECT_EQ(0, umount2(cf, 0));
}

TEST_HARNESS_MAIN
