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
	struct au_union u;
};

FIXTURE_SETUP(hd)
{
	self->u = (struct au_union){
		.tag = "hd", .tmpfs = "size=256m,mode=0755",
		.flags = AU_TMPFS_BRANCHES | AU_OPEN_DIR,
		.dir = self->dir, .mnt = self->mnt,
		.br = { { "upper", self->upper }, { "lower", self->lower } },
	};
	/*
	 * Only where aufs is loaded (the test VM): never mount, freeze or
	 * chattr anything on another machine.  (A SKIP here would not stop
	 * the test body in this harness.)
	 */
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
}

FIXTURE_TEARDOWN(hd)
{
	/* a branch still busy is not these tests' concern */
	UNION_TEARDOWN(&self->u, AU_BRANCH_BUSY);
}

#define P(buf, ...) ASSERT_EQ(0, pathf(buf, __VA_ARGS__))

static inline void hd_mount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro%s", self->upper, self->lower,
				 self->opts))
		TH_LOG("mount %s: %s", self->u.data, strerror(errno));
}

static inline void hd_umount(struct __test_metadata *_metadata, FIXTURE_DATA(hd) *self)
{
	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("umount: %s", strerror(errno));
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
