// SPDX-License-Identifier: GPL-2.0-only
/*
 * Copy-up is all or nothing, and what goes on around it is kept: a failed
 * copy-up (ENOSPC) leaves nothing, what was open or mapped before it keeps
 * working, an orphan is copied up after its directory went, one copy-up
 * does not block the mount's other operations, and mount points in a
 * directory that is copied up stay mounted.
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
/* 1. a failed copy-up leaves nothing                                 */
/* ================================================================== */

TEST_F_TIMEOUT(wu, cpup_enospc_is_atomic, 120)
{
	unsigned char *data = malloc(MIB);
	char p[PATH_MAX], before[4096];
	struct stat st;
	int fd;

	ASSERT_NE(NULL, data);
	if (!branches_on_tmpfs()) {
		free(data);
		SKIP(return, "needs a tiny tmpfs branch: the suite's tmpfs run has it");
	}
	/* top: a 64 KiB tmpfs that cannot hold the 1 MiB file */
	ASSERT_EQ(0, umount2(self->top, 0));
	self->u.br[0].mounted = 0;
	ASSERT_EQ(0, mount("aufs-wu", self->top, "tmpfs", 0, "size=64k,mode=0755"));
	self->u.br[0].mounted = 1;
	ASSERT_EQ(0, put_file(self->top, "foo.txt", "foo\n"));
	fill_pattern(data, MIB, 3);
	at(_metadata, p, self->base, "big");
	ASSERT_EQ(0, write_bin(p, data, MIB, 0644));
	mount_seed(_metadata, self);
	at(_metadata, p, self->top, ".");
	ASSERT_EQ(0, list_dir(p, before, sizeof(before)));
	ASSERT_STREQ("./../foo.txt", before);

	at(_metadata, p, self->mnt, "big");
	/* copy-up happens at open for write: that is where it fails */
	fd = open(p, O_WRONLY);
	ASSERT_EQ(-1, fd) TH_LOG("an open that needs 1 MiB on a 64 KiB branch succeeded");
	ASSERT_EQ(ENOSPC, errno) TH_LOG("open: %s", strerror(errno));
	expect_listing(_metadata, self->top, ".", before);

	/* other triggers fail the same way */
	ASSERT_EQ(-1, chmod(p, 0600));
	ASSERT_EQ(ENOSPC, errno) TH_LOG("chmod: %s", strerror(errno));
	ASSERT_EQ(-1, truncate(p, MIB / 2));
	ASSERT_EQ(ENOSPC, errno) TH_LOG("truncate: %s", strerror(errno));
	expect_listing(_metadata, self->top, ".", before);

	/* the union still shows the lower file, unchanged */
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(MIB, st.st_size);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	expect_bin(_metadata, self->mnt, "big", data, MIB);
	expect_bin(_metadata, self->base, "big", data, MIB);
	/* and the branch is usable: a small copy-up still works */
	overwrite(_metadata, self->mnt, "hello.txt", "small\n");
	expect_content(_metadata, self->top, "hello.txt", "small\n");
	free(data);
}

/* ================================================================== */
/* 2. what was open or mapped before the copy-up                      */
/* ================================================================== */

#define NEWC "new content\n"

TEST_F(wu, cpup_keeps_open_fd_and_mapping)
{
	const size_t len = strlen(HELLO_BASE);
	char p[PATH_MAX], buf[256];
	struct stat st;
	ssize_t n;
	void *m;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));

	overwrite(_metadata, self->mnt, "hello.txt", NEWC);	/* the copy-up */
	expect_content(_metadata, self->top, "hello.txt", NEWC);

	/* the old descriptor still reads: the old file or the new one, whole */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ASSERT_LT(0, n) TH_LOG("pread on the old fd: %s", strerror(errno));
	buf[n] = '\0';
	ASSERT_TRUE(!strcmp(buf, HELLO_BASE) || !strcmp(buf, NEWC))
		TH_LOG("old fd reads '%s'", buf);
	TH_LOG("note: the fd opened before the copy-up reads the %s file",
	       strcmp(buf, NEWC) ? "old (lower)" : "new (copied-up)");
	ASSERT_EQ(0, fstat(fd, &st));
	/* the mapping made before still shows the old bytes */
	ASSERT_EQ(0, memcmp(HELLO_BASE, m, len));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, close(fd));
	/* a new open reads the new content */
	expect_content(_metadata, self->mnt, "hello.txt", NEWC);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

