// SPDX-License-Identifier: GPL-2.0-only
/*
 * metacopy (an extension: aufs never had it; overlayfs's metacopy=on is
 * the model): with the mount option, chmod, chown, utimes and xattrs of a
 * lower file copy only its attributes up; the data is copied on the first
 * open for write, truncate, rename or link.  Without it a marked file is
 * refused (EPERM).  Through real syscalls, and
 * what persists: again after drop_caches and after umount + mount.
 *
 * Branches are plain directories under $AUFS_TEST_DIR (tmpfs, or the
 * suite's ext4 and xfs runs): top (rw), mid (ro), base (ro).  The lower
 * file's content is derived from its name; every expected value is
 * computed from what the test put on the branches.
 */
#include "aufs_test.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/xattr.h>

#include "kselftest_harness.h"

#define MC_XATTR	"trusted.aufs.metacopy"
#define BIG		(8 << 20)
#define PAGE		4096

FIXTURE(mc) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char mid[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	struct au_union u;
};

/* Deterministic content: a xorshift stream seeded by @seed. */
static void fill(char *buf, size_t len, unsigned long long seed)
{
	unsigned long long x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)x;
	}
}

/* <dir>/<name>: @len bytes of fill(@seed), mode @mode. */
static int put_big(const char *dir, const char *name, size_t len,
		   unsigned long long seed, mode_t mode)
{
	char p[PATH_MAX], *buf = malloc(len);
	int r;

	if (!buf || pathf(p, "%s/%s", dir, name)) {
		free(buf);
		return -1;
	}
	fill(buf, len, seed);
	r = write_file_mode(p, buf, len, mode);
	free(buf);
	return r ? r : chmod(p, mode);
}

static int mc_mount(struct __test_metadata *_metadata, FIXTURE_DATA(mc) *self,
		    const char *opts)
{
	if (union_mount(&self->u, 0, "br=%s=rw:%s=ro:%s=ro%s", self->top, self->mid, self->base,
			opts)) {
		TH_LOG("mount %s: %s", self->u.data, strerror(errno));
		return -1;
	}
	return 0;
}

FIXTURE_SETUP(mc)
{
	self->u = (struct au_union){
		.tag = "mc", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "mid", self->mid }, { "base", self->base } },
	};
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, put_big(self->base, "big", BIG, 1, 0644));
	ASSERT_EQ(0, put_big(self->base, "small", 5000, 2, 0644));
	ASSERT_EQ(0, mc_mount(_metadata, self, ",metacopy"));
}

FIXTURE_TEARDOWN(mc)
{
	UNION_TEARDOWN(&self->u, 0);
}

static int has_marker(const char *path)
{
	return getxattr(path, MC_XATTR, NULL, 0) >= 0;
}

/* Content of @a equals content of @b (both readable). */
static int same_data(const char *a, const char *b)
{
	unsigned long long ha, hb;
	off_t la, lb;

	if (file_hash(a, &ha, &la) || file_hash(b, &hb, &lb))
		return 0;
	return ha == hb && la == lb;
}

