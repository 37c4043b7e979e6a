/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fixture st, the concurrency tests' union (include after
 * kselftest_harness.h): rw tmpfs over a ro tmpfs holding files, hard
 * links, a symlink and directories (plain directories instead of the tmpfs
 * mounts when $AUFS_TEST_DIR is on another filesystem), and what the
 * stress_*.c programs share: the shared-memory tally of operations and
 * errors, its report, a random number generator, a clock, and waiting for
 * children with a deadline (HANG_GRACE).
 */
#ifndef AUFS_FIXTURE_ST_H
#define AUFS_FIXTURE_ST_H

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

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
	struct au_union u;
	int wedged;		/* processes stuck in the union: leave it alone */
};

static inline void populate(struct __test_metadata *_metadata, FIXTURE_DATA(st) *self)
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
	self->u = (struct au_union){
		.tag = "st", .source = "aufs-st", .flags = AU_TMPFS_BRANCHES | AU_OPEN_DIR,
		.dir = self->dir, .mnt = self->mnt,
		.br = { { "upper", self->upper, "size=128m,mode=0755" },
			{ "lower", self->lower, "size=64m,mode=0755" } },
	};
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	populate(_metadata, self);
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro", self->upper, self->lower))
		TH_LOG("mount -o %s: %s", self->u.data, strerror(errno));
}

FIXTURE_TEARDOWN(st)
{
	if (self->wedged) {
		/* Unmounting or emptying it would block behind them too. */
		TH_LOG("teardown: the union is wedged; left mounted at %s", self->mnt);
		return;
	}
	UNION_TEARDOWN(&self->u, 0);
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

static inline struct shared *sh_map(void)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static inline int allowed(int e)
{
	return e == ENOENT || e == EEXIST || e == ENOTEMPTY || e == EXDEV || e == EBUSY;
}

/* Note an unexpected result "<who>: <text>" in the first free of MAX_BAD slots. */
static inline void vbad(unsigned long *total, char slot[MAX_BAD][256], const char *who,
		 const char *fmt, va_list ap)
{
	unsigned long i = __atomic_fetch_add(total, 1, __ATOMIC_SEQ_CST);
	int n;

	if (i >= MAX_BAD)
		return;
	n = snprintf(slot[i], sizeof(slot[i]), "%s: ", who);
	vsnprintf(slot[i] + n, sizeof(slot[i]) - n, fmt, ap);
}

static inline void bad(struct shared *s, int who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void bad(struct shared *s, int who, const char *fmt, ...)
{
	char name[32];
	va_list ap;

	snprintf(name, sizeof(name), "process %d", who);
	va_start(ap, fmt);
	vbad(&s->bad_total, s->bad, name, fmt, ap);
	va_end(ap);
}

/* Count the outcome of op; an unexpected errno is reported. 1 if it succeeded. */
static inline int tally(struct shared *s, int who, enum op op, int r, int e, const char *a, const char *b)
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

static inline void report(struct shared *s)
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

static inline uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static inline double now(void)
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
static inline int wait_children(pid_t *pids, int n, double deadline, char *why, size_t whysz)
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

#define STALL_SECONDS 15

/* "<state> <wchan>" of process @pid, for a report. */
static inline void proc_where(pid_t pid, char *out, size_t size)
{
	char p[64], stat[512] = "", wchan[128] = "?", *c;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	read_file(p, stat, sizeof(stat));
	snprintf(p, sizeof(p), "/proc/%d/wchan", pid);
	read_file(p, wchan, sizeof(wchan));
	c = strrchr(stat, ')');
	snprintf(out, size, "state %c, wchan %s", c && c[1] ? c[2] : '?', wchan);
}

#endif /* AUFS_FIXTURE_ST_H */
