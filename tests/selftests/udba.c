// SPDX-License-Identifier: GPL-2.0-only
/*
 * udba (user's direct branch access): a branch changed behind the union's
 * back, while the union has the names cached.  Each kind of change: a file
 * created (below, and above the entry that is cached), deleted, replaced
 * by another type, rewritten, renamed, whited out, a directory made
 * opaque.  reval and notify must show each change at the next access;
 * none may show a stale view but never an error other than "gone", never
 * garbage, and the right view after the cache is dropped.  Then two
 * processes race for a bounded time: one changes the branches directly,
 * one uses the union; the suite checks the kernel log afterwards.
 */
#include "aufs_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <dirent.h>
#include "kselftest_harness.h"

FIXTURE(ud) {
	char dir[PATH_MAX];
	char up[PATH_MAX];	/* rw */
	char mid[PATH_MAX];	/* ro+wh */
	char low[PATH_MAX];	/* ro */
	char mnt[PATH_MAX];
	struct au_union u;
};

FIXTURE_VARIANT(ud) {
	const char *udba;
	int exact;	/* every change shows at the next access */
	int settle;	/* cached entries are old when the branch changes */
};

FIXTURE_VARIANT_ADD(ud, reval) { .udba = "reval", .exact = 1 };
/*
 * reval keeps the change times of the branch directories with each cached
 * entry and looks up again only when one differs; one within a few clock
 * ticks counts as changed.  Here the cache is older than that when the
 * branch changes, so the stamps alone must tell.
 */
FIXTURE_VARIANT_ADD(ud, reval_settled) { .udba = "reval", .exact = 1, .settle = 1 };
FIXTURE_VARIANT_ADD(ud, notify) { .udba = "notify", .exact = 1 };
FIXTURE_VARIANT_ADD(ud, none) { .udba = "none", .exact = 0 };

/* Twice: a recently used dentry survives one pass of the LRU. */
/*
 * The tests drop the dentry and inode caches with drop_caches("2") twice:
 * the second pass frees what the dentries of the first still held.
 */

FIXTURE_SETUP(ud)
{
	self->u = (struct au_union){
		.tag = "ud", .dir = self->dir, .mnt = self->mnt,
		.flags = AU_TMPFS_DIR, .tmpfs = "size=64m,mode=0755",
		.br = { { "up", self->up }, { "mid", self->mid }, { "low", self->low } },
	};
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro+wh:%s=ro,udba=%s", self->up,
				 self->mid, self->low, variant->udba))
		TH_LOG("mount: %s", strerror(errno));
}

FIXTURE_TEARDOWN(ud)
{
	UNION_TEARDOWN(&self->u, 0);
}

/* Let what is cached, or the change just made, grow older than a few clock ticks. */
#define SETTLE() do { if (variant->settle) usleep(60 * 1000); } while (0)

static const char *view(FIXTURE_DATA(ud) *self, const char *rel);

/*
 * Before a direct change: let the branch directories settle, then look
 * every name the tests use up again (present or not), so that what is
 * cached was checked against settled directories: the next check can take
 * the fast way (nothing changed anywhere since: no stamp is even read),
 * and only a change made since may stop it.
 */
#define SETTLE_CACHE() do {							\
	static const char *names_[] = { "new", "del", "typ", "rw", "old",	\
		"renamed", "hide", "dir", "dir/inner", "f", "ls", "ls/a",	\
		"ls/b", "ls/c", "ls/d", "ls/n" };				\
	unsigned int i_;							\
										\
	if (variant->settle) {							\
		usleep(60 * 1000);						\
		for (i_ = 0; i_ < sizeof(names_) / sizeof(names_[0]); i_++)	\
			view(self, names_[i_]);					\
		names_in(self->mnt, "ls");					\
		names_in(self->mnt, "dir");					\
	}									\
} while (0)

