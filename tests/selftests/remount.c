// SPDX-License-Identifier: GPL-2.0-only
/*
 * Remount, as aufs has it: branches added (add/ins, append, prepend, a new
 * br=), deleted and modified on a live mount, several in one call and in
 * Docker's batched form with a trailing comma; options changed live.  On
 * any error the branch table, /sys/fs/aufs/si_*, and /proc/mounts stay
 * exactly as they were.  Cached dentries follow the new union; open files
 * keep the branch they were opened on; a branch in use cannot go.  127
 * branches built up the way Docker does it.  /proc/mounts round trips.
 *
 * Every test makes its own branches (plain directories on one tmpfs) under
 * $AUFS_TEST_DIR; the module is loaded by the guest suite.
 */
#include "aufs_test.h"

#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NOBODY 65534
#define LONGP (PATH_MAX + 64)	/* a path and a suffix */

FIXTURE(rm) {
	char dir[PATH_MAX];
	char mnt[PATH_MAX];
	struct au_union u;
};

FIXTURE_SETUP(rm)
{
	self->u = (struct au_union){
		.tag = "rm", .dir = self->dir, .mnt = self->mnt,
		/* a private tmpfs: many branches, easy cleanup */
		.flags = AU_TMPFS_DIR | AU_OPEN_DIR, .tmpfs = "size=64m,mode=0755",
	};
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	umask(0);
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
}

FIXTURE_TEARDOWN(rm)
{
	UNION_TEARDOWN(&self->u, 0);
}

/* ---- helpers ---- */

/* <dir>/<name>: a branch directory, made if needed; its path in @out. */
static void br(struct __test_metadata *_metadata, FIXTURE_DATA(rm) *self,
	       char *out, const char *name)
{
	ASSERT_EQ(0, pathf(out, "%s/%s", self->dir, name));
	if (mkdir(out, 0755) && errno != EEXIST)
		ASSERT_EQ(0, errno);
}

