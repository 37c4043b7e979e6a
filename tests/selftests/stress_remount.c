// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency with remounts: remounts under load never block.
 * Fixture st: fixture_st.h.
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
 * Nothing may hang: each test has a harness timeout, and the parent gives
 * the workers their time plus HANG_GRACE seconds before it reports them.
 * The suite's kernel-clean check afterwards catches WARN/BUG/lockdep.
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

#include "fixture_st.h"

#define LOAD_SECONDS 25
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

TEST_HARNESS_MAIN