/* What the union shows at <mnt>/<rel>: "-" missing, "d" a directory, else the content. */
static const char *view(FIXTURE_DATA(ud) *self, const char *rel)
{
	static char buf[4][256];
	static int k;
	char p[PATH_MAX], *b = buf[k++ & 3];
	struct stat st;
	ssize_t n;

	if (pathf(p, "%s/%s", self->mnt, rel))
		return "<long>";
	if (stat(p, &st)) {
		snprintf(b, sizeof(buf[0]), errno == ENOENT ? "-" : "<%s>", strerror(errno));
		return b;
	}
	if (S_ISDIR(st.st_mode))
		return "d";
	n = read_file(p, b, sizeof(buf[0]) - 1);
	if (n < 0) {
		snprintf(b, sizeof(buf[0]), errno == ENOENT ? "-" : "<read: %s>", strerror(errno));
		return b;
	}
	b[n] = 0;
	return b;
}

/*
 * Check what SHOW(@rel) gives after a direct change: @want when the mode
 * is exact; otherwise @want or @old (never anything else), and @want after
 * the caches are dropped.
 */
#define EXPECT_SHOWN(SHOW, rel, old, want) do {				\
	const char *v_;								\
										\
	SETTLE();	/* the change, too, is older than a few ticks */	\
	v_ = SHOW(rel);								\
	if (variant->exact) {							\
		ASSERT_STREQ(want, v_) TH_LOG("%s: %s", variant->udba, rel);	\
	} else {								\
		ASSERT_TRUE(!strcmp(v_, want) || !strcmp(v_, old))		\
			TH_LOG("%s: %s shows '%s'", variant->udba, rel, v_);	\
		drop_caches("2");						\
		drop_caches("2");						\
		ASSERT_STREQ(want, SHOW(rel)) TH_LOG("after drop_caches");	\
	}									\
} while (0)
#define VIEW_OF(rel) view(self, rel)
#define LIST_OF(rel) names_in(self->mnt, rel)
/* <mnt>/<rel> as view() shows it */
#define EXPECT_VIEW(rel, old, want) EXPECT_SHOWN(VIEW_OF, rel, old, want)
/* the listing of directory <mnt>/<rel> ("a/b/...") */
#define EXPECT_LIST(rel, old, want) EXPECT_SHOWN(LIST_OF, rel, old, want)


TEST_F(ud, created_below_and_above)
{
	char p[PATH_MAX];

	ASSERT_STREQ("-", view(self, "new"));	/* a cached negative */
	SETTLE_CACHE();
	ASSERT_EQ(0, put_file(self->low, "new", "low\n"));
	EXPECT_VIEW("new", "-", "low\n");
	/* now cached from the bottom; the same name appears in the middle */
	ASSERT_STREQ("low\n", view(self, "new"));
	SETTLE_CACHE();
	ASSERT_EQ(0, put_file(self->mid, "new", "mid\n"));
	EXPECT_VIEW("new", "low\n", "mid\n");
	/* and on the top branch */
	ASSERT_EQ(0, pathf(p, "%s/new", self->up));
	SETTLE_CACHE();
	ASSERT_EQ(0, write_file(p, "up\n"));
	EXPECT_VIEW("new", "mid\n", "up\n");
}

TEST_F(ud, deleted_replaced_rewritten)
{
	char p[PATH_MAX];

	ASSERT_EQ(0, put_file(self->low, "del", "x\n"));
	ASSERT_EQ(0, put_file(self->low, "typ", "file\n"));
	ASSERT_EQ(0, put_file(self->low, "rw", "one\n"));
	ASSERT_STREQ("x\n", view(self, "del"));
	ASSERT_STREQ("file\n", view(self, "typ"));
	ASSERT_STREQ("one\n", view(self, "rw"));
	SETTLE_CACHE();
	ASSERT_EQ(0, pathf(p, "%s/del", self->low));
	ASSERT_EQ(0, unlink(p));
	EXPECT_VIEW("del", "x\n", "-");
	SETTLE_CACHE();
	ASSERT_EQ(0, pathf(p, "%s/typ", self->low));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, mkdir(p, 0755));
	EXPECT_VIEW("typ", "file\n", "d");
	ASSERT_EQ(0, put_file(self->low, "rw", "two\n"));
	ASSERT_STREQ("two\n", view(self, "rw")) TH_LOG("content is always the branch's");
}