static void rm_mount(struct __test_metadata *_metadata, FIXTURE_DATA(rm) *self,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void rm_mount(struct __test_metadata *_metadata, FIXTURE_DATA(rm) *self,
		     const char *fmt, ...)
{
	char d[MOUNT_DATA_MAX];
	va_list ap;

	va_start(ap, fmt);
	ASSERT_GT(MOUNT_DATA_MAX, vsnprintf(d, sizeof(d), fmt, ap));
	va_end(ap);
	ASSERT_EQ(0, union_mount(&self->u, 0, "%s", d)) TH_LOG("mount %s: %s", d, strerror(errno));
}

/*
 * Everything a user sees of the branch table, as one text: /proc/mounts'
 * line, and every file of /sys/fs/aufs/si_<id>/ with its content.
 */
static int state(const char *mnt, char *out, size_t size)
{
	char si[64], line[4096], list[8192], p[PATH_MAX], *name, *save;
	size_t off = 0;

	if (mount_line(mnt, line, sizeof(line)) || mount_si(mnt, si, sizeof(si)))
		return -1;
	off += snprintf(out + off, size - off, "%s\n", line);
	if (si_path(p, si, "") || list_dir(p, list, sizeof(list)))
		return -1;
	for (name = strtok_r(list, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		char buf[PATH_MAX + 16] = "";

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		read_si_file(si, name, buf, sizeof(buf) - 1);
		off += snprintf(out + off, size - off, "%s: %s", name, buf);
		if (off >= size)
			return -1;
	}
	return 0;
}

/* The content of si_<id>/<name> of the mount, "" if missing. */
static const char *si_file(const char *mnt, const char *name)
{
	static char buf[2][PATH_MAX + 16];
	static int k;
	char si[64], *b = buf[k++ & 1];
	ssize_t n;

	b[0] = 0;
	if (mount_si(mnt, si, sizeof(si)))
		return b;
	n = read_si_file(si, name, b, PATH_MAX);
	b[n < 0 ? 0 : n] = 0;
	return b;
}

/* ================================================================== */

/* Each kind of change, one at a time, with its effect on /sys and the union. */
TEST_F(rm, add_append_prepend_del_mod_and_br)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX], e[PATH_MAX], x[LONGP];

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, c, "c");
	br(_metadata, self, d, "d");
	br(_metadata, self, e, "e");
	ASSERT_EQ(0, put_file(b, "f", "b\n"));
	ASSERT_EQ(0, put_file(c, "f", "c\n"));
	ASSERT_EQ(0, put_file(c, "only_c", "c\n"));
	ASSERT_EQ(0, put_file(d, "only_d", "d\n"));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	ASSERT_STREQ("b\n", content(self->mnt, "f"));
	ASSERT_STREQ("f", names_in(self->mnt, "."));

	/* append: at the bottom, default ro; the union gains what it has */
	ASSERT_EQ(0, remount(self->mnt, 0, "append:%s", d));
	snprintf(x, sizeof(x), "%s=ro\n", d);
	ASSERT_STREQ(x, si_file(self->mnt, "br2"));
	ASSERT_STREQ("66\n", si_file(self->mnt, "brid2"));
	ASSERT_STREQ("f/only_d", names_in(self->mnt, "."));

	/* add:1: between a and b, above b: c's f now shows */
	ASSERT_EQ(0, remount(self->mnt, 0, "add:1:%s=ro+wh", c));
	snprintf(x, sizeof(x), "%s=ro+wh\n", c);
	ASSERT_STREQ(x, si_file(self->mnt, "br1"));
	ASSERT_STREQ("67\n", si_file(self->mnt, "brid1"));
	ASSERT_STREQ("65\n", si_file(self->mnt, "brid2")) TH_LOG("b keeps its id");
	ASSERT_STREQ("c\n", content(self->mnt, "f")) TH_LOG("the cached f follows the new top");
	ASSERT_STREQ("f/only_c/only_d", names_in(self->mnt, "."));

	/* del: c goes, b's f shows again */
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", c));
	ASSERT_STREQ("b\n", content(self->mnt, "f"));
	ASSERT_STREQ("f/only_d", names_in(self->mnt, "."));
	ASSERT_STREQ("", si_file(self->mnt, "br3")) TH_LOG("br<N> files are rebuilt");

	/* prepend: e on top, default rw for index 0... as given here, ro */
	ASSERT_EQ(0, remount(self->mnt, 0, "prepend:%s=ro", e));
	snprintf(x, sizeof(x), "%s=ro\n", e);
	ASSERT_STREQ(x, si_file(self->mnt, "br0"));
	/* a is below e now: a new file goes to a, the topmost writable */
	ASSERT_EQ(0, put_file(self->mnt, "new", "n\n"));
	ASSERT_STREQ("n\n", content(a, "new"));

	/* mod: a becomes ro; writes are then EROFS */
	ASSERT_EQ(0, remount(self->mnt, 0, "mod:%s=ro", a));
	ASSERT_NE(0, put_file(self->mnt, "new2", "n\n"));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(0, remount(self->mnt, 0, "mod:%s=rw", a));
	ASSERT_EQ(0, put_file(self->mnt, "new2", "n\n"));

	/* a new br= replaces the list; survivors of the same path keep nothing */
	ASSERT_EQ(0, remount(self->mnt, 0, "br=%s=rw:%s=ro", a, c));
	ASSERT_STREQ("c\n", content(self->mnt, "f"));
	ASSERT_STREQ("f/new/new2/only_c", names_in(self->mnt, "."));
	ASSERT_STREQ("", si_file(self->mnt, "br2"));
}

