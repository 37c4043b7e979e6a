// SPDX-License-Identifier: GPL-2.0-only
/*
 * Copy-up through real syscalls: what triggers it (open for write,
 * O_TRUNC, truncate, chmod, chown, utimensat, setxattr, removexattr, link,
 * lchown), what it preserves (data, owner, times, xattrs, set-id bits, file
 * capabilities, sparseness, chattr flags, the parents' attributes, special
 * files, directories, a 1000-level deep tree), and which writable branch it
 * lands on (writable lower branches are changed in place).
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

#define DEEP 1000

/* ================================================================== */
/* 1. the seed scenarios                                              */
/* ================================================================== */

/* echo changed > mnt/common.txt */
TEST_F(wu, seed_echo_changed_to_common)
{
	mount_seed(_metadata, self);
	overwrite(_metadata, self->mnt, "common.txt", "changed\n");
	expect_content(_metadata, self->top, "common.txt", "changed\n");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	expect_content(_metadata, self->mnt, "common.txt", "changed\n");
}

/* echo "hello, world" > mnt/hello.txt: copied up to top, base untouched */
TEST_F(wu, seed_write_hello_copies_up)
{
	struct stat st;

	mount_seed(_metadata, self);
	expect_absent(_metadata, self->top, "hello.txt");
	overwrite(_metadata, self->mnt, "hello.txt", "hello, world\n");
	expect_content(_metadata, self->top, "hello.txt", "hello, world\n");
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", "hello, world\n");
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello.txt");
	/* no copy-up leftovers */
	ASSERT_EQ(0, names_with_prefix(self->top, ".wh..wh.cpup."));
	ASSERT_EQ(0, names_with_prefix(self->top, ".wh..wh.rmdir."));
}

/* ================================================================== */
/* 2. copy-up triggers and what copy-up preserves                     */
/* ================================================================== */

#define DATA "0123456789\n"

/*
 * Opening for write copies up (as overlayfs; aufs waited for the first
 * write, which made writes and mmap copy under their locks: README).
 * Opening for reading does not.
 */
TEST_F(wu, cpup_on_open_for_write)
{
	char p[PATH_MAX];
	struct stat st, top;
	int fd;

	ASSERT_EQ(0, put_file(self->base, "data.txt", DATA));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "data.txt");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	expect_absent(_metadata, self->top, "data.txt");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", DATA);
	expect_content(_metadata, self->mnt, "data.txt", DATA);
	ASSERT_EQ(2, write(fd, "AB", 2)) TH_LOG("write: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", "AB23456789\n");
	ASSERT_EQ(2, write(fd, "CD", 2));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "data.txt", &top);
	lstat_at(_metadata, self->mnt, "data.txt", &st);
	ASSERT_EQ(top.st_size, st.st_size);
	ASSERT_EQ(top.st_mtim.tv_sec, st.st_mtim.tv_sec);
	ASSERT_EQ(top.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	expect_content(_metadata, self->top, "data.txt", "ABCD456789\n");
	expect_content(_metadata, self->mnt, "data.txt", "ABCD456789\n");
	expect_content(_metadata, self->base, "data.txt", DATA);
}