/*
 * Copy-up at open for write, then a shared mapping of the copy.  The
 * mapping shows the union path in /proc/PID/maps and keeps the union
 * mount busy after the file is closed (defect 12).  fallocate and a write
 * that drops set-id bits reach the branch filesystem through the real
 * file, which finds its own dentry (xfs's fallocate uses file_dentry()).
 */
TEST_F(hd, copy_up_at_open_then_shared_mapping)
{
	char p[PATH_MAX], line[PATH_MAX + 256];
	int fd, found = 0;
	FILE *maps;
	struct stat st;
	char *m;

	ASSERT_EQ(0, put_file(self->lower, "f", "0123456789abcdef"));
	hd_mount(_metadata, self);
	P(p, "%s/f", self->mnt);
	fd = open(p, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_TRUE(exists(self->upper, "f")) TH_LOG("not copied up at open for write");
	m = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, fallocate(fd, 0, 0, 8192)) TH_LOG("fallocate: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(8192, st.st_size);
	ASSERT_EQ(0, ftruncate(fd, 16));
	ASSERT_EQ(0, close(fd));
	memcpy(m, "MAPPED", 6);
	ASSERT_EQ(0, msync(m, 16, MS_SYNC));
	maps = fopen("/proc/self/maps", "r");
	ASSERT_NE(NULL, maps);
	while (fgets(line, sizeof(line), maps))
		found |= strstr(line, p) != NULL;
	fclose(maps);
	ASSERT_TRUE(found) TH_LOG("/proc/self/maps does not show %s", p);
	ASSERT_EQ(-1, umount2(self->mnt, 0)) TH_LOG("a mapped union file must keep the mount busy");
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, munmap(m, 16));
	ASSERT_STREQ("MAPPED6789abcdef", content(self->upper, "f"));
	ASSERT_STREQ("MAPPED6789abcdef", content(self->mnt, "f"));
	ASSERT_STREQ("0123456789abcdef", content(self->lower, "f"));
}

/* An open file unlinked with its directory: still usable, even written. */
TEST_F(hd, orphan_copy_up_after_its_directory_went)
{
	char d[PATH_MAX], p[PATH_MAX], proc[64], buf[16] = "";
	struct stat st;
	int fd, wfd;

	ASSERT_EQ(0, make_dir(d, self->lower, "d"));
	ASSERT_EQ(0, put_file(d, "f", "lower\n"));
	hd_mount(_metadata, self);
	P(p, "%s/d/f", self->mnt);
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unlink(p));
	P(d, "%s/d", self->mnt);
	ASSERT_EQ(0, rmdir(d));
	ASSERT_EQ(0, fchmod(fd, 0600)) TH_LOG("fchmod of the orphan: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0600, st.st_mode & 07777);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wfd = open(proc, O_WRONLY);
	ASSERT_LE(0, wfd) TH_LOG("reopen the orphan for write: %s", strerror(errno));
	ASSERT_EQ(2, pwrite(wfd, "UP", 2, 0));
	close(wfd);
	ASSERT_EQ(6, pread(fd, buf, sizeof(buf) - 1, 0));
	ASSERT_STREQ("UPwer\n", buf);
	close(fd);
	ASSERT_STREQ("lower\n", content(self->lower, "d/f"));
	ASSERT_STREQ("", names_in(self->mnt, "."));
}

/* ================================================================== */
/* 3. one copy-up does not block the mount's namespace operations     */
/* ================================================================== */

#define CPUP_TMP_PREFIX ".wh..wh.cpup."	/* a copy-up in progress */