/* Several changes in one call, Docker's batch with a trailing comma, = forms. */
TEST_F(rm, batched_changes_apply_in_order)
{
	char a[PATH_MAX], p[LONGP], x[LONGP];
	char d[MOUNT_DATA_MAX];
	size_t off = 0;
	int i;

	br(_metadata, self, a, "a");
	rm_mount(_metadata, self, "br:%s=rw", a);
	for (i = 0; i < 5; i++) {
		snprintf(x, sizeof(x), "l%d", i);
		br(_metadata, self, p, x);
		snprintf(x, sizeof(x), "%d\n", i);
		ASSERT_EQ(0, put_file(p, "f", x));
		off += snprintf(d + off, sizeof(d) - off, "append:%s=ro+wh,", p);
	}
	ASSERT_EQ(0, remount(self->mnt, 0, "%s", d)) TH_LOG("remount %s: %s", d, strerror(errno));
	for (i = 0; i < 5; i++) {
		char n[16];

		snprintf(n, sizeof(n), "br%d", i + 1);
		snprintf(p, sizeof(p), "%s/l%d=ro+wh\n", self->dir, i);
		ASSERT_STREQ(p, si_file(self->mnt, n));
	}
	ASSERT_STREQ("0\n", content(self->mnt, "f")) TH_LOG("l0 is the topmost of them");
	/* the = forms, and del + append in one call, left to right */
	br(_metadata, self, p, "z");
	ASSERT_EQ(0, remount(self->mnt, 0, "del=%s/l0,append=%s/z", self->dir, self->dir));
	ASSERT_STREQ("1\n", content(self->mnt, "f"));
	snprintf(x, sizeof(x), "%s/z=ro\n", self->dir);
	ASSERT_STREQ(x, si_file(self->mnt, "br5"));
}

/* A refused change leaves every visible piece of state exactly as it was. */
TEST_F(rm, errors_change_nothing)
{
	static char before[65536], after[65536];
	char a[PATH_MAX], b[PATH_MAX], file[PATH_MAX], p[PATH_MAX];
	struct { const char *what; int err; char data[3 * PATH_MAX]; } cases[10];
	int i, n = 0;

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	ASSERT_EQ(0, pathf(file, "%s/file", self->dir));
	ASSERT_EQ(0, write_file(file, "x"));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
#define CASE(w, e, ...) do { cases[n].what = w; cases[n].err = e; \
	snprintf(cases[n].data, sizeof(cases[n].data), __VA_ARGS__); n++; } while (0)
	CASE("missing path", EINVAL, "append:%s/nope", self->dir);
	CASE("not a directory", EINVAL, "append:%s", file);
	CASE("inside another branch", EINVAL, "append:%s/sub", a);
	CASE("contains a branch", EINVAL, "append:%s", self->dir);
	CASE("the mount itself", EINVAL, "append:%s", self->mnt);
	CASE("delete a missing branch", ENOENT, "del:%s/nope", self->dir);
	CASE("bad index", EDOM, "add:9:%s/c", self->dir);
	CASE("unknown option", EINVAL, "append:%s,bogus", b);
	CASE("rw on a read-only mount", EINVAL, "mod:%s=rw+nolwh+wh", b);
	CASE("second op fails: first undone", ENOENT, "append:%s/c,del:%s/nope", self->dir, self->dir);
	ASSERT_EQ(0, make_dir(p, a, "sub"));
	ASSERT_EQ(0, make_dir(p, self->dir, "c"));
	for (i = 0; i < n; i++) {
		int r;

		ASSERT_EQ(0, state(self->mnt, before, sizeof(before)));
		r = remount(self->mnt, 0, "%s", cases[i].data);
		ASSERT_NE(0, r) TH_LOG("%s: remount %s succeeded", cases[i].what, cases[i].data);
		ASSERT_EQ(cases[i].err, r) TH_LOG("%s: %s", cases[i].what, strerror(r));
		ASSERT_EQ(0, state(self->mnt, after, sizeof(after)));
		ASSERT_STREQ(before, after) TH_LOG("%s changed the mount", cases[i].what);
	}
	/* a duplicate is ignored at remount, as aufs does */
	ASSERT_EQ(0, state(self->mnt, before, sizeof(before)));
	ASSERT_EQ(0, remount(self->mnt, 0, "append:%s", b));
	ASSERT_EQ(0, state(self->mnt, after, sizeof(after)));
	ASSERT_STREQ(before, after);
	/* the last branch cannot go */
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", b));
	ASSERT_EQ(EBUSY, remount(self->mnt, 0, "del:%s", a));
	ASSERT_STREQ("", si_file(self->mnt, "br1"));
}