TEST_F(wu, cpup_on_o_trunc_open)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	fd = open(p, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(0, st.st_size);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(0, st.st_size);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_truncate_shrink)
{
	unsigned char want[40];
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, put_file(self->base, "data.txt", DATA));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "data.txt");
	ASSERT_EQ(0, truncate(p, 4)) TH_LOG("truncate: %s", strerror(errno));
	expect_content(_metadata, self->top, "data.txt", "0123");
	expect_content(_metadata, self->mnt, "data.txt", "0123");
	lstat_at(_metadata, self->mnt, "data.txt", &st);
	ASSERT_EQ(4, st.st_size);
	expect_content(_metadata, self->base, "data.txt", DATA);
	/* and growing again: zeros after the kept part */
	ASSERT_EQ(0, truncate(p, 8));
	lstat_at(_metadata, self->top, "data.txt", &st);
	ASSERT_EQ(8, st.st_size);
	expect_bin(_metadata, self->mnt, "data.txt", (const unsigned char *)"0123\0\0\0\0", 8);
	/* a lower file truncated to a larger size: copied whole, then extended */
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, truncate(p, 40)) TH_LOG("truncate up: %s", strerror(errno));
	memset(want, 0, sizeof(want));
	memcpy(want, HELLO_BASE, strlen(HELLO_BASE));
	expect_bin(_metadata, self->top, "hello.txt", want, 40);
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_chmod)
{
	char p[PATH_MAX];
	struct stat before, st;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, stat(p, &before));
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0644, st.st_mode);
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	/* the union inode number survives the copy-up */
	ASSERT_EQ(before.st_ino, st.st_ino);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_chown)
{
	char p[PATH_MAX];
	struct stat st;

	chown_at(_metadata, self->base, "hello.txt", USER_ID, GROUP_ID);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, chown(p, 2000, 3000)) TH_LOG("chown: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(3000, st.st_gid);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(USER_ID, st.st_uid);
	ASSERT_EQ(GROUP_ID, st.st_gid);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(3000, st.st_gid);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_utimensat)
{
	struct timespec ts[2] = { { 1300000000, 5 }, { 1400000000, 6 } };
	char p[PATH_MAX];
	struct stat st;

	set_times(_metadata, self->base, "hello.txt", 1000000000, 1, 1100000000, 2);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, 0)) TH_LOG("utimensat: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &st);
	ASSERT_EQ(1300000000, st.st_atim.tv_sec);
	ASSERT_EQ(5, st.st_atim.tv_nsec);
	ASSERT_EQ(1400000000, st.st_mtim.tv_sec);
	ASSERT_EQ(6, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->mnt, "hello.txt", &st);
	ASSERT_EQ(1400000000, st.st_mtim.tv_sec);
	ASSERT_EQ(6, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(1000000000, st.st_atim.tv_sec);
	ASSERT_EQ(1100000000, st.st_mtim.tv_sec);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_setxattr_trusted)
{
	char p[PATH_MAX];

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, setxattr(p, "trusted.x", "v1", 2, 0)) TH_LOG("setxattr: %s", strerror(errno));
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.x", "v1");
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.x", "v1");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.x", NULL);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
	/* XATTR_CREATE on an existing name: EEXIST, as on any filesystem */
	ASSERT_EQ(-1, setxattr(p, "trusted.x", "v2", 2, XATTR_CREATE));
	ASSERT_EQ(EEXIST, errno);
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.x", "v1");
}

TEST_F(wu, cpup_on_removexattr)
{
	char p[PATH_MAX], list[1024];
	ssize_t n, i;
	int has_a = 0, has_b = 0;

	setx(_metadata, self->base, "hello.txt", "trusted.a", "1");
	setx(_metadata, self->base, "hello.txt", "trusted.b", "2");
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, removexattr(p, "trusted.a")) TH_LOG("removexattr: %s", strerror(errno));
	expect_present(_metadata, self->top, "hello.txt");
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.a", NULL);
	expect_xattr(_metadata, self->top, "hello.txt", "trusted.b", "2");
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.a", NULL);
	expect_xattr(_metadata, self->mnt, "hello.txt", "trusted.b", "2");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.a", "1");
	expect_xattr(_metadata, self->base, "hello.txt", "trusted.b", "2");
	n = listxattr(p, list, sizeof(list));
	ASSERT_LT(0, n) TH_LOG("listxattr: %s", strerror(errno));
	for (i = 0; i < n; i += strlen(list + i) + 1) {
		has_a |= !strcmp(list + i, "trusted.a");
		has_b |= !strcmp(list + i, "trusted.b");
	}
	ASSERT_EQ(0, has_a);
	ASSERT_EQ(1, has_b);
	/* removing what is not there */
	ASSERT_EQ(-1, removexattr(p, "trusted.a"));
	ASSERT_EQ(ENODATA, errno);
	expect_content(_metadata, self->top, "hello.txt", HELLO_BASE);
}

TEST_F(wu, cpup_on_link)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat a, b;

	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "hello.txt");
	at(_metadata, q, self->mnt, "hello-link");
	ASSERT_EQ(0, link(p, q)) TH_LOG("link: %s", strerror(errno));
	lstat_at(_metadata, self->top, "hello.txt", &a);
	lstat_at(_metadata, self->top, "hello-link", &b);
	ASSERT_EQ(a.st_ino, b.st_ino);
	ASSERT_EQ(2, a.st_nlink);
	lstat_at(_metadata, self->mnt, "hello.txt", &a);
	lstat_at(_metadata, self->mnt, "hello-link", &b);
	ASSERT_EQ(2, a.st_nlink);
	ASSERT_EQ(2, b.st_nlink);
	ASSERT_EQ(a.st_ino, b.st_ino);
	lstat_at(_metadata, self->base, "hello.txt", &a);
	ASSERT_EQ(1, a.st_nlink);
	expect_content(_metadata, self->mnt, "hello-link", HELLO_BASE);
	expect_content(_metadata, self->mnt, "hello.txt", HELLO_BASE);
	expect_listing(_metadata, self->mnt, ".", "./../common.txt/foo.txt/hello-link/hello.txt");
	/* a write through one name shows through the other */
	overwrite(_metadata, self->mnt, "hello-link", "via link\n");
	expect_content(_metadata, self->mnt, "hello.txt", "via link\n");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
	/* removing one name: the other stays, with one link */
	ASSERT_EQ(0, unlink(q));
	lstat_at(_metadata, self->mnt, "hello.txt", &a);
	ASSERT_EQ(1, a.st_nlink);
	expect_absent(_metadata, self->top, ".wh.hello-link");
	expect_content(_metadata, self->mnt, "hello.txt", "via link\n");
}

