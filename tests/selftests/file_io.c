// SPDX-License-Identifier: GPL-2.0-only
/*
 * File I/O through the union: pwrite, O_APPEND, ftruncate, fallocate,
 * fsync/fdatasync, shared mmap, flock and fcntl locks, an unlinked open
 * file, O_DIRECT, EROFS without a writable branch, and writes waiting for
 * a frozen upper branch (freeze protection, syncfs, fsync of a directory).
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
/* 1. file I/O                                                        */
/* ================================================================== */

TEST_F(wu, io_pwrite_at_offsets)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], want[64];
	struct stat st;
	int fd;

	memset(want, 0, sizeof(want));
	memcpy(want, HELLO_BASE, len);
	want[3] = 'X';
	want[4] = 'Y';
	want[40] = 'Z';
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, pwrite(fd, "XY", 2, 3)) TH_LOG("pwrite: %s", strerror(errno));
	ASSERT_EQ(1, pwrite(fd, "Z", 1, 40));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(41, st.st_size);
	/* pwrite does not move the offset */
	ASSERT_EQ(0, lseek(fd, 0, SEEK_CUR));
	ASSERT_EQ(0, close(fd));
	expect_bin(_metadata, self->top, "hello.txt", (unsigned char *)want, 41);
	expect_bin(_metadata, self->mnt, "hello.txt", (unsigned char *)want, 41);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_o_append)
{
	char p[PATH_MAX];
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "more\n", 5)) TH_LOG("write: %s", strerror(errno));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(4, write(fd, "end\n", 4));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE "more\nend\n");
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE "more\nend\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* on a top file too */
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "bar\n", 4));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "foo.txt", "foo\nbar\n");
}

TEST_F(wu, io_ftruncate)
{
	char p[PATH_MAX], buf[128], want[100];
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 5)) TH_LOG("ftruncate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(5, st.st_size);
	expect_content(_metadata, self->top, "hello.txt", "Hello");
	ASSERT_EQ(0, ftruncate(fd, 100));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(100, st.st_size);
	memset(want, 0, sizeof(want));
	memcpy(want, "Hello", 5);
	ASSERT_EQ(100, pread(fd, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(want, buf, 100));
	ASSERT_EQ(0, close(fd));
	expect_bin(_metadata, self->top, "hello.txt", (unsigned char *)want, 100);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_fallocate)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], buf[4096], zero[4096];
	struct stat st;
	int fd;

	memset(zero, 0, sizeof(zero));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, MIB)) TH_LOG("fallocate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_EQ((ssize_t)len, pread(fd, buf, len, 0));
	ASSERT_EQ(0, memcmp(HELLO_BASE, buf, len));
	ASSERT_EQ(4096, pread(fd, buf, 4096, MIB / 2));
	ASSERT_EQ(0, memcmp(zero, buf, 4096));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_LE(MIB, st.st_blocks * 512);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, io_fsync_fdatasync)
{
	char p[PATH_MAX];
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);		/* a lower file */
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fdatasync(fd)) TH_LOG("fdatasync: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "h", 1));
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fdatasync(fd)) TH_LOG("fdatasync: %s", strerror(errno));
	ASSERT_EQ(0, syncfs(fd)) TH_LOG("syncfs: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "hello.txt", "hello from the base branch\n");
	/* a directory */
	fd = open(self->mnt, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fsync(fd)) TH_LOG("fsync on a directory: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
}

TEST_F(wu, io_mmap_shared_write_msync)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], want[64];
	char *m;
	int fd;

	snprintf(want, sizeof(want), "%s", HELLO_BASE);
	memcpy(want, "HELLO", 5);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));
	memcpy(m, "HELLO", 5);
	ASSERT_EQ(0, msync(m, len, MS_SYNC)) TH_LOG("msync: %s", strerror(errno));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, close(fd));
	expect_content(_metadata, self->top, "hello.txt", want);
	expect_content(_metadata, self->mnt, "hello.txt", want);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/* res: flock EX|NB, F_GETLK type, F_GETLK pid == parent, F_SETLK overlap, F_SETLK elsewhere */
