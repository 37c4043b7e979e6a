// SPDX-License-Identifier: GPL-2.0-only
/*
 * Every mount option the README lists, walked from one table: each is
 * either accepted (and then it works: its effect is checked here or by the
 * program named in the table) or refused with EINVAL and one kernel line
 * "aufs: ..." naming it, at mount and at remount.  An accepted option is
 * shown in /proc/mounts when it is not the default, and what /proc/mounts
 * shows can be passed back: by remount, and to a fresh mount, giving the
 * same options again.
 *
 * Also shwh (show whiteouts), as aufs's design/08shwh.txt has it: only on
 * a read-only mount; every .wh.* entry of a directory is listed and can be
 * looked up as the file it is, and a whiteout still hides its name.
 *
 * The module is loaded by the guest suite.
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

FIXTURE(op) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char base[PATH_MAX];
	char mnt[PATH_MAX];
	struct au_union u;
};

FIXTURE_SETUP(op)
{
	self->u = (struct au_union){
		.tag = "op", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "base", self->base } },
	};
	ASSERT_EQ(1, aufs_registered()) TH_LOG("aufs is not loaded: run this in the test VM");
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, put_file(self->top, "t.txt", "top\n"));
	ASSERT_EQ(0, put_file(self->base, "b.txt", "base\n"));
}

FIXTURE_TEARDOWN(op)
{
	UNION_TEARDOWN(&self->u, 0);
}

/* ---- /proc/mounts ---- */

/* The raw option field of /proc/mounts (rw,relatime,si=...,...). */
static int raw_opts(const char *mnt, char *out, size_t size)
{
	char line[8192], *p;
	int i;

	if (mount_line(mnt, line, sizeof(line)))
		return -1;
	p = line;
	for (i = 0; i < 3 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	p[strcspn(p, " ")] = '\0';
	snprintf(out, size, "%s", p);
	return 0;
}

/*
 * The options of the mount at mnt as /proc/mounts shows them, without the
 * leading rw/ro (a mount flag, not data) and without si= (which changes
 * from mount to mount): into out, "" when none.
 */
static int shown_opts(const char *mnt, char *out, size_t size)
{
	char p[8192], *tok, *save = NULL;

	if (raw_opts(mnt, p, sizeof(p)))
		return -1;
	out[0] = '\0';
	for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "rw") || !strcmp(tok, "ro") || !strcmp(tok, "relatime") ||
		    !strncmp(tok, "si=", 3))
			continue;
		if (strlen(out) + strlen(tok) + 2 > size)
			return -1;
		if (out[0])
			strcat(out, ",");
		strcat(out, tok);
	}
	return 0;
}

/*
 * Run @fn (mount or remount) and expect it to fail with EINVAL and one
 * kernel line starting "aufs: " that names @name.
 */
static void expect_refused(struct __test_metadata *_metadata, const char *what,
			   const char *name, int ret, int e, int kfd)
{
	char msg[1024];
	int found;

	ASSERT_NE(0, ret) TH_LOG("%s succeeded, expected EINVAL", what);
	ASSERT_EQ(EINVAL, e) TH_LOG("%s: %s, expected EINVAL", what, strerror(e));
	found = kmsg_find(kfd, "aufs: ", msg, sizeof(msg));
	ASSERT_EQ(1, found) TH_LOG("%s: no kernel line starting 'aufs: '", what);
	EXPECT_NE(NULL, strstr(msg, name)) TH_LOG("%s: the kernel line does not name %s: %s",
						  what, name, msg);
}

/* ---- effects checked here ---- */

typedef void (*effect_fn)(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int on);

/* diropq=a: a new directory gets the opaque marker on its branch; w: only over a whiteout. */
static void eff_diropq(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int on)
{
	char p[PATH_MAX];

	ASSERT_EQ(0, pathf(p, "%s/newdir", self->mnt));
	ASSERT_EQ(0, mkdir(p, 0755)) TH_LOG("mkdir %s: %s", p, strerror(errno));
	EXPECT_EQ(on, exists(self->top, "newdir/.wh..wh..opq"));
	EXPECT_STREQ("", names_in(self->mnt, "newdir"));
	ASSERT_EQ(0, rmdir(p)) TH_LOG("rmdir %s: %s", p, strerror(errno));
	EXPECT_EQ(0, exists(self->top, "newdir"));
}

