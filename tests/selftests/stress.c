// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency: several processes on one union (rw tmpfs over a ro tmpfs
 * holding files, hard links, a symlink and directories; plain directories
 * instead of the tmpfs mounts when $AUFS_TEST_DIR is on another
 * filesystem), all on the same few names, for a bounded time.
 *
 *   concurrent_copy_up_keeps_every_write
 *       NPROC processes open the same lower files for writing before any of
 *       them is copied up, then write: records appended with O_APPEND to one
 *       file, each its own 4 KiB region (pwrite) of another.  However the
 *       copy-ups race, every successful write must be in the final file
 *       exactly once, in each process's order, after the lower content.
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
 *   remounts_under_load_never_block
 *       A remount loop (options toggled, a branch appended and deleted)
 *       while other processes chown, write and truncate files that carry
 *       file capabilities (so the VFS strips them from inside the union's
 *       own setattr and write), set and remove xattrs, look names up,
 *       list and read, drop the caches, and open a file that only the
 *       branch the loop deletes holds, for LOAD_SECONDS.  The parent
 *       watches each process's progress: one that made none for
 *       STALL_SECONDS while in uninterruptible sleep is a deadlock
 *       (reported with its /proc wchan), as is one still running after
 *       the load.  Every operation must succeed, but the delete of a
 *       branch with a file open on it (EBUSY) and the open of that file
 *       while its branch is gone (ENOENT); a delete that succeeds while
 *       the file is open on that branch is a failure.
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

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "kselftest_harness.h"

#define NPROC 6			/* copy-up test */
#define NRECORDS 150		/* appends per process */
#define REGION 4096
#define NWORKERS 4		/* mixed test, plus one copier */
#define MIXED_SECONDS 30
#define HANG_GRACE 60
#define MAX_BAD 24
#define CPUP_TMP ".wh..wh.cpup.tmp"

FIXTURE(st) {
	char dir[PATH_MAX];
	char upper[PATH_MAX];
	char lower[PATH_MAX];
	char mnt[PATH_MAX];
	char data[MOUNT_DATA_MAX];
	int mounted;
	int br_mounted[2];
	int wedged;		/* processes stuck in the union: leave it alone */
};

static void populate(struct __test_metadata *_metadata, FIXTURE_DATA(st) *self)
{
	char a[PATH_MAX], b[PATH_MAX];
	char buf[8192];
	int i;

	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = 'a' + i % 26;
	ASSERT_EQ(0, write_file_mode((pathf(a, "%s/f0", self->lower), a), buf, 3000, 0644));
	ASSERT_EQ(0, write_file_mode((pathf(a, "%s/f1", self->lower), a), buf + 1, 5000, 0640));
	ASSERT_EQ(0, put_file(self->lower, "f2", "f2 on the lower branch\n"));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "D0"));
	ASSERT_EQ(0, put_file(self->lower, "D0/f0", "D0/f0\n"));
	ASSERT_EQ(0, put_file(self->lower, "D0/f1", "D0/f1\n"));
	ASSERT_EQ(0, put_file(self->lower, "D0/f2", "D0/f2\n"));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "D0/sub"));
	ASSERT_EQ(0, put_file(self->lower, "D0/sub/f0", "D0/sub/f0\n"));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "D1"));
	/* hard links: f0 == D1/f0, D0/f2 == D1/f3 */
	ASSERT_EQ(0, pathf(a, "%s/f0", self->lower));
	ASSERT_EQ(0, pathf(b, "%s/D1/f0", self->lower));
	ASSERT_EQ(0, link(a, b));
	ASSERT_EQ(0, pathf(a, "%s/D0/f2", self->lower));
	ASSERT_EQ(0, pathf(b, "%s/D1/f3", self->lower));
	ASSERT_EQ(0, link(a, b));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "D2"));
	ASSERT_EQ(0, pathf(a, "%s/l0", self->lower));
	ASSERT_EQ(0, symlink("f0", a));
	/* for the copy-up test */
	ASSERT_EQ(0, write_file_mode((pathf(a, "%s/app", self->lower), a), buf, 1000, 0644));
	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = 'L';
	ASSERT_EQ(0, pathf(a, "%s/reg", self->lower));
	{
		int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		ASSERT_LE(0, fd);
		for (i = 0; i < NPROC; i++)
			ASSERT_EQ(REGION, write(fd, buf, REGION));
		close(fd);
	}
}

