/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the aufs selftests.  They only return error codes; the
 * tests turn those into ASSERT_*()s.  Everything a test creates lives under
 * $AUFS_TEST_DIR (default /tmp/aufs-test, a tmpfs mounted by
 * tests/vm/guest-suite.sh), in a fresh mkdtemp() directory per test.
 */
#ifndef AUFS_TEST_H
#define AUFS_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define AUFS_SUPER_MAGIC 0x61756673
#define AUFS_NAME_MAX 242
#define AUFS_FSTYPE "aufs"
#define AUFS_SOURCE "none"
#define AUFS_SYSFS "/sys/fs/aufs"
/* The kernel copies at most one page of mount data (incl. the NUL). */
#define MOUNT_DATA_MAX 4096

static inline const char *test_root(void)
{
	const char *r = getenv("AUFS_TEST_DIR");

	return (r && *r) ? r : "/tmp/aufs-test";
}

/* snprintf into a PATH_MAX buffer; -1 when truncated. */
static inline int pathf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return (n < 0 || n >= PATH_MAX) ? -1 : 0;
}

/* Mount data into a MOUNT_DATA_MAX buffer; -1 when it does not fit a page. */
static inline int dataf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int dataf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, MOUNT_DATA_MAX, fmt, ap);
	va_end(ap);
	return (n < 0 || n >= MOUNT_DATA_MAX) ? -1 : 0;
}

/* A fresh directory <root>/<tag>.XXXXXX. */
static inline int make_workdir(char *out, const char *tag)
{
	if (mkdir(test_root(), 0755) && errno != EEXIST)
		return -1;
	if (pathf(out, "%s/%s.XXXXXX", test_root(), tag))
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

/* mkdir <dir>/<name>, storing the path in out (may be NULL). */
static inline int make_dir(char *out, const char *dir, const char *name)
{
	char buf[PATH_MAX];
	char *p = out ? out : buf;

	if (pathf(p, "%s/%s", dir, name))
		return -1;
	return mkdir(p, 0755);
}

static inline int write_file_mode(const char *path, const char *data, size_t len, mode_t mode)
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

static inline int write_file(const char *path, const char *text)
{
	return write_file_mode(path, text, strlen(text), 0644);
}

/* write_file(<dir>/<name>). */
static inline int put_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	if (pathf(p, "%s/%s", dir, name))
		return -1;
	return write_file(p, text);
}

/* Read a whole (small) file, NUL-terminated; returns its length or -1. */
static inline ssize_t read_file(const char *path, char *buf, size_t size)
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

static inline int rm_tree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf that never crosses a mount point (a still-mounted aufs). */
static inline void rm_tree(const char *path)
{
	if (path && path[0])
		nftw(path, rm_tree_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * For FIXTURE_TEARDOWN: umount, failing the test on error.  (No
 * EXPECT_*() there: after a failed ASSERT the harness leaves its handler
 * trigger set, so "EXPECT_EQ(..) TH_LOG(..)" would log spuriously.)
 */
#define TEARDOWN_UMOUNT(path) do {					\
	if (umount2((path), 0)) {					\
		TH_LOG("teardown: umount %s: %s", (path), strerror(errno)); \
		_metadata->passed = 0;					\
	}								\
} while (0)

static inline int aufs_mount(const char *mnt, unsigned long flags, const char *data)
{
	return mount(AUFS_SOURCE, mnt, AUFS_FSTYPE, flags, data);
}

/* Undo /proc/mounts octal escapes (\040 etc.). */
static inline void unescape_octal(const char *in, char *out, size_t size)
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

/* Escape like /proc/mounts does: space, tab, newline and backslash. */
static inline void escape_path(const char *in, char *out, size_t size)
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

/*
 * Find the /proc/self/mounts line of the (last) mount at mnt.  Copies the
 * raw line (without newline) into line, when not NULL.  Returns 0 or -1.
 */
static inline int mount_line(const char *mnt, char *line, size_t size)
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

/* The si=<hex> of the aufs mounted at mnt, from /proc/self/mounts. */
static inline int mount_si(const char *mnt, char *si, size_t size)
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

/* /sys/fs/aufs/si_<si>/<name> (name may be NULL for the directory). */
static inline int si_path(char *out, const char *si, const char *name)
{
	if (name)
		return pathf(out, AUFS_SYSFS "/si_%s/%s", si, name);
	return pathf(out, AUFS_SYSFS "/si_%s", si);
}

static inline ssize_t read_si_file(const char *si, const char *name, char *buf, size_t size)
{
	char p[PATH_MAX];

	if (si_path(p, si, name))
		return -1;
	return read_file(p, buf, size);
}

/* Is "aufs" a registered filesystem type (/proc/filesystems)? */
static inline int aufs_registered(void)
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

/*
 * Kernel log: kmsg_open() positions a reader at the end of the log;
 * kmsg_find() reads what was logged since and reports whether one message
 * text starts with prefix (1), none did (0) or reading failed (-1).  The
 * first matching message is copied to msg.
 */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int kmsg_find(int fd, const char *prefix, char *msg, size_t size)
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

/* Multi-line text as TAP comment lines ("#   <line>") on stderr. */
static inline void log_text(const char *title, const char *text)
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

/* Sorted directory listing joined with '/', e.g. "./../a/b". */
static inline int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline int list_dir(const char *path, char *out, size_t size)
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

#endif /* AUFS_TEST_H */