/* dio (the default): O_DIRECT as the branch allows it; nodio: EINVAL. */
static void odirect(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int allowed)
{
	char p[PATH_MAX];
	int fd, e, on_branch;

	ASSERT_EQ(0, pathf(p, "%s/b.txt", self->base));
	fd = open(p, O_RDONLY | O_DIRECT);
	on_branch = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(0, pathf(p, "%s/b.txt", self->mnt));
	fd = open(p, O_RDONLY | O_DIRECT);
	e = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(allowed ? on_branch : EINVAL, e) TH_LOG("O_DIRECT open: %s (branch: %s)",
						       strerror(e), strerror(on_branch));
}

static void eff_dio(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int on)
{
	(void)on;
	odirect(_metadata, self, 1);
}

static void eff_nodio(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int on)
{
	(void)on;
	odirect(_metadata, self, 0);
}

/* noplink / plink: shown, and the union still reads and writes. */
static void eff_rw(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self, int on)
{
	char p[PATH_MAX];

	(void)on;
	EXPECT_STREQ("base\n", content(self->mnt, "b.txt"));
	ASSERT_EQ(0, pathf(p, "%s/b.txt", self->mnt));
	ASSERT_EQ(0, write_file(p, "changed\n"));
	EXPECT_STREQ("changed\n", content(self->top, "b.txt"));
	EXPECT_STREQ("base\n", content(self->base, "b.txt"));
}

/* Undo on the branches (unmounted) what an effect changed. */
static void reset(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self)
{
	char p[PATH_MAX];

	if (exists(self->top, "b.txt")) {
		ASSERT_EQ(0, pathf(p, "%s/b.txt", self->top));
		ASSERT_EQ(0, unlink(p));
	}
}

/* ---- the table ---- */

enum kind {
	ACCEPT,		/* works; shown as @shown ("" when default) */
	REFUSE,		/* EINVAL and an aufs: line naming it, at mount and remount */
};

struct opt {
	const char *opt;
	enum kind kind;
	const char *shown;	/* ACCEPT: what /proc/mounts adds ("" for nothing) */
	effect_fn effect;	/* ACCEPT: checked here (NULL: see @where) */
	const char *where;	/* where its effect is tested otherwise */
};

