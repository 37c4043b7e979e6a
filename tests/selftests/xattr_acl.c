// SPDX-License-Identifier: GPL-2.0-only
/*
 * Xattrs, ACLs and permission checks through the union: user.* xattrs
 * answer like the branch, a POSIX ACL of the branch counts, an
 * unprivileged user gets what the branch would give, nothing is copied up
 * before the caller is known to be allowed, lower directories'
 * permissions count (unless dirperm1), and a write by another user drops
 * the set-id bits.
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
/* 1. xattrs and ACLs                                                 */
/* ================================================================== */

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
/* 2. an unprivileged user                                            */
/* ================================================================== */

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

struct path_arg {
	char path[PATH_MAX];
};

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
/* 3. permission before copy-up                                       */
/* ================================================================== */

static int try_changes_as_nobody(void *arg)
{
	const char *p = ((struct path_arg *)arg)->path;
	int fd, flags = 0, bad = 0;
	unsigned char acl[64];
	size_t len = acl_build(acl, NOBODY, 4);

	/*
	 * system.* is the owner's: refused before anything is copied.  A
	 * well-formed ACL: since 6.2 the VFS refuses a malformed one with
	 * EINVAL before any filesystem is asked (tmpfs too).
	 */
	if (setxattr(p, "system.posix_acl_access", acl, len, 0) == 0 || errno != EPERM)
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
/* 4. permission of lower directories                                 */
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

TEST_HARNESS_MAIN