/* The union's "name" is a metacopy of base's: attributes up, data below. */
#define EXPECT_METACOPY(name) do {					\
	char _u[PATH_MAX], _t[PATH_MAX], _b[PATH_MAX];			\
	struct stat _us, _ts, _bs;					\
									\
	ASSERT_EQ(0, pathf(_u, "%s/%s", self->mnt, name));		\
	ASSERT_EQ(0, pathf(_t, "%s/%s", self->top, name));		\
	ASSERT_EQ(0, pathf(_b, "%s/%s", self->base, name));		\
	ASSERT_EQ(0, stat(_u, &_us));					\
	ASSERT_EQ(0, stat(_t, &_ts)) TH_LOG("no upper %s", _t);	\
	ASSERT_EQ(0, stat(_b, &_bs));					\
	EXPECT_TRUE(has_marker(_t)) TH_LOG("%s: no marker", _t);	\
	EXPECT_EQ(_bs.st_size, _ts.st_size);				\
	EXPECT_LT(_ts.st_blocks * 512, _bs.st_size / 4)			\
		TH_LOG("%s: %lld blocks: the data was copied", _t,	\
		       (long long)_ts.st_blocks);			\
	EXPECT_EQ(_ts.st_mode, _us.st_mode);				\
	EXPECT_EQ(_ts.st_uid, _us.st_uid);				\
	EXPECT_EQ(_ts.st_mtim.tv_sec, _us.st_mtim.tv_sec);		\
	EXPECT_EQ(_bs.st_size, _us.st_size);				\
	EXPECT_EQ(_bs.st_blocks, _us.st_blocks)				\
		TH_LOG("st_blocks is the data's");			\
	EXPECT_TRUE(same_data(_u, _b)) TH_LOG("%s: not the lower data", _u); \
} while (0)

/* The union's "name" is a whole copy on top (no marker, its own data). */
#define EXPECT_WHOLE(name) do {						\
	char _t[PATH_MAX];						\
	struct stat _ts;						\
									\
	ASSERT_EQ(0, pathf(_t, "%s/%s", self->top, name));		\
	ASSERT_EQ(0, stat(_t, &_ts));					\
	EXPECT_FALSE(has_marker(_t)) TH_LOG("%s: still marked", _t);	\
	EXPECT_GE(_ts.st_blocks * 512, _ts.st_size / 2)			\
		TH_LOG("%s: %lld blocks for %lld bytes", _t,		\
		       (long long)_ts.st_blocks, (long long)_ts.st_size); \
} while (0)

/* umount, then mount again with the options @opts: what persists. */
static void mount_again(struct __test_metadata *_metadata, FIXTURE_DATA(mc) *self,
			const char *opts)
{
	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("umount: %s", strerror(errno));
	ASSERT_EQ(0, mc_mount(_metadata, self, opts));
}

TEST_F(mc, chmod_copies_only_the_attributes)
{
	char u[PATH_MAX], b[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_METACOPY("big");
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
	ASSERT_EQ(0, stat(b, &st));
	EXPECT_EQ(S_IFREG | 0644, st.st_mode) TH_LOG("the lower file changed");
	drop_caches("3");
	EXPECT_METACOPY("big");
	mount_again(_metadata, self, ",metacopy");
	EXPECT_METACOPY("big");
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
}

TEST_F(mc, chown_utimes_and_xattrs_copy_only_the_attributes)
{
	struct timespec ts[2] = { { 1000000, 5 }, { 2000000, 7 } };
	char u[PATH_MAX], v[16];
	struct stat st;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chown(u, 1000, 1000));
	EXPECT_METACOPY("big");
	ASSERT_EQ(0, utimensat(AT_FDCWD, u, ts, 0));
	ASSERT_EQ(0, setxattr(u, "trusted.mc_test", "v1", 2, 0));
	EXPECT_METACOPY("big");
	mount_again(_metadata, self, ",metacopy");
	EXPECT_METACOPY("big");
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(1000, st.st_uid);
	EXPECT_EQ(1000, st.st_gid);
	EXPECT_EQ(2000000, st.st_mtim.tv_sec);
	EXPECT_EQ(7, st.st_mtim.tv_nsec);
	ASSERT_EQ(2, getxattr(u, "trusted.mc_test", v, sizeof(v)));
	EXPECT_EQ(0, memcmp(v, "v1", 2));
}

