// SPDX-License-Identifier: GPL-2.0-only
/*
 * What userspace sees of an aufs mount: its /proc/mounts and mountinfo
 * lines, /proc/filesystems, and /sys/fs/aufs/{config,si_<si>/...}.
 * The aufs module is already loaded (tests/vm/guest-suite.sh).
 */
#include "aufs_test.h"

#include "kselftest_harness.h"

FIXTURE(sp) {
	char dir[PATH_MAX];
	char top[PATH_MAX];
	char low1[PATH_MAX];	/* name with a space */
	char low2[PATH_MAX];
	char mnt[PATH_MAX];
	char mnt2[PATH_MAX];
	struct au_union u;	/* top, low1, low2 and mnt */
	int mounted2;
};

FIXTURE_SETUP(sp)
{
	self->u = (struct au_union){
		.tag = "sp", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->top }, { "lower one", self->low1 }, { "low2", self->low2 } },
	};
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, make_dir(self->mnt2, self->dir, "mnt2"));
	ASSERT_EQ(0, put_file(self->low2, "f", "f\n"));
}

FIXTURE_TEARDOWN(sp)
{
	if (self->mounted2)
		TEARDOWN_UMOUNT(self->mnt2);
	UNION_TEARDOWN(&self->u, 0);
}

static void do_mount(struct __test_metadata *_metadata, const char *mnt, int *flag,
		     unsigned long flags, const char *data)
{
	ASSERT_EQ(0, aufs_mount(mnt, flags, data))
		TH_LOG("mount -o '%s' %s: %s", data, mnt, strerror(errno));
	*flag = 1;
}

/* Split a /proc/mounts line into its 6 fields (in place). */
static int split_fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return -1;
		f[n++] = tok;
	}
	return n;
}

/* Is s a nonzero lowercase hex number? */
static int valid_si(const char *s)
{
	if (!*s || strspn(s, "0123456789abcdef") != strlen(s))
		return 0;
	return strtoull(s, NULL, 16) != 0;
}

/*
 * Check the /proc/mounts line of mnt: "none <mnt> aufs <opts> 0 0" where
 * opts is "<rw|ro>,relatime,si=<si><extra>"; stores si.
 */
static void check_proc_mounts(struct __test_metadata *_metadata, const char *mnt,
			      const char *rwro, const char *extra, char *si, size_t sisize)
{
	char line[8192], copy[8192], esc[PATH_MAX * 4], want[256];
	char *f[8];
	const char *p;

	ASSERT_EQ(0, mount_line(mnt, line, sizeof(line))) TH_LOG("%s not in /proc/mounts", mnt);
	TH_LOG("/proc/mounts: %s", line);
	snprintf(copy, sizeof(copy), "%s", line);
	ASSERT_EQ(6, split_fields(copy, f, 8));
	ASSERT_STREQ(AUFS_SOURCE, f[0]);
	escape_path(mnt, esc, sizeof(esc));
	ASSERT_STREQ(esc, f[1]);
	ASSERT_STREQ(AUFS_FSTYPE, f[2]);
	ASSERT_STREQ("0", f[4]);
	ASSERT_STREQ("0", f[5]);
	/* options */
	snprintf(want, sizeof(want), "%s,relatime,si=", rwro);
	ASSERT_EQ(0, strncmp(f[3], want, strlen(want))) TH_LOG("options '%s'", f[3]);
	p = f[3] + strlen(want);
	ASSERT_LT(0, (int)strspn(p, "0123456789abcdef"));
	ASSERT_GT(sisize, strspn(p, "0123456789abcdef"));
	memcpy(si, p, strspn(p, "0123456789abcdef"));
	si[strspn(p, "0123456789abcdef")] = '\0';
	ASSERT_TRUE(valid_si(si)) TH_LOG("si '%s'", si);
	ASSERT_STREQ(extra, p + strlen(si));
}

