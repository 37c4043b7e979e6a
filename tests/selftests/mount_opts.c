// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs mount options: accepted syntaxes and permissions (checked through
 * /sys/fs/aufs/si_<si>/br<N>), the branch limit, and bad input, which must
 * fail with the right errno AND log a kernel message starting "aufs: ".
 * The aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

FIXTURE(mo) {
	char dir[PATH_MAX];	/* fresh work dir */
	char top[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	char mnt2[PATH_MAX];	/* a second mount point */
	char file[PATH_MAX];	/* a regular file */
	char bind[PATH_MAX];	/* bind mount target, when used */
	char ext[PATH_MAX];	/* an ext4 filesystem, when used */
	struct au_union u;	/* top, base and mnt */
	int mounted2, bound, ext_mounted;
};

FIXTURE_SETUP(mo)
{
	self->u = (struct au_union){
		.tag = "mo", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "base", self->base } },
	};
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, make_dir(self->mnt2, self->dir, "mnt2"));
	ASSERT_EQ(0, put_file(self->top, "t.txt", "top\n"));
	ASSERT_EQ(0, put_file(self->base, "b.txt", "base\n"));
	ASSERT_EQ(0, pathf(self->file, "%s/file", self->dir));
	ASSERT_EQ(0, write_file(self->file, "not a directory\n"));
}

FIXTURE_TEARDOWN(mo)
{
	/* first: the ext4 may be one of its branches */
	if (union_release(&self->u))
		_metadata->passed = 0;
	if (self->mounted2)
		TEARDOWN_UMOUNT(self->mnt2);
	if (self->bound)
		TEARDOWN_UMOUNT(self->bind);
	if (self->ext_mounted)
		TEARDOWN_UMOUNT(self->ext);
	UNION_TEARDOWN(&self->u, 0);
}

/* mount(2) must succeed with data; marks the fixture's mnt as mounted. */
static void mount_ok(struct __test_metadata *_metadata, FIXTURE_DATA(mo) *self,
		     unsigned long flags, const char *data)
{
	ASSERT_EQ(0, union_mount(&self->u, flags, "%s", data))
		TH_LOG("mount -o '%s' %s: %s", data, self->mnt, strerror(errno));
}

/*
 * mount(2) of data on mnt must fail with err and, when want_log, log a
 * kernel message beginning "aufs: ".
 */
static void mount_fails(struct __test_metadata *_metadata, const char *mnt,
			unsigned long flags, const char *data, int err, int want_log)
{
	char msg[1024];
	int kfd, ret, e, found;

	kfd = kmsg_open();
	ASSERT_LE(0, kfd) TH_LOG("open /dev/kmsg: %s", strerror(errno));
	ret = aufs_mount(mnt, flags, data);
	e = errno;
	if (ret == 0)
		umount2(mnt, MNT_DETACH);
	ASSERT_EQ(-1, ret) TH_LOG("mount -o '%s' succeeded, expected %s", data ? data : "(null)",
				  strerror(err));
	ASSERT_EQ(err, e) TH_LOG("mount -o '%s': %s, expected %s", data ? data : "(null)",
				 strerror(e), strerror(err));
	found = kmsg_find(kfd, "aufs: ", msg, sizeof(msg));
	close(kfd);
	if (want_log) {
		ASSERT_EQ(1, found) TH_LOG("no kernel message starting 'aufs: ' for '%s'",
					   data ? data : "(null)");
	}
	if (found == 1)
		TH_LOG("kernel said: %s", msg);
}

/* /sys/fs/aufs/si_<si>/br<idx> of the mount at mnt must read "<path>=<perm>\n". */
static void check_br(struct __test_metadata *_metadata, const char *mnt, int idx,
		     const char *path, const char *perm)
{
	char si[64], name[32], got[PATH_MAX * 5], want[PATH_MAX * 5], esc[PATH_MAX * 4];

	ASSERT_EQ(0, mount_si(mnt, si, sizeof(si))) TH_LOG("no si= for %s in /proc/mounts", mnt);
	snprintf(name, sizeof(name), "br%d", idx);
	ASSERT_LE(0, read_si_file(si, name, got, sizeof(got)))
		TH_LOG("read si_%s/%s: %s", si, name, strerror(errno));
	escape_path(path, esc, sizeof(esc));
	snprintf(want, sizeof(want), "%s=%s\n", esc, perm);
	ASSERT_STREQ(want, got);
}

