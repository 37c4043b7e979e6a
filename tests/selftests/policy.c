// SPDX-License-Identifier: GPL-2.0-only
/*
 * Write policies over several writable branches, as aufs has them: where
 * new files and directories land under each create= policy (tdp, rr, mfs,
 * mfsrr, pmfs, pmfsrr, tdmfs), checked on the branches themselves and
 * again after drop_caches and umount+mount; where a copy-up lands under
 * cpup=tdp/bup/bu; a full branch; remount changing the policies; statfs
 * with sum and nosum; /proc/mounts.
 *
 * The branches: three writable tmpfs of different sizes (b0 1 MiB, b1
 * 4 MiB, b2 2 MiB), mounted in the test's work directory, over a
 * read-only directory b3.
 */
#include "aufs_test.h"

#include <sys/mount.h>
#include <sys/statfs.h>

#include "kselftest_harness.h"

#define NBR 4
#define NRW 3

FIXTURE(pol) {
	char dir[PATH_MAX];
	char mnt[PATH_MAX];
	char b[NBR][PATH_MAX];
	int bmounted[NBR];
	struct au_union u;
};

static const char *const sizes[NRW] = { "size=1m", "size=4m", "size=2m" };

FIXTURE_SETUP(pol)
{
	int i;

	self->u = (struct au_union){
		.tag = "pol", .dir = self->dir, .mnt = self->mnt,
		.flags = AU_TMPFS_DIR, .tmpfs = "size=64m,mode=0755",
	};
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	for (i = 0; i < NBR; i++) {
		ASSERT_EQ(0, pathf(self->b[i], "%s/b%d", self->dir, i));
		ASSERT_EQ(0, mkdir(self->b[i], 0755));
		if (i < NRW) {
			ASSERT_EQ(0, mount("polbr", self->b[i], "tmpfs", 0, sizes[i]))
				TH_LOG("tmpfs %s: %s", sizes[i], strerror(errno));
			self->bmounted[i] = 1;
		}
	}
	ASSERT_EQ(0, put_file(self->b[3], "ro.txt", "read-only\n"));
	ASSERT_EQ(0, make_dir(NULL, self->b[3], "rd"));
	ASSERT_EQ(0, put_file(self->b[3], "rd/f", "lower f\n"));
}

FIXTURE_TEARDOWN(pol)
{
	int i;

	if (self->u.mounted && !union_umount(&self->u))
		self->u.mounted = 0;
	for (i = 0; i < NBR; i++)
		if (self->bmounted[i])
			umount2(self->b[i], MNT_DETACH);
	UNION_TEARDOWN(&self->u, 0);
}

static int pol_mount(FIXTURE_DATA(pol) *self, const char *opts)
{
	return union_mount(&self->u, 0, "br=%s=rw:%s=rw:%s=rw:%s=ro%s%s",
			   self->b[0], self->b[1], self->b[2], self->b[3],
			   *opts ? "," : "", opts);
}

/* Which branches hold <rel>: a bit per branch. */
static int where(FIXTURE_DATA(pol) *self, const char *rel)
{
	int i, m = 0;

	for (i = 0; i < NBR; i++)
		m |= exists(self->b[i], rel) ? 1 << i : 0;
	return m;
}

/* A new file <rel> in the union with its own name as content. */
static int mk(FIXTURE_DATA(pol) *self, const char *rel)
{
	return put_file(self->mnt, rel, rel);
}

/* The branch each of @n files <prefix><i> lands on, as digits. */
static void land(struct __test_metadata *_metadata, FIXTURE_DATA(pol) *self,
		 const char *prefix, int n, char *out)
{
	char rel[64];
	int i, w;

	for (i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "%s%d", prefix, i);
		ASSERT_EQ(0, mk(self, rel)) TH_LOG("create %s: %s", rel, strerror(errno));
		w = where(self, rel);
		ASSERT_TRUE(w == 1 || w == 2 || w == 4) TH_LOG("%s on branches %#x", rel, w);
		out[i] = '0' + (w == 1 ? 0 : w == 2 ? 1 : 2);
	}
	out[n] = 0;
}

/* After drop_caches and umount+mount with @opts: each <prefix><i> is where
 * @at says and reads back through the union. */