static const struct opt opts[] = {
	{ "udba=reval", ACCEPT, "", NULL, "udba.c" },
	{ "udba=notify", ACCEPT, "udba=notify", NULL, "udba.c" },
	{ "udba=none", ACCEPT, "udba=none", NULL, "udba.c" },
	{ "metacopy", ACCEPT, "metacopy", NULL, "metacopy.c" },
	{ "nometacopy", ACCEPT, "", NULL, "metacopy.c" },
	{ "plink", ACCEPT, "", eff_rw, "hardlink.c" },
	{ "noplink", ACCEPT, "noplink", eff_rw, "hardlink.c" },
	{ "dirperm1", ACCEPT, "dirperm1", NULL, "xattr_acl.c" },
	{ "nodirperm1", ACCEPT, "", NULL, "xattr_acl.c" },
	{ "xino=/dev/shm/aufs.xino", ACCEPT, "xino=/dev/shm/aufs.xino", NULL, "sysfs_proc.c (no file: README)" },
	{ "noxino", ACCEPT, "noxino", NULL, "sysfs_proc.c" },
	{ "dio", ACCEPT, "", eff_dio, "file_io.c" },
	{ "nodio", ACCEPT, "nodio", eff_nodio, "file_io.c" },
	{ "noshwh", ACCEPT, "", NULL, "this program (shwh_*)" },
	{ "create=tdp", ACCEPT, "", eff_rw, "policy.c" },
	{ "create=rr", ACCEPT, "create=rr", eff_rw, "policy.c" },
	{ "create=mfs", ACCEPT, "create=mfs:30", eff_rw, "policy.c" },
	{ "create=mfs:5", ACCEPT, "create=mfs:5", eff_rw, "policy.c" },
	{ "create=pmfs:7", ACCEPT, "create=pmfs:7", eff_rw, "policy.c" },
	{ "create=mfsrr:1048576", ACCEPT, "create=mfsrr:1048576:30", eff_rw, "policy.c" },
	{ "create=pmfsrr:1048576:9", ACCEPT, "create=pmfsrr:1048576:9", eff_rw, "policy.c" },
	{ "create=tdmfs:1048576", ACCEPT, "create=tdmfs:1048576:30", eff_rw, "policy.c" },
	{ "create=mfsrr", REFUSE, NULL, NULL, NULL },
	{ "create=mfs:3601", REFUSE, NULL, NULL, NULL },
	{ "cpup=tdp", ACCEPT, "", eff_rw, "policy.c, copy_up.c" },
	{ "cpup=bup", ACCEPT, "cpup=bup", eff_rw, "policy.c, copy_up.c" },
	{ "cpup=bu", ACCEPT, "cpup=bu", eff_rw, "policy.c" },
	{ "cpup=x", REFUSE, NULL, NULL, NULL },
	{ "sum", ACCEPT, "sum", eff_rw, "policy.c" },
	{ "nosum", ACCEPT, "", eff_rw, "policy.c" },
	{ "dirren", ACCEPT, "dirren", eff_rw, "dirren.c" },
	{ "nodirren", ACCEPT, "", eff_rw, "dirren.c" },
	{ "diropq=w", ACCEPT, "", eff_diropq, NULL },
	{ "diropq=whiteouted", ACCEPT, "", eff_diropq, NULL },
	{ "diropq=a", ACCEPT, "diropq=a", eff_diropq, NULL },
	{ "diropq=always", ACCEPT, "diropq=a", eff_diropq, NULL },
	{ "diropq=x", REFUSE, NULL, NULL, NULL },
	{ "dirwh=7", ACCEPT, "dirwh=7", NULL, "a speed knob: no effect here (README)" },
	{ "rdcache=0", ACCEPT, "rdcache=0", NULL, "a speed knob: no effect here (README)" },
	{ "rdblk=4096", ACCEPT, "rdblk=4096", NULL, "a speed knob: no effect here (README)" },
	{ "rdblk=def", ACCEPT, "", NULL, "a speed knob: no effect here (README)" },
	{ "rdhash=32", ACCEPT, "rdhash=32", NULL, "a speed knob: no effect here (README)" },
	{ "acl", ACCEPT, "acl", NULL, "xattr_acl.c (ACLs always work)" },
	{ "noacl", REFUSE, NULL, NULL, NULL },
	{ "warn_perm", REFUSE, NULL, NULL, NULL },
	{ "nowarn_perm", ACCEPT, "", eff_rw, "never warned" },
	{ "verbose", REFUSE, NULL, NULL, NULL },
	{ "v", REFUSE, NULL, NULL, NULL },
	{ "noverbose", ACCEPT, "", eff_rw, "never verbose" },
	{ "quiet", ACCEPT, "", eff_rw, "never verbose" },
	{ "relatime", ACCEPT, "", eff_rw, "ignored, as aufs" },
	{ "si=1234abcd", ACCEPT, "", eff_rw, "ignored, as aufs" },
	{ "bogus", REFUSE, NULL, NULL, NULL },
};

/*
 * Mount with each option: accepted ones show what the table says and the
 * shown options mount again (remount, and umount + mount) to the same;
 * refused ones fail with EINVAL and a kernel line naming them, at mount
 * and at remount of a default mount, which stays as it was.
 */