static int br_exists(const char *mnt, int idx)
{
	char si[64], name[32], p[PATH_MAX];
	struct stat st;

	if (mount_si(mnt, si, sizeof(si)))
		return -1;
	snprintf(name, sizeof(name), "br%d", idx);
	if (si_path(p, si, name))
		return -1;
	return stat(p, &st) == 0;
}

/* ---- accepted syntaxes and permissions ---- */

TEST_F(mo, br_equals_default_perms)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
	ASSERT_EQ(0, br_exists(self->mnt, 2));
}

TEST_F(mo, br_colon_form)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br:%s:%s", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

TEST_F(mo, dirs_alias)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "dirs=%s:%s", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

TEST_F(mo, explicit_rw_ro)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

TEST_F(mo, perm_rr)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=rr", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 1, self->base, "rr");
}

TEST_F(mo, perm_ro_wh)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro+wh", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro+wh");
}

TEST_F(mo, perm_rw_nolwh)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw+nolwh:%s", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw+nolwh");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

TEST_F(mo, single_branch)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s", self->top));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	ASSERT_EQ(0, br_exists(self->mnt, 1));
}

TEST_F(mo, readonly_mount_default_perms)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->base));
	mount_ok(_metadata, self, MS_RDONLY, d);
	check_br(_metadata, self->mnt, 0, self->top, "ro");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

/* What /proc/mounts shows (relatime, si=...) can be passed back to mount. */
TEST_F(mo, proc_mounts_options_accepted)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,relatime,si=1234abcd", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	check_br(_metadata, self->mnt, 1, self->base, "ro");
}

/* n branch directories <dir>/<i>, joined as "br=<d0>:<d1>:..." */
static void many_branches(struct __test_metadata *_metadata, FIXTURE_DATA(mo) *self,
			  int n, char *data, size_t size)
{
	size_t o;
	int i;

	o = snprintf(data, size, "br=");
	for (i = 0; i < n; i++) {
		char p[PATH_MAX], name[16];
		int w;

		snprintf(name, sizeof(name), "%d", i);
		ASSERT_EQ(0, make_dir(p, self->dir, name));
		w = snprintf(data + o, size - o, "%s%s", i ? ":" : "", p);
		ASSERT_LT((size_t)w, size - o) TH_LOG("mount data longer than a page");
		o += w;
	}
	/* The kernel copies one page of mount data, NUL included. */
	ASSERT_LT(o, (size_t)MOUNT_DATA_MAX) TH_LOG("mount data is %zu bytes", o);
}

TEST_F_TIMEOUT(mo, branches_127_ok, 120)
{
	char d[MOUNT_DATA_MAX], p[PATH_MAX];

	many_branches(_metadata, self, 127, d, sizeof(d));
	mount_ok(_metadata, self, 0, d);
	ASSERT_EQ(0, pathf(p, "%s/0", self->dir));
	check_br(_metadata, self->mnt, 0, p, "rw");
	ASSERT_EQ(0, pathf(p, "%s/126", self->dir));
	check_br(_metadata, self->mnt, 126, p, "ro");
	ASSERT_EQ(0, br_exists(self->mnt, 127));
}

TEST_F_TIMEOUT(mo, branches_128_enospc, 120)
{
	char d[MOUNT_DATA_MAX];

	many_branches(_metadata, self, 128, d, sizeof(d));
	mount_fails(_metadata, self->mnt, 0, d, ENOSPC, 0);
}

/* ---- bad input: EINVAL + "aufs: " in the kernel log ---- */

