// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency around copy-up: racing copy-ups, and copy-ups under memory pressure.
 * Fixture st: fixture_st.h.
 *
 *   concurrent_copy_up_keeps_every_write
 *       NPROC processes open the same lower files for writing before any of
 *       them is copied up, then write: records appended with O_APPEND to one
 *       file, each its own 4 KiB region (pwrite) of another.  However the
 *       copy-ups race, every successful write must be in the final file
 *       exactly once, in each process's order, after the lower content.
 *
 *   copy_ups_under_memory_pressure_never_block
 *       A process in a 10 MiB memory cgroup mounts a union, looks up
 *       thousands of files and copies them up, so memory reclaim evicts
 *       union inodes while the union allocates: with a lock the eviction
 *       takes too (the inode number table's), that would wait for itself.
 *       Three rounds, each on a new union (the table's growth, where the
 *       allocation under that lock is, is what needs reclaim).  Reported
 *       as a stall, as above.  Tmpfs branches only: an ext4 or xfs
 *       branch's metadata would be charged too (and a kill by the OOM
 *       killer fail the kernel check); skipped on a KASAN kernel (make
 *       test-debug), whose objects are larger and stay charged while in
 *       its quarantine: the 10 MiB cgroup runs out there too.
 *
 * Nothing may hang: each test has a harness timeout, and the parent gives
 * the workers their time plus HANG_GRACE seconds before it reports them.
 * The suite's kernel-clean check afterwards catches WARN/BUG/lockdep.
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_st.h"

static void cpup_child(FIXTURE_DATA(st) *self, struct shared *s, int id)
{
	char app[PATH_MAX], reg[PATH_MAX], rec[32], buf[REGION];
	int fa, fr, i;

	pathf(app, "%s/app", self->mnt);
	pathf(reg, "%s/reg", self->mnt);
	/* odd processes start a little later: some open after a copy-up */
	if (id & 1)
		usleep(id * 2000);
	fa = open(app, O_WRONLY | O_APPEND);
	fr = open(reg, O_WRONLY);
	if (fa < 0 || fr < 0) {
		bad(s, id, "open: %s", strerror(errno));
		_exit(1);
	}
	for (i = 0; i < NRECORDS; i++) {
		int n = snprintf(rec, sizeof(rec), "p%02d r%05d\n", id, i);

		if (write(fa, rec, n) != n) {
			bad(s, id, "append %d: %s", i, strerror(errno));
			_exit(1);
		}
		s->appended[id] = i + 1;
		if (i % 25 == 0) {
			/* a new descriptor now and then, opened after the copy-up */
			close(fa);
			fa = open(app, O_WRONLY | O_APPEND);
			if (fa < 0) {
				bad(s, id, "reopen: %s", strerror(errno));
				_exit(1);
			}
		}
		if (i % 10 == 0) {
			memset(buf, 'a' + id, sizeof(buf));
			snprintf(buf, sizeof(buf), "process %d pass %d", id, i);
			if (pwrite(fr, buf, REGION, (off_t)id * REGION) != REGION) {
				bad(s, id, "pwrite %d: %s", i, strerror(errno));
				_exit(1);
			}
			s->regions_done[id] = i + 1;
		}
	}
	close(fa);
	close(fr);
	_exit(0);
}

