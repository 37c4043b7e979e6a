// SPDX-License-Identifier: GPL-2.0-only
/*
 * The aufs selftests' library (declarations and their documentation in
 * aufs_test.h): built once into build/selftests/libaufs_test.a and linked
 * into every selftest binary.
 */
#include "aufs_test.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/wait.h>

const char *test_root(void)
{
	const char *r = getenv("AUFS_TEST_DIR");

	return (r && *r) ? r : "/tmp/aufs-test";
}

int pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return (n < 0 || n >= PATH_MAX) ? -1 : 0;
}

int dataf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, MOUNT_DATA_MAX, fmt, ap);
	va_end(ap);
	return (n < 0 || n >= MOUNT_DATA_MAX) ? -1 : 0;
}

int make_workdir(char *out, const char *tag)
{
	if (mkdir(test_root(), 0755) && errno != EEXIST)
		return -1;
	if (pathf(out, "%s/%s.XXXXXX", test_root(), tag))
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

int make_dir(char *out, const char *dir, const char *name)
{
	char buf[PATH_MAX];
	char *p = out ? out : buf;

	if (pathf(p, "%s/%s", dir, name))
		return -1;
	return mkdir(p, 0755);
}

int write_file_mode(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += n;
	}
	return close(fd);
}

int write_file(const char *path, const char *text)
{
	return write_file_mode(path, text, strlen(text), 0644);
}

int put_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	if (pathf(p, "%s/%s", dir, name))
		return -1;
	return write_file(p, text);
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	close(fd);
	return got;
}

