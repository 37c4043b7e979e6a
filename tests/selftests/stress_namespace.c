// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency on the namespace: a mixed workload on the same few names.
 * Fixture st: fixture_st.h.
 *
 *   mixed_namespace_workload
 *       NWORKERS processes doing random open/write (copy-up), read, stat,
 *       readdir, rename, unlink, link, mkdir, rmdir, directory rename,
 *       chmod and truncate, and one "copier" doing chmod/truncate/pwrite
 *       (copy-up triggers) and rename/unlink, for MIXED_SECONDS, on the
 *       names {,D0/,D1/,D2/,D3/,D0/sub/}{f0,f1,f2,f3} and D0..D3.
 *       Allowed errnos: ENOENT, EEXIST, ENOTEMPTY, EXDEV, EBUSY (what the
 *       races can legitimately give); anything else (EIO, ESTALE, EINVAL,
 *       ENOMEM, ENOTDIR, EISDIR, ...) fails, as does a failed read/write on
 *       an open file, or a ".wh." name in a readdir.  Afterwards:
 *         - the lower branch is unchanged (every attribute and byte);
 *         - in every union directory, readdir and lstat agree (each listed
 *           name exists with the listed type, each name that exists is
 *           listed, no duplicates, no .wh. names);
 *         - the upper branch holds no name together with its whiteout and
 *           no leftover copy-up temporary;
 *         - the union tree (names, types, modes, sizes, contents; inode
 *           numbers and link counts separately) is the same after
 *           drop_caches=2, and after umount + mount.
 *
 * Nothing may hang: each test has a harness timeout, and the parent gives
 * the workers their time plus HANG_GRACE seconds before it reports them.
 * The suite's kernel-clean check afterwards catches WARN/BUG/lockdep.
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_st.h"

static const char *const FILES[] = { "f0", "f1", "f2", "f3" };
static const char *const DIRS[] = { "", "D0/", "D1/", "D2/", "D3/", "D0/sub/" };
static const char *const TOPDIRS[] = { "D0", "D1", "D2", "D3" };
#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

static void a_file(const char *mnt, uint64_t *x, char *out)
{
	pathf(out, "%s/%s%s", mnt, DIRS[rnd(x) % NELEM(DIRS)], FILES[rnd(x) % NELEM(FILES)]);
}

static void a_dir(const char *mnt, uint64_t *x, char *out)
{
	int i = rnd(x) % (NELEM(TOPDIRS) + 1);

	if (i == NELEM(TOPDIRS))
		pathf(out, "%s/D0/sub", mnt);
	else
		pathf(out, "%s/%s", mnt, TOPDIRS[i]);
}

static void do_write(struct shared *s, int id, const char *p, int flags, uint64_t *x)
{
	char rec[64];
	int fd = open(p, flags, 0644), n;

	if (!tally(s, id, flags & O_APPEND ? OP_WRITE : OP_PWRITE, fd, errno, p, NULL))
		return;
	n = snprintf(rec, sizeof(rec), "w%d %llu\n", id, (unsigned long long)(rnd(x) % 100000));
	if ((flags & O_APPEND ? write(fd, rec, n) : pwrite(fd, rec, n, rnd(x) % 2048)) != n)
		bad(s, id, "write to %s: %s", p, strerror(errno));
	close(fd);
}

static void do_read(struct shared *s, int id, const char *p)
{
	char buf[4096];
	int fd = open(p, O_RDONLY), n;

	if (!tally(s, id, OP_READ, fd, errno, p, NULL))
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		bad(s, id, "read of %s: %s", p, strerror(errno));
	close(fd);
}

static void do_readdir(struct shared *s, int id, const char *p)
{
	DIR *d = opendir(p);
	struct dirent *de;

	if (!tally(s, id, OP_READDIR, d ? 0 : -1, errno, p, NULL))
		return;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!strncmp(de->d_name, ".wh.", 4))
			bad(s, id, "readdir of %s shows %s", p, de->d_name);
	}
	if (errno)
		bad(s, id, "readdir of %s: %s", p, strerror(errno));
	closedir(d);
}