TEST_F(op, walk_the_options)
{
	char before[4096], got[4096], again[4096], raw[4096];
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct opt *o = &opts[i];

		TH_LOG("option %s", o->opt);
		if (o->kind == REFUSE) {
			int kfd = kmsg_open(), ret, e;
			char name[64];

			/* the kernel line names the option (for NAME=VALUE: NAME) */
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(o->opt, "="), o->opt);

			ASSERT_LE(0, kfd);
			ret = union_mount(&self->u, 0, "br=%s:%s,%s", self->top, self->base, o->opt);
			e = errno;
			if (ret == 0)
				union_umount(&self->u);
			expect_refused(_metadata, "mount", name, ret, e, kfd);
			close(kfd);

			ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s", self->top, self->base));
			ASSERT_EQ(0, raw_opts(self->mnt, before, sizeof(before)));
			kfd = kmsg_open();
			ASSERT_LE(0, kfd);
			e = remount(self->mnt, 0, "%s", o->opt);
			expect_refused(_metadata, "remount", name, e ? -1 : 0, e, kfd);
			close(kfd);
			ASSERT_EQ(0, raw_opts(self->mnt, got, sizeof(got)));
			EXPECT_STREQ(before, got) TH_LOG("a refused remount changed the mount");
			ASSERT_EQ(0, union_umount(&self->u));
			continue;
		}

		/* at mount */
		ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s,%s", self->top, self->base, o->opt))
			TH_LOG("mount with %s: %s", o->opt, strerror(errno));
		ASSERT_EQ(0, shown_opts(self->mnt, got, sizeof(got)));
		EXPECT_STREQ(o->shown, got) TH_LOG("/proc/mounts after mount with %s", o->opt);
		if (o->effect)
			o->effect(_metadata, self, strcmp(o->shown, "") != 0);

		/* /proc/mounts passed back by remount (si= and relatime included) */
		ASSERT_EQ(0, raw_opts(self->mnt, raw, sizeof(raw)));
		ASSERT_EQ(0, strncmp(raw, "rw,", 3)) TH_LOG("%s", raw);
		EXPECT_EQ(0, remount(self->mnt, 0, "%s", raw + 3)) TH_LOG("remount with %s", raw + 3);
		ASSERT_EQ(0, shown_opts(self->mnt, again, sizeof(again)));
		EXPECT_STREQ(got, again);
		ASSERT_EQ(0, union_umount(&self->u));
		reset(_metadata, self);

		/* and to a fresh mount */
		ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s%s%s", self->top, self->base,
					 got[0] ? "," : "", got))
			TH_LOG("mount with the shown %s: %s", got, strerror(errno));
		ASSERT_EQ(0, shown_opts(self->mnt, again, sizeof(again)));
		EXPECT_STREQ(got, again);
		ASSERT_EQ(0, union_umount(&self->u));

		/* by remount of a default mount, where it shows the same */
		ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s", self->top, self->base));
		EXPECT_EQ(0, remount(self->mnt, 0, "%s", o->opt)) TH_LOG("remount %s", o->opt);
		ASSERT_EQ(0, shown_opts(self->mnt, again, sizeof(again)));
		EXPECT_STREQ(o->shown, again) TH_LOG("/proc/mounts after remount with %s", o->opt);
		if (o->effect)
			o->effect(_metadata, self, strcmp(o->shown, "") != 0);
		ASSERT_EQ(0, union_umount(&self->u));
		reset(_metadata, self);
	}
}

/* Docker's mount data and remount batches keep working. */
TEST_F(op, docker_options)
{
	char got[4096], third[PATH_MAX];

	ASSERT_EQ(0, pathf(third, "%s/third", self->dir));
	ASSERT_EQ(0, mkdir(third, 0755));
	ASSERT_EQ(0, put_file(third, "l.txt", "layer\n"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br:%s=rw:%s=ro+wh,dio,xino=/dev/shm/aufs.xino,dirperm1",
				 self->top, self->base));
	ASSERT_EQ(0, shown_opts(self->mnt, got, sizeof(got)));
	EXPECT_STREQ("xino=/dev/shm/aufs.xino,dirperm1", got);
	EXPECT_EQ(0, remount(self->mnt, 0, "append:%s=ro+wh,", third));
	EXPECT_STREQ("layer\n", content(self->mnt, "l.txt"));
	EXPECT_EQ(0, remount(self->mnt, 0, "del:%s", third));
	EXPECT_EQ(0, exists(self->mnt, "l.txt"));
	ASSERT_EQ(0, union_umount(&self->u));
	rmdir(third);
}