static int hold_cwd(const char *dir)
{
	pid_t pid = fork();

	if (!pid) {
		if (chdir(dir))
			_exit(1);
		pause();
		_exit(0);
	}
	return pid;
}

/* A branch in use cannot go; one with files open for writing stays rw. */
TEST_F(rm, busy_branches)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], p[PATH_MAX], mp[PATH_MAX];
	int fd, status;
	pid_t pid;

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, c, "c");
	ASSERT_EQ(0, put_file(b, "f", "b\n"));
	ASSERT_EQ(0, make_dir(p, c, "d"));
	ASSERT_EQ(0, make_dir(p, b, "m"));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro:%s=ro", a, b, c);
	/* an open file */
	ASSERT_EQ(0, pathf(p, "%s/f", self->mnt));
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(EBUSY, remount(self->mnt, 0, "del:%s", b));
	close(fd);
	/* a cwd */
	ASSERT_EQ(0, pathf(p, "%s/d", self->mnt));
	pid = hold_cwd(p);
	ASSERT_LT(0, pid);
	usleep(200 * 1000);
	ASSERT_EQ(EBUSY, remount(self->mnt, 0, "del:%s", c));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* a mount point */
	ASSERT_EQ(0, pathf(mp, "%s/m", self->mnt));
	ASSERT_EQ(0, mount("rm-mp", mp, "tmpfs", 0, NULL));
	ASSERT_EQ(EBUSY, remount(self->mnt, 0, "del:%s", b));
	ASSERT_EQ(0, umount2(mp, 0));
	/* open for writing: no mod to ro */
	ASSERT_EQ(0, pathf(p, "%s/w", self->mnt));
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(EBUSY, remount(self->mnt, 0, "mod:%s=ro", a));
	close(fd);
	ASSERT_EQ(0, remount(self->mnt, 0, "mod:%s=ro", a));
	ASSERT_EQ(0, remount(self->mnt, 0, "mod:%s=rw", a));
	/* nothing in use any more: both go */
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s,del:%s", b, c));
	ASSERT_STREQ("w", names_in(self->mnt, "."));
}

/* What was open before keeps its branch; the names follow the new union. */
TEST_F(rm, open_files_keep_their_branch)
{
	char a[PATH_MAX], b[PATH_MAX], n[PATH_MAX], p[PATH_MAX], buf[16] = "";
	int fd;

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, n, "n");
	ASSERT_EQ(0, put_file(b, "f", "old\n"));
	ASSERT_EQ(0, put_file(n, "f", "new\n"));
	ASSERT_EQ(0, make_dir(p, b, "dir"));
	ASSERT_EQ(0, put_file(p, "x", "x\n"));
	ASSERT_EQ(0, make_dir(p, n, "dir"));
	ASSERT_EQ(0, put_file(p, "y", "y\n"));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	ASSERT_EQ(0, pathf(p, "%s/f", self->mnt));
	fd = open(p, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_STREQ("x", names_in(self->mnt, "dir"));
	ASSERT_EQ(0, remount(self->mnt, 0, "add:1:%s=ro", n));
	ASSERT_EQ(4, pread(fd, buf, sizeof(buf) - 1, 0));
	ASSERT_STREQ("old\n", buf);
	close(fd);
	ASSERT_STREQ("new\n", content(self->mnt, "f"));
	ASSERT_STREQ("x/y", names_in(self->mnt, "dir")) TH_LOG("a cached directory merges the new branch");
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", n));
	ASSERT_STREQ("old\n", content(self->mnt, "f"));
	ASSERT_STREQ("x", names_in(self->mnt, "dir"));
}