TEST_F(mc, the_marker_is_the_unions_own)
{
	char u[PATH_MAX], list[4096];
	ssize_t n, i;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chmod(u, 0640));
	EXPECT_EQ(-1, getxattr(u, MC_XATTR, NULL, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	n = listxattr(u, list, sizeof(list));
	ASSERT_GE(n, 0);
	for (i = 0; i < n; i += strlen(list + i) + 1)
		EXPECT_NE(0, strncmp(list + i, "trusted.aufs.", 13)) TH_LOG("shown: %s", list + i);
	/* Nobody marks a file through the union, nor unmarks one. */
	ASSERT_EQ(0, pathf(u, "%s/small", self->mnt));
	EXPECT_EQ(-1, setxattr(u, MC_XATTR, "", 0, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	EXPECT_EQ(-1, removexattr(u, MC_XATTR));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_METACOPY("big");
}

TEST_F(mc, open_for_write_copies_the_data_and_keeps_the_attributes)
{
	struct timespec ts[2] = { { 1000000, 0 }, { 2000000, 0 } };
	char u[PATH_MAX], t[PATH_MAX], *want, *got;
	struct stat st;
	int fd;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(t, "%s/big", self->top));
	ASSERT_EQ(0, chmod(u, 04755));
	ASSERT_EQ(0, chown(u, 1000, 1000) || chmod(u, 04755));
	ASSERT_EQ(0, utimensat(AT_FDCWD, u, ts, 0));
	EXPECT_METACOPY("big");
	/* Opened for write, not written: the data comes, the times stay. */
	fd = open(u, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	EXPECT_WHOLE("big");
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(S_IFREG | 04755, st.st_mode);
	EXPECT_EQ(1000, st.st_uid);
	EXPECT_EQ(2000000, st.st_mtim.tv_sec);
	EXPECT_EQ(BIG, st.st_size);
	/* A write lands on the copy; the lower file stays as it was. */
	fd = open(u, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, pwrite(fd, "XXXXX", 5, 1 << 20));
	ASSERT_EQ(0, close(fd));
	want = malloc(BIG);
	got = malloc(BIG);
	ASSERT_TRUE(want && got);
	fill(want, BIG, 1);
	memcpy(want + (1 << 20), "XXXXX", 5);
	drop_caches("3");
	ASSERT_EQ(BIG, read_file(u, got, BIG + 1));
	EXPECT_EQ(0, memcmp(want, got, BIG));
	mount_again(_metadata, self, ",metacopy");
	ASSERT_EQ(BIG, read_file(u, got, BIG + 1));
	EXPECT_EQ(0, memcmp(want, got, BIG));
	ASSERT_EQ(0, pathf(u, "%s/big", self->base));
	fill(want, BIG, 1);
	ASSERT_EQ(BIG, read_file(u, got, BIG + 1));
	EXPECT_EQ(0, memcmp(want, got, BIG)) TH_LOG("the lower file changed");
	free(want);
	free(got);
}

TEST_F(mc, truncate_copies_what_stays)
{
	char u[PATH_MAX], *want, got[3000];

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chmod(u, 0600));
	ASSERT_EQ(0, truncate(u, 2000));
	EXPECT_WHOLE("big");
	want = malloc(BIG);
	ASSERT_TRUE(want != NULL);
	fill(want, BIG, 1);
	mount_again(_metadata, self, ",metacopy");
	ASSERT_EQ(2000, read_file(u, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(want, got, 2000));
	free(want);
}

TEST_F(mc, rename_and_link_take_the_data_along)
{
	char u[PATH_MAX], n[PATH_MAX], b[PATH_MAX], w[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(n, "%s/moved", self->mnt));
	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	ASSERT_EQ(0, rename(u, n));
	EXPECT_WHOLE("moved");
	EXPECT_EQ(-1, stat(u, &st));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, pathf(w, "%s/.wh.big", self->top));
	EXPECT_EQ(0, lstat(w, &st)) TH_LOG("no whiteout of the old name");
	drop_caches("3");
	EXPECT_TRUE(same_data(n, b));
	ASSERT_EQ(0, stat(n, &st));
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);

	ASSERT_EQ(0, pathf(u, "%s/small", self->mnt));
	ASSERT_EQ(0, pathf(n, "%s/linked", self->mnt));
	ASSERT_EQ(0, pathf(b, "%s/small", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_METACOPY("small");
	ASSERT_EQ(0, link(u, n));
	EXPECT_WHOLE("small");
	EXPECT_WHOLE("linked");
	mount_again(_metadata, self, ",metacopy");
	EXPECT_TRUE(same_data(u, b));
	EXPECT_TRUE(same_data(n, b));
	ASSERT_EQ(0, stat(n, &st));
	EXPECT_EQ(2, st.st_nlink);
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
}

TEST_F(mc, unlink_hides_the_data_for_good)
{
	char u[PATH_MAX], b[PATH_MAX], t[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(t, "%s/big", self->top));
	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	ASSERT_EQ(0, unlink(u));
	EXPECT_EQ(-1, stat(u, &st));
	EXPECT_EQ(-1, lstat(t, &st)) TH_LOG("the metacopy stayed");
	mount_again(_metadata, self, ",metacopy");
	EXPECT_EQ(-1, stat(u, &st));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, stat(b, &st));
	EXPECT_EQ(BIG, st.st_size);
}

TEST_F(mc, readers_follow_the_data_copy)
{
	char u[PATH_MAX], *want, got[PAGE], *map;
	int rfd, wfd;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chmod(u, 0600));
	want = malloc(BIG);
	ASSERT_TRUE(want != NULL);
	fill(want, BIG, 1);
	rfd = open(u, O_RDONLY);
	ASSERT_LE(0, rfd);
	map = mmap(NULL, BIG, PROT_READ, MAP_SHARED, rfd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0, memcmp(map + BIG - PAGE, want + BIG - PAGE, PAGE));
	ASSERT_EQ(PAGE, pread(rfd, got, PAGE, PAGE));
	EXPECT_EQ(0, memcmp(got, want + PAGE, PAGE));
	/* Someone writes: the data is copied, the reader reads the copy. */
	wfd = open(u, O_WRONLY);
	ASSERT_LE(0, wfd);
	ASSERT_EQ(4, pwrite(wfd, "abcd", 4, PAGE));
	ASSERT_EQ(0, close(wfd));
	memcpy(want + PAGE, "abcd", 4);
	ASSERT_EQ(PAGE, pread(rfd, got, PAGE, PAGE));
	EXPECT_EQ(0, memcmp(got, want + PAGE, PAGE));
	EXPECT_EQ(0, munmap(map, BIG));
	EXPECT_EQ(0, close(rfd));
	free(want);
}

/*
 * @path is refused with @err by stat and open, and the kernel says @kmsg:
 * never a hole shown as the file's data.
 */
static void expect_refused(struct __test_metadata *_metadata, const char *path, int err,
			   const char *kmsg)
{
	char msg[512];
	struct stat st;
	int kfd = kmsg_open(), fd;

	ASSERT_LE(0, kfd);
	EXPECT_EQ(-1, stat(path, &st));
	EXPECT_EQ(err, errno);
	EXPECT_EQ(1, kmsg_find(kfd, kmsg, msg, sizeof(msg)));
	close(kfd);
	fd = open(path, O_RDONLY);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(err, errno);
	if (fd >= 0)
		close(fd);
}

TEST_F(mc, data_gone_below_is_an_io_error)
{
	char u[PATH_MAX], b[PATH_MAX];

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(0, unlink(b));	/* on the branch, behind the union's back */
	ASSERT_EQ(0, mc_mount(_metadata, self, ",metacopy"));
	expect_refused(_metadata, u, EIO, "aufs: big: metacopy without its data");
}

/*
 * Without the option a metacopy is refused (EPERM and one aufs: line, as
 * overlayfs with metacopy=off), never followed and never shown as its own
 * hole; the branch keeps it, and a mount with the option shows it again.
 */
TEST_F(mc, without_the_option_a_metacopy_is_refused)
{
	char u[PATH_MAX], t[PATH_MAX];
	struct stat st, ts;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(t, "%s/big", self->top));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_METACOPY("big");
	ASSERT_EQ(0, stat(t, &ts));
	mount_again(_metadata, self, "");
	expect_refused(_metadata, u, EPERM, "aufs: big: refusing a metacopy");
	EXPECT_STREQ("big/small", names_in(self->mnt, ".")) TH_LOG("the name is listed");
	/* the branch keeps it as it was */
	ASSERT_EQ(0, stat(t, &st));
	EXPECT_TRUE(has_marker(t));
	EXPECT_EQ(ts.st_size, st.st_size);
	EXPECT_EQ(ts.st_blocks, st.st_blocks);
	/* other changes copy the data whole */
	ASSERT_EQ(0, pathf(u, "%s/small", self->mnt));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_WHOLE("small");
	mount_again(_metadata, self, ",metacopy");
	EXPECT_METACOPY("big");
}