/* The whole of a /proc file into @buf (NUL-terminated); its length or -errno. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += n;
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

/*
 * Options whose text is longer than a page once escaped (an xino= path of
 * spaces, each shown as \040) are shown whole: /proc/mounts and mountinfo
 * stay readable for every process in the namespace, mount(8), findmnt and
 * df work, and libmount's umount finds the mount.
 */
TEST_F(sp, proc_mounts_longer_than_a_page)
{
	static char data[MOUNT_DATA_MAX], xino[PATH_MAX], esc[4 * PATH_MAX], want[4 * PATH_MAX + 8];
	static char buf[1 << 20];
	static const char *const files[] = { "/proc/self/mounts", "/proc/self/mountinfo" };
	char cmd[PATH_MAX + 64];
	size_t off;
	unsigned int i;
	ssize_t n;

	off = snprintf(xino, sizeof(xino), "/tmp");
	for (i = 0; i < 14; i++) {
		xino[off++] = '/';
		memset(xino + off, ' ', 200);
		off += 200;
	}
	snprintf(xino + off, sizeof(xino) - off, "/x.xino");
	ASSERT_EQ(0, dataf(data, "br=%s=rw,xino=%s", self->top, xino));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, data);
	escape_path(xino, esc, sizeof(esc));
	ASSERT_LT(4096, strlen(esc));
	snprintf(want, sizeof(want), ",xino=%s", esc);
	for (i = 0; i < 2; i++) {
		n = read_proc(files[i], buf, sizeof(buf));
		ASSERT_LT(0, n) TH_LOG("read %s: %s", files[i], strerror(-n));
		EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("%s lacks the xino path", files[i]);
	}
	EXPECT_EQ(0, system("mount >/dev/null"));
	EXPECT_EQ(0, system("findmnt -n -t aufs >/dev/null"));
	EXPECT_EQ(0, system("df -a >/dev/null"));
	snprintf(cmd, sizeof(cmd), "umount '%s'", self->mnt);
	ASSERT_EQ(0, system(cmd));
	self->u.mounted = 0;
}

TEST_F(sp, proc_mounts_default_options)
{
	char d[MOUNT_DATA_MAX], si[64];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	check_proc_mounts(_metadata, self->mnt, "rw", "", si, sizeof(si));
}

/* dio is a default (aufs 6.1): not shown; nodio is. */
TEST_F(sp, proc_mounts_dio)
{
	char d[MOUNT_DATA_MAX], si[64];

	ASSERT_EQ(0, dataf(d, "br=%s:%s,nodio", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	check_proc_mounts(_metadata, self->mnt, "rw", ",nodio", si, sizeof(si));
}

TEST_F(sp, proc_mounts_readonly)
{
	char d[MOUNT_DATA_MAX], si[64];

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, MS_RDONLY, d);
	check_proc_mounts(_metadata, self->mnt, "ro", "", si, sizeof(si));
}

/* mountinfo: "... - aufs none rw,si=<si>" with the same si as /proc/mounts. */
TEST_F(sp, mountinfo_line)
{
	char d[MOUNT_DATA_MAX], si[64], buf[8192], esc[PATH_MAX * 4], want[256];
	FILE *f;
	int found = 0;

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	check_proc_mounts(_metadata, self->mnt, "rw", "", si, sizeof(si));
	escape_path(self->mnt, esc, sizeof(esc));
	f = fopen("/proc/self/mountinfo", "re");
	ASSERT_NE(NULL, f);
	while (fgets(buf, sizeof(buf), f)) {
		char *fld[32];
		int n, i;

		buf[strcspn(buf, "\n")] = '\0';
		n = split_fields(buf, fld, 32);
		if (n < 10 || strcmp(fld[4], esc))
			continue;
		/* optional fields end at "-" */
		for (i = 6; i < n && strcmp(fld[i], "-"); i++)
			;
		ASSERT_LT(i + 3, n) TH_LOG("short mountinfo line");
		ASSERT_STREQ(AUFS_FSTYPE, fld[i + 1]);
		ASSERT_STREQ(AUFS_SOURCE, fld[i + 2]);
		snprintf(want, sizeof(want), "rw,si=%s", si);
		ASSERT_STREQ(want, fld[i + 3]);
		found = 1;
	}
	fclose(f);
	ASSERT_TRUE(found);
}

TEST(proc_filesystems_lists_aufs)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char buf[256];
	int found = 0;

	ASSERT_NE(NULL, f);
	while (fgets(buf, sizeof(buf), f))
		if (!strcmp(buf, "nodev\taufs\n"))
			found = 1;
	fclose(f);
	ASSERT_TRUE(found) TH_LOG("no 'nodev<TAB>aufs' line in /proc/filesystems");
}