/*
 * Copy-up (here triggered by chmod) keeps data, uid/gid, atime/mtime to
 * the nanosecond and trusted.* xattrs (also an empty one).
 */
TEST_F(wu, cpup_preserves_data_owner_times_xattrs)
{
	const size_t len = 3 * 4096 + 123;
	unsigned char *data = malloc(len);
	char p[PATH_MAX];
	struct stat st, ust;

	ASSERT_NE(NULL, data);
	fill_pattern(data, len, 7);
	at(_metadata, p, self->base, "meta.bin");
	ASSERT_EQ(0, write_bin(p, data, len, 0644));
	chown_at(_metadata, self->base, "meta.bin", USER_ID, GROUP_ID);
	setx(_metadata, self->base, "meta.bin", "trusted.k", "value");
	ASSERT_EQ(0, lsetxattr(p, "trusted.empty", "", 0, 0));
	/* last, so nothing moves them: lower times fixed */
	set_times(_metadata, self->base, "meta.bin", 1000000000, 123456789, 1200000000, 987654321);
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "meta.bin");
	ASSERT_EQ(0, chmod(p, 0640)) TH_LOG("chmod: %s", strerror(errno));
	/* stat before any read (reading may update atime) */
	lstat_at(_metadata, self->top, "meta.bin", &st);
	lstat_at(_metadata, self->mnt, "meta.bin", &ust);
	EXPECT_EQ(S_IFREG | 0640, st.st_mode);
	EXPECT_EQ(USER_ID, st.st_uid);
	EXPECT_EQ(GROUP_ID, st.st_gid);
	EXPECT_EQ((off_t)len, st.st_size);
	EXPECT_EQ(1000000000, st.st_atim.tv_sec);
	EXPECT_EQ(123456789, st.st_atim.tv_nsec);
	EXPECT_EQ(1200000000, st.st_mtim.tv_sec);
	EXPECT_EQ(987654321, st.st_mtim.tv_nsec);
	EXPECT_EQ(USER_ID, ust.st_uid);
	EXPECT_EQ(GROUP_ID, ust.st_gid);
	EXPECT_EQ(1200000000, ust.st_mtim.tv_sec);
	EXPECT_EQ(987654321, ust.st_mtim.tv_nsec);
	expect_xattr(_metadata, self->top, "meta.bin", "trusted.k", "value");
	expect_xattr(_metadata, self->top, "meta.bin", "trusted.empty", "");
	expect_xattr(_metadata, self->mnt, "meta.bin", "trusted.k", "value");
	expect_bin(_metadata, self->top, "meta.bin", data, len);
	expect_bin(_metadata, self->mnt, "meta.bin", data, len);
	free(data);
}

/* Mode bits including set-id survive a copy-up (here by setxattr). */
TEST_F(wu, cpup_preserves_mode_with_setid_bits)
{
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, put_file(self->base, "sg", "setid\n"));
	chown_at(_metadata, self->base, "sg", USER_ID, GROUP_ID);
	chmod_at(_metadata, self->base, "sg", 06751);
	lstat_at(_metadata, self->base, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "sg");
	ASSERT_EQ(0, setxattr(p, "trusted.t", "1", 1, 0)) TH_LOG("setxattr: %s", strerror(errno));
	lstat_at(_metadata, self->top, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	ASSERT_EQ(USER_ID, st.st_uid);
	ASSERT_EQ(GROUP_ID, st.st_gid);
	lstat_at(_metadata, self->mnt, "sg", &st);
	ASSERT_EQ(S_IFREG | 06751, st.st_mode);
	expect_content(_metadata, self->top, "sg", "setid\n");
}