FIXTURE_SETUP(st)
{
	umask(0);
	ASSERT_EQ(0, make_workdir(self->dir, "st"));
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, make_dir(self->upper, self->dir, "upper"));
	ASSERT_EQ(0, make_dir(self->lower, self->dir, "lower"));
	ASSERT_EQ(0, make_dir(self->mnt, self->dir, "mnt"));
	if (branches_on_tmpfs()) {
		ASSERT_EQ(0, mount("aufs-st", self->upper, "tmpfs", 0, "size=128m,mode=0755"));
		self->br_mounted[0] = 1;
		ASSERT_EQ(0, mount("aufs-st", self->lower, "tmpfs", 0, "size=64m,mode=0755"));
		self->br_mounted[1] = 1;
	}
	populate(_metadata, self);
	ASSERT_EQ(0, dataf(self->data, "br=%s=rw:%s=ro", self->upper, self->lower));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, self->data))
		TH_LOG("mount -o %s: %s", self->data, strerror(errno));
	self->mounted = 1;
}

FIXTURE_TEARDOWN(st)
{
	const char *br[2] = { self->upper, self->lower };
	int i;

	if (self->wedged) {
		/* Unmounting or emptying it would block behind them too. */
		TH_LOG("teardown: the union is wedged; left mounted at %s", self->mnt);
		return;
	}
	if (self->mounted && umount2(self->mnt, 0)) {
		TH_LOG("teardown: umount %s: %s", self->mnt, strerror(errno));
		_metadata->passed = 0;
		umount2(self->mnt, MNT_DETACH);
	}
	for (i = 0; i < 2; i++) {
		if (self->br_mounted[i] && umount2(br[i], 0)) {
			TH_LOG("teardown: umount %s: %s", br[i], strerror(errno));
			_metadata->passed = 0;
			umount2(br[i], MNT_DETACH);
		}
	}
	rm_tree(self->dir);
}

/* ---- shared bookkeeping between the processes ---- */

enum op {
	OP_WRITE, OP_READ, OP_STAT, OP_READDIR, OP_RENAME, OP_UNLINK, OP_LINK,
	OP_MKDIR, OP_RMDIR, OP_RENAME_DIR, OP_CHMOD, OP_TRUNCATE, OP_PWRITE, NOPS
};
static const char *const op_name[NOPS] = {
	"open+write", "open+read", "lstat", "readdir", "rename", "unlink", "link",
	"mkdir", "rmdir", "rename-dir", "chmod", "truncate", "open+pwrite",
};

/* errno buckets counted per operation */
static const int counted[] = {
	0, ENOENT, EEXIST, ENOTEMPTY, EXDEV, EBUSY, ENOTDIR, EISDIR, EINVAL, EIO,
	ESTALE, ENOMEM, ENOSPC, EPERM, EACCES, ELOOP,
};
#define NCOUNTED (int)(sizeof(counted) / sizeof(counted[0]))

struct shared {
	unsigned long count[NOPS][NCOUNTED + 1];	/* last: other errnos */
	unsigned long bad_total;
	char bad[MAX_BAD][256];
	/* copy-up test: how many writes each process got done */
	int appended[NPROC];
	int regions_done[NPROC];
};

static struct shared *sh_map(void)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int allowed(int e)
{
	return e == ENOENT || e == EEXIST || e == ENOTEMPTY || e == EXDEV || e == EBUSY;
}

/* Note an unexpected result "<who>: <text>" in the first free of MAX_BAD slots. */
static void vbad(unsigned long *total, char slot[MAX_BAD][256], const char *who,
		 const char *fmt, va_list ap)
{
	unsigned long i = __atomic_fetch_add(total, 1, __ATOMIC_SEQ_CST);
	int n;

	if (i >= MAX_BAD)
		return;
	n = snprintf(slot[i], sizeof(slot[i]), "%s: ", who);
	vsnprintf(slot[i] + n, sizeof(slot[i]) - n, fmt, ap);
}