/* ---- shwh ---- */

/*
 * Make whiteouts and an opaque directory the way a live system's session
 * makes them: through a writable union over base.
 */
static void make_session(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self)
{
	char p[PATH_MAX];

	ASSERT_EQ(0, put_file(self->base, "gone", "deleted in the session\n"));
	ASSERT_EQ(0, pathf(p, "%s/d", self->base));
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(0, put_file(p, "below", "hidden by the opaque d\n"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=rw:%s=ro", self->top, self->base));
	ASSERT_EQ(0, pathf(p, "%s/gone", self->mnt));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, pathf(p, "%s/d/below", self->mnt));
	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, pathf(p, "%s/d", self->mnt));
	ASSERT_EQ(0, rmdir(p));
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(0, put_file(p, "new", "made in the session\n"));
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(1, exists(self->top, ".wh.gone"));
	ASSERT_EQ(1, exists(self->top, "d/.wh..wh..opq"));
}

/* What a shwh mount of the session shows. */
static void check_shwh_view(struct __test_metadata *_metadata, FIXTURE_DATA(op) *self)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;

	ASSERT_EQ(0, lstat_in(self->mnt, ".wh.gone", &st)) TH_LOG("stat .wh.gone: %s", strerror(errno));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0, st.st_size);
	EXPECT_EQ(0, exists(self->mnt, "gone")) TH_LOG("a shown whiteout still hides its name");
	EXPECT_EQ(1, exists(self->mnt, "d/.wh..wh..opq"));
	EXPECT_STREQ("made in the session\n", content(self->mnt, "d/new"));
	EXPECT_EQ(0, exists(self->mnt, "d/below")) TH_LOG("the opaque marker still stops the merge");
	EXPECT_STREQ(".wh..wh..opq/new", names_in(self->mnt, "d"));
	EXPECT_EQ(1, names_with_prefix(self->mnt, ".wh.gone"));
	EXPECT_NE(NULL, strstr(names_in(self->mnt, ""), ".wh.gone/"));
	EXPECT_EQ(NULL, strstr(names_in(self->mnt, ""), "/gone/"));
	/* read-only: a whiteout cannot be changed through the union */
	ASSERT_EQ(0, pathf(p, "%s/.wh.gone", self->mnt));
	fd = open(p, O_WRONLY);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EROFS, errno);
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(-1, unlink(p));
	EXPECT_EQ(EROFS, errno);
}

TEST_F(op, shwh_shows_whiteouts)
{
	make_session(_metadata, self);
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s=ro+wh:%s=ro,shwh", self->top, self->base))
		TH_LOG("mount ro,shwh: %s", strerror(errno));
	check_shwh_view(_metadata, self);
	{
		/* /proc/mounts shows it and takes it back (a read-only remount) */
		char raw[4096], got[4096];

		ASSERT_EQ(0, shown_opts(self->mnt, got, sizeof(got)));
		EXPECT_STREQ("shwh", got);
		ASSERT_EQ(0, raw_opts(self->mnt, raw, sizeof(raw)));
		ASSERT_EQ(0, strncmp(raw, "ro,", 3)) TH_LOG("%s", raw);
		EXPECT_EQ(0, remount(self->mnt, MS_RDONLY, "%s", raw + 3));
		ASSERT_EQ(0, shown_opts(self->mnt, got, sizeof(got)));
		EXPECT_STREQ("shwh", got);
	}
	ASSERT_EQ(0, drop_caches("3"));
	check_shwh_view(_metadata, self);
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s=ro+wh:%s=ro,shwh", self->top, self->base));
	check_shwh_view(_metadata, self);
	ASSERT_EQ(0, union_umount(&self->u));

	/* Without shwh the whiteouts are hidden and their names reserved. */
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s=ro+wh:%s=ro", self->top, self->base));
	EXPECT_EQ(0, names_with_prefix(self->mnt, ".wh."));
	EXPECT_EQ(0, names_with_prefix(self->mnt, "gone"));
	EXPECT_STREQ("new", names_in(self->mnt, "d"));
	{
		struct stat st;

		EXPECT_EQ(-1, lstat_in(self->mnt, ".wh.gone", &st));
		EXPECT_EQ(EPERM, errno);
	}
	/* ... and shown by a remount that adds shwh (still read-only) */
	EXPECT_EQ(0, remount(self->mnt, MS_RDONLY, "shwh"));
	check_shwh_view(_metadata, self);
	ASSERT_EQ(0, union_umount(&self->u));
}