/* security.capability as setcap writes it: cap_net_raw+ep (revision 2). */
static const unsigned int net_raw_cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };

static int has_fcap(const char *dir, const char *rel)
{
	unsigned int v[5];
	char p[PATH_MAX];

	if (pathf(p, "%s/%s", dir, rel))
		return -1;
	if (getxattr(p, "security.capability", v, sizeof(v)) != sizeof(v))
		return errno == ENODATA ? 0 : -1;
	return !memcmp(v, net_raw_cap, sizeof(v));
}

/*
 * File capabilities (a copied-up ping must still work): copy-up keeps
 * security.capability; what removes them on a plain filesystem (chown,
 * write(2), truncate) removes them from the copy, never from the lower
 * file; chmod and utimes keep them.  Again after drop_caches and umount.
 */
TEST_F(wu, cpup_keeps_file_capabilities_until_the_vfs_drops_them)
{
	static const char *const f[] = { "chmod", "utimes", "open", "chown", "write", "truncate" };
	char p[PATH_MAX];
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ASSERT_EQ(0, put_file(self->base, f[i], "capable\n"));
		at(_metadata, p, self->base, f[i]);
		ASSERT_EQ(0, setxattr(p, "security.capability", net_raw_cap, sizeof(net_raw_cap), 0))
			TH_LOG("setxattr %s: %s", p, strerror(errno));
	}
	mount_seed(_metadata, self);
	chmod_at(_metadata, self->mnt, "chmod", 0755);
	set_times(_metadata, self->mnt, "utimes", 1000000000, 0, 1000000000, 0);
	at(_metadata, p, self->mnt, "open");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	close(fd);
	chown_at(_metadata, self->mnt, "chown", USER_ID, GROUP_ID);
	at(_metadata, p, self->mnt, "write");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "x", 1));
	close(fd);
	at(_metadata, p, self->mnt, "truncate");
	ASSERT_EQ(0, truncate(p, 3));
	for (int pass = 0; pass < 3; pass++) {
		if (pass == 1)
			ASSERT_EQ(0, write_file("/proc/sys/vm/drop_caches", "3"));
		if (pass == 2) {
			ASSERT_EQ(0, union_umount(&self->u));
			mount_seed(_metadata, self);
		}
		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			int kept = i < 3;

			EXPECT_EQ(kept, has_fcap(self->mnt, f[i])) TH_LOG("%s through the union (pass %d)", f[i], pass);
			EXPECT_EQ(kept, has_fcap(self->top, f[i])) TH_LOG("%s on the copy (pass %d)", f[i], pass);
			EXPECT_EQ(1, has_fcap(self->base, f[i])) TH_LOG("%s on the lower branch", f[i]);
		}
	}
}

/* A hole of 8 MiB stays a hole in the copy. */
TEST_F_TIMEOUT(wu, cpup_keeps_sparseness, 120)
{
	const off_t far = 8 * MIB;
	unsigned char a[4096], b[4096], got[4096];
	char p[PATH_MAX];
	struct stat st;
	int fd;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	at(_metadata, p, self->base, "sparse");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, a, 4096, 0));
	ASSERT_EQ(4096, pwrite(fd, b, 4096, far));
	ASSERT_EQ(0, close(fd));
	lstat_at(_metadata, self->base, "sparse", &st);
	ASSERT_EQ(far + 4096, st.st_size);
	ASSERT_GE(4 * 4096, st.st_blocks * 512) TH_LOG("the lower file is not sparse");
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "sparse");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "sparse", &st);
	ASSERT_EQ(far + 4096, st.st_size);
	ASSERT_GT(st.st_size / 8, st.st_blocks * 512)
		TH_LOG("copy is not sparse: %lld bytes allocated for %lld",
		       (long long)st.st_blocks * 512, (long long)st.st_size);
	at(_metadata, p, self->top, "sparse");
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pread(fd, got, 4096, 0));
	ASSERT_EQ(0, memcmp(a, got, 4096));
	ASSERT_EQ(4096, pread(fd, got, 4096, far));
	ASSERT_EQ(0, memcmp(b, got, 4096));
	memset(b, 0, sizeof(b));
	ASSERT_EQ(4096, pread(fd, got, 4096, far / 2));
	ASSERT_EQ(0, memcmp(b, got, 4096));
	ASSERT_EQ(0, close(fd));
}