static void worker(FIXTURE_DATA(st) *self, struct shared *s, int id, double until)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (id + 1);
	char a[PATH_MAX], b[PATH_MAX];
	struct stat st;
	unsigned long it;

	for (it = 0; it < 1000000 && (it % 16 || now() < until); it++) {
		unsigned int k = rnd(&x) % 100;
		int r;

		if (k < 18) {
			a_file(self->mnt, &x, a);
			do_write(s, id, a, O_WRONLY | O_APPEND | (rnd(&x) & 1 ? O_CREAT : 0), &x);
		} else if (k < 26) {
			a_file(self->mnt, &x, a);
			do_read(s, id, a);
		} else if (k < 34) {
			if (rnd(&x) & 1)
				a_file(self->mnt, &x, a);
			else
				a_dir(self->mnt, &x, a);
			r = lstat(a, &st);
			tally(s, id, OP_STAT, r, errno, a, NULL);
		} else if (k < 44) {
			if (rnd(&x) % 3 == 0)
				pathf(a, "%s", self->mnt);
			else
				a_dir(self->mnt, &x, a);
			do_readdir(s, id, a);
		} else if (k < 56) {
			a_file(self->mnt, &x, a);
			a_file(self->mnt, &x, b);
			r = rename(a, b);
			tally(s, id, OP_RENAME, r, errno, a, b);
		} else if (k < 64) {
			a_file(self->mnt, &x, a);
			r = unlink(a);
			tally(s, id, OP_UNLINK, r, errno, a, NULL);
		} else if (k < 71) {
			a_file(self->mnt, &x, a);
			a_file(self->mnt, &x, b);
			r = link(a, b);
			tally(s, id, OP_LINK, r, errno, a, b);
		} else if (k < 77) {
			a_dir(self->mnt, &x, a);
			r = mkdir(a, 0755);
			tally(s, id, OP_MKDIR, r, errno, a, NULL);
		} else if (k < 83) {
			a_dir(self->mnt, &x, a);
			r = rmdir(a);
			tally(s, id, OP_RMDIR, r, errno, a, NULL);
		} else if (k < 88) {
			pathf(a, "%s/%s", self->mnt, TOPDIRS[rnd(&x) % NELEM(TOPDIRS)]);
			pathf(b, "%s/%s", self->mnt, TOPDIRS[rnd(&x) % NELEM(TOPDIRS)]);
			r = rename(a, b);
			tally(s, id, OP_RENAME_DIR, r, errno, a, b);
		} else if (k < 94) {
			a_file(self->mnt, &x, a);
			r = chmod(a, (rnd(&x) & 1) ? 0644 : 0600);
			tally(s, id, OP_CHMOD, r, errno, a, NULL);
		} else {
			a_file(self->mnt, &x, a);
			r = truncate(a, rnd(&x) % 3000);
			tally(s, id, OP_TRUNCATE, r, errno, a, NULL);
		}
	}
	_exit(0);
}

/* The copier: copy-up triggers and renames/unlinks on the same names. */
static void copier(FIXTURE_DATA(st) *self, struct shared *s, int id, double until)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;
	char a[PATH_MAX], b[PATH_MAX];
	unsigned long it;

	for (it = 0; it < 1000000 && (it % 16 || now() < until); it++) {
		unsigned int k = rnd(&x) % 5;
		int r;

		a_file(self->mnt, &x, a);
		switch (k) {
		case 0:
			r = chmod(a, (rnd(&x) & 1) ? 0640 : 0604);
			tally(s, id, OP_CHMOD, r, errno, a, NULL);
			break;
		case 1:
			r = truncate(a, rnd(&x) % 4096);
			tally(s, id, OP_TRUNCATE, r, errno, a, NULL);
			break;
		case 2:
			do_write(s, id, a, O_WRONLY, &x);
			break;
		case 3:
			a_file(self->mnt, &x, b);
			r = rename(a, b);
			tally(s, id, OP_RENAME, r, errno, a, b);
			break;
		default:
			r = unlink(a);
			tally(s, id, OP_UNLINK, r, errno, a, NULL);
			break;
		}
	}
	_exit(0);
}

/* ---- the final checks ---- */

static int dtype_of(mode_t m)
{
	return S_ISREG(m) ? DT_REG : S_ISDIR(m) ? DT_DIR : S_ISLNK(m) ? DT_LNK :
	       S_ISFIFO(m) ? DT_FIFO : S_ISCHR(m) ? DT_CHR : S_ISBLK(m) ? DT_BLK : DT_SOCK;
}

