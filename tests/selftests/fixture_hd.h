/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fixture hd (include after kselftest_harness.h), named after the review
 * ("hardening") whose tests introduced it: every test gets a fresh work
 * directory with an empty writable "upper" and read-only "lower" branch,
 * each its own tmpfs (plain directories when $AUFS_TEST_DIR is on another
 * filesystem: branch_make()), and a mount point mnt.  hd_mount() mounts
 * br=<upper>=rw:<lower>=ro plus the test's extra options (self->opts).
 * Only where aufs is loaded (the test VM): the setup fails elsewhere.
 */
#ifndef AUFS_FIXTURE_HD_H
#define AUFS_FIXTURE_HD_H

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

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#define NOBODY 65534

FIXTURE(hd) {
	char dir[PATH_MAX];
	char upper[PATH_MAX];
	char lower[PATH_MAX];
	char mnt[PATH_MAX];
	char opts[256];		/* extra mount options */
	int mounted;
	int br_mounted[2];	/* upper, lower: a tmpfs of branch_make() */
};

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
	ASSERT_EQ(0, branch_make(self->upper, self->dir, "upper", "hd", "size=256m,mode=0755",
				 &self->br_mounted[0]));
	ASSERT_EQ(0, branch_make(self->lower, self->dir, "lower", "hd", "size=256m,mode=0755",
				 &self->br_mounted[1]));
	ASSERT_EQ(0, make_dir(self->mnt, self->dir, "mnt"));
}

FIXTURE_TEARDOWN(hd)
{
	if (self->mounted && umount2(self->mnt, 0)) {
		TH_LOG("teardown: umount %s: %s", self->mnt, strerror(errno));
		_metadata->passed = 0;
		umount2(self->mnt, MNT_DETACH);
	}
	if (self->br_mounted[0])
		branch_release(self->upper);
	if (self->br_mounted[1])
		branch_release(self->lower);
	rm_tree(self->dir);
}

#define P(buf, ...) ASSERT_EQ(0, pathf(buf, __VA_ARGS__))

static inline void hd_mount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro%s", self->upper, self->lower, self->opts));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, d)) TH_LOG("mount %s: %s", d, strerror(errno));
	self->mounted = 1;
}

static inline void hd_umount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	ASSERT_EQ(0, umount2(self->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	self->mounted = 0;
}

/* Run @fn as uid/gid NOBODY in a child; its exit status (0: all good). */
static inline int as_nobody(int (*fn)(void *), void *arg)
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

#endif /* AUFS_FIXTURE_HD_H */