static int rm_tree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void rm_tree(const char *path)
{
	if (path && path[0])
		nftw(path, rm_tree_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int aufs_mount(const char *mnt, unsigned long flags, const char *data)
{
	return mount(AUFS_SOURCE, mnt, AUFS_FSTYPE, flags, data);
}

int mount_ext4(const char *img, const char *mnt, const char *mkfs_opts)
{
	char cmd[3 * PATH_MAX + 256];

	if (system("command -v mkfs.ext4 >/dev/null && modprobe -q loop; test -e /dev/loop-control"))
		return 1;
	if (snprintf(cmd, sizeof(cmd),
		     "truncate -s 32M '%s' && mkfs.ext4 -q -F %s '%s' && mount -o loop '%s' '%s'",
		     img, mkfs_opts, img, img, mnt) >= (int)sizeof(cmd))
		return -1;
	return system(cmd) ? -1 : 0;
}

int remount_append(const char *mnt, const char *branch)
{
	char d[MOUNT_DATA_MAX];

	if (dataf(d, "append:%s", branch))
		return -1;
	return mount(AUFS_SOURCE, mnt, AUFS_FSTYPE, MS_REMOUNT, d);
}

void unescape_octal(const char *in, char *out, size_t size)
{
	size_t o = 0;

	while (*in && o + 1 < size) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
			out[o++] = (char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
			in += 4;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

void escape_path(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 5 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
			o += snprintf(out + o, size - o, "\\%03o", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int mount_line(const char *mnt, char *line, size_t size)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char buf[8192], target[PATH_MAX];
	int found = -1;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		char *sp1 = strchr(buf, ' '), *sp2;

		if (!sp1)
			continue;
		sp2 = strchr(sp1 + 1, ' ');
		if (!sp2)
			continue;
		*sp2 = '\0';
		unescape_octal(sp1 + 1, target, sizeof(target));
		*sp2 = ' ';
		if (strcmp(target, mnt))
			continue;
		buf[strcspn(buf, "\n")] = '\0';
		if (line)
			snprintf(line, size, "%s", buf);
		found = 0;
	}
	fclose(f);
	return found;
}

int mount_si(const char *mnt, char *si, size_t size)
{
	char line[8192], *p;
	size_t n;

	if (mount_line(mnt, line, sizeof(line)))
		return -1;
	p = strstr(line, " aufs ");
	if (!p)
		return -1;
	p = strstr(p, "si=");
	if (!p)
		return -1;
	p += 3;
	n = strspn(p, "0123456789abcdef");
	if (n == 0 || n >= size)
		return -1;
	memcpy(si, p, n);
	si[n] = '\0';
	return 0;
}

long si_debugfs(const char *mnt, const char *name)
{
	char si[64], p[PATH_MAX], buf[64] = "";

	if (access("/sys/kernel/debug/aufs", F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (mount_si(mnt, si, sizeof(si)) || pathf(p, "/sys/kernel/debug/aufs/si_%s/%s", si, name))
		return -1;
	if (read_file(p, buf, sizeof(buf) - 1) <= 0)
		return -1;
	return atol(buf);
}

int si_path(char *out, const char *si, const char *name)
{
	if (name)
		return pathf(out, AUFS_SYSFS "/si_%s/%s", si, name);
	return pathf(out, AUFS_SYSFS "/si_%s", si);
}

ssize_t read_si_file(const char *si, const char *name, char *buf, size_t size)
{
	char p[PATH_MAX];

	if (si_path(p, si, name))
		return -1;
	return read_file(p, buf, size);
}

int aufs_registered(void)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char buf[256];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		char *name = strrchr(buf, '\t');

		name = name ? name + 1 : buf;
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, AUFS_FSTYPE))
			found = 1;
	}
	fclose(f);
	return found;
}

int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int kmsg_find(int fd, const char *prefix, char *msg, size_t size)
{
	char rec[8192];
	int found = 0;

	if (size)
		msg[0] = '\0';
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *text;

		if (n < 0) {
			if (errno == EPIPE)	/* overwritten records: go on */
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		rec[n] = '\0';
		/* "prio,seq,usec,flags;text\n[ KEY=val\n...]" */
		text = strchr(rec, ';');
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		if (!found && !strncmp(text, prefix, strlen(prefix))) {
			found = 1;
			if (size)
				snprintf(msg, size, "%s", text);
		}
	}
	return found;
}

void log_text(const char *title, const char *text)
{
	const char *p = text ? text : "";

	fprintf(stderr, "# %s:\n", title);
	while (*p) {
		size_t n = strcspn(p, "\n");

		fprintf(stderr, "#   %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
	fflush(stderr);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int list_dir(const char *path, char *out, size_t size)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char *names[4096];
	size_t n = 0, o = 0, i;
	int ret = 0;

	if (!d)
		return -1;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (n == sizeof(names) / sizeof(names[0])) {
			ret = -1;
			break;
		}
		names[n++] = strdup(de->d_name);
	}
	if (errno)
		ret = -1;
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(out + o, size - o, "%s%s", i ? "/" : "", names[i]);

		if (w < 0 || (size_t)w >= size - o)
			ret = -1;
		else
			o += w;
		free(names[i]);
	}
	return ret;
}

unsigned long long fnv1a_update(unsigned long long h, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int file_hash(const char *path, unsigned long long *h, off_t *len)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	off_t total = 0;

	*h = FNV1A_INIT;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*h = fnv1a_update(*h, buf, n);
		total += n;
	}
	if (n < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	if (len)
		*len = total;
	return 0;
}

static void manifest_add(struct manifest *m, const char *line)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 256;
		char **l = realloc(m->lines, cap * sizeof(*l));

		if (!l) {
			m->err = m->err ? m->err : ENOMEM;
			return;
		}
		m->lines = l;
		m->cap = cap;
	}
	m->lines[m->n] = strdup(line);
	if (m->lines[m->n])
		m->n++;
	else if (!m->err)
		m->err = ENOMEM;
}

static void manifest_note_err(struct manifest *m, const char *path)
{
	if (!m->err) {
		m->err = errno ? errno : EIO;
		snprintf(m->errpath, sizeof(m->errpath), "%s", path);
	}
}