static void lock_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];
	struct flock fl;
	int fd;

	(void)n;
	pathf(p, "%s/hello.txt", self->mnt);
	fd = open(p, O_RDWR);
	if (fd < 0) {
		res[0] = -errno;
		return;
	}
	res[0] = ERR_OF(flock(fd, LOCK_EX | LOCK_NB));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 10;
	if (fcntl(fd, F_GETLK, &fl) == 0) {
		res[1] = fl.l_type;
		res[2] = fl.l_pid == getppid();
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 5;
	fl.l_len = 1;
	res[3] = ERR_OF(fcntl(fd, F_SETLK, &fl));
	fl.l_start = 20;
	fl.l_len = 10;
	res[4] = ERR_OF(fcntl(fd, F_SETLK, &fl));
	close(fd);
}

/* res[0]: flock EX|NB after the parent unlocked */
static void flock_child(FIXTURE_DATA(wu) *self, int *res, int n)
{
	char p[PATH_MAX];
	int fd;

	(void)n;
	pathf(p, "%s/hello.txt", self->mnt);
	fd = open(p, O_RDONLY);
	res[0] = fd < 0 ? -errno : ERR_OF(flock(fd, LOCK_EX | LOCK_NB));
	if (fd >= 0)
		close(fd);
}

TEST_F(wu, io_flock_and_fcntl_locks)
{
	char p[PATH_MAX];
	struct flock fl;
	int res[5], fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, flock(fd, LOCK_EX)) TH_LOG("flock: %s", strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 10;
	ASSERT_EQ(0, fcntl(fd, F_SETLK, &fl)) TH_LOG("F_SETLK: %s", strerror(errno));

	ASSERT_EQ(0, run_child(self, (uid_t)-1, 0, lock_child, res, 5));
	EXPECT_EQ(EWOULDBLOCK, res[0]) TH_LOG("flock in another process: %d", res[0]);
	EXPECT_EQ(F_WRLCK, res[1]) TH_LOG("F_GETLK type: %d", res[1]);
	EXPECT_EQ(1, res[2]) TH_LOG("F_GETLK pid is not the locker");
	EXPECT_TRUE(res[3] == EAGAIN || res[3] == EACCES) TH_LOG("conflicting F_SETLK: %d", res[3]);
	EXPECT_EQ(0, res[4]) TH_LOG("non-overlapping F_SETLK: %d", res[4]);

	ASSERT_EQ(0, flock(fd, LOCK_UN));
	ASSERT_EQ(0, run_child(self, (uid_t)-1, 0, flock_child, res, 1));
	EXPECT_EQ(0, res[0]) TH_LOG("flock after unlock: %d", res[0]);
	ASSERT_EQ(0, close(fd));
}

/*
 * An open file stays usable after its name is removed (the temporary-file
 * idiom): fstat (st_nlink 0), read, write, ftruncate, fchmod.  EXPECTs
 * only, so the descriptor is always closed.
 */
