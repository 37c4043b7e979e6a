// SPDX-License-Identifier: GPL-2.0-only
/*
 * Module lifetime; runs last (guest-suite.sh runs programs in name order).
 *
 * - while an aufs is mounted (or a file of a lazily unmounted one is still
 *   open), delete_module("aufs", O_NONBLOCK) fails.  Linux 6.1 returns
 *   EWOULDBLOCK (== EAGAIN) for a module whose reference count is not zero
 *   (kernel/module/main.c: try_stop_module()); EBUSY is only for modules
 *   others depend on or that cannot be unloaded;
 * - after the last umount it unloads, and "aufs" leaves /proc/filesystems
 *   and /sys/fs/aufs disappears;
 * - the tool exits 2 while the module is not loaded;
 * - the module loads again with finit_module($AUFS_KO), works, and unloads.
 *
 * Each test first brings the module into the state it needs (loaded or
 * not), so the tests do not depend on each other.  The last one leaves the
 * module unloaded.
 */
#include "aufs_test.h"

#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"

static int delete_aufs(void)
{
	return syscall(SYS_delete_module, "aufs", O_NONBLOCK);
}

static const char *ko_path(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("AUFS_KO");
	struct utsname u;

	if (e && *e)
		return e;
	e = getenv("REPO");
	if (uname(&u) == 0 && !pathf(path, "%s/build/kmod/%s/aufs.ko", e && *e ? e : ".", u.release))
		return path;
	return "aufs.ko";
}

static int load_aufs(void)
{
	int fd = open(ko_path(), O_RDONLY | O_CLOEXEC);
	int ret, e;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	e = errno;
	close(fd);
	errno = e;
	return ret;
}

static int path_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/*
 * Unload, retrying EWOULDBLOCK for up to 5 s: references dropped by the
 * last umount may be released a moment later (RCU, deferred work).
 */
static int unload_aufs(void)
{
	int i;

	for (i = 0; i < 50; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (delete_aufs() == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void ensure_loaded(struct __test_metadata *_metadata)
{
	if (aufs_registered() == 1)
		return;
	ASSERT_EQ(0, load_aufs()) TH_LOG("finit_module(%s): %s", ko_path(), strerror(errno));
	ASSERT_EQ(1, aufs_registered());
}

static void ensure_unloaded(struct __test_metadata *_metadata)
{
	if (aufs_registered() == 0)
		return;
	ASSERT_EQ(0, unload_aufs()) TH_LOG("delete_module(aufs): %s", strerror(errno));
	ASSERT_EQ(0, aufs_registered());
}

FIXTURE(rm) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	struct au_union u;
	int fd;
};

FIXTURE_SETUP(rm)
{
	self->fd = -1;
	self->u = (struct au_union){
		.tag = "rm", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "base", self->base } },
	};
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, put_file(self->base, "file", "base\n"));
}

FIXTURE_TEARDOWN(rm)
{
	if (self->fd >= 0)
		close(self->fd);
	UNION_TEARDOWN(&self->u, 0);
}

static void mount_it(struct __test_metadata *_metadata, FIXTURE_DATA(rm) *self)
{
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s", self->top, self->base))
		TH_LOG("mount -o '%s': %s", self->u.data, strerror(errno));
}

TEST_F(rm, busy_while_mounted)
{
	ensure_loaded(_metadata);
	mount_it(_metadata, self);
	ASSERT_EQ(-1, delete_aufs());
	ASSERT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module: %s", strerror(errno));
	ASSERT_EQ(1, aufs_registered());
	/* still fully working */
	ASSERT_EQ(0, access(self->mnt, R_OK));
	ASSERT_EQ(0, union_umount(&self->u));
}

/* A lazily detached aufs with an open file still pins the module. */
TEST_F(rm, busy_while_detached_file_open)
{
	char p[PATH_MAX], buf[16];

	ensure_loaded(_metadata);
	mount_it(_metadata, self);
	ASSERT_EQ(0, pathf(p, "%s/file", self->mnt));
	self->fd = open(p, O_RDONLY);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, umount2(self->mnt, MNT_DETACH));
	self->u.mounted = 0;
	ASSERT_EQ(-1, delete_aufs());
	ASSERT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module: %s", strerror(errno));
	/* the open file is still readable */
	ASSERT_EQ(5, pread(self->fd, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(buf, "base\n", 5));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, unload_aufs()) TH_LOG("delete_module after close: %s", strerror(errno));
	ASSERT_EQ(0, aufs_registered());
}

TEST_F(rm, unload_after_umount)
{
	ensure_loaded(_metadata);
	mount_it(_metadata, self);
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(0, unload_aufs()) TH_LOG("delete_module: %s", strerror(errno));
	ASSERT_EQ(0, aufs_registered()) TH_LOG("aufs still in /proc/filesystems");
	ASSERT_FALSE(path_exists(AUFS_SYSFS)) TH_LOG(AUFS_SYSFS " still exists");
	ASSERT_FALSE(path_exists("/sys/module/aufs")) TH_LOG("/sys/module/aufs still exists");
	/* mounting now fails: no such filesystem type */
	ASSERT_EQ(-1, aufs_mount(self->mnt, 0, "br=/tmp"));
	ASSERT_EQ(ENODEV, errno);
}

TEST_F(rm, aubr_exits_2_without_module)
{
	const char *aubr = getenv("AUBR");
	int st;
	pid_t pid;

	if (!aubr || !*aubr || access(aubr, X_OK))
		SKIP(return, "aubr not found ($AUBR)");
	ensure_unloaded(_metadata);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		execl(aubr, "aubr", (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(2, WEXITSTATUS(st));
}

TEST_F(rm, reload_use_and_unload)
{
	char p[PATH_MAX], buf[16];
	struct stat st;

	ensure_unloaded(_metadata);
	ASSERT_EQ(0, load_aufs()) TH_LOG("finit_module(%s): %s", ko_path(), strerror(errno));
	ASSERT_EQ(1, aufs_registered());
	ASSERT_EQ(0, stat(AUFS_SYSFS "/config", &st));
	/* loading it twice is refused */
	ASSERT_EQ(-1, load_aufs());
	ASSERT_EQ(EEXIST, errno);
	mount_it(_metadata, self);
	ASSERT_EQ(0, pathf(p, "%s/file", self->mnt));
	ASSERT_EQ(5, read_file(p, buf, sizeof(buf)));
	ASSERT_STREQ("base\n", buf);
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(0, unload_aufs()) TH_LOG("delete_module: %s", strerror(errno));
	ASSERT_EQ(0, aufs_registered());
	ASSERT_FALSE(path_exists(AUFS_SYSFS));
}

TEST_HARNESS_MAIN