/*
 * A layer shipped with a marked file (an image's archive carries xattrs,
 * and Docker extracts them as root): without the option the union never
 * shows, under that name, the data of the same name in a layer below.
 */
TEST_F(mc, a_forged_marker_in_a_layer_shows_nothing_below_it)
{
	char u[PATH_MAX], m[PATH_MAX];

	ASSERT_EQ(0, put_file(self->base, "secret", "the data of another layer\n"));
	ASSERT_EQ(0, put_file(self->mid, "secret", ""));
	ASSERT_EQ(0, pathf(m, "%s/secret", self->mid));
	ASSERT_EQ(0, setxattr(m, MC_XATTR, "", 0, 0));
	ASSERT_EQ(0, truncate(m, 26));
	mount_again(_metadata, self, "");
	ASSERT_EQ(0, pathf(u, "%s/secret", self->mnt));
	expect_refused(_metadata, u, EPERM, "aufs: secret: refusing a metacopy");
	/* and the same after the caches are dropped */
	drop_caches("3");
	expect_refused(_metadata, u, EPERM, "aufs: secret: refusing a metacopy");
	EXPECT_TRUE(has_marker(m));
}

/*
 * udba=reval (the default): a marker set or removed on the branch directly
 * shows at the next access of a cached name, also when the cache and the
 * change are older than a few clock ticks (the stamps alone must tell).
 */