TEST_F(wu, io_unlinked_open_file_still_usable)
{
	char p[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;
	int fd, r, t, e;

	mount_seed(_metadata, self);
	/* a file on top only */
	at(_metadata, p, self->mnt, "foo.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, unlink(p));
	r = fstat(fd, &st);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fstat of an unlinked top file: %s", strerror(e));
	if (!r) {
		EXPECT_EQ(0, st.st_nlink);
		EXPECT_EQ(4, st.st_size);
	}
	n = pread(fd, buf, sizeof(buf), 0);
	EXPECT_EQ(4, n) TH_LOG("pread: %s", strerror(errno));
	EXPECT_EQ(3, pwrite(fd, "BAR", 3, 0)) TH_LOG("pwrite: %s", strerror(errno));
	t = ftruncate(fd, 2);
	e = errno;
	EXPECT_EQ(0, t) TH_LOG("ftruncate of an unlinked top file: %s", strerror(e));
	r = fchmod(fd, 0600);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fchmod of an unlinked top file: %s", strerror(e));
	n = pread(fd, buf, sizeof(buf), 0);
	EXPECT_EQ(t ? 4 : 2, n);
	EXPECT_EQ(0, memcmp("BA", buf, 2));
	EXPECT_EQ(0, close(fd));

	/* a file on the lower branch only */
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, unlink(p));
	r = fstat(fd, &st);
	e = errno;
	EXPECT_EQ(0, r) TH_LOG("fstat of an unlinked lower file: %s", strerror(e));
	if (!r) {
		EXPECT_EQ(0, st.st_nlink);
		EXPECT_EQ((off_t)strlen(HELLO_BASE), st.st_size);
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	EXPECT_EQ((ssize_t)strlen(HELLO_BASE), n) TH_LOG("pread: %s", strerror(errno));
	r = pwrite(fd, "J", 1, 0);
	e = errno;
	EXPECT_EQ(1, r) TH_LOG("first write to an unlinked lower file: %s", strerror(e));
	if (r == 1) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		EXPECT_EQ((ssize_t)strlen(HELLO_BASE), n);
		EXPECT_EQ(0, memcmp("Jello", buf, 5));
	}
	EXPECT_EQ(0, close(fd));
	/* neither name came back, the lower file is untouched */
	expect_absent(_metadata, self->mnt, "foo.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/*
 * O_DIRECT, as aufs 6.1's dio/nodio: with dio (the default) an O_DIRECT
 * open is what the branch filesystem makes of it; with nodio it is EINVAL,
 * for reading and for writing, before anything is copied up, and
 * fcntl(F_SETFL, O_DIRECT) is refused too.
 */
TEST_F(wu, odirect_only_with_dio)
{
	char p[PATH_MAX];
	int on_branch, fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->base, "hello.txt");
	on_branch = open_err(p, O_RDONLY | O_DIRECT, 0);
	at(_metadata, p, self->mnt, "hello.txt");
	EXPECT_EQ(on_branch, open_err(p, O_RDONLY | O_DIRECT, 0))
		TH_LOG("branch: %s", strerror(on_branch));
	EXPECT_EQ(0, exists(self->top, "hello.txt")) TH_LOG("an O_DIRECT read copied up");

	ASSERT_EQ(0, remount(self->mnt, 0, "nodio"));
	EXPECT_EQ(EINVAL, open_err(p, O_RDONLY | O_DIRECT, 0));
	EXPECT_EQ(EINVAL, open_err(p, O_WRONLY | O_DIRECT, 0));
	EXPECT_EQ(0, exists(self->top, "hello.txt")) TH_LOG("a refused open copied up");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, fcntl(fd, F_SETFL, O_DIRECT));
	EXPECT_EQ(EINVAL, errno);
	close(fd);

	ASSERT_EQ(0, remount(self->mnt, 0, "dio"));
	EXPECT_EQ(on_branch, open_err(p, O_RDONLY | O_DIRECT, 0))
		TH_LOG("branch: %s", strerror(on_branch));
}

/* ================================================================== */
/* 2. no writable branch: EROFS                                       */
/* ================================================================== */

/* No writable branch: every change is EROFS; reading still works. */
TEST_F(wu, misc_erofs_without_writable_branch)
{
	char p[PATH_MAX], q[PATH_MAX];
	int fd;

	mount2(_metadata, self, "ro", "ro");
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
	at(_metadata, p, self->mnt, "new");
	EXPECT_EQ(EROFS, open_err(p, O_WRONLY | O_CREAT, 0644));
	EXPECT_EQ(EROFS, ERR_OF(mkdir(p, 0755)));
	EXPECT_EQ(EROFS, ERR_OF(mknod(p, S_IFIFO | 0644, 0)));
	EXPECT_EQ(EROFS, ERR_OF(symlink("x", p)));
	at(_metadata, q, self->mnt, "foo.txt");
	EXPECT_EQ(EROFS, ERR_OF(link(q, p)));
	at(_metadata, p, self->mnt, "hello.txt");
	EXPECT_EQ(EROFS, ERR_OF(unlink(p)));
	at(_metadata, p, self->mnt, "common.txt");
	EXPECT_EQ(EROFS, ERR_OF(unlink(p)));
	EXPECT_EQ(EROFS, ERR_OF(rename(p, q)));
	at(_metadata, p, self->mnt, "hello.txt");
	EXPECT_EQ(EROFS, open_err(p, O_WRONLY | O_TRUNC, 0));
	EXPECT_EQ(EROFS, ERR_OF(truncate(p, 1)));
	EXPECT_EQ(EROFS, ERR_OF(chmod(p, 0600)));
	EXPECT_EQ(EROFS, ERR_OF(setxattr(p, "trusted.x", "v", 1, 0)));
	/* open for write may succeed (it does not copy up), the write may not */
	fd = open(p, O_WRONLY);
	if (fd < 0) {
		EXPECT_EQ(EROFS, errno);
	} else {
		EXPECT_EQ(-1, write(fd, "x", 1));
		EXPECT_EQ(EROFS, errno);
		close(fd);
	}
	expect_listing(_metadata, self->top, ".", "./../common.txt/foo.txt");
	expect_content(_metadata, self->top, "foo.txt", "foo\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
}

TEST_F(hd, open_for_write_without_writable_branch_is_erofs)
{
	char p[PATH_MAX];
	int fd;

	ASSERT_EQ(0, put_file(self->lower, "f", "x\n"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=ro:%s=ro", self->upper, self->lower));
	P(p, "%s/f", self->mnt);
	ASSERT_EQ(-1, open(p, O_WRONLY));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(-1, open(p, O_RDWR));
	ASSERT_EQ(EROFS, errno);
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_FALSE(exists(self->upper, "f"));
}

/* ================================================================== */
/* 3. freeze protection, syncfs, fsync of a directory                 */
/* ================================================================== */

TEST_F_TIMEOUT(hd, writes_wait_for_a_frozen_ext4_upper, 300)
{
	char img[PATH_MAX], ext[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	int fd, efd, dfd, status;
	pid_t w, c;

	if (sh(NULL, 0, "command -v mkfs.ext4 >/dev/null"))
		SKIP(return, "mkfs.ext4 not available");
	P(img, "%s/ext4.img", self->dir);
	P(ext, "%s/ext4", self->dir);
	ASSERT_EQ(0, mkdir(ext, 0755));
	ASSERT_EQ(0, sh(NULL, 0, "modprobe loop 2>/dev/null; truncate -s 64M %s && mkfs.ext4 -q -F %s && mount -o loop %s %s",
			img, img, img, ext));
	ASSERT_EQ(0, put_file(self->lower, "low", "low\n"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro", ext, self->lower));
	P(p, "%s/f", self->mnt);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	efd = open(ext, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, ioctl(efd, FIFREEZE, 0)) TH_LOG("FIFREEZE: %s", strerror(errno));
	w = fork();
	if (!w)
		_exit(write(fd, "frozen\n", 7) != 7);
	P(q, "%s/low", self->mnt);
	c = fork();
	if (!c) {
		int f = open(q, O_WRONLY);	/* a copy-up onto the frozen branch */

		_exit(f < 0 || write(f, "L", 1) != 1);
	}
	usleep(500 * 1000);
	ASSERT_EQ(0, waitpid(w, &status, WNOHANG)) TH_LOG("a write went through to a frozen branch");
	ASSERT_EQ(0, waitpid(c, &status, WNOHANG)) TH_LOG("a copy-up went through to a frozen branch");
	ASSERT_EQ(0, ioctl(efd, FITHAW, 0));
	ASSERT_EQ(w, waitpid(w, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_EQ(c, waitpid(c, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_EQ(0, syncfs(fd));
	close(fd);
	dfd = open(self->mnt, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, fsync(dfd)) TH_LOG("fsync(dirfd): %s", strerror(errno));
	/* freezing the union itself syncs and thaws */
	ASSERT_EQ(0, ioctl(dfd, FIFREEZE, 0)) TH_LOG("FIFREEZE aufs: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(dfd, FITHAW, 0));
	close(dfd);
	close(efd);
	ASSERT_STREQ("frozen\n", content(ext, "f"));
	ASSERT_STREQ("Low\n", content(ext, "low"));
	ASSERT_STREQ("low\n", content(self->lower, "low"));
	hd_umount(_metadata, self);
	ASSERT_EQ(0, umount2(ext, 0));
}

TEST_HARNESS_MAIN