TEST_F(ud, renamed_whited_out_made_opaque)
{
	char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX];

	ASSERT_EQ(0, put_file(self->low, "old", "o\n"));
	ASSERT_EQ(0, put_file(self->low, "hide", "h\n"));
	ASSERT_EQ(0, make_dir(d, self->low, "dir"));
	ASSERT_EQ(0, put_file(d, "inner", "i\n"));
	ASSERT_EQ(0, make_dir(d, self->mid, "dir"));
	ASSERT_STREQ("o\n", view(self, "old"));
	ASSERT_STREQ("-", view(self, "renamed"));
	ASSERT_STREQ("h\n", view(self, "hide"));
	ASSERT_STREQ("i\n", view(self, "dir/inner"));
	SETTLE_CACHE();
	ASSERT_EQ(0, pathf(a, "%s/old", self->low));
	ASSERT_EQ(0, pathf(b, "%s/renamed", self->low));
	ASSERT_EQ(0, rename(a, b));
	EXPECT_VIEW("old", "o\n", "-");
	EXPECT_VIEW("renamed", "-", "o\n");
	/* a whiteout made on the middle (ro+wh) branch */
	SETTLE_CACHE();
	ASSERT_EQ(0, put_file(self->mid, ".wh.hide", ""));
	EXPECT_VIEW("hide", "h\n", "-");
	/* the middle directory made opaque */
	SETTLE_CACHE();
	ASSERT_EQ(0, put_file(d, ".wh..wh..opq", ""));
	EXPECT_VIEW("dir/inner", "i\n", "-");
	if (variant->exact)
		ASSERT_STREQ("", names_in(self->mnt, "dir"));
}

static int entries(DIR *dh)
{
	int n = 0;

	rewinddir(dh);
	while (readdir(dh))
		n++;
	return n;
}

/*
 * A merged listing is cached on the directory while its branch
 * directories do not change: a change through the union shows at once in
 * every mode (also to a reader that rewinds), a direct one as the udba
 * mode says.
 */
TEST_F(ud, listing_follows_changes)
{
	char lo[PATH_MAX], mi[PATH_MAX], p[PATH_MAX];
	DIR *dh;
	int n;

	ASSERT_EQ(0, make_dir(lo, self->low, "ls"));
	ASSERT_EQ(0, put_file(lo, "a", ""));
	ASSERT_EQ(0, put_file(lo, "b", ""));
	ASSERT_EQ(0, make_dir(mi, self->mid, "ls"));
	ASSERT_EQ(0, put_file(mi, "c", ""));
	ASSERT_STREQ("a/b/c", names_in(self->mnt, "ls"));
	SETTLE_CACHE();
	ASSERT_STREQ("a/b/c", names_in(self->mnt, "ls"));
	ASSERT_EQ(0, pathf(p, "%s/ls", self->mnt));
	dh = opendir(p);
	ASSERT_NE(NULL, dh);
	n = entries(dh);
	ASSERT_EQ(0, pathf(p, "%s/ls/n", self->mnt));
	ASSERT_EQ(0, write_file(p, ""));
	ASSERT_EQ(n + 1, entries(dh)) TH_LOG("rewinddir after a create");
	ASSERT_EQ(0, pathf(p, "%s/ls/a", self->mnt));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(n, entries(dh)) TH_LOG("rewinddir after an unlink");
	closedir(dh);
	ASSERT_STREQ("b/c/n", names_in(self->mnt, "ls"));
	/* directly on the branches */
	SETTLE_CACHE();
	ASSERT_EQ(0, put_file(lo, "d", ""));
	ASSERT_EQ(0, put_file(mi, ".wh.b", ""));
	EXPECT_LIST("ls", "b/c/n", "c/d/n");
	SETTLE_CACHE();
	ASSERT_EQ(0, pathf(p, "%s/d", lo));
	ASSERT_EQ(0, unlink(p));
	EXPECT_LIST("ls", "c/d/n", "c/n");
}