static void persists(struct __test_metadata *_metadata, FIXTURE_DATA(pol) *self,
		     const char *opts, const char *prefix, const char *at)
{
	char rel[64];
	int i, pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 0) {
			ASSERT_EQ(0, drop_caches("3"));
		} else {
			ASSERT_EQ(0, union_umount(&self->u));
			ASSERT_EQ(0, pol_mount(self, opts));
		}
		for (i = 0; at[i]; i++) {
			snprintf(rel, sizeof(rel), "%s%d", prefix, i);
			EXPECT_EQ(1 << (at[i] - '0'), where(self, rel)) TH_LOG("%s pass %d", rel, pass);
			EXPECT_STREQ(rel, content(self->mnt, rel));
		}
	}
}

/* Fill branch @i's tmpfs directly until it has no room. */
static void fill(struct __test_metadata *_metadata, FIXTURE_DATA(pol) *self, int i,
		 const char *name, const char *count)
{
	struct statfs sf;

	sh(NULL, 0, "dd if=/dev/zero of=%s/%s bs=64k %s 2>/dev/null", self->b[i], name, count);
	ASSERT_EQ(0, statfs(self->b[i], &sf));
	TH_LOG("b%d: %llu bytes free", i, (unsigned long long)sf.f_bavail * sf.f_bsize);
}

TEST_F(pol, tdp_puts_everything_on_the_top_branch)
{
	char at[8];

	ASSERT_EQ(0, pol_mount(self, ""));
	land(_metadata, self, "f", 4, at);
	EXPECT_STREQ("0000", at);
	ASSERT_EQ(0, make_dir(NULL, self->mnt, "d"));
	EXPECT_EQ(1, where(self, "d"));
	/* in a directory only on the read-only branch: the directory is
	 * copied up to the nearest writable branch above it (aufs's tdp) */
	ASSERT_EQ(0, mk(self, "rd/new"));
	EXPECT_EQ(4, where(self, "rd/new"));
	EXPECT_EQ(4 | 8, where(self, "rd"));
	persists(_metadata, self, "", "f", at);
}

TEST_F(pol, rr_alternates_and_mkdir_does_not_move_it)
{
	char at[8], g[8], line[4096];

	ASSERT_EQ(0, pol_mount(self, "create=rr"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",create=rr")) TH_LOG("%s", line);
	/* aufs's counter: from the lowest writable branch upwards, round */
	land(_metadata, self, "f", 7, at);
	EXPECT_STREQ("2102102", at);
	/* new directories go where the next file would, all of them */
	ASSERT_EQ(0, make_dir(NULL, self->mnt, "d0"));
	ASSERT_EQ(0, make_dir(NULL, self->mnt, "d1"));
	ASSERT_EQ(0, make_dir(NULL, self->mnt, "d2"));
	EXPECT_EQ(2, where(self, "d0"));
	EXPECT_EQ(2, where(self, "d1"));
	EXPECT_EQ(2, where(self, "d2"));
	land(_metadata, self, "g", 2, g);
	EXPECT_STREQ("10", g);
	persists(_metadata, self, "create=rr", "f", at);
}

TEST_F(pol, mfs_picks_the_emptiest_and_follows_a_change_after_its_interval)
{
	char at[8], line[4096], p[PATH_MAX];

	/* an hour: what was seen first stands */
	ASSERT_EQ(0, pol_mount(self, "create=mfs:3600"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",create=mfs:3600")) TH_LOG("%s", line);
	land(_metadata, self, "a", 1, at);
	EXPECT_STREQ("1", at);			/* b1: 4 MiB */
	fill(_metadata, self, 1, "fill", "count=56");	/* 3.5 MiB: 0.5 left */
	land(_metadata, self, "b", 1, at);
	EXPECT_STREQ("1", at) TH_LOG("within the interval: the free space seen before");
	/* a remount with 2 s: asked afresh, then again after 2 s */
	ASSERT_EQ(0, remount(self->mnt, 0, "create=mfs:2"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",create=mfs:2")) TH_LOG("%s", line);
	land(_metadata, self, "c", 2, at);
	EXPECT_STREQ("22", at);			/* b2: 2 MiB now the most */
	ASSERT_EQ(0, make_dir(NULL, self->mnt, "d"));
	EXPECT_EQ(4, where(self, "d"));
	ASSERT_EQ(0, pathf(p, "%s/fill", self->b[1]));
	ASSERT_EQ(0, unlink(p));
	sleep(3);
	land(_metadata, self, "e", 1, at);
	EXPECT_STREQ("1", at) TH_LOG("b1 emptied: seen after the interval");
	persists(_metadata, self, "create=mfs:2", "c", "22");
}