static void manifest_walk(struct manifest *m, const char *top, const char *rel,
			  dev_t dev, int flags)
{
	char path[PATH_MAX], sub[PATH_MAX], line[PATH_MAX + 256];
	DIR *d;
	struct dirent *de;

	if (pathf(path, "%s%s%s", top, *rel ? "/" : "", rel)) {
		m->err = m->err ? m->err : ENAMETOOLONG;
		return;
	}
	d = opendir(path);
	if (!d) {
		manifest_note_err(m, path);
		return;
	}
	for (;;) {
		struct stat st;
		unsigned long long h = FNV1A_INIT;
		char full[PATH_MAX], extra[192] = "";
		char type;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				manifest_note_err(m, path);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (pathf(sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) ||
		    pathf(full, "%s/%s", top, sub)) {
			m->err = m->err ? m->err : ENAMETOOLONG;
			continue;
		}
		if (lstat(full, &st)) {
			manifest_note_err(m, full);
			snprintf(line, sizeof(line), "%s lstat-error:%d", sub, errno);
			manifest_add(m, line);
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			type = 'f';
			if (file_hash(full, &h, NULL))
				manifest_note_err(m, full);
		} else if (S_ISDIR(st.st_mode)) {
			type = 'd';
		} else if (S_ISLNK(st.st_mode)) {
			char t[PATH_MAX];
			ssize_t n = readlink(full, t, sizeof(t));

			type = 'l';
			if (n < 0)
				manifest_note_err(m, full);
			else
				h = fnv1a_update(h, t, n);
		} else {
			type = S_ISFIFO(st.st_mode) ? 'p' : S_ISCHR(st.st_mode) ? 'c' :
			       S_ISBLK(st.st_mode) ? 'b' : S_ISSOCK(st.st_mode) ? 's' : '?';
			h = fnv1a_update(h, &st.st_rdev, sizeof(st.st_rdev));
		}
		if (flags & MANIFEST_INO)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " ino=%llu", (unsigned long long)st.st_ino);
		if (flags & MANIFEST_NLINK)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " nlink=%lu", (unsigned long)st.st_nlink);
		if (flags & MANIFEST_MTIME)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " mtime=%lld.%09ld", (long long)st.st_mtim.tv_sec,
				 st.st_mtim.tv_nsec);
		if (flags & MANIFEST_OWNER)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " uid=%u gid=%u", (unsigned int)st.st_uid, (unsigned int)st.st_gid);
		if (flags & MANIFEST_CTIME)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " ctime=%lld.%09ld", (long long)st.st_ctim.tv_sec,
				 st.st_ctim.tv_nsec);
		snprintf(line, sizeof(line), "%s %c %04o %lld %016llx%s", sub, type,
			 (unsigned int)(st.st_mode & 07777),
			 type == 'd' ? 0LL : (long long)st.st_size, h, extra);
		manifest_add(m, line);
		if (type == 'd' && st.st_dev == dev)
			manifest_walk(m, top, sub, dev, flags);
	}
	closedir(d);
}

int manifest_make(struct manifest *m, const char *dir, int flags)
{
	struct stat st;

	char line[256], extra[192] = "";

	memset(m, 0, sizeof(*m));
	if (stat(dir, &st)) {
		manifest_note_err(m, dir);
		return -1;
	}
	/* the directory itself, as "." */
	if (flags & MANIFEST_OWNER)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " uid=%u gid=%u",
			 (unsigned int)st.st_uid, (unsigned int)st.st_gid);
	if (flags & MANIFEST_MTIME)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " mtime=%lld.%09ld",
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	if (flags & MANIFEST_CTIME)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " ctime=%lld.%09ld",
			 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	snprintf(line, sizeof(line), ". d %04o 0%s", (unsigned int)(st.st_mode & 07777), extra);
	manifest_add(m, line);
	manifest_walk(m, dir, "", st.st_dev, flags);
	qsort(m->lines, m->n, sizeof(m->lines[0]), cmp_str);
	return m->err ? -1 : 0;
}