/* A write through the union after the branch changed is never lost data. */
TEST_F(ud, writes_after_direct_changes)
{
	char p[PATH_MAX];

	ASSERT_EQ(0, put_file(self->low, "f", "low\n"));
	ASSERT_STREQ("low\n", view(self, "f"));
	SETTLE_CACHE();
	ASSERT_EQ(0, pathf(p, "%s/f", self->up));
	ASSERT_EQ(0, write_file(p, "up\n"));	/* directly on the rw branch */
	ASSERT_EQ(0, pathf(p, "%s/f", self->mnt));
	ASSERT_EQ(0, write_file(p, "via union\n"));
	ASSERT_STREQ("via union\n", view(self, "f"));
	ASSERT_EQ(0, pathf(p, "%s/f", self->up));
	{
		char buf[64] = "";

		ASSERT_LT(0, read_file(p, buf, sizeof(buf) - 1));
		ASSERT_STREQ("via union\n", buf);
	}
	drop_caches("2");
	drop_caches("2");
	ASSERT_STREQ("via union\n", view(self, "f"));
	ASSERT_EQ(0, pathf(p, "%s/f", self->low));
	{
		char buf[64] = "";

		ASSERT_LT(0, read_file(p, buf, sizeof(buf) - 1));
		ASSERT_STREQ("low\n", buf) TH_LOG("a read-only branch was written");
	}
}

/* ---- the race ---- */

static volatile sig_atomic_t stop;

static void on_alarm(int sig)
{
	(void)sig;
	stop = 1;
}

/* Errors a user of the union may see while branches change under it. */
static int allowed(int e)
{
	return e == ENOENT || e == ESTALE || e == ENOTDIR || e == EISDIR ||
	       e == ENOTEMPTY || e == EEXIST || e == EXDEV || e == ELOOP;
}

static int changer(FIXTURE_DATA(ud) *self)
{
	const char *br[3] = { self->up, self->mid, self->low };
	char p[PATH_MAX + 16], q[PATH_MAX + 16];
	unsigned int r = getpid();

	while (!stop) {
		const char *b = br[(r = r * 1103515245 + 12345) % 3];
		int n = (r >> 8) % 4;

		snprintf(p, sizeof(p), "%s/n%d", b, n);
		snprintf(q, sizeof(q), "%s/n%d", b, (n + 1) % 4);
		switch ((r >> 12) % 7) {
		case 0: write_file(p, "data\n"); break;
		case 1: unlink(p); break;
		case 2: mkdir(p, 0755); break;
		case 3: rmdir(p); break;
		case 4: rename(p, q); break;
		case 5: snprintf(q, sizeof(q), "%s/.wh.n%d", b, n); write_file(q, ""); break;
		case 6: snprintf(q, sizeof(q), "%s/.wh.n%d", b, n); unlink(q); break;
		}
	}
	return 0;
}

/*
 * A read racing with the changer's truncate + write of the same branch
 * file may see zeros: tmpfs reads without i_rwsem, finds the page gone
 * (truncated) and then the size back (written again), and returns zeros
 * for it (mm/shmem.c, shmem_file_read_iter: "reads (unlike writes) are
 * called without i_rwsem protection against truncate").  That is the
 * branch filesystem's own answer, also without a union; anything else
 * than the data or such zeros is garbage.
 */
static int all_zero(const char *b, ssize_t k)
{
	while (k > 0)
		if (b[--k])
			return 0;
	return 1;
}