TEST(sysfs_config)
{
	const char want[] = "CONFIG_AUFS_FS=m\n";
	char buf[8192];
	struct stat st;

	ASSERT_EQ(0, stat(AUFS_SYSFS, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(0, stat(AUFS_SYSFS "/config", &st));
	ASSERT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ(0444, st.st_mode & 07777);
	ASSERT_LE(0, read_file(AUFS_SYSFS "/config", buf, sizeof(buf)));
	ASSERT_EQ(0, strncmp(buf, want, strlen(want))) TH_LOG("config starts '%.40s'", buf);
	/* one CONFIG_AUFS_* line per build option */
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		ASSERT_EQ(0, strncmp(l, "CONFIG_AUFS_", 12)) TH_LOG("config line '%.60s'", l);
		ASSERT_NE(NULL, strchr(l, '\n'));
	}
}

/* Three branches, one with a space in its path: br<N> and brid<N>. */
TEST_F(sp, sysfs_branch_files)
{
	const char *paths[3] = { self->top, self->low1, self->low2 };
	const char *perms[3] = { "rw", "ro+wh", "ro" };
	char d[MOUNT_DATA_MAX], si[64], name[32], got[PATH_MAX * 5], want[PATH_MAX * 5];
	char esc[PATH_MAX * 4], p[PATH_MAX];
	struct stat st;
	int i;

	ASSERT_EQ(0, dataf(d, "br=%s=%s:%s=%s:%s=%s", paths[0], perms[0], paths[1], perms[1],
			   paths[2], perms[2]));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	ASSERT_EQ(0, mount_si(self->mnt, si, sizeof(si)));
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "br%d", i);
		ASSERT_LE(0, read_si_file(si, name, got, sizeof(got)))
			TH_LOG("si_%s/%s: %s", si, name, strerror(errno));
		escape_path(paths[i], esc, sizeof(esc));
		snprintf(want, sizeof(want), "%s=%s\n", esc, perms[i]);
		ASSERT_STREQ(want, got);

		snprintf(name, sizeof(name), "brid%d", i);
		ASSERT_LE(0, read_si_file(si, name, got, sizeof(got)))
			TH_LOG("si_%s/%s: %s", si, name, strerror(errno));
		snprintf(want, sizeof(want), "%d\n", 64 + i);
		ASSERT_STREQ(want, got);
	}
	ASSERT_EQ(0, si_path(p, si, "br3"));
	ASSERT_EQ(-1, stat(p, &st));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, si_path(p, si, "brid3"));
	ASSERT_EQ(-1, stat(p, &st));
	ASSERT_EQ(ENOENT, errno);
}

/* Tab and newline in branch paths are escaped too. */
TEST_F(sp, sysfs_branch_escapes)
{
	char d[MOUNT_DATA_MAX], si[64], got[PATH_MAX * 5], want[PATH_MAX * 5];
	char esc[PATH_MAX * 4], tab[PATH_MAX], nl[PATH_MAX];

	ASSERT_EQ(0, make_dir(tab, self->dir, "a\tb"));
	ASSERT_EQ(0, make_dir(nl, self->dir, "c\nd"));
	ASSERT_EQ(0, dataf(d, "br=%s:%s", tab, nl));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	ASSERT_EQ(0, mount_si(self->mnt, si, sizeof(si)));
	ASSERT_LE(0, read_si_file(si, "br0", got, sizeof(got)));
	escape_path(tab, esc, sizeof(esc));
	snprintf(want, sizeof(want), "%s=rw\n", esc);
	ASSERT_STREQ(want, got);
	ASSERT_LE(0, read_si_file(si, "br1", got, sizeof(got)));
	escape_path(nl, esc, sizeof(esc));
	snprintf(want, sizeof(want), "%s=ro\n", esc);
	ASSERT_STREQ(want, got);
}