TEST_F(pol, mfsrr_low_threshold)
{
	char at[8];

	/* every branch has less than 8 MiB: round robin */
	ASSERT_EQ(0, pol_mount(self, "create=mfsrr:8m:0"));
	land(_metadata, self, "r", 3, at);
	EXPECT_STREQ("210", at);
	ASSERT_EQ(0, union_umount(&self->u));
	/* b1 has more than 1 MiB: most free space */
	ASSERT_EQ(0, pol_mount(self, "create=mfsrr:1m:0"));
	land(_metadata, self, "m", 3, at);
	EXPECT_STREQ("111", at);
}

TEST_F(pol, pmfs_and_pmfsrr_stay_where_the_parent_is)
{
	char at[8];

	/* p on b0 (1 MiB) and b2 (2 MiB), not on b1 (4 MiB) */
	ASSERT_EQ(0, make_dir(NULL, self->b[0], "p"));
	ASSERT_EQ(0, make_dir(NULL, self->b[2], "p"));
	ASSERT_EQ(0, pol_mount(self, "create=pmfs:0"));
	land(_metadata, self, "p/f", 2, at);
	EXPECT_STREQ("22", at);
	/* a directory only on b0: tdp */
	ASSERT_EQ(0, make_dir(NULL, self->b[0], "q"));
	land(_metadata, self, "q/f", 1, at);
	EXPECT_STREQ("0", at);
	ASSERT_EQ(0, union_umount(&self->u));
	/* b2 has less than 3 MiB: round robin among p's writable branches */
	ASSERT_EQ(0, pol_mount(self, "create=pmfsrr:3m:0"));
	land(_metadata, self, "p/g", 4, at);
	EXPECT_STREQ("2020", at);
	EXPECT_EQ(0, where(self, "p") & 2) TH_LOG("never onto b1, where p is not");
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(0, pol_mount(self, "create=pmfsrr:1m:0"));
	land(_metadata, self, "p/h", 2, at);
	EXPECT_STREQ("22", at);
}

TEST_F(pol, tdmfs_skips_a_full_branch_and_tdp_gets_enospc)
{
	char at[8];

	ASSERT_EQ(0, pol_mount(self, "create=tdmfs:256k:0"));
	land(_metadata, self, "a", 1, at);
	EXPECT_STREQ("0", at);			/* b0 has 1 MiB > 256 KiB */
	fill(_metadata, self, 0, "fill", "");
	land(_metadata, self, "b", 2, at);
	EXPECT_STREQ("11", at);			/* the first with more than LOW */
	ASSERT_EQ(0, union_umount(&self->u));

	/* tdp onto the full branch: a copy-up fails with ENOSPC, leaves nothing */
	ASSERT_EQ(0, sh(NULL, 0, "dd if=/dev/urandom of=%s/big bs=64k count=4 2>/dev/null", self->b[3]));
	ASSERT_EQ(0, pol_mount(self, ""));
	EXPECT_NE(0, sh(NULL, 0, "echo x >> %s/big", self->mnt));
	EXPECT_EQ(8, where(self, "big")) TH_LOG("no copy on b0");
	EXPECT_EQ(0, names_with_prefix(self->b[0], ".wh..wh.cpup")) TH_LOG("no temporary copy left");
	EXPECT_EQ(0, sh(NULL, 0, "cmp -s %s/big %s/big", self->mnt, self->b[3]));
	/* a new file in the union: its data has no room either */
	EXPECT_NE(0, sh(NULL, 0, "dd if=/dev/zero of=%s/nf bs=64k count=4 2>/dev/null", self->mnt));
}

/* chmod a file of the read-only branch under @cpup: the branch it lands on */
static int cpup_to(FIXTURE_DATA(pol) *self,
		   const char *cpup, const char *rel)
{
	char p[PATH_MAX];
	int w;

	if (pol_mount(self, cpup))
		return -1;
	if (pathf(p, "%s/%s", self->mnt, rel) || chmod(p, 0600))
		return -1;
	w = where(self, rel) & 7;
	if (union_umount(&self->u))
		return -1;
	return w;
}