TEST_F(mc, a_marker_set_or_removed_on_the_branch_shows_at_once)
{
	char u[PATH_MAX], t[PATH_MAX], buf[64];
	int i;

	ASSERT_EQ(0, put_file(self->top, "f", "the top file's own data\n"));
	ASSERT_EQ(0, put_file(self->base, "f", "the data of the base layer\n"));
	ASSERT_EQ(0, pathf(u, "%s/f", self->mnt));
	ASSERT_EQ(0, pathf(t, "%s/f", self->top));
	for (i = 0; i < 2; i++) {
		usleep(60 * 1000);
		ASSERT_LT(0, read_file(u, buf, sizeof(buf)));
		EXPECT_STREQ(i ? "the data of the base layer\n" : "the top file's own data\n", buf);
		usleep(60 * 1000);
		ASSERT_EQ(0, i ? removexattr(t, MC_XATTR) : setxattr(t, MC_XATTR, "", 0, 0));
		usleep(60 * 1000);
		ASSERT_LT(0, read_file(u, buf, sizeof(buf)));
		EXPECT_STREQ(i ? "the top file's own data\n" : "the data of the base layer\n", buf)
			TH_LOG("the marker %s on the branch", i ? "removed" : "set");
	}
}

/*
 * The branch that holds the data of an open metacopy is in use: a remount
 * cannot delete it (EBUSY) while the file is open, and can once it is
 * closed.  (Mounted anew, so that the union inode knows only the metacopy
 * as its topmost entry, not the lower file it was copied from.)
 */