/* Docker's way to 127 branches: one page of br:, then append: batches. */
TEST_F_TIMEOUT(rm, docker_style_127_branches, 300)
{
	static char d[MOUNT_DATA_MAX];
	char a[PATH_MAX], p[LONGP], name[32];
	size_t off = 0;
	int i, first;

	br(_metadata, self, a, "rw");
	off = snprintf(d, sizeof(d), "br:%s=rw", a);
	for (i = 1; i < 127; i++) {
		snprintf(name, sizeof(name), "layer-with-a-long-name-%03d", i);
		br(_metadata, self, p, name);
		if (i == 126)
			ASSERT_EQ(0, put_file(p, "bottom", "126\n"));
	}
	/* as many as fit in 2 KiB at mount, the rest appended in batches */
	for (i = 1; i < 127; i++) {
		int n = snprintf(d + off, sizeof(d) - off, ":%s/layer-with-a-long-name-%03d=ro+wh",
				 self->dir, i);

		if (off + n >= 2048) {
			d[off] = 0;
			break;
		}
		off += n;
	}
	first = i;
	ASSERT_EQ(0, union_mount(&self->u, 0, "%s", d)) TH_LOG("mount: %s", strerror(errno));
	while (i < 127) {
		off = 0;
		for (; i < 127; i++) {
			int n = snprintf(d + off, sizeof(d) - off,
					 "append:%s/layer-with-a-long-name-%03d=ro+wh,", self->dir, i);

			if (off + n >= 2048)
				break;
			off += n;
		}
		ASSERT_EQ(0, remount(self->mnt, 0, "%s", d))
			TH_LOG("append batch ending at %d: %s", i, strerror(errno));
	}
	TH_LOG("%d branches at mount, %d appended", first, 127 - first);
	snprintf(p, sizeof(p), "%s/layer-with-a-long-name-126=ro+wh\n", self->dir);
	ASSERT_STREQ(p, si_file(self->mnt, "br126"));
	ASSERT_STREQ("126\n", content(self->mnt, "bottom"));
	br(_metadata, self, p, "one-too-many");
	ASSERT_EQ(ENOSPC, remount(self->mnt, 0, "append:%s", p));
	ASSERT_STREQ("", si_file(self->mnt, "br127"));
}

/* "br=<dir>/<prefix>000=rw:<dir>/<prefix>001...": @n branches, made here. */
static void br_list(struct __test_metadata *_metadata, FIXTURE_DATA(rm) *self,
		    char *d, size_t size, const char *prefix, int n)
{
	char p[PATH_MAX], name[16];
	size_t off = snprintf(d, size, "br=");
	int i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%03d", prefix, i);
		br(_metadata, self, p, name);
		off += snprintf(d + off, size - off, "%s%s%s", i ? ":" : "", p, i ? "" : "=rw");
		ASSERT_GT(size, off) TH_LOG("%d branches do not fit in a page", n);
	}
}

/*
 * A br= remount is judged on the table it makes, not on old and new
 * branches together: 64 new over 64 old is fine; 128 is too many, said so.
 */
TEST_F_TIMEOUT(rm, br_remount_replaces_a_full_table, 300)
{
	static char d[MOUNT_DATA_MAX], before[65536], after[65536];
	char p[LONGP], msg[512];
	int kfd;

	br_list(_metadata, self, d, sizeof(d), "o", 64);
	ASSERT_EQ(0, pathf(p, "%s/o063", self->dir));
	ASSERT_EQ(0, put_file(p, "bottom", "old\n"));
	rm_mount(_metadata, self, "%s", d);
	br_list(_metadata, self, d, sizeof(d), "n", 64);
	ASSERT_EQ(0, pathf(p, "%s/n063", self->dir));
	ASSERT_EQ(0, put_file(p, "bottom", "new\n"));
	ASSERT_EQ(0, remount(self->mnt, 0, "%s", d)) TH_LOG("64 over 64");
	snprintf(p, sizeof(p), "%s/n063=ro\n", self->dir);
	ASSERT_STREQ(p, si_file(self->mnt, "br63"));
	ASSERT_STREQ("", si_file(self->mnt, "br64"));
	ASSERT_STREQ("new\n", content(self->mnt, "bottom"));

	br_list(_metadata, self, d, sizeof(d), "x", 128);
	ASSERT_EQ(0, state(self->mnt, before, sizeof(before)));
	kfd = kmsg_open();
	ASSERT_LE(0, kfd);
	ASSERT_EQ(ENOSPC, remount(self->mnt, 0, "%s", d));
	EXPECT_EQ(1, kmsg_find(kfd, "aufs: too many branches (128 > 127)", msg, sizeof(msg)));
	close(kfd);
	ASSERT_EQ(0, state(self->mnt, after, sizeof(after)));
	ASSERT_STREQ(before, after);
}