TEST_F(pol, cpup_tdp_bup_bu)
{
	char line[4096];

	/* rd on b3 (ro) and on b0 and b1: tdp takes the topmost (b0), bup
	 * the nearest above the file where rd is (b1), bu the nearest above
	 * (b2) only if rd were there: it is not, so b1, as bup */
	ASSERT_EQ(0, make_dir(NULL, self->b[0], "rd"));
	ASSERT_EQ(0, make_dir(NULL, self->b[1], "rd"));
	EXPECT_EQ(1, cpup_to(self, "", "rd/f"));
	ASSERT_EQ(0, sh(NULL, 0, "rm -f %s/rd/f %s/rd/f", self->b[0], self->b[1]));
	EXPECT_EQ(2, cpup_to(self, "cpup=bup", "rd/f"));
	ASSERT_EQ(0, sh(NULL, 0, "rm -f %s/rd/f %s/rd/f", self->b[0], self->b[1]));
	EXPECT_EQ(2, cpup_to(self, "cpup=bu", "rd/f"));
	/* at the root (on every branch): tdp b0, bup and bu b2 */
	EXPECT_EQ(1, cpup_to(self, "cpup=tdp", "ro.txt"));
	ASSERT_EQ(0, unlink(strcat(strcpy(line, self->b[0]), "/ro.txt")));
	EXPECT_EQ(4, cpup_to(self, "cpup=bup", "ro.txt"));
	ASSERT_EQ(0, unlink(strcat(strcpy(line, self->b[2]), "/ro.txt")));
	EXPECT_EQ(4, cpup_to(self, "cpup=bu", "ro.txt"));
	/* /proc/mounts shows it */
	ASSERT_EQ(0, pol_mount(self, "cpup=bu"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",cpup=bu")) TH_LOG("%s", line);
}

TEST_F(pol, remount_changes_the_policies)
{
	char at[8], line[4096];
	char p[PATH_MAX];

	ASSERT_EQ(0, pol_mount(self, ""));
	land(_metadata, self, "t", 2, at);
	EXPECT_STREQ("00", at);
	ASSERT_EQ(0, remount(self->mnt, 0, "create=rr,cpup=bup"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",create=rr")) TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, ",cpup=bup")) TH_LOG("%s", line);
	land(_metadata, self, "r", 3, at);
	EXPECT_STREQ("210", at);
	ASSERT_EQ(0, pathf(p, "%s/ro.txt", self->mnt));
	ASSERT_EQ(0, chmod(p, 0600));
	EXPECT_EQ(4 | 8, where(self, "ro.txt"));
	ASSERT_EQ(0, remount(self->mnt, 0, "create=tdp,cpup=tdp"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_EQ(NULL, strstr(line, "create=")) TH_LOG("%s", line);
	EXPECT_EQ(NULL, strstr(line, "cpup=")) TH_LOG("%s", line);
	land(_metadata, self, "u", 2, at);
	EXPECT_STREQ("00", at);
}

static unsigned long long bytes(const struct statfs *s, unsigned long long n)
{
	return n * (unsigned long long)s->f_bsize;
}

TEST_F(pol, statfs_sum_and_nosum)
{
	struct statfs u, b[NBR];
	unsigned long long blocks = 0, files = 0;
	char line[4096], b4[PATH_MAX];
	int i;

	for (i = 0; i < NBR; i++) {
		ASSERT_EQ(0, statfs(self->b[i], &b[i]));
		blocks += bytes(&b[i], b[i].f_blocks);
		files += b[i].f_files;
	}
	/* nosum: the first branch's */
	ASSERT_EQ(0, pol_mount(self, ""));
	ASSERT_EQ(0, statfs(self->mnt, &u));
	EXPECT_EQ(0x61756673, u.f_type);
	EXPECT_EQ(bytes(&b[0], b[0].f_blocks), bytes(&u, u.f_blocks));
	EXPECT_EQ(b[0].f_files, u.f_files);
	ASSERT_EQ(0, union_umount(&self->u));
	/* sum: each filesystem once */
	ASSERT_EQ(0, pol_mount(self, "sum"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",sum")) TH_LOG("%s", line);
	ASSERT_EQ(0, statfs(self->mnt, &u));
	EXPECT_EQ(0x61756673, u.f_type);
	EXPECT_EQ(blocks, bytes(&u, u.f_blocks));
	EXPECT_EQ(files, u.f_files);
	ASSERT_EQ(0, union_umount(&self->u));
	/* a fifth branch on b3's filesystem adds nothing */
	ASSERT_EQ(0, pathf(b4, "%s/b4", self->dir));
	ASSERT_EQ(0, mkdir(b4, 0755));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=rw:%s=rw:%s=ro:%s=ro,sum",
				 self->b[0], self->b[1], self->b[2], self->b[3], b4));
	ASSERT_EQ(0, statfs(self->mnt, &u));
	EXPECT_EQ(blocks, bytes(&u, u.f_blocks));
	EXPECT_EQ(files, u.f_files);
	/* remount nosum: the first branch's again */
	ASSERT_EQ(0, remount(self->mnt, 0, "nosum"));
	ASSERT_EQ(0, statfs(self->mnt, &u));
	EXPECT_EQ(bytes(&b[0], b[0].f_blocks), bytes(&u, u.f_blocks));
}

TEST_HARNESS_MAIN