static int user(FIXTURE_DATA(ud) *self)
{
	char p[PATH_MAX + 16], buf[64], list[4096];
	unsigned int r = getpid() * 7;
	struct stat st;
	int bad = 0, fd;

	static const char *const what[] = { "stat", "readdir", "open+read", "write", "unlink/rmdir" };

	while (!stop) {
		int n = (r = r * 1103515245 + 12345) % 4, e = 0, op = (r >> 10) % 5;

		snprintf(p, sizeof(p), "%s/n%d", self->mnt, n);
		switch (op) {
		case 0:
			if (stat(p, &st))
				e = errno;
			break;
		case 1:
			if (list_dir(self->mnt, list, sizeof(list)))
				e = errno;
			else if (strstr(list, ".wh.")) {
				fprintf(stderr, "# union: readdir shows a .wh. name: %s\n", list);
				bad++;
			}
			break;
		case 2:
			fd = open(p, O_RDONLY);
			if (fd < 0) {
				e = errno;
			} else {
				ssize_t k = read(fd, buf, sizeof(buf));

				if (k < 0 && errno != EISDIR)
					e = errno;
				else if (k > 0 && (k != 5 || memcmp(buf, "data\n", 5)) &&
					 !all_zero(buf, k)) {
					fprintf(stderr, "# union: read of n%d gave %zd bytes: %.*s\n",
						n, k, (int)k, buf);
					bad++;	/* garbage */
				}
				close(fd);
			}
			break;
		case 3:
			if (write_file(p, "data\n"))
				e = errno;
			break;
		case 4:
			if (unlink(p) && rmdir(p))
				e = errno;
			break;
		}
		if (e && !allowed(e)) {
			fprintf(stderr, "# union: %s of n%d: unexpected %s\n", what[op], n, strerror(e));
			bad++;
		}
	}
	return bad ? 1 : 0;
}

TEST_F_TIMEOUT(ud, direct_changes_race_with_union_users, 120)
{
	pid_t c, u;
	int sc, su;

	stop = 0;
	signal(SIGALRM, on_alarm);
	c = fork();
	if (!c) {
		alarm(8);
		_exit(changer(self));
	}
	u = fork();
	if (!u) {
		alarm(8);
		_exit(user(self));
	}
	ASSERT_EQ(c, waitpid(c, &sc, 0));
	ASSERT_EQ(u, waitpid(u, &su, 0));
	ASSERT_TRUE(WIFEXITED(sc) && WIFEXITED(su));
	ASSERT_EQ(0, WEXITSTATUS(su)) TH_LOG("the union gave unexpected errors or data");
	/* and afterwards the union is consistent with the branches again */
	drop_caches("2");
	drop_caches("2");
	ASSERT_EQ(NULL, strstr(names_in(self->mnt, "."), ".wh."));
}

/*
 * A lower file cut short on its branch while the union copies it up (open
 * for write): the copy ends where the file now ends.  The open succeeds
 * (never EIO), and the union's copy is the lower file as it was before or
 * after the cut, byte for byte, never with a zero-filled tail.
 */
#define BIG	(16 << 20)
#define CUT	(1 << 20)

static int pattern_ok(int fd, off_t size)
{
	static char buf[1 << 16];
	off_t pos = 0;

	while (pos < size) {
		ssize_t k = pread(fd, buf, sizeof(buf), pos), i;

		if (k <= 0)
			return 0;
		for (i = 0; i < k; i++)
			if (buf[i] != (char)('a' + (pos + i) % 23))
				return 0;
		pos += k;
	}
	return 1;
}

TEST_F_TIMEOUT(ud, lower_file_cut_short_during_copy_up, 300)
{
	static char buf[1 << 16];
	char p[PATH_MAX + 16], q[PATH_MAX + 16];
	int round, i, cut_during = 0;

	for (round = 0; round < 6; round++) {
		struct stat st;
		pid_t c;
		int fd, st_c;
		off_t pos;

		snprintf(p, sizeof(p), "%s/big%d", self->low, round);
		snprintf(q, sizeof(q), "%s/big%d", self->mnt, round);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ASSERT_LE(0, fd);
		for (pos = 0; pos < BIG; pos += sizeof(buf)) {
			for (i = 0; i < (int)sizeof(buf); i++)
				buf[i] = 'a' + (pos + i) % 23;
			ASSERT_EQ((ssize_t)sizeof(buf), pwrite(fd, buf, sizeof(buf), pos));
		}
		close(fd);
		ASSERT_EQ(0, stat(q, &st));	/* cached in the union, lower only */
		ASSERT_EQ(BIG, st.st_size);

		c = fork();
		ASSERT_LE(0, c);
		if (!c) {
			struct timespec ts = { 0, (round * 7919 % 40) * 1000000L };

			nanosleep(&ts, NULL);
			_exit(truncate(p, CUT) ? 1 : 0);
		}
		fd = open(q, O_WRONLY | O_APPEND);
		if (fd < 0)
			ASSERT_EQ(ENOENT, errno) TH_LOG("round %d: open for write: %s",
							 round, strerror(errno));
		ASSERT_EQ(c, waitpid(c, &st_c, 0));
		ASSERT_TRUE(WIFEXITED(st_c) && !WEXITSTATUS(st_c));
		if (fd < 0)
			continue;
		close(fd);
		snprintf(p, sizeof(p), "%s/big%d", self->up, round);
		fd = open(p, O_RDONLY);
		ASSERT_LE(0, fd) TH_LOG("round %d: no copy on the upper branch", round);
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_TRUE(st.st_size == CUT || st.st_size == BIG)
			TH_LOG("round %d: copy of %lld bytes", round, (long long)st.st_size);
		cut_during += st.st_size == CUT;
		ASSERT_TRUE(pattern_ok(fd, st.st_size))
			TH_LOG("round %d: the copy is not the lower file's content", round);
		close(fd);
		ASSERT_EQ(0, unlink(p));	/* room for the next round */
		snprintf(p, sizeof(p), "%s/big%d", self->low, round);
		ASSERT_EQ(0, unlink(p));
	}
	TH_LOG("%d of 6 cuts came before the copy-up ended", cut_during);
}