/* Copy-up of data larger than one copy chunk, and of a trailing hole. */
TEST_F_TIMEOUT(wu, cpup_large_file_and_trailing_hole, 120)
{
	const size_t len = 5 * MIB / 2 + 777;
	unsigned char *data = malloc(len), *want;
	char p[PATH_MAX];
	struct stat st;
	int fd;

	ASSERT_NE(NULL, data);
	fill_pattern(data, len, 11);
	at(_metadata, p, self->base, "large");
	ASSERT_EQ(0, write_bin(p, data, len, 0644));
	at(_metadata, p, self->base, "tail");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, data, 4096, 0));
	ASSERT_EQ(0, ftruncate(fd, 4 * MIB));
	ASSERT_EQ(0, close(fd));
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "large");
	fd = open(p, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3, pwrite(fd, "END", 3, len - 3)) TH_LOG("pwrite: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	memcpy(data + len - 3, "END", 3);
	expect_bin(_metadata, self->top, "large", data, len);
	expect_bin(_metadata, self->mnt, "large", data, len);

	at(_metadata, p, self->mnt, "tail");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "tail", &st);
	ASSERT_EQ(4 * MIB, st.st_size);
	ASSERT_GT(MIB, st.st_blocks * 512) TH_LOG("the trailing hole was filled");
	want = calloc(1, 4 * MIB);
	ASSERT_NE(NULL, want);
	fill_pattern(want, 4096, 11);
	expect_bin(_metadata, self->top, "tail", want, 4 * MIB);
	free(want);
	free(data);
}

/* Missing parents are made top-down with the lower directories' attributes. */
TEST_F(wu, cpup_creates_parents_with_attributes)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "a", 0755);
	mkdir_at(_metadata, self->base, "a/b", 0755);
	ASSERT_EQ(0, put_file(self->base, "a/b/f", "deep\n"));
	ASSERT_EQ(0, put_file(self->base, "a/b/g", "sibling\n"));
	chmod_at(_metadata, self->base, "a", 0711);
	chmod_at(_metadata, self->base, "a/b", 0750);
	chown_at(_metadata, self->base, "a/b", USER_ID, GROUP_ID);
	set_times(_metadata, self->base, "a/b", 1100000000, 11, 1150000000, 15);
	set_times(_metadata, self->base, "a", 1000000000, 1, 1050000000, 5);
	mount_seed(_metadata, self);

	at(_metadata, p, self->mnt, "a/b/f");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod: %s", strerror(errno));

	/* stat first: listing a directory updates its atime */
	lstat_at(_metadata, self->top, "a", &st);
	EXPECT_EQ(S_IFDIR | 0711, st.st_mode);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(1000000000, st.st_atim.tv_sec);
	EXPECT_EQ(1, st.st_atim.tv_nsec);
	EXPECT_EQ(1050000000, st.st_mtim.tv_sec);
	EXPECT_EQ(5, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->top, "a/b", &st);
	EXPECT_EQ(S_IFDIR | 0750, st.st_mode);
	EXPECT_EQ(USER_ID, st.st_uid);
	EXPECT_EQ(GROUP_ID, st.st_gid);
	EXPECT_EQ(1100000000, st.st_atim.tv_sec);
	EXPECT_EQ(11, st.st_atim.tv_nsec);
	EXPECT_EQ(1150000000, st.st_mtim.tv_sec);
	EXPECT_EQ(15, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->mnt, "a/b", &st);
	EXPECT_EQ(S_IFDIR | 0750, st.st_mode);
	EXPECT_EQ(1150000000, st.st_mtim.tv_sec);
	EXPECT_EQ(15, st.st_mtim.tv_nsec);
	lstat_at(_metadata, self->top, "a/b/f", &st);
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);

	/* only the path to f was copied: the directories, not their other children */
	expect_listing(_metadata, self->top, "a", "./../b");
	expect_listing(_metadata, self->top, "a/b", "./../f");
	expect_listing(_metadata, self->mnt, "a/b", "./../f/g");
	expect_content(_metadata, self->top, "a/b/f", "deep\n");
	expect_content(_metadata, self->mnt, "a/b/g", "sibling\n");
}