TEST_F_TIMEOUT(st, concurrent_copy_up_keeps_every_write, 300)
{
	struct shared *s = sh_map();
	pid_t pids[NPROC];
	char p[PATH_MAX], why[1024], lower_app[1024];
	static char buf[1 << 20];
	int next[NPROC] = { 0 };
	ssize_t n, lower_len;
	struct manifest before, after;
	int i, failed;
	char *q, *end;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, manifest_make(&before, self->lower, MANIFEST_ALL));
	ASSERT_EQ(0, pathf(p, "%s/app", self->lower));
	lower_len = read_file(p, lower_app, sizeof(lower_app));
	ASSERT_EQ(1000, lower_len);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0)
			cpup_child(self, s, i);
	}
	failed = wait_children(pids, NPROC, 200, why, sizeof(why));
	report(s);
	EXPECT_EQ(0, failed) TH_LOG("processes:%s", why);
	EXPECT_EQ(0, s->bad_total);

	/* app: the lower content, then every record once, in each process's order */
	ASSERT_EQ(0, pathf(p, "%s/app", self->mnt));
	n = read_file(p, buf, sizeof(buf));
	ASSERT_LE(lower_len, n);
	EXPECT_EQ(0, memcmp(buf, lower_app, lower_len)) TH_LOG("the lower content is not at the start");
	q = buf + lower_len;
	end = buf + n;
	while (q < end) {
		int id, r;
		char *nl = memchr(q, '\n', end - q);

		ASSERT_NE(NULL, nl) TH_LOG("torn record at offset %zd", q - buf);
		*nl = '\0';
		ASSERT_EQ(2, sscanf(q, "p%d r%d", &id, &r)) TH_LOG("garbage at offset %zd: '%.40s'", q - buf, q);
		ASSERT_TRUE(id >= 0 && id < NPROC);
		EXPECT_EQ(next[id], r) TH_LOG("process %d: record %d where %d was due (lost or repeated write)",
					      id, r, next[id]);
		next[id] = r + 1;
		q = nl + 1;
	}
	failed = 0;
	for (i = 0; i < NPROC; i++) {
		if (s->appended[i] != next[i]) {
			TH_LOG("process %d appended %d records, %d are in the file", i,
			       s->appended[i], next[i]);
			failed++;
		}
	}
	EXPECT_EQ(0, failed);

	/* reg: each region holds its process's last pass */
	ASSERT_EQ(0, pathf(p, "%s/reg", self->mnt));
	n = read_file(p, buf, sizeof(buf));
	ASSERT_EQ(NPROC * REGION, n);
	for (i = 0; i < NPROC; i++) {
		char want[64];

		snprintf(want, sizeof(want), "process %d pass %d", i, s->regions_done[i] - 1);
		EXPECT_STREQ(want, buf + i * REGION) TH_LOG("region %d", i);
		EXPECT_EQ('a' + i, buf[(i + 1) * REGION - 1]);
	}

	ASSERT_EQ(0, manifest_make(&after, self->lower, MANIFEST_ALL));
	EXPECT_EQ(0, manifest_diff(&before, &after, "lower branch changed", 40));
	manifest_free(&before);
	manifest_free(&after);
	munmap(s, sizeof(*s));
}

#define PRESSURE_FILES	6000
#define PRESSURE_ROUNDS	3	/* each on a new union: its inode number table grows anew */
#define PRESSURE_CG	"/sys/fs/cgroup/aufs-test-pressure"
#define PRESSURE_MAX	"10M"

/* Is the kernel built with KASAN (its quarantine holds freed objects, still charged)? */
static int kernel_has_kasan(void)
{
	char line[256];
	FILE *f = fopen("/proc/kallsyms", "r");
	int yes = 0;

	if (!f)
		return 0;
	while (!yes && fgets(line, sizeof(line), f))
		yes = strstr(line, " kasan_report\n") != NULL;
	fclose(f);
	return yes;
}

/* The memory cgroup PRESSURE_CG, limited to @max: 0, or 1 (no cgroup2 memory controller). */
static int pressure_cgroup(const char *max)
{
	char p[PATH_MAX];
	struct statfs sf;

	if (statfs("/sys/fs/cgroup", &sf) || sf.f_type != 0x63677270 /* CGROUP2 */) {
		if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL))
			return 1;
	}
	if (write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory") && errno != EBUSY)
		return 1;
	if (mkdir(PRESSURE_CG, 0755) && errno != EEXIST)
		return 1;
	pathf(p, "%s/memory.max", PRESSURE_CG);
	return write_file(p, max) ? 1 : 0;
}