void manifest_free(struct manifest *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->lines[i]);
	free(m->lines);
	memset(m, 0, sizeof(*m));
}

size_t manifest_diff(const struct manifest *a, const struct manifest *b,
		     const char *title, size_t max)
{
	size_t i = 0, j = 0, diffs = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->lines[i], b->lines[j]);

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (diffs++ == 0)
			fprintf(stderr, "# %s:\n", title);
		if (diffs <= max)
			fprintf(stderr, "#   %c %s\n", c < 0 ? '-' : '+',
				c < 0 ? a->lines[i] : b->lines[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	if (diffs > max)
		fprintf(stderr, "#   ... %zu differences in all\n", diffs);
	fflush(stderr);
	return diffs;
}

const char *names_in(const char *dir, const char *rel)
{
	static char buf[4][8192];
	static int k;
	char p[PATH_MAX], *b = buf[k++ & 3];

	if (pathf(p, "%s/%s", dir, rel) || list_dir(p, b, sizeof(buf[0])))
		return "<error>";
	if (!strncmp(b, "./..", 4))
		return b[4] == '/' ? b + 5 : b + 4;
	return b;
}

int names_with_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

const char *content(const char *dir, const char *rel)
{
	static char buf[4][4096];
	static int k;
	char p[PATH_MAX];
	char *b = buf[k++ & 3];
	ssize_t n;

	b[0] = 0;
	if (pathf(p, "%s/%s", dir, rel))
		return b;
	n = read_file(p, b, sizeof(buf[0]) - 1);
	b[n < 0 ? 0 : n] = 0;
	return b;
}

int lstat_in(const char *dir, const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	return pathf(p, "%s/%s", dir, rel) ? -1 : lstat(p, st);
}

int exists(const char *dir, const char *rel)
{
	struct stat st;

	return !lstat_in(dir, rel, &st);
}

int set_flags(const char *p, int add, int del)
{
	int fd = open(p, O_RDONLY), f = 0, r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_GETFLAGS, &f);
	if (!r) {
		f = (f | add) & ~del;
		r = ioctl(fd, FS_IOC_SETFLAGS, &f);
	}
	close(fd);
	return r;
}

int get_flags(const char *p)
{
	int fd = open(p, O_RDONLY), f = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &f))
		f = -1;
	close(fd);
	return f;
}

int sh(char *out, size_t outsz, const char *fmt, ...)
{
	char cmd[4096], buf[4096];
	size_t got = 0;
	va_list ap;
	FILE *f;
	int st, n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(cmd) - 8)
		return -1;
	strcat(cmd, " 2>&1");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (out && outsz)
		out[0] = '\0';
	while (fgets(buf, sizeof(buf), f)) {
		size_t l = strlen(buf);

		if (out && got + 1 < outsz) {
			size_t c = l < outsz - 1 - got ? l : outsz - 1 - got;

			memcpy(out + got, buf, c);
			got += c;
			out[got] = '\0';
		}
	}
	st = pclose(f);
	if (out && got && out[got - 1] == '\n')
		out[got - 1] = '\0';
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int drop_caches(const char *what)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	sync();
	r = write(fd, what, strlen(what)) == (ssize_t)strlen(what) ? 0 : -1;
	close(fd);
	return r;
}

int branches_on_tmpfs(void)
{
	struct statfs sf;

	return statfs(test_root(), &sf) || sf.f_type == 0x01021994 /* TMPFS_MAGIC */;
}

int branch_make(char *out, const char *dir, const char *name, const char *source,
		const char *opts, int *mounted)
{
	*mounted = 0;
	if (make_dir(out, dir, name))
		return -1;
	if (!branches_on_tmpfs())
		return 0;
	if (mount(source, out, "tmpfs", 0, opts))
		return -1;
	*mounted = 1;
	return 0;
}