/*
 * udba=reval counts the changes of each branch filesystem: a filesystem
 * no branch is on any more is no longer watched (debugfs fs_marks), also
 * while the union keeps running, and a filesystem shared by two branches
 * is watched once.
 */
TEST_F(rm, a_deleted_branchs_filesystem_is_no_longer_watched)
{
	char a[PATH_MAX], b[PATH_MAX], o[PATH_MAX];

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, o, "other");
	ASSERT_EQ(0, mount("rm-other", o, "tmpfs", 0, "size=4m,mode=0755"));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	EXPECT_EQ(1, si_debugfs(self->mnt, "fs_marks"));
	ASSERT_EQ(0, remount(self->mnt, 0, "append:%s", o));
	EXPECT_EQ(2, si_debugfs(self->mnt, "fs_marks"));
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", o));
	EXPECT_EQ(1, si_debugfs(self->mnt, "fs_marks"));
	ASSERT_EQ(0, remount(self->mnt, 0, "udba=notify"));
	ASSERT_EQ(0, remount(self->mnt, 0, "udba=reval,append:%s", o));
	EXPECT_EQ(2, si_debugfs(self->mnt, "fs_marks"));
	ASSERT_EQ(0, remount(self->mnt, 0, "del:%s", o));
	EXPECT_EQ(1, si_debugfs(self->mnt, "fs_marks"));
	EXPECT_EQ(0, umount2(o, 0)) TH_LOG("umount of the deleted branch: %s", strerror(errno));
}

/* ---- a FUSE server that uses the union while it answers a lookup ---- */

#define FUSE_SLOW	"slow"		/* the directory whose lookup uses the union */
#define FUSE_WAIT	20		/* seconds the server waits for the union */

static void fuse_reply(int fd, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_out_header h = { .len = sizeof(h) + len, .error = error, .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)arg, len } };

	if (writev(fd, iov, len ? 2 : 1) < 0 && errno != ENOENT)
		perror("fuse reply");
}

static void fuse_dir_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = S_IFDIR | 0755;
	a->nlink = 2;
	a->blksize = 4096;
}

/*
 * Make <mnt>/made-by-the-fuse-server in a child and wait for it up to
 * FUSE_WAIT seconds: "ok", or what went wrong ("blocked": it is still
 * waiting for the union).
 */
static const char *fuse_use_union(const char *mnt)
{
	char p[LONGP];
	int i, st;
	pid_t pid;

	snprintf(p, sizeof(p), "%s/made-by-the-fuse-server", mnt);
	pid = fork();
	if (pid == 0)
		_exit(mkdir(p, 0755) ? 1 : 0);
	for (i = 0; i < FUSE_WAIT * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && !WEXITSTATUS(st) ? "ok" : "mkdir failed";
		usleep(100000);
	}
	return "blocked";	/* the child goes on when the remount ends */
}

/*
 * A minimal FUSE filesystem: an empty root holding one empty directory,
 * FUSE_SLOW.  Before it answers the lookup of FUSE_SLOW it makes a
 * directory in the union at @union_mnt and writes how that went to @out.
 * Ends when the filesystem is unmounted.
 */