/* lchown of a lower symlink copies the link itself up. */
TEST_F(wu, cpup_symlink_on_lchown)
{
	char p[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;

	at(_metadata, p, self->base, "lnk");
	ASSERT_EQ(0, symlink("hello.txt", p));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "lnk");
	ASSERT_EQ(0, lchown(p, 2000, 2001)) TH_LOG("lchown: %s", strerror(errno));
	lstat_at(_metadata, self->top, "lnk", &st);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ(2000, st.st_uid);
	ASSERT_EQ(2001, st.st_gid);
	at(_metadata, p, self->top, "lnk");
	n = readlink(p, buf, sizeof(buf) - 1);
	ASSERT_EQ(9, n);
	buf[n] = '\0';
	ASSERT_STREQ("hello.txt", buf);
	lstat_at(_metadata, self->base, "lnk", &st);
	ASSERT_EQ(0, st.st_uid);
	lstat_at(_metadata, self->mnt, "lnk", &st);
	ASSERT_EQ(2000, st.st_uid);
	expect_absent(_metadata, self->top, "hello.txt");	/* not the target */
	expect_content(_metadata, self->mnt, "lnk", HELLO_BASE);
}

/* chmod of a lower fifo and character device: copied up as what they are. */
TEST_F(wu, cpup_special_files_on_chmod)
{
	char p[PATH_MAX];
	struct stat st;

	at(_metadata, p, self->base, "fifo");
	ASSERT_EQ(0, mknod(p, S_IFIFO | 0644, 0));
	at(_metadata, p, self->base, "null");
	ASSERT_EQ(0, mknod(p, S_IFCHR | 0644, makedev(1, 3)));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "fifo");
	ASSERT_EQ(0, chmod(p, 0600)) TH_LOG("chmod fifo: %s", strerror(errno));
	lstat_at(_metadata, self->top, "fifo", &st);
	ASSERT_EQ(S_IFIFO | 0600, st.st_mode);
	at(_metadata, p, self->mnt, "null");
	ASSERT_EQ(0, chmod(p, 0666)) TH_LOG("chmod chardev: %s", strerror(errno));
	lstat_at(_metadata, self->top, "null", &st);
	ASSERT_EQ(S_IFCHR | 0666, st.st_mode);
	ASSERT_EQ(makedev(1, 3), st.st_rdev);
	lstat_at(_metadata, self->base, "null", &st);
	ASSERT_EQ(S_IFCHR | 0644, st.st_mode);
}

/* chmod of a lower directory: the directory alone is copied, still merged. */
TEST_F(wu, cpup_dir_on_chmod)
{
	char p[PATH_MAX];
	struct stat st;

	mkdir_at(_metadata, self->base, "ld", 0755);
	ASSERT_EQ(0, put_file(self->base, "ld/x", "x\n"));
	mount_seed(_metadata, self);
	at(_metadata, p, self->mnt, "ld");
	ASSERT_EQ(0, chmod(p, 0700)) TH_LOG("chmod: %s", strerror(errno));
	lstat_at(_metadata, self->top, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0700, st.st_mode);
	lstat_at(_metadata, self->mnt, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0700, st.st_mode);
	expect_listing(_metadata, self->top, "ld", "./..");
	expect_listing(_metadata, self->mnt, "ld", "./../x");
	expect_content(_metadata, self->mnt, "ld/x", "x\n");
	lstat_at(_metadata, self->base, "ld", &st);
	ASSERT_EQ(S_IFDIR | 0755, st.st_mode);
}

/* ================================================================== */
/* 3. chattr flags survive copy-up                                    */
/* ================================================================== */

TEST_F(hd, append_only_survives_copy_up)
{
	char lf[PATH_MAX], uf[PATH_MAX], p[PATH_MAX];
	int fd;

	P(lf, "%s/log", self->lower);
	P(uf, "%s/log", self->upper);
	ASSERT_EQ(0, write_file(lf, "first\n"));
	if (set_flags(lf, FS_APPEND_FL, 0))
		SKIP(return, "the lower filesystem has no chattr +a: %s", strerror(errno));
	hd_mount(_metadata, self);
	P(p, "%s/log", self->mnt);
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("append open: %s", strerror(errno));
	ASSERT_EQ(7, write(fd, "second\n", 7));
	close(fd);
	ASSERT_TRUE(get_flags(uf) & FS_APPEND_FL) TH_LOG("the copy lost append-only");
	ASSERT_TRUE(get_flags(p) & FS_APPEND_FL);
	ASSERT_EQ(-1, truncate(p, 0));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, unlink(p));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, open(p, O_WRONLY));
	ASSERT_EQ(EPERM, errno);
	ASSERT_STREQ("first\nsecond\n", content(self->mnt, "log"));
	ASSERT_STREQ("first\n", content(self->lower, "log"));
	set_flags(uf, 0, FS_APPEND_FL);
	set_flags(lf, 0, FS_APPEND_FL);
}