/*
 * In the union directory rel (and below): readdir and lstat agree.
 * Returns the number of problems (logged).
 */
static int check_dir(const char *mnt, const char *rel)
{
	static const char *const probe[] = {
		"f0", "f1", "f2", "f3", "D0", "D1", "D2", "D3", "sub", "l0", "app", "reg",
	};
	char path[PATH_MAX], sub[PATH_MAX], names[256][NAME_MAX + 1];
	int n = 0, i, j, problems = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	pathf(path, "%s%s%s", mnt, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "# opendir %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (i = 0; i < n; i++) {
			if (!strcmp(names[i], de->d_name)) {
				fprintf(stderr, "# %s: %s listed twice\n", path, de->d_name);
				problems++;
			}
		}
		if (n < 256)
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
		if (!strncmp(de->d_name, ".wh.", 4)) {
			fprintf(stderr, "# %s: whiteout-like name %s listed\n", path, de->d_name);
			problems++;
		}
		pathf(sub, "%s/%s", path, de->d_name);
		if (lstat(sub, &st)) {
			fprintf(stderr, "# %s listed but lstat: %s\n", sub, strerror(errno));
			problems++;
			continue;
		}
		if (de->d_type != DT_UNKNOWN && de->d_type != dtype_of(st.st_mode)) {
			fprintf(stderr, "# %s: d_type %d, lstat mode 0%o\n", sub, de->d_type, st.st_mode);
			problems++;
		}
		if (S_ISDIR(st.st_mode)) {
			char r2[PATH_MAX];

			pathf(r2, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
			problems += check_dir(mnt, r2);
		}
	}
	if (errno) {
		fprintf(stderr, "# readdir %s: %s\n", path, strerror(errno));
		problems++;
	}
	closedir(d);
	/* every name that lstat finds is listed */
	for (i = 0; i < NELEM(probe); i++) {
		int listed = 0;

		for (j = 0; j < n; j++)
			listed |= !strcmp(names[j], probe[i]);
		pathf(sub, "%s/%s", path, probe[i]);
		if (!lstat(sub, &st) && !listed) {
			fprintf(stderr, "# %s exists (mode 0%o) but readdir does not list it\n", sub,
				st.st_mode);
			problems++;
		}
	}
	return problems;
}

/* The upper branch: no name next to its own whiteout, no copy-up temporary. */
static int check_upper(const char *top, const char *rel)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int problems = 0;
	DIR *d;

	pathf(path, "%s%s%s", top, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		pathf(sub, "%s/%s", path, de->d_name);
		if (!strcmp(de->d_name, CPUP_TMP)) {
			fprintf(stderr, "# leftover copy-up temporary %s\n", sub);
			problems++;
		} else if (!strncmp(de->d_name, ".wh.", 4) && strncmp(de->d_name, ".wh..wh.", 8)) {
			pathf(sub, "%s/%s", path, de->d_name + 4);
			if (!lstat(sub, &st)) {
				fprintf(stderr, "# %s and its whiteout %s/%s both exist\n", sub, path,
					de->d_name);
				problems++;
			}
		} else if (!lstat(sub, &st) && S_ISDIR(st.st_mode)) {
			char r2[PATH_MAX];

			pathf(r2, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
			problems += check_upper(top, r2);
		}
	}
	closedir(d);
	return problems;
}