TEST_F_TIMEOUT(hd, copy_up_does_not_block_other_operations, 300)
{
	char big[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	static char chunk[1 << 20];
	int fd, i, seen = 0, status;
	pid_t pid;

	P(big, "%s/big", self->lower);
	memset(chunk, 'z', sizeof(chunk));
	fd = open(big, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	for (i = 0; i < 96; i++)
		ASSERT_EQ((ssize_t)sizeof(chunk), write(fd, chunk, sizeof(chunk)));
	close(fd);
	hd_mount(_metadata, self);
	P(p, "%s/big", self->mnt);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = open(p, O_WRONLY);	/* the copy-up */
		_exit(fd < 0);
	}
	for (i = 0; i < 20000 && !seen; i++) {
		seen = names_with_prefix(self->upper, CPUP_TMP_PREFIX) > 0;
		if (!seen)
			usleep(1000);
	}
	ASSERT_TRUE(seen) TH_LOG("no copy-up in progress was ever seen");
	/* while it runs: create, mkdir, unlink, rename elsewhere in the mount */
	P(q, "%s/new", self->mnt);
	ASSERT_EQ(0, write_file(q, "n\n"));
	P(q, "%s/dir", self->mnt);
	ASSERT_EQ(0, mkdir(q, 0755));
	P(q, "%s/new", self->mnt);
	ASSERT_EQ(0, unlink(q));
	ASSERT_LT(0, names_with_prefix(self->upper, CPUP_TMP_PREFIX))
		TH_LOG("the operations waited for the whole copy-up");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, names_with_prefix(self->upper, CPUP_TMP_PREFIX));
}

/* ================================================================== */
/* 4. a mount point in a directory that is copied up stays mounted    */
/* ================================================================== */

static int mounted_at(const char *path)
{
	char line[2 * PATH_MAX], target[PATH_MAX], esc[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	escape_path(path, esc, sizeof(esc));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", target) == 1 && !strcmp(target, esc))
			found = 1;
	fclose(f);
	return found;
}

/*
 * Containers bind-mount files (/etc/hosts...) into directories that live on
 * an image layer.  Copying such a directory up (a file created next to the
 * mount point) must not invalidate it, even while others look it up: a
 * revalidation that looked the directory up just before its copy-up ended
 * must neither take the copy for another directory (the dentry and every
 * mount below it would go) nor put back the info from before the copy-up.
 */
#define NMP 20
#define NLOOKERS 2

TEST_F_TIMEOUT(hd, mount_points_survive_copy_up_of_their_directories, 300)
{
	char d[PATH_MAX], src[PATH_MAX], mp[NMP][PATH_MAX], dir[NMP][PATH_MAX];
	struct stat st;
	int i, c, bad, lost = 0, status;
	pid_t pid[NLOOKERS];

	P(src, "%s/hosts.container", self->dir);
	ASSERT_EQ(0, write_file(src, "container\n"));
	for (i = 0; i < NMP; i++) {
		P(d, "%s/etc%d", self->lower, i);
		ASSERT_EQ(0, mkdir(d, 0755));
		ASSERT_EQ(0, put_file(d, "hosts", "image\n"));
	}
	hd_mount(_metadata, self);
	for (i = 0; i < NMP; i++) {
		P(mp[i], "%s/etc%d/hosts", self->mnt, i);
		P(dir[i], "%s/etc%d", self->mnt, i);
		ASSERT_EQ(0, mount(src, mp[i], NULL, MS_BIND, NULL)) TH_LOG("bind: %s", strerror(errno));
	}
	for (c = 0; c < NLOOKERS; c++) {
		pid[c] = fork();
		ASSERT_LE(0, pid[c]);
		if (!pid[c]) {
			/* look the mount points and their directories up all the time */
			for (;;)
				for (i = 0; i < NMP; i++) {
					stat(mp[i], &st);
					stat(dir[(i + c) % NMP], &st);
				}
		}
	}
	for (i = 0, bad = 0; i < NMP; i++)
		bad += put_file(dir[i], "new", "x\n") != 0;	/* copies etc<i> up */
	for (c = 0; c < NLOOKERS; c++) {
		kill(pid[c], SIGKILL);
		ASSERT_EQ(pid[c], waitpid(pid[c], &status, 0));
	}
	ASSERT_EQ(0, bad) TH_LOG("%d files could not be made next to a mount point", bad);
	for (i = 0; i < NMP; i++) {
		if (!mounted_at(mp[i]))
			lost++;
		else
			ASSERT_STREQ("container\n", content(self->mnt, mp[i] + strlen(self->mnt) + 1));
		umount2(mp[i], MNT_DETACH);
	}
	ASSERT_EQ(0, lost) TH_LOG("%d bind mounts went with the copy-up of their directory", lost);
	ASSERT_STREQ("image\n", content(self->mnt, "etc0/hosts"));
}

TEST_HARNESS_MAIN