/*
 * One round, in the cgroup: a new union over a new upper directory @up, every
 * name of many/ looked up, then copied up; the union unmounted and the copies
 * removed from @up (their memory is the cgroup's, and reclaim cannot take it).
 * 0, or the step that failed.  Counts every operation in @done.
 */
static int pressure_round(const char *up, const char *lower, const char *mnt,
			  volatile unsigned long *done)
{
	char q[PATH_MAX], data[3 * PATH_MAX];
	struct stat s;
	int i, step;

	if (mkdir(up, 0755) || dataf(data, "br=%s=rw:%s=ro", up, lower) ||
	    aufs_mount(mnt, 0, data))
		return 10;
	for (step = 0; step < 2; step++)
		for (i = 0; i < PRESSURE_FILES; i++) {
			pathf(q, "%s/many/f%05d", mnt, i);
			if (step ? chmod(q, 0600 | (i & 044)) : stat(q, &s))
				return 11 + step;
			done[0]++;
		}
	if (umount2(mnt, 0))
		return 13;
	for (i = 0; i < PRESSURE_FILES; i++) {
		pathf(q, "%s/many/f%05d", up, i);
		if (unlink(q))
			return 14;
		done[0]++;
	}
	pathf(q, "%s/many", up);
	return rmdir(q) || rmdir(up) ? 15 : 0;
}

TEST_F_TIMEOUT(st, copy_ups_under_memory_pressure_never_block, 600)
{
	volatile unsigned long *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char p[PATH_MAX], mnt[PATH_MAX], where[256];
	unsigned long last = 0;
	double seen, t;
	int i, st_, stuck = 0;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, done);
	if (!branches_on_tmpfs())
		SKIP(return, "tmpfs branches only: another filesystem's metadata is charged too");
	if (kernel_has_kasan())
		SKIP(return, "KASAN: freed objects wait in its quarantine, charged to the cgroup");
	if (pressure_cgroup(PRESSURE_MAX))
		SKIP(return, "no cgroup2 memory controller");
	/* empty files: nothing but inodes and dentries (the parent's memory) */
	ASSERT_EQ(0, make_dir(p, self->lower, "many"));
	for (i = 0; i < PRESSURE_FILES; i++) {
		ASSERT_EQ(0, pathf(p, "%s/many/f%05d", self->lower, i));
		ASSERT_EQ(0, write_file(p, ""));
	}
	ASSERT_EQ(0, make_dir(mnt, self->dir, "pmnt"));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char q[PATH_MAX], me[32];
		int round, err;

		snprintf(me, sizeof(me), "%d", getpid());
		pathf(q, "%s/cgroup.procs", PRESSURE_CG);
		if (write_file(q, me))
			_exit(2);
		for (round = 0; round < PRESSURE_ROUNDS; round++) {
			pathf(q, "%s/pup%d", self->dir, round);
			err = pressure_round(q, self->lower, mnt, done);
			if (err)
				_exit(err);
		}
		_exit(0);
	}
	seen = now();
	for (;;) {
		if (waitpid(pid, &st_, WNOHANG) == pid) {
			EXPECT_TRUE(WIFEXITED(st_) && !WEXITSTATUS(st_)) TH_LOG("status %d", st_);
			break;
		}
		t = now();
		if (done[0] != last) {
			last = done[0];
			seen = t;
		} else if (t - seen > STALL_SECONDS) {
			proc_where(pid, where, sizeof(where));
			TH_LOG("no progress for %.0f s after %lu operations: %s", t - seen, last, where);
			stuck = 1;
			self->wedged = 1;
			break;
		}
		usleep(200000);
	}
	ASSERT_EQ(0, stuck) TH_LOG("a deadlock under memory pressure");
	last = done[0];
	TH_LOG("%lu lookups, copy-ups and removals in a cgroup of %s", last, PRESSURE_MAX);
	EXPECT_EQ(PRESSURE_ROUNDS * 3 * PRESSURE_FILES, (int)last);
	umount2(mnt, MNT_DETACH);
	rmdir(PRESSURE_CG);
}

TEST_HARNESS_MAIN