static void fuse_server(int fd, const char *union_mnt, int out)
{
	static char buf[(1 << 20) + 4096];
	struct fuse_in_header *in = (void *)buf;
	const char *what;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		void *arg = in + 1;

		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION, .minor = 31,
						   .max_readahead = 65536, .max_write = 65536,
						   .max_background = 4, .congestion_threshold = 3,
						   .time_gran = 1 };

			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_LOOKUP: {
			struct fuse_entry_out o = { .nodeid = 2, .generation = 1,
						    .entry_valid = 3600, .attr_valid = 3600 };

			if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, FUSE_SLOW)) {
				fuse_reply(fd, in->unique, -ENOENT, NULL, 0);
				break;
			}
			what = fuse_use_union(union_mnt);
			if (write(out, what, strlen(what) + 1) < 0)
				perror("fuse server: result");
			fuse_dir_attr(&o.attr, 2);
			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out o = { .attr_valid = 3600 };

			fuse_dir_attr(&o.attr, in->nodeid);
			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_OPENDIR: {
			struct fuse_open_out o = { 0 };

			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_STATFS: {
			struct fuse_statfs_out o = { .st = { .bsize = 4096, .namelen = 255,
							     .frsize = 4096 } };

			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READDIR:	/* empty: the end at once */
		case FUSE_RELEASEDIR:
		case FUSE_FLUSH:
		case FUSE_RELEASE:
		case FUSE_FSYNCDIR:
			fuse_reply(fd, in->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;		/* no answer */
		default:
			fuse_reply(fd, in->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
}

/*
 * Resolving a new branch's path may wait for another filesystem's server
 * (FUSE, NFS), which may itself be using the union: the remount must not
 * hold the union's locks meanwhile.  The FUSE server here makes a
 * directory in the union before it answers the lookup of the new branch.
 */
TEST_F_TIMEOUT(rm, remount_waits_for_a_fuse_server_without_the_unions_locks, 120)
{
	char a[PATH_MAX], b[LONGP], fmnt[PATH_MAX], slow[PATH_MAX], opts[128], what[64] = "";
	struct pollfd pfd;
	int fd, res[2], st;
	pid_t server;

	if (access("/dev/fuse", F_OK) && system("modprobe -q fuse"))
		SKIP(return, "no FUSE in this kernel");
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "/dev/fuse: %s", strerror(errno));
	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, fmnt, "fuse");
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd);
	ASSERT_EQ(0, mount("aufs-test-fuse", fmnt, "fuse", MS_NOSUID | MS_NODEV, opts))
		TH_LOG("mount fuse: %s", strerror(errno));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	ASSERT_EQ(0, pipe(res));
	server = fork();
	ASSERT_LE(0, server);
	if (server == 0) {
		close(res[0]);
		fuse_server(fd, self->mnt, res[1]);
		_exit(0);
	}
	close(fd);
	close(res[1]);

	ASSERT_EQ(0, pathf(slow, "%s/%s", fmnt, FUSE_SLOW));
	EXPECT_EQ(0, remount(self->mnt, 0, "append:%s", slow));
	pfd = (struct pollfd){ .fd = res[0], .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, 10000)) TH_LOG("the FUSE server was never asked");
	ASSERT_LT(0, read(res[0], what, sizeof(what) - 1));
	EXPECT_STREQ("ok", what)
		TH_LOG("the union was unusable while the remount resolved a branch path");
	EXPECT_STREQ("made-by-the-fuse-server", names_in(self->mnt, "."));
	snprintf(b, sizeof(b), "%s=ro\n", slow);
	EXPECT_STREQ(b, si_file(self->mnt, "br2"));
	EXPECT_EQ(0, remount(self->mnt, 0, "del:%s", slow));
	EXPECT_EQ(0, union_umount(&self->u));
	EXPECT_EQ(0, umount2(fmnt, 0)) TH_LOG("umount fuse: %s", strerror(errno));
	if (umount2(fmnt, MNT_DETACH) && errno != EINVAL)
		TH_LOG("umount -l fuse: %s", strerror(errno));
	close(res[0]);
	ASSERT_EQ(server, waitpid(server, &st, 0));
}