static void bad(struct shared *s, int who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(struct shared *s, int who, const char *fmt, ...)
{
	char name[32];
	va_list ap;

	snprintf(name, sizeof(name), "process %d", who);
	va_start(ap, fmt);
	vbad(&s->bad_total, s->bad, name, fmt, ap);
	va_end(ap);
}

/* Count the outcome of op; an unexpected errno is reported. 1 if it succeeded. */
static int tally(struct shared *s, int who, enum op op, int r, int e, const char *a, const char *b)
{
	int i, slot = NCOUNTED;

	if (r >= 0)
		e = 0;
	for (i = 0; i < NCOUNTED; i++) {
		if (counted[i] == e) {
			slot = i;
			break;
		}
	}
	__atomic_fetch_add(&s->count[op][slot], 1, __ATOMIC_RELAXED);
	if (r < 0 && !allowed(e))
		bad(s, who, "%s(%s%s%s): %s (errno %d)", op_name[op], a, b ? ", " : "", b ? b : "",
		    strerror(e), e);
	return r >= 0;
}

static void report(struct shared *s)
{
	char line[1024];
	int op, i;
	unsigned long j;

	for (op = 0; op < NOPS; op++) {
		size_t o = 0;
		unsigned long total = 0;

		for (i = 0; i <= NCOUNTED; i++)
			total += s->count[op][i];
		if (!total)
			continue;
		o += snprintf(line + o, sizeof(line) - o, "%-12s %6lu:", op_name[op], total);
		for (i = 0; i <= NCOUNTED; i++) {
			if (!s->count[op][i])
				continue;
			o += snprintf(line + o, sizeof(line) - o, " %s %lu",
				      i == NCOUNTED ? "other" : counted[i] ? strerrorname_np(counted[i]) : "ok",
				      s->count[op][i]);
		}
		fprintf(stderr, "#   %s\n", line);
	}
	for (j = 0; j < s->bad_total && j < MAX_BAD; j++)
		fprintf(stderr, "# UNEXPECTED: %s\n", s->bad[j]);
	if (s->bad_total > MAX_BAD)
		fprintf(stderr, "# ... %lu unexpected results in all\n", s->bad_total);
	fflush(stderr);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait for the n children in pids; those still running deadline seconds
 * from now are reported, SIGKILLed and waited for a little more.  Returns
 * the number of children that did not exit 0 by themselves.
 */
static int wait_children(pid_t *pids, int n, double deadline, char *why, size_t whysz)
{
	int left = n, failed = 0, i, st;
	double end = now() + deadline;

	why[0] = '\0';
	while (left > 0 && now() < end) {
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p <= 0) {
			usleep(100000);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (pids[i] != p)
				continue;
			pids[i] = 0;
			left--;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				failed++;
				snprintf(why + strlen(why), whysz - strlen(why), " [process %d: %s %d]", i,
					 WIFEXITED(st) ? "exit" : "signal",
					 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (!pids[i])
			continue;
		failed++;
		snprintf(why + strlen(why), whysz - strlen(why), " [process %d: still running (hung?)]", i);
		kill(pids[i], SIGKILL);
	}
	end = now() + 10;
	while (left > 0 && now() < end) {
		if (waitpid(-1, &st, WNOHANG) > 0)
			left--;
		else
			usleep(100000);
	}
	return failed;
}

/* ================================================================== */

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

/* ================================================================== */

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

	ASSERT_EQ(0, umount2(self->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	self->mounted = 0;
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, self->data)) TH_LOG("mount again: %s", strerror(errno));
	self->mounted = 1;
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

#define LOAD_SECONDS 25
#define STALL_SECONDS 15
#define LOAD_LOWERS 24		/* lookups after a remount take a while */

enum load_role { L_REMOUNT, L_CHOWN, L_WRITE, L_TRUNC, L_XATTR, L_LOOK, L_DROP, L_OPEN, NLOAD };
static const char *const load_name[NLOAD] = {
	"remount", "chown", "write", "truncate", "xattr", "lookup+read", "drop_caches",
	"open on extra",
};

struct load {
	volatile unsigned long progress[NLOAD];
	volatile int open_on_extra;	/* L_OPEN holds the extra branch's file */
	unsigned long bad_total;
	char bad[MAX_BAD][256];
};

static void load_bad(struct load *l, int who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void load_bad(struct load *l, int who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbad(&l->bad_total, l->bad, load_name[who], fmt, ap);
	va_end(ap);
}

/* A file capability (cap_net_raw+ep), as setcap writes it (VFS_CAP_REVISION_2). */
static const unsigned int fcap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };

static int set_fcap(const char *path)
{
	return setxattr(path, "security.capability", fcap, sizeof(fcap), 0);
}

static void load_child(FIXTURE_DATA(st) *self, struct load *l, int who, double until,
		       const char *extra)
{
	char p[PATH_MAX], q[PATH_MAX], buf[PATH_MAX + 16];
	unsigned long i;
	struct stat st;
	int fd;

	for (i = 0; now() < until; i++) {
		switch (who) {
		case L_REMOUNT: {
			static const char *const opts[] = { "udba=notify", "udba=reval", "dirperm1",
							   "nodirperm1" };

			int del = i % 5 == 4 && (i / 5) % 2;

			if (i % 5 == 4)
				snprintf(buf, sizeof(buf), "%s:%s", del ? "del" : "append", extra);
			else
				snprintf(buf, sizeof(buf), "%s", opts[i % 4]);
			if (mount(AUFS_SOURCE, self->mnt, AUFS_FSTYPE, MS_REMOUNT, buf)) {
				if (!del || errno != EBUSY)
					load_bad(l, who, "remount,%s: %s", buf, strerror(errno));
				else
					i -= 5;		/* try the delete again */
			} else if (del && l->open_on_extra) {
				load_bad(l, who, "remount,%s succeeded with a file open on it", buf);
			}
			break;
		}
		case L_CHOWN:
			pathf(p, "%s/cap_c", self->mnt);
			if (set_fcap(p) || chown(p, 0, i % 2))
				load_bad(l, who, "%s: %s", p, strerror(errno));
			break;
		case L_WRITE:
			pathf(p, "%s/cap_w", self->mnt);
			fd = -1;
			if (set_fcap(p) || (fd = open(p, O_WRONLY | (i % 64 ? O_APPEND : O_TRUNC))) < 0 ||
			    write(fd, "x", 1) != 1)
				load_bad(l, who, "%s: %s", p, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		case L_TRUNC:
			pathf(p, "%s/cap_t", self->mnt);
			if (set_fcap(p) || truncate(p, i % 100))
				load_bad(l, who, "%s: %s", p, strerror(errno));
			break;
		case L_XATTR:
			pathf(p, "%s/%s", self->mnt, i % 2 ? "f2" : "D0/f1");
			if (setxattr(p, "trusted.load", "v", 1, 0) ||
			    getxattr(p, "trusted.load", buf, sizeof(buf)) != 1 ||
			    removexattr(p, "trusted.load"))
				load_bad(l, who, "%s: %s", p, strerror(errno));
			break;
		case L_LOOK:
			pathf(p, "%s/D0/f%lu", self->mnt, i % 3);
			pathf(q, "%s/D0", self->mnt);
			if (lstat(p, &st) || read_file(p, buf, sizeof(buf)) < 0 ||
			    list_dir(q, buf, sizeof(buf)) || lstat(self->mnt, &st))
				load_bad(l, who, "%s: %s", p, strerror(errno));
			break;
		case L_DROP:
			if (drop_caches(i % 2 ? "2" : "3"))
				load_bad(l, who, "drop_caches: %s", strerror(errno));
			usleep(50000);
			break;
		case L_OPEN:
			pathf(p, "%s/on_extra", self->mnt);
			fd = open(p, O_RDONLY);
			if (fd < 0) {
				if (errno != ENOENT)
					load_bad(l, who, "%s: %s", p, strerror(errno));
				break;
			}
			if (read(fd, buf, sizeof(buf)) != 6 || memcmp(buf, "extra\n", 6))
				load_bad(l, who, "%s: not the extra branch's file", p);
			l->open_on_extra = 1;
			usleep(200);
			l->open_on_extra = 0;
			close(fd);
			break;
		}
		l->progress[who]++;
	}
	_exit(0);
}

/* "<state> <wchan>" of process @pid, for a report. */
static void proc_where(pid_t pid, char *out, size_t size)
{
	char p[64], stat[512] = "", wchan[128] = "?", *c;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	read_file(p, stat, sizeof(stat));
	snprintf(p, sizeof(p), "/proc/%d/wchan", pid);
	read_file(p, wchan, sizeof(wchan));
	c = strrchr(stat, ')');
	snprintf(out, size, "state %c, wchan %s", c && c[1] ? c[2] : '?', wchan);
}

TEST_F_TIMEOUT(st, remounts_under_load_never_block, 240)
{
	struct load *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long last[NLOAD] = { 0 };
	double seen[NLOAD], until, t;
	char extra[PATH_MAX], p[PATH_MAX], where[256];
	pid_t pids[NLOAD];
	int i, stuck = 0, st_;

	ASSERT_NE(MAP_FAILED, l);
	/* more lower branches, and one to append and delete */
	for (i = 0; i < LOAD_LOWERS; i++) {
		ASSERT_EQ(0, pathf(p, "%s/l%02d", self->dir, i));
		ASSERT_EQ(0, mkdir(p, 0755));
		ASSERT_EQ(0, put_file(p, "only", "x\n"));
		ASSERT_EQ(0, remount_append(self->mnt, p));
	}
	ASSERT_EQ(0, make_dir(extra, self->dir, "extra"));
	ASSERT_EQ(0, put_file(extra, "on_extra", "extra\n"));
	for (i = 0; i < 3; i++) {
		static const char *const f[] = { "cap_c", "cap_w", "cap_t" };

		ASSERT_EQ(0, put_file(self->lower, f[i], "capable\n"));
		ASSERT_EQ(0, pathf(p, "%s/%s", self->lower, f[i]));
		ASSERT_EQ(0, set_fcap(p)) TH_LOG("setxattr security.capability: %s", strerror(errno));
	}
	until = now() + LOAD_SECONDS;
	for (i = 0; i < NLOAD; i++) {
		seen[i] = now();
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0)
			load_child(self, l, i, until, extra);
	}
	/* progress, or where a process is stuck */
	while (!stuck && (t = now()) < until + STALL_SECONDS) {
		int running = 0;

		for (i = 0; i < NLOAD; i++) {
			if (!pids[i])
				continue;
			if (waitpid(pids[i], &st_, WNOHANG) == pids[i]) {
				EXPECT_TRUE(WIFEXITED(st_) && !WEXITSTATUS(st_));
				pids[i] = 0;
				continue;
			}
			running++;
			if (l->progress[i] != last[i]) {
				last[i] = l->progress[i];
				seen[i] = t;
			} else if (t - seen[i] > STALL_SECONDS) {
				proc_where(pids[i], where, sizeof(where));
				TH_LOG("%s (pid %d) made no progress for %.0f s: %s", load_name[i],
				       pids[i], t - seen[i], where);
				stuck++;
			}
		}
		if (!running)
			break;
		usleep(200000);
	}
	if (stuck) {
		self->wedged = 1;
		for (i = 0; i < NLOAD; i++)
			if (pids[i]) {
				proc_where(pids[i], where, sizeof(where));
				TH_LOG("  %s (pid %d): %s", load_name[i], pids[i], where);
			}
	}
	ASSERT_EQ(0, stuck) TH_LOG("a deadlock: processes blocked in the kernel (above)");
	for (i = 0; i < NLOAD; i++) {
		if (pids[i]) {
			proc_where(pids[i], where, sizeof(where));
			EXPECT_EQ(0, pids[i]) TH_LOG("%s still running after the load: %s",
						     load_name[i], where);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	TH_LOG("operations in %d s:", LOAD_SECONDS);
	for (i = 0; i < NLOAD; i++) {
		TH_LOG("  %-12s %lu", load_name[i], l->progress[i]);
		EXPECT_LT(0, l->progress[i]);
	}
	for (i = 0; i < (int)l->bad_total && i < MAX_BAD; i++)
		TH_LOG("UNEXPECTED: %s", l->bad[i]);
	EXPECT_EQ(0, l->bad_total);
	munmap(l, sizeof(*l));
}

/* ---- memory pressure ---- */

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