TEST_F(mc, the_branch_of_an_open_metacopys_data_is_busy)
{
	char u[PATH_MAX], buf[PAGE];
	int fd;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_METACOPY("big");
	mount_again(_metadata, self, ",metacopy");
	fd = open(u, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(PAGE, read(fd, buf, PAGE));
	EXPECT_EQ(EBUSY, remount(self->mnt, 0, "del:%s", self->base));
	EXPECT_EQ(PAGE, read(fd, buf, PAGE)) TH_LOG("the open file still reads its data");
	close(fd);
	EXPECT_EQ(0, remount(self->mnt, 0, "del:%s", self->base));
}

TEST_F(mc, a_metacopy_in_a_lower_layer_shows_the_data_below_it)
{
	char u[PATH_MAX], b[PATH_MAX], data[MOUNT_DATA_MAX], new_top[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, chmod(u, 0600));
	ASSERT_EQ(0, union_umount(&self->u));
	/* The old top becomes a read-only layer under a new one. */
	ASSERT_EQ(0, make_dir(new_top, self->dir, "top2"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro:%s=ro,metacopy", new_top,
				 self->top, self->base));
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
	EXPECT_TRUE(same_data(u, b));
	/* A metacopy of the metacopy: its data is still base's. */
	ASSERT_EQ(0, chown(u, 1000, 1000));
	ASSERT_EQ(0, pathf(data, "%s/big", new_top));
	EXPECT_TRUE(has_marker(data));
	ASSERT_EQ(0, stat(data, &st));
	EXPECT_EQ(1000, st.st_uid);
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
	EXPECT_TRUE(same_data(u, b));
	/* Written: the data comes from base, the attributes from the top. */
	ASSERT_EQ(0, truncate(u, BIG));
	EXPECT_FALSE(has_marker(data));
	EXPECT_TRUE(same_data(data, b));
	ASSERT_EQ(0, stat(u, &st));
	EXPECT_EQ(1000, st.st_uid);
}

TEST_F(mc, hard_links_and_protected_files_are_copied_whole)
{
	char u[PATH_MAX], b[PATH_MAX], b2[PATH_MAX];
	int fd, flags = FS_APPEND_FL;

	ASSERT_EQ(0, pathf(b, "%s/big", self->base));
	ASSERT_EQ(0, pathf(b2, "%s/big2", self->base));
	ASSERT_EQ(0, link(b, b2));
	mount_again(_metadata, self, ",metacopy");
	ASSERT_EQ(0, pathf(u, "%s/big", self->mnt));
	ASSERT_EQ(0, chmod(u, 0600));
	EXPECT_WHOLE("big");
	EXPECT_TRUE(same_data(u, b));

	ASSERT_EQ(0, pathf(b, "%s/small", self->base));
	fd = open(b, O_RDONLY);
	ASSERT_LE(0, fd);
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags)) {
		close(fd);
		SKIP(return, "no chattr +a on the branch filesystem: %s", strerror(errno));
	}
	close(fd);
	drop_caches("3");
	ASSERT_EQ(0, pathf(u, "%s/small", self->mnt));
	/* chmod is refused on an append-only file; touch is not. */
	ASSERT_EQ(0, utimensat(AT_FDCWD, u, NULL, 0));
	EXPECT_WHOLE("small");
	fd = open(u, O_WRONLY | O_APPEND);
	EXPECT_LE(0, fd) TH_LOG("append to an append-only copy: %s", strerror(errno));
	if (fd >= 0) {
		EXPECT_EQ(3, write(fd, "end", 3));
		close(fd);
	}
	/* Off again, so the teardown can remove the branches. */
	flags = 0;
	ASSERT_EQ(0, pathf(b2, "%s/small", self->top));
	fd = open(b2, O_RDONLY);
	if (fd >= 0) {
		ioctl(fd, FS_IOC_SETFLAGS, &flags);
		close(fd);
	}
	fd = open(b, O_RDONLY);
	if (fd >= 0) {
		ioctl(fd, FS_IOC_SETFLAGS, &flags);
		close(fd);
	}
}

TEST_HARNESS_MAIN
