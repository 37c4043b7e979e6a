// SPDX-License-Identifier: GPL-2.0-only
/*
 * LD_PRELOAD library for the branch-filesystem re-runs of
 * tests/vm/guest-suite.sh ("<program>@ext4", "<program>@xfs").
 *
 * The C selftests put their branches on the filesystem of $AUFS_TEST_DIR
 * themselves (plain directories when it is not a tmpfs).  The differential
 * tester always mounts a tmpfs on its work directory and makes branches
 * and reference inside it; with this library, when AUFS_TEST_BRANCH_FS is
 * set, such a mount(2) -- type tmpfs, no flags, a target below
 * $AUFS_TEST_DIR, options only size=, nr_inodes=, mode=, uid=, gid= -- is
 * made a bind mount of a fresh directory next to the target
 * (".<name>.branchfs.XXXXXX") instead, so everything the tester builds is
 * on $AUFS_TEST_DIR's filesystem (ext4, xfs).  The new mount is empty, has
 * the requested mode/uid/gid, and umount2() ends it, as with the tmpfs.
 * A tiny size= (under 1 MiB) or nr_inodes= (under 1024) keeps the tmpfs: a
 * test that asks for that wants a full filesystem.  Each redirected mount
 * appends "<fs> <target>" to $AUFS_TEST_DIR/.branchfs.log (the suite
 * prints the count).  Every other mount(2) goes to the kernel unchanged.
 *
 * Built by guest-suite.sh inside the VM:
 *   gcc -O2 -shared -fPIC -o branchfs_preload.so branchfs_preload.c
 * (statically linked programs ignore LD_PRELOAD.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int real_mount(const char *src, const char *tgt, const char *type, unsigned long flags,
		      const void *data)
{
	return syscall(SYS_mount, src, tgt, type, flags, data);
}

/* "123", "64k", "1m", "2g" -> a number; -1 when malformed. */
static long long parse_size(const char *v, size_t n)
{
	long long x = 0;
	size_t i = 0;

	for (; i < n && isdigit((unsigned char)v[i]); i++)
		x = x * 10 + (v[i] - '0');
	if (i == 0)
		return -1;
	if (i + 1 == n) {
		switch (v[i] | 0x20) {
		case 'k': return x << 10;
		case 'm': return x << 20;
		case 'g': return x << 30;
		default: return -1;
		}
	}
	return i == n ? x : -1;
}

/* 1: a directory can stand in for a tmpfs with these options. */
static int redirectable(const char *data, mode_t *mode, uid_t *uid, gid_t *gid)
{
	const char *p = data ? data : "";

	*mode = 01777;		/* tmpfs's default root mode */
	*uid = 0;
	*gid = 0;
	while (*p) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");
		const char *v = p + k + 1;
		size_t vn = k < n ? n - k - 1 : 0;
		long long x;

		if (n == 0) {
			p++;
			continue;
		}
		if (k >= n || vn == 0)	/* a flag (noswap, ...) or an empty value */
			return 0;
		x = parse_size(v, vn);
		if (k == 4 && !strncmp(p, "size", 4)) {
			if (x < (1 << 20))
				return 0;
		} else if (k == 9 && !strncmp(p, "nr_inodes", 9)) {
			if (x < 1024)
				return 0;
		} else if (k == 4 && !strncmp(p, "mode", 4)) {
			char *end;
			long m = strtol(v, &end, 8);

			if (end != v + vn || m < 0 || m > 07777)
				return 0;
			*mode = (mode_t)m;
		} else if ((k == 3 && !strncmp(p, "uid", 3)) || (k == 3 && !strncmp(p, "gid", 3))) {
			if (x < 0 || !isdigit((unsigned char)v[vn - 1]))
				return 0;
			if (*p == 'u')
				*uid = (uid_t)x;
			else
				*gid = (gid_t)x;
		} else {
			return 0;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 1;
}

__attribute__((visibility("default")))
int mount(const char *src, const char *tgt, const char *type, unsigned long flags,
	  const void *data)
{
	const char *fs = getenv("AUFS_TEST_BRANCH_FS");
	const char *root = getenv("AUFS_TEST_DIR");
	char backing[PATH_MAX], log[PATH_MAX];
	const char *slash;
	size_t rl;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int e, fd;

	if (!fs || !*fs || !root || !*root || !type || strcmp(type, "tmpfs") ||
	    (flags & ~(unsigned long)MS_SILENT) || !tgt ||
	    strncmp(tgt, root, (rl = strlen(root))) || tgt[rl] != '/' ||
	    !redirectable(data, &mode, &uid, &gid))
		return real_mount(src, tgt, type, flags, data);
	slash = strrchr(tgt, '/');
	if (snprintf(backing, sizeof(backing), "%.*s/.%s.branchfs.XXXXXX",
		     (int)(slash - tgt), tgt, slash + 1) >= (int)sizeof(backing) ||
	    !mkdtemp(backing))
		return -1;
	if (chown(backing, uid, gid) || chmod(backing, mode) ||
	    real_mount(backing, tgt, NULL, MS_BIND, NULL)) {
		e = errno;
		rmdir(backing);
		errno = e;
		return -1;
	}
	if (snprintf(log, sizeof(log), "%s/.branchfs.log", root) < (int)sizeof(log)) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd, "%s %s\n", fs, tgt);
			close(fd);
		}
	}
	return 0;
}
