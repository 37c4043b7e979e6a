/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fixture wu, the writable union (include after kselftest_harness.h):
 * every test gets a fresh work directory with the branches top, mid and
 * base, each its own tmpfs (plain directories when $AUFS_TEST_DIR is on
 * another filesystem: branch_make()), with the seed article's files:
 * base/{common,hello}.txt, top/{common,foo}.txt, and a mount point mnt.
 * The tests mount what they need (mount_seed(), mount2(), mount3()); the
 * teardown unmounts the union and then each branch, failing the test when
 * one is still busy.  Also the helpers these tests share.
 */
#ifndef AUFS_FIXTURE_WU_H
#define AUFS_FIXTURE_WU_H

#include <grp.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

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
	struct au_union u;
};

FIXTURE_SETUP(wu)
{
	self->u = (struct au_union){
		.tag = "wu", .source = "aufs-wu", .tmpfs = "size=64m,mode=0755",
		/* unprivileged tests must be able to reach the mount point */
		.flags = AU_TMPFS_BRANCHES | AU_OPEN_DIR,
		.dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "mid", self->mid }, { "base", self->base } },
	};
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, put_seed_files(self->top, self->base));
}

FIXTURE_TEARDOWN(wu)
{
	UNION_TEARDOWN(&self->u, 0);
}

/* ---- helpers ---- */

/* br=<top>=<p0>:<base>=<p1> */
static inline void mount2(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self,
			  const char *p0, const char *p1)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=%s:%s=%s", self->top, p0, self->base, p1))
		TH_LOG("mount -o '%s' %s: %s", self->u.data, self->mnt, strerror(errno));
}

/* br=<top>=<p0>:<mid>=<p1>:<base>=<p2> */
static inline void mount3(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self,
			  const char *p0, const char *p1, const char *p2)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=%s:%s=%s:%s=%s", self->top, p0,
				 self->mid, p1, self->base, p2))
		TH_LOG("mount -o '%s' %s: %s", self->u.data, self->mnt, strerror(errno));
}

/* The seed layout: br=<top>=rw:<base>=ro */
static inline void mount_seed(struct __test_metadata *_metadata, FIXTURE_DATA(wu) *self)
{
	mount2(_metadata, self, "rw", "ro");
}

static inline void at(struct __test_metadata *_metadata, char *out, const char *dir, const char *rel)
{
	ASSERT_EQ(0, pathf(out, "%s/%s", dir, rel));
}

static inline void expect_content(struct __test_metadata *_metadata, const char *dir, const char *rel,
				  const char *want)
{
	char p[PATH_MAX], buf[65536];

	at(_metadata, p, dir, rel);
	ASSERT_EQ((ssize_t)strlen(want), read_file(p, buf, sizeof(buf)))
		TH_LOG("%s: %s (content '%s', want '%s')", p, strerror(errno), buf, want);
	ASSERT_STREQ(want, buf) TH_LOG("content of %s", p);
}

/* lstat(<dir>/<rel>) must fail with err. */
static inline void expect_errno(struct __test_metadata *_metadata, const char *dir, const char *rel,
				int err)
{
	char p[PATH_MAX];
	struct stat st;

	at(_metadata, p, dir, rel);
	ASSERT_EQ(-1, lstat(p, &st)) TH_LOG("%s exists (mode 0%o)", p, st.st_mode);
	ASSERT_EQ(err, errno) TH_LOG("lstat %s: %s, expected %s", p, strerror(errno), strerror(err));
}

static inline void expect_absent(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	expect_errno(_metadata, dir, rel, ENOENT);
}

static inline void lstat_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
			    struct stat *st)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lstat(p, st)) TH_LOG("lstat %s: %s", p, strerror(errno));
}

static inline void expect_present(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	struct stat st;

	lstat_at(_metadata, dir, rel, &st);
}

static inline void expect_listing(struct __test_metadata *_metadata, const char *dir, const char *rel,
				  const char *want)
{
	char p[PATH_MAX], got[65536];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, list_dir(p, got, sizeof(got))) TH_LOG("readdir %s: %s", p, strerror(errno));
	ASSERT_STREQ(want, got) TH_LOG("listing of %s", p);
}

/* `echo text > <dir>/<rel>` on an existing file: open O_WRONLY|O_TRUNC, write. */
static inline void overwrite(struct __test_metadata *_metadata, const char *dir, const char *rel,
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
static inline void create_file(struct __test_metadata *_metadata, const char *dir, const char *rel,
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

static inline void mkdir_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
			    mode_t mode)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, mkdir(p, mode)) TH_LOG("mkdir %s: %s", p, strerror(errno));
}

/* <top>/<rel> is a whiteout: a hard link to <top>/.wh..wh.aufs. */
static inline void expect_whiteout(struct __test_metadata *_metadata, const char *top, const char *rel)
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

static inline void set_times(struct __test_metadata *_metadata, const char *dir, const char *rel,
			     time_t asec, long ansec, time_t msec, long mnsec)
{
	struct timespec ts[2] = { { asec, ansec }, { msec, mnsec } };
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW))
		TH_LOG("utimensat %s: %s", p, strerror(errno));
}

static inline void chown_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
			    uid_t uid, gid_t gid)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lchown(p, uid, gid)) TH_LOG("chown %s: %s", p, strerror(errno));
}

static inline void chmod_at(struct __test_metadata *_metadata, const char *dir, const char *rel,
			    mode_t mode)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, chmod(p, mode)) TH_LOG("chmod %s: %s", p, strerror(errno));
}

static inline void setx(struct __test_metadata *_metadata, const char *dir, const char *rel,
			const char *name, const char *value)
{
	char p[PATH_MAX];

	at(_metadata, p, dir, rel);
	ASSERT_EQ(0, lsetxattr(p, name, value, strlen(value), 0))
		TH_LOG("setxattr %s %s: %s", p, name, strerror(errno));
}

/* The xattr <name> of <dir>/<rel> must be want (NULL: must be absent, ENODATA). */
static inline void expect_xattr(struct __test_metadata *_metadata, const char *dir, const char *rel,
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
static inline unsigned char *slurp(const char *path, size_t *len)
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

static inline void fill_pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed) % 251);
}

static inline int write_bin(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
	return write_file_mode(path, (const char *)data, len, mode);
}

static inline void expect_bin(struct __test_metadata *_metadata, const char *dir, const char *rel,
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

static inline int renameat2_(const char *from, const char *to, unsigned int flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

/*
 * Run fn in a child process (as uid/gid when uid != -1, with no
 * supplementary groups) and collect the n ints it fills in.  0 or -1.
 */
typedef void (*child_fn)(FIXTURE_DATA(wu) *self, int *res, int n);

static inline int run_child(FIXTURE_DATA(wu) *self, uid_t uid, gid_t gid, child_fn fn, int *res, int n)
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

static inline int open_err(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags, mode);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

#endif /* AUFS_FIXTURE_WU_H */