/*
 * The copy has the source's flags exactly: a flag the new file would
 * inherit from its directory on the upper branch (ext4 and xfs pass
 * nodump down to new files) is not the file's.
 */
TEST_F(hd, copy_up_has_exactly_the_source_flags)
{
	char ld[PATH_MAX], ud[PATH_MAX], p[PATH_MAX], uf[PATH_MAX];

	P(ld, "%s/d", self->lower);
	P(ud, "%s/d", self->upper);
	ASSERT_EQ(0, mkdir(ld, 0755));
	ASSERT_EQ(0, mkdir(ud, 0755));
	P(p, "%s/d/f", self->lower);
	ASSERT_EQ(0, write_file(p, "lower\n"));
	if (set_flags(ud, FS_NODUMP_FL, 0))
		SKIP(return, "the upper filesystem has no chattr +d: %s", strerror(errno));
	hd_mount(_metadata, self);
	P(p, "%s/d/f", self->mnt);
	ASSERT_EQ(0, get_flags(p) & FS_NODUMP_FL);
	ASSERT_EQ(0, write_file(p, "upper\n"));	/* copy-up */
	P(uf, "%s/d/f", self->upper);
	ASSERT_EQ(0, access(uf, F_OK));
	ASSERT_EQ(0, get_flags(uf) & FS_NODUMP_FL) TH_LOG("the copy inherited nodump");
	ASSERT_EQ(0, get_flags(p) & FS_NODUMP_FL);
	/* and a flag the source has is kept */
	P(p, "%s/d/g", self->lower);
	ASSERT_EQ(0, write_file(p, "g\n"));
	ASSERT_EQ(0, set_flags(p, FS_NOATIME_FL, 0));
	P(p, "%s/d/g", self->mnt);
	ASSERT_EQ(0, write_file(p, "g2\n"));
	P(uf, "%s/d/g", self->upper);
	ASSERT_EQ(FS_NOATIME_FL, get_flags(uf) & (FS_NOATIME_FL | FS_NODUMP_FL));
	set_flags(ud, 0, FS_NODUMP_FL);
}

/* ================================================================== */
/* 4. a lower tree 1000 levels deep                                   */
/* ================================================================== */

TEST_F_TIMEOUT(hd, deep_lower_tree_copy_up, 300)
{
	char p[PATH_MAX];
	int fd, dfd, i, n;
	size_t off;

	/* This one panics a kernel without the fix: skippable to test the rest. */
	if (getenv("AUFS_HD_NO_DEEP"))
		SKIP(return, "AUFS_HD_NO_DEEP is set");
	dfd = open(self->lower, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd);
	for (i = 0; i < DEEP; i++) {
		ASSERT_EQ(0, mkdirat(dfd, "d", 0755)) TH_LOG("level %d: %s", i, strerror(errno));
		fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		ASSERT_LE(0, fd);
		close(dfd);
		dfd = fd;
	}
	fd = openat(dfd, "f", O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "low\n", 4));
	close(fd);
	close(dfd);
	hd_mount(_metadata, self);
	off = snprintf(p, sizeof(p), "%s", self->mnt);
	for (i = 0; i < DEEP; i++)
		off += snprintf(p + off, sizeof(p) - off, "/d");
	ASSERT_LT(off + 3, sizeof(p));
	strcat(p, "/f");
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("open deep file for write: %s", strerror(errno));
	ASSERT_EQ(3, write(fd, "up\n", 3));
	ASSERT_EQ(0, close(fd));
	/* the whole chain is on the upper branch, the lower one untouched */
	dfd = open(self->upper, O_RDONLY | O_DIRECTORY);
	for (n = 0; n < DEEP && dfd >= 0; n++) {
		fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = fd;
	}
	ASSERT_LE(0, dfd) TH_LOG("upper chain ends at level %d", n);
	fd = openat(dfd, "f", O_RDONLY);
	close(dfd);
	ASSERT_LE(0, fd);
	{
		char buf[16] = "";

		ASSERT_EQ(7, read(fd, buf, sizeof(buf) - 1));
		ASSERT_STREQ("low\nup\n", buf);
	}
	close(fd);
	drop_caches("2");
	{
		char buf[16] = "";

		ASSERT_EQ(7, read_file(p, buf, sizeof(buf) - 1));
	}
}

/* ================================================================== */
/* 5. writable lower branches are changed in place                    */
/* ================================================================== */