TEST_F(mo, unknown_option)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,nosuchoption", self->top, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, missing_branch_path)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s/does-not-exist", self->top, self->dir));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, branch_is_regular_file)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->file));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, duplicate_branch_same_path)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s:%s", self->top, self->base, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, duplicate_branch_dot_path)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s:%s/.", self->top, self->base, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, duplicate_branch_via_symlink)
{
	char d[MOUNT_DATA_MAX], link[PATH_MAX];

	ASSERT_EQ(0, pathf(link, "%s/base-link", self->dir));
	ASSERT_EQ(0, symlink(self->base, link));
	ASSERT_EQ(0, dataf(d, "br=%s:%s:%s", self->top, self->base, link));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, duplicate_branch_via_bind_mount)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, make_dir(self->bind, self->dir, "base-bind"));
	ASSERT_EQ(0, mount(self->base, self->bind, NULL, MS_BIND, NULL))
		TH_LOG("bind mount: %s", strerror(errno));
	self->bound = 1;
	ASSERT_EQ(0, dataf(d, "br=%s:%s:%s", self->top, self->base, self->bind));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, nested_lower_inside_upper)
{
	char d[MOUNT_DATA_MAX], sub[PATH_MAX];

	ASSERT_EQ(0, make_dir(sub, self->top, "sub"));
	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, sub));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, nested_upper_inside_lower)
{
	char d[MOUNT_DATA_MAX], sub[PATH_MAX];

	ASSERT_EQ(0, make_dir(sub, self->base, "sub"));
	ASSERT_EQ(0, dataf(d, "br=%s:%s", sub, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

/* A branch below the mount point would be hidden by (and loop into) the mount. */
TEST_F(mo, branch_inside_mount_point)
{
	char d[MOUNT_DATA_MAX], sub[PATH_MAX];

	ASSERT_EQ(0, make_dir(sub, self->mnt, "sub"));
	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, sub));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, branch_is_mount_point)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->mnt));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, aufs_as_branch)
{
	char d[MOUNT_DATA_MAX], other[PATH_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->base));
	ASSERT_EQ(0, aufs_mount(self->mnt2, 0, d)) TH_LOG("mount: %s", strerror(errno));
	self->mounted2 = 1;
	ASSERT_EQ(0, make_dir(other, self->dir, "other"));
	ASSERT_EQ(0, dataf(d, "br=%s:%s", other, self->mnt2));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, procfs_as_branch)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:/proc", self->top));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, empty_branch_list)
{
	mount_fails(_metadata, self->mnt, 0, "br=", EINVAL, 1);
}

TEST_F(mo, no_branch_option)
{
	mount_fails(_metadata, self->mnt, 0, "udba=reval", EINVAL, 1);
}

TEST_F(mo, null_mount_data)
{
	mount_fails(_metadata, self->mnt, 0, NULL, EINVAL, 1);
}

TEST_F(mo, bad_perm_string)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s=xx", self->top, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, bad_perm_rw_wh)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw+wh:%s", self->top, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

TEST_F(mo, udba_bogus)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,udba=bogus", self->top, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

/* rw requested for a branch whose filesystem is mounted read-only. */
TEST_F(mo, rw_branch_on_readonly_fs)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, make_dir(self->bind, self->dir, "rofs"));
	ASSERT_EQ(0, mount("rofs", self->bind, "tmpfs", MS_RDONLY, "size=1m"))
		TH_LOG("mount read-only tmpfs: %s", strerror(errno));
	self->bound = 1;
	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s", self->bind, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
}

/* A user namespace mapping ids 0-65535 to 100000-165535, as an fd; -1. */
static int userns_fd(void)
{
	char p[64], c;
	int pipefd[2], fd = -1;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		if (unshare(CLONE_NEWUSER))
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	if (pid > 0 && read(pipefd[0], &c, 1) == 1) {
		snprintf(p, sizeof(p), "/proc/%d/uid_map", pid);
		if (!write_file(p, "0 100000 65536\n")) {
			snprintf(p, sizeof(p), "/proc/%d/gid_map", pid);
			if (!write_file(p, "0 100000 65536\n")) {
				snprintf(p, sizeof(p), "/proc/%d/ns/user", pid);
				fd = open(p, O_RDONLY | O_CLOEXEC);
			}
		}
	}
	close(pipefd[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return fd;
}

/* Mount @fd (from open_tree()) idmapped by the user namespace @nsfd. */
static int idmap(int fd, int nsfd)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = nsfd };

	return mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr));
}

/*
 * An idmapped mount cannot be a branch (every owner the union reads and
 * writes would have to be mapped through it): mount and remount refuse
 * it with EINVAL and a message.  Nor can the union itself be idmapped.
 */