TEST_F_TIMEOUT(st, mixed_namespace_workload, 400)
{
	struct shared *s = sh_map();
	struct manifest lower0, lower1, lower2, m1, m1i, m1n, m2, m2i, m3, m3n;
	pid_t pids[NWORKERS + 1];
	char why[1024];
	double until;
	int i, failed;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, manifest_make(&lower0, self->lower, MANIFEST_ALL));
	until = now() + MIXED_SECONDS;
	for (i = 0; i <= NWORKERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			if (i == NWORKERS)
				copier(self, s, i, until);
			worker(self, s, i, until);
		}
	}
	failed = wait_children(pids, NWORKERS + 1, MIXED_SECONDS + HANG_GRACE, why, sizeof(why));
	TH_LOG("%d workers and a copier for %d s; outcomes per operation:", NWORKERS, MIXED_SECONDS);
	report(s);
	EXPECT_EQ(0, failed) TH_LOG("processes:%s", why);
	EXPECT_EQ(0, s->bad_total) TH_LOG("unexpected results (see UNEXPECTED above)");

	/* the lower branch */
	ASSERT_EQ(0, manifest_make(&lower1, self->lower, MANIFEST_ALL));
	EXPECT_EQ(0, manifest_diff(&lower0, &lower1, "lower branch changed (- before, + after)", 40));

	/* readdir == lstat everywhere; the upper branch is tidy */
	EXPECT_EQ(0, check_dir(self->mnt, ""));
	EXPECT_EQ(0, check_upper(self->upper, ""));

	/* the same tree after dropping dentries and inodes, and after a remount */
	ASSERT_EQ(0, manifest_make(&m1, self->mnt, 0)) TH_LOG("%s: %s", m1.errpath, strerror(m1.err));
	ASSERT_EQ(0, manifest_make(&m1i, self->mnt, MANIFEST_INO | MANIFEST_NLINK));
	ASSERT_EQ(0, manifest_make(&m1n, self->mnt, MANIFEST_NLINK));
	log_text("union tree after the workload", "");
	for (i = 0; i < (int)m1.n && i < 80; i++)
		fprintf(stderr, "#   %s\n", m1.lines[i]);
	ASSERT_EQ(0, drop_caches("2"));
	ASSERT_EQ(0, manifest_make(&m2, self->mnt, 0)) TH_LOG("%s: %s", m2.errpath, strerror(m2.err));
	ASSERT_EQ(0, manifest_make(&m2i, self->mnt, MANIFEST_INO | MANIFEST_NLINK));
	EXPECT_EQ(0, manifest_diff(&m1, &m2, "union tree changed by drop_caches=2 (- before, + after)", 40));
	/*
	 * Inode numbers survive dropping the caches.  (A directory whose
	 * cached union inode had been moved onto another directory of the
	 * same branch, by a revalidation racing with a rename onto its name,
	 * changed its number here.)  On a difference the branches' own
	 * numbers are printed, to tell which union number is stale.
	 */
	i = manifest_diff(&m1i, &m2i,
			  "inode numbers / link counts changed by drop_caches=2 (- before, + after)", 40);
	EXPECT_EQ(0, i) TH_LOG("union inode numbers changed across drop_caches");
	if (i) {
		struct manifest br;

		if (!manifest_make(&br, self->upper, MANIFEST_INO | MANIFEST_NLINK)) {
			for (i = 0; i < (int)br.n; i++)
				fprintf(stderr, "#   upper: %s\n", br.lines[i]);
			manifest_free(&br);
		}
		if (!manifest_make(&br, self->lower, MANIFEST_INO | MANIFEST_NLINK)) {
			for (i = 0; i < (int)br.n; i++)
				fprintf(stderr, "#   lower: %s\n", br.lines[i]);
			manifest_free(&br);
		}
	}
	EXPECT_EQ(0, check_dir(self->mnt, ""));

	ASSERT_EQ(0, union_umount(&self->u)) TH_LOG("umount: %s", strerror(errno));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, self->u.data)) TH_LOG("mount again: %s", strerror(errno));
	self->u.mounted = 1;
	ASSERT_EQ(0, manifest_make(&m3, self->mnt, 0)) TH_LOG("%s: %s", m3.errpath, strerror(m3.err));
	ASSERT_EQ(0, manifest_make(&m3n, self->mnt, MANIFEST_NLINK));
	EXPECT_EQ(0, manifest_diff(&m1, &m3, "union tree changed by umount + mount (- before, + after)", 40));
	EXPECT_EQ(0, manifest_diff(&m1n, &m3n, "link counts changed by umount + mount (- before, + after)", 40));
	EXPECT_EQ(0, check_dir(self->mnt, ""));
	ASSERT_EQ(0, manifest_make(&lower2, self->lower, MANIFEST_ALL));
	EXPECT_EQ(0, manifest_diff(&lower0, &lower2, "lower branch changed by the remount", 40));

	manifest_free(&lower0);
	manifest_free(&lower1);
	manifest_free(&lower2);
	manifest_free(&m1);
	manifest_free(&m1i);
	manifest_free(&m1n);
	manifest_free(&m2);
	manifest_free(&m2i);
	manifest_free(&m3);
	manifest_free(&m3n);
	munmap(s, sizeof(*s));
}

/* ---- remounts under load ---- */

TEST_HARNESS_MAIN