/* Every file in si_<si>/ is a regular file with mode 0444; xi_path exists. */
TEST_F(sp, sysfs_modes_and_xi_path)
{
	char d[MOUNT_DATA_MAX], si[64], dirp[PATH_MAX], buf[PATH_MAX * 5];
	struct dirent *de;
	DIR *dir;
	int files = 0, have_xi = 0;
	ssize_t n;

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	ASSERT_EQ(0, mount_si(self->mnt, si, sizeof(si)));
	ASSERT_EQ(0, si_path(dirp, si, NULL));
	dir = opendir(dirp);
	ASSERT_NE(NULL, dir) TH_LOG("%s: %s", dirp, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ASSERT_EQ(0, fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW));
		ASSERT_TRUE(S_ISREG(st.st_mode)) TH_LOG("%s is not a regular file", de->d_name);
		ASSERT_EQ(0444, st.st_mode & 07777) TH_LOG("%s has mode %o", de->d_name,
							  st.st_mode & 07777);
		if (!strcmp(de->d_name, "xi_path"))
			have_xi = 1;
		files++;
	}
	closedir(dir);
	/* br0, br1, brid0, brid1, xi_path at least */
	ASSERT_LE(5, files);
	ASSERT_TRUE(have_xi);
	n = read_si_file(si, "xi_path", buf, sizeof(buf));
	ASSERT_LE(1, n);
	ASSERT_EQ('\n', buf[n - 1]);
	ASSERT_EQ(buf + n - 1, strchr(buf, '\n')) TH_LOG("xi_path is not one line");
	if (n > 1) {
		ASSERT_EQ('/', buf[0]) TH_LOG("xi_path '%s' is not absolute", buf);
	}
}

TEST_F(sp, sysfs_dir_gone_after_umount)
{
	char d[MOUNT_DATA_MAX], si[64], p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	ASSERT_EQ(0, mount_si(self->mnt, si, sizeof(si)));
	ASSERT_EQ(0, si_path(p, si, NULL));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(0, union_umount(&self->u));
	ASSERT_EQ(-1, stat(p, &st));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_NE(0, mount_line(self->mnt, NULL, 0));
}

TEST_F(sp, two_mounts_distinct_si)
{
	char d[MOUNT_DATA_MAX], si1[64], si2[64], p[PATH_MAX], got[PATH_MAX * 5];
	char want[PATH_MAX * 5];
	struct stat st;

	ASSERT_EQ(0, dataf(d, "br=%s:%s", self->top, self->low2));
	do_mount(_metadata, self->mnt, &self->u.mounted, 0, d);
	ASSERT_EQ(0, dataf(d, "br=%s", self->low1));
	do_mount(_metadata, self->mnt2, &self->mounted2, 0, d);
	ASSERT_EQ(0, mount_si(self->mnt, si1, sizeof(si1)));
	ASSERT_EQ(0, mount_si(self->mnt2, si2, sizeof(si2)));
	ASSERT_STRNE(si1, si2);
	ASSERT_EQ(0, si_path(p, si1, NULL));
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(0, si_path(p, si2, NULL));
	ASSERT_EQ(0, stat(p, &st));
	/* each si_<si> describes its own mount */
	ASSERT_LE(0, read_si_file(si2, "br0", got, sizeof(got)));
	escape_path(self->low1, p, sizeof(p));
	snprintf(want, sizeof(want), "%s=rw\n", p);
	ASSERT_STREQ(want, got);
	ASSERT_LE(0, read_si_file(si1, "brid0", got, sizeof(got)));
	ASSERT_STREQ("64\n", got);
	ASSERT_LE(0, read_si_file(si2, "brid0", got, sizeof(got)));
	ASSERT_STREQ("64\n", got);
}

TEST_HARNESS_MAIN