/* mount -o remount,<exactly what /proc/mounts shows> changes nothing. */
TEST_F_TIMEOUT(rm, proc_mounts_round_trip, 300)
{
	static char before[65536], after[65536];
	char a[PATH_MAX], b[PATH_MAX], line[4096], cmd[8192], *opts, *end;
	const char *sets[] = {
		"", ",udba=none", ",udba=notify,dirperm1", ",noplink,nodio",
		",create=mfs:10,cpup=bup,xino=/tmp/x.xino", ",noxino,nowarn_perm,quiet,sum,acl",
		",diropq=a,dirwh=7,rdcache=0,rdblk=4096,rdhash=32",
	};
	unsigned int i;

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		rm_mount(_metadata, self, "br=%s=rw:%s=ro+wh%s", a, b, sets[i]);
		ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
		/* "none <mnt> aufs <opts> 0 0" */
		opts = strstr(line, " aufs ");
		ASSERT_NE(NULL, opts);
		opts += 6;
		end = strchr(opts, ' ');
		ASSERT_NE(NULL, end);
		*end = 0;
		ASSERT_EQ(0, state(self->mnt, before, sizeof(before)));
		/* as a user does it: mount(8) takes rw, relatime... itself */
		snprintf(cmd, sizeof(cmd), "mount -o remount,%s %s", opts, self->mnt);
		ASSERT_EQ(0, system(cmd)) TH_LOG("%s failed", cmd);
		ASSERT_EQ(0, state(self->mnt, after, sizeof(after)));
		ASSERT_STREQ(before, after) TH_LOG("set %u changed", i);
		ASSERT_EQ(0, union_umount(&self->u));
	}
}

/* stat(@path) as NOBODY in a child: 0 it can, 1 it cannot, 2 no setuid, -1. */
static int stat_as_nobody(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		struct stat st;

		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(2);
		_exit(stat(path, &st) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Options change on the live mount and show in /proc/mounts. */
TEST_F(rm, options_change_live)
{
	char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], line[4096];

	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	ASSERT_EQ(0, make_dir(d, b, "private"));
	ASSERT_EQ(0, put_file(d, "f", "s\n"));
	ASSERT_EQ(0, chmod(d, 0700));
	ASSERT_EQ(0, make_dir(d, a, "private"));
	ASSERT_EQ(0, chmod(d, 0755));
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	ASSERT_EQ(0, remount(self->mnt, 0, "udba=none,dirperm1"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	ASSERT_NE(NULL, strstr(line, ",udba=none,dirperm1")) TH_LOG("%s", line);
	ASSERT_EQ(0, pathf(d, "%s/private/f", self->mnt));
	ASSERT_EQ(0, stat_as_nobody(d)) TH_LOG("dirperm1 set by remount does not act");
	ASSERT_EQ(0, remount(self->mnt, 0, "udba=reval,nodirperm1"));
	ASSERT_EQ(0, mount_line(self->mnt, line, sizeof(line)));
	ASSERT_EQ(NULL, strstr(line, "udba=")) TH_LOG("%s", line);
	ASSERT_EQ(1, stat_as_nobody(d)) TH_LOG("nodirperm1 set by remount does not act");
	/* ro and back */
	ASSERT_EQ(0, remount(self->mnt, MS_RDONLY, "%s", ""));
	ASSERT_NE(0, put_file(self->mnt, "x", "x"));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(0, remount(self->mnt, 0, "%s", ""));
	ASSERT_EQ(0, put_file(self->mnt, "x", "x"));
}

/* aubr shows the table after each kind of remount. */
TEST_F(rm, aubr_follows_remounts)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], cmd[3 * PATH_MAX], out[8192];
	const char *aubr = getenv("AUBR");
	FILE *f;
	size_t n;

	if (!aubr || access(aubr, X_OK))
		SKIP(return, "AUBR not set");
	br(_metadata, self, a, "a");
	br(_metadata, self, b, "b");
	br(_metadata, self, c, "c");
	rm_mount(_metadata, self, "br=%s=rw:%s=ro", a, b);
	ASSERT_EQ(0, remount(self->mnt, 0, "append:%s=ro+wh,mod:%s=rr", c, b));
	snprintf(cmd, sizeof(cmd), "%s --json %s", aubr, self->mnt);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	ASSERT_EQ(0, pclose(f));
	ASSERT_NE(NULL, strstr(out, c)) TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "\"wh\"")) TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "\"rr\"")) TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "66")) TH_LOG("%s", out);
}

TEST_HARNESS_MAIN