int branch_release(const char *path)
{
	int e;

	if (!umount2(path, 0))
		return 0;
	e = errno;
	umount2(path, MNT_DETACH);
	errno = e;
	return -1;
}

static int union_fail(struct au_union *u, const char *what, const char *path)
{
	int e = errno;

	snprintf(u->err, sizeof(u->err), "%s %s: %s", what, path, strerror(e));
	errno = e;
	return -1;
}

int union_setup(struct au_union *u)
{
	const char *source = u->source ? u->source : u->tag;
	struct au_branch *b;

	u->err[0] = '\0';
	u->mounted = u->dir_mounted = 0;
	if (make_workdir(u->dir, u->tag))
		return union_fail(u, "mkdtemp in", test_root());
	if ((u->flags & AU_OPEN_DIR) && chmod(u->dir, 0755))
		return union_fail(u, "chmod", u->dir);
	if ((u->flags & AU_TMPFS_DIR) && branches_on_tmpfs()) {
		if (mount(source, u->dir, "tmpfs", 0, u->tmpfs))
			return union_fail(u, "mount tmpfs on", u->dir);
		u->dir_mounted = 1;
	}
	for (b = u->br; b < u->br + AU_BR_MAX && b->name; b++) {
		int r;

		if (u->flags & AU_TMPFS_BRANCHES)
			r = branch_make(b->path, u->dir, b->name, source,
					b->tmpfs ? b->tmpfs : u->tmpfs, &b->mounted);
		else
			r = make_dir(b->path, u->dir, b->name);
		if (r)
			return union_fail(u, "branch", b->name);
	}
	if (make_dir(u->mnt, u->dir, "mnt"))
		return union_fail(u, "mkdir", u->mnt);
	return 0;
}

int union_mount(struct au_union *u, unsigned long flags, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(u->data, sizeof(u->data), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(u->data)) {
		errno = E2BIG;
		return -1;
	}
	if (aufs_mount(u->mnt, flags, u->data))
		return -1;
	u->mounted = 1;
	return 0;
}

int union_umount(struct au_union *u)
{
	if (umount2(u->mnt, 0))
		return -1;
	u->mounted = 0;
	return 0;
}

int union_release(struct au_union *u)
{
	struct au_branch *b;
	int bad = 0;

	if (u->mounted && union_umount(u)) {
		fprintf(stderr, "# teardown: umount %s: %s\n", u->mnt, strerror(errno));
		umount2(u->mnt, MNT_DETACH);
		u->mounted = 0;
		bad |= AU_UNION_BUSY;
	}
	for (b = u->br; b < u->br + AU_BR_MAX && b->name; b++) {
		if (!b->mounted)
			continue;
		b->mounted = 0;
		/* nothing but the union could hold a branch busy */
		if (branch_release(b->path) && !(bad & AU_UNION_BUSY)) {
			fprintf(stderr, "# teardown: branch %s still busy after the union's umount: %s\n",
				b->path, strerror(errno));
			bad |= AU_BRANCH_BUSY;
		}
	}
	fflush(stderr);
	return bad;
}

int union_teardown(struct au_union *u)
{
	int bad = union_release(u);

	if (u->dir_mounted) {
		umount2(u->dir, MNT_DETACH);
		u->dir_mounted = 0;
	}
	rm_tree(u->dir);
	return bad;
}

int put_seed_files(const char *top, const char *base)
{
	return put_file(base, "common.txt", "base\n") ||
	       put_file(base, "hello.txt", HELLO_BASE) ||
	       put_file(top, "common.txt", "top\n") ||
	       put_file(top, "foo.txt", "foo\n") ? -1 : 0;
}

int remount(const char *mnt, unsigned long flags, const char *fmt, ...)
{
	char d[MOUNT_DATA_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(d, sizeof(d), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(d))
		return E2BIG;
	return mount(AUFS_SOURCE, mnt, AUFS_FSTYPE, MS_REMOUNT | flags, d) ? errno : 0;
}