/*
 * The use aufs's design names: the shwh view of two layers copied into a
 * new layer keeps the whiteouts and the opaque marker, so that layer over
 * base shows what the two did.
 */
TEST_F(op, shwh_merge_layers)
{
	char merged[PATH_MAX];

	make_session(_metadata, self);
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s=ro+wh:%s=ro,shwh", self->top, self->base));
	ASSERT_EQ(0, pathf(merged, "%s/merged", self->dir));
	ASSERT_EQ(0, sh(NULL, 0, "cp -a '%s/.' '%s/'", self->mnt, merged));
	ASSERT_EQ(0, union_umount(&self->u));
	EXPECT_EQ(1, exists(merged, ".wh.gone"));
	EXPECT_EQ(1, exists(merged, "d/.wh..wh..opq"));
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s=ro+wh:%s=ro", merged, self->base));
	EXPECT_EQ(0, exists(self->mnt, "gone"));
	EXPECT_STREQ("new", names_in(self->mnt, "d"));
	EXPECT_STREQ("base\n", content(self->mnt, "b.txt"));
	ASSERT_EQ(0, union_umount(&self->u));
	rm_tree(merged);
}

/* shwh needs a read-only mount: refused rw, at mount and at remount. */
TEST_F(op, shwh_read_only_only)
{
	char before[4096], got[4096];
	int kfd, ret, e;

	kfd = kmsg_open();
	ASSERT_LE(0, kfd);
	ret = union_mount(&self->u, 0, "br=%s:%s,shwh", self->top, self->base);
	e = errno;
	if (ret == 0)
		union_umount(&self->u);
	expect_refused(_metadata, "mount rw,shwh", "shwh", ret, e, kfd);
	close(kfd);

	/* adding it to a writable mount */
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s:%s", self->top, self->base));
	ASSERT_EQ(0, raw_opts(self->mnt, before, sizeof(before)));
	kfd = kmsg_open();
	ASSERT_LE(0, kfd);
	e = remount(self->mnt, 0, "shwh");
	expect_refused(_metadata, "remount shwh", "shwh", e ? -1 : 0, e, kfd);
	close(kfd);
	ASSERT_EQ(0, raw_opts(self->mnt, got, sizeof(got)));
	EXPECT_STREQ(before, got);
	ASSERT_EQ(0, union_umount(&self->u));

	/* making a shwh mount writable */
	ASSERT_EQ(0, union_mount(&self->u, MS_RDONLY, "br=%s:%s,shwh", self->top, self->base));
	ASSERT_EQ(0, raw_opts(self->mnt, before, sizeof(before)));
	EXPECT_EQ(0, strncmp(before, "ro,", 3)) TH_LOG("%s", before);
	kfd = kmsg_open();
	ASSERT_LE(0, kfd);
	e = remount(self->mnt, 0, "%s", "");
	expect_refused(_metadata, "remount rw of shwh", "shwh", e ? -1 : 0, e, kfd);
	close(kfd);
	ASSERT_EQ(0, raw_opts(self->mnt, got, sizeof(got)));
	EXPECT_STREQ(before, got);
	/* noshwh with rw is fine */
	EXPECT_EQ(0, remount(self->mnt, 0, "noshwh"));
	ASSERT_EQ(0, shown_opts(self->mnt, got, sizeof(got)));
	EXPECT_STREQ("", got);
	ASSERT_EQ(0, raw_opts(self->mnt, got, sizeof(got)));
	EXPECT_EQ(0, strncmp(got, "rw,", 3)) TH_LOG("%s", got);
	ASSERT_EQ(0, union_umount(&self->u));
}

TEST_HARNESS_MAIN