/* ---- fsnotify marks come and go (udba=notify) ---- */

static long marks(void)
{
	char buf[32] = "";

	if (access("/sys/kernel/debug/aufs", F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (read_file("/sys/kernel/debug/aufs/notify_marks", buf, sizeof(buf) - 1) <= 0)
		return -1;
	return atol(buf);
}

TEST(notify_marks_are_released)
{
	char dir[PATH_MAX], up[PATH_MAX], low[PATH_MAX], mnt[PATH_MAX], d[MOUNT_DATA_MAX], p[PATH_MAX];
	long base, n;
	int i, fd;

	ASSERT_EQ(1, aufs_registered());
	ASSERT_EQ(0, make_workdir(dir, "udm"));
	ASSERT_EQ(0, make_dir(up, dir, "up"));
	ASSERT_EQ(0, make_dir(low, dir, "low"));
	ASSERT_EQ(0, make_dir(mnt, dir, "mnt"));
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, pathf(p, "%s/d%d", low, i));
		ASSERT_EQ(0, mkdir(p, 0755));
		ASSERT_EQ(0, pathf(p, "%s/d%d", up, i));
		ASSERT_EQ(0, mkdir(p, 0755));
	}
	base = marks();
	ASSERT_LE(0, base) TH_LOG("no debugfs aufs/notify_marks");
	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro,udba=notify", up, low));
	ASSERT_EQ(0, aufs_mount(mnt, 0, d));
	ASSERT_EQ(base + 2, marks()) TH_LOG("the root's two branch directories");
	for (i = 0; i < 10; i++) {
		struct stat st;

		ASSERT_EQ(0, pathf(p, "%s/d%d", mnt, i));
		ASSERT_EQ(0, stat(p, &st));
	}
	ASSERT_EQ(base + 22, marks()) TH_LOG("two per cached directory");
	/* a directory that stays in use; the others can be evicted */
	ASSERT_EQ(0, pathf(p, "%s/d0", mnt));
	fd = open(p, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	drop_caches("2");
	drop_caches("2");
	ASSERT_EQ(base + 4, marks()) TH_LOG("evicted directories keep marks");
	/* branch deletion: the marks on it go with the refresh */
	ASSERT_EQ(0, remount(mnt, 0, "del:%s", low)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, pathf(p, "%s/d0/.", mnt));
	{
		struct stat st;

		ASSERT_EQ(0, stat(p, &st));
	}
	n = marks();
	ASSERT_EQ(base + 2, n) TH_LOG("marks on a deleted branch stay: %ld", n - base);
	close(fd);
	ASSERT_EQ(0, umount2(mnt, 0));
	ASSERT_EQ(base, marks()) TH_LOG("marks left after umount");
	rm_tree(dir);
}

TEST_HARNESS_MAIN