TEST_F(mo, idmapped_branch_is_refused)
{
	char d[MOUNT_DATA_MAX], img[PATH_MAX], b[PATH_MAX], msg[1024];
	int r, nsfd, fd, kfd;

	if (access("/proc/self/ns/user", F_OK))
		SKIP(return, "no user namespaces in this kernel");
	ASSERT_EQ(0, make_dir(self->ext, self->dir, "ext"));
	ASSERT_EQ(0, pathf(img, "%s/ext.img", self->dir));
	r = mount_ext4(img, self->ext, "");
	if (r == 1)
		SKIP(return, "no mkfs.ext4 or loop device");
	ASSERT_EQ(0, r);
	self->ext_mounted = 1;
	ASSERT_EQ(0, make_dir(b, self->ext, "b"));
	ASSERT_EQ(0, put_file(b, "f", "f\n"));
	nsfd = userns_fd();
	ASSERT_LE(0, nsfd);
	ASSERT_EQ(0, make_dir(self->bind, self->dir, "idmapped"));
	fd = open_tree(AT_FDCWD, b, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, idmap(fd, nsfd)) TH_LOG("mount_setattr(MOUNT_ATTR_IDMAP): %s", strerror(errno));
	ASSERT_EQ(0, move_mount(fd, "", AT_FDCWD, self->bind, MOVE_MOUNT_F_EMPTY_PATH));
	close(fd);
	self->bound = 1;

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->top, self->bind));
	kfd = kmsg_open();
	ASSERT_LE(0, kfd);
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
	EXPECT_EQ(1, kmsg_find(kfd, "aufs: branch ", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "idmapped mount cannot be a branch")) TH_LOG("%s", msg);
	close(kfd);

	/* remount: refused the same way; the union is as it was */
	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	EXPECT_EQ(EINVAL, remount(self->mnt, 0, "append:%s", self->bind));
	EXPECT_EQ(1, br_exists(self->mnt, 1));
	EXPECT_EQ(0, br_exists(self->mnt, 2));

	/* the union's own mount cannot be idmapped */
	fd = open_tree(AT_FDCWD, self->mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, idmap(fd, nsfd));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
	close(nsfd);
}

/* ---- remount ---- */

/* remount(2) with data on the fixture's mount: 0 or errno, and the log. */
static int remount_err(const char *mnt, unsigned long flags, const char *data,
		       char *msg, size_t size)
{
	int kfd, e;

	msg[0] = 0;
	kfd = kmsg_open();
	e = remount(mnt, flags, "%s", data);
	if (kfd >= 0) {
		if (kmsg_find(kfd, "aufs: ", msg, size) != 1)
			msg[0] = 0;
		close(kfd);
	}
	return e;
}

/*
 * A plain remount (ro and back, or passing back what /proc/mounts shows)
 * works; a bad branch change is refused with its errno and a message and
 * changes nothing; a changed option takes effect (tests/selftests/remount.c
 * has the rest of remount).
 */
TEST_F(mo, remount)
{
	char d[MOUNT_DATA_MAX], msg[1024], si[64], p[PATH_MAX], line[4096];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,dio", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	ASSERT_EQ(0, remount_err(self->mnt, MS_RDONLY, "", msg, sizeof(msg)));
	ASSERT_EQ(0, pathf(p, "%s/new", self->mnt));
	ASSERT_EQ(-1, open(p, O_WRONLY | O_CREAT, 0644));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(0, mount_si(self->mnt, si, sizeof(si)));
	ASSERT_EQ(0, dataf(d, "si=%s,dio", si));
	ASSERT_EQ(0, remount_err(self->mnt, 0, d, msg, sizeof(msg)));
	ASSERT_EQ(0, write_file(p, "rw again\n"));

	/* a branch that contains the others */
	ASSERT_EQ(0, dataf(d, "append:%s", self->dir));
	ASSERT_EQ(EINVAL, remount_err(self->mnt, 0, d, msg, sizeof(msg)));
	ASSERT_NE(0, msg[0]) TH_LOG("no 'aufs: ' message for a refused remount");
	TH_LOG("kernel said: %s", msg);
	ASSERT_EQ(EINVAL, remount_err(self->mnt, 0, "nosuchoption", msg, sizeof(msg)));
	ASSERT_NE(0, msg[0]);
	/* nothing changed: still two branches, still writable */
	check_br(_metadata, self->mnt, 0, self->top, "rw");
	ASSERT_EQ(0, br_exists(self->mnt, 2));
	/* a new option takes effect */
	ASSERT_EQ(0, remount_err(self->mnt, 0, "nodio,udba=none", msg, sizeof(msg)));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	ASSERT_NE(NULL, strstr(line, ",udba=none,nodio")) TH_LOG("%s", line);
}

/* After all those failures a good mount still works. */
TEST_F(mo, mount_after_failures)
{
	char d[MOUNT_DATA_MAX], buf[64];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,udba=bogus", self->top, self->base));
	mount_fails(_metadata, self->mnt, 0, d, EINVAL, 1);
	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->base));
	mount_ok(_metadata, self, 0, d);
	ASSERT_EQ(0, pathf(d, "%s/b.txt", self->mnt));
	ASSERT_EQ(5, read_file(d, buf, sizeof(buf)));
	ASSERT_STREQ("base\n", buf);
}

TEST_HARNESS_MAIN