TEST_F(wu, rw_lower_branch_changed_in_place)
{
	char p[PATH_MAX];
	struct stat st;

	mount2(_metadata, self, "rw", "rw");
	overwrite(_metadata, self->mnt, "hello.txt", "changed\n");
	expect_content(_metadata, self->base, "hello.txt", "changed\n");
	expect_absent(_metadata, self->top, "hello.txt");
	at(_metadata, p, self->mnt, "hello.txt");
	ASSERT_EQ(0, chmod(p, 0600));
	lstat_at(_metadata, self->base, "hello.txt", &st);
	ASSERT_EQ(S_IFREG | 0600, st.st_mode);
	expect_absent(_metadata, self->top, "hello.txt");
	/* a name on both: the top one changes */
	overwrite(_metadata, self->mnt, "common.txt", "c\n");
	expect_content(_metadata, self->top, "common.txt", "c\n");
	expect_content(_metadata, self->base, "common.txt", "base\n");
	/* unlink removes it from base; nothing below, so no whiteout */
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink: %s", strerror(errno));
	expect_absent(_metadata, self->base, "hello.txt");
	expect_absent(_metadata, self->top, ".wh.hello.txt");
	expect_absent(_metadata, self->mnt, "hello.txt");
}

/* top=rw, mid=rw, base=ro */
TEST_F(wu, rw_several_branches)
{
	mkdir_at(_metadata, self->mid, "md", 0755);
	ASSERT_EQ(0, put_file(self->mid, "m.txt", "mid\n"));
	mkdir_at(_metadata, self->base, "md", 0755);
	ASSERT_EQ(0, put_file(self->base, "md/f", "lower f\n"));
	mount3(_metadata, self, "rw", "rw", "ro");

	/* a file on mid (rw): in place */
	overwrite(_metadata, self->mnt, "m.txt", "M\n");
	expect_content(_metadata, self->mid, "m.txt", "M\n");
	expect_absent(_metadata, self->top, "m.txt");
	/* a base file whose parent is on mid (and not on top): copied to mid */
	overwrite(_metadata, self->mnt, "md/f", "F\n");
	expect_content(_metadata, self->mid, "md/f", "F\n");
	expect_absent(_metadata, self->top, "md");
	expect_content(_metadata, self->base, "md/f", "lower f\n");
	/* a new name in md: on mid, where md's topmost entry is */
	create_file(_metadata, self->mnt, "md/new", "n\n", 0644);
	expect_content(_metadata, self->mid, "md/new", "n\n");
	expect_absent(_metadata, self->top, "md");
	/* a new name in the root: on top */
	create_file(_metadata, self->mnt, "newroot", "r\n", 0644);
	expect_content(_metadata, self->top, "newroot", "r\n");
	expect_absent(_metadata, self->mid, "newroot");
	expect_listing(_metadata, self->mnt, "md", "./../f/new");
}

/*
 * cpup=tdp (the default), as aufs's au_wbr_copyup_tdp() has it: top-down
 * from the parent's topmost entry to just above the file, the first
 * writable branch on which the parent exists.  The root exists everywhere,
 * so a base file at the root goes to top.  cpup=bup (bottom-up from the
 * file, where the parent exists) takes it to mid.
 */
TEST_F(wu, rw_several_cpup_tdp_is_the_topmost_with_parent)
{
	mount3(_metadata, self, "rw", "rw", "ro");
	overwrite(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->top, "hello.txt", "H\n");
	expect_absent(_metadata, self->mid, "hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, rw_several_cpup_bup_is_the_nearest_with_parent)
{
	mount3(_metadata, self, "rw", "rw", "ro,cpup=bup");
	overwrite(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->mnt, "hello.txt", "H\n");
	expect_content(_metadata, self->mid, "hello.txt", "H\n");
	expect_absent(_metadata, self->top, "hello.txt");
	expect_content(_metadata, self->base, "hello.txt", HELLO_BASE);
}

TEST_F(wu, rw_several_cpup_target_skips_branch_without_parent)
{
	mkdir_at(_metadata, self->top, "only", 0755);
	mkdir_at(_metadata, self->base, "only", 0755);
	create_file(_metadata, self->base, "only/f", "b\n", 0644);
	mount3(_metadata, self, "rw", "rw", "ro");
	overwrite(_metadata, self->mnt, "only/f", "T\n");
	expect_content(_metadata, self->top, "only/f", "T\n");
	expect_absent(_metadata, self->mid, "only");
	expect_content(_metadata, self->base, "only/f", "b\n");
}

TEST_HARNESS_MAIN
