// SPDX-License-Identifier: GPL-2.0-only
/*
 * Branch faults: the upper branch's filesystem fails in the middle of a
 * union operation.  The union call must fail, the lower branch must not
 * change, nothing half-made may show through the union (or be left on the
 * upper branch), and once the fault is gone the same mount must work again.
 *
 * Layout of every test: the upper (rw) branch is the directory "upper" on
 * an ext4 filesystem on a device-mapper device on a loop device (a sparse
 * image on $AUFS_TEST_DIR); the lower (ro) branch is a tmpfs.  ext4 is
 * mounted with
 *   - MS_SYNCHRONOUS ("sync"): every write is written through at once, so
 *     a device error reaches the writer (and the union's copy-up) in the
 *     call that causes it, not later in writeback;
 *   - errors=continue: an I/O error ext4 reports (a directory block that
 *     cannot be read) does not make it read-only, so after the fault the
 *     same ext4 and the same union mount go on (no umount/fsck/remount);
 *   - prjquota (mkfs -O quota,project): project IDs for the EXDEV tests.
 * A fault is a new table for the dm device: "error" targets over chosen
 * sectors, everything else linear onto the loop device (dmsetup load,
 * suspend, resume; udev is bypassed with DM_DISABLE_UDEV=1).  The journal,
 * the inode tables and the bitmaps stay readable and writable, so ext4's
 * journal is never aborted.  Only the dm-mod "error" target is used, so no
 * timing (dm-flakey's up/down intervals) is involved: each fault hits
 * exactly the blocks it was aimed at.
 *
 *   eio_during_copy_up      a 32 MiB lower file; the only free space of the
 *                           ext4 is one 40 MiB extent (a filler file takes
 *                           the rest), its last 32 MiB are made "error":
 *                           the copy-up's data writes fail part-way (at the
 *                           latest when the data reaches them).
 *   eio_during_whiteout     unlink of a lower file in d/ while the block of
 *                           upper/d (the directory the whiteout goes into)
 *                           cannot be read.
 *   prjquota_*              upper/B has another project ID (PROJINHERIT):
 *                           ext4 refuses link/rename into B with EXDEV
 *                           (a whiteout hard link, a renamed copy-up).
 *
 * Skips (with the reason) only when the guest has no device-mapper, loop
 * or ext4 support, or no dmsetup/losetup/mkfs.ext4 (scripts/setup.sh
 * installs dmsetup, util-linux and e2fsprogs).  Afterwards each test
 * unmounts everything and logs "e2fsck -fn" of the ext4 (not asserted: an
 * I/O error ext4 recorded is not the union's doing).
 */
#include "aufs_test.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define MIB (1024 * 1024LL)
#define IMG_SIZE (256 * MIB)
#define BIG_SIZE (32 * MIB)
#define HOLE_SIZE (40 * MIB)	/* free space left for the copy-up */
#define GOOD_SIZE (8 * MIB)	/* ... of which the first part stays writable */
#define HELLO "hello from the lower branch\n"
#define WH_BASE ".wh..wh.aufs"
#define PROJ_B 4242

FIXTURE(flt) {
	char dir[PATH_MAX];
	char img[PATH_MAX];
	char table[PATH_MAX];
	char loopdev[64];
	char dmname[64];
	char dmdev[PATH_MAX];
	char ext4[PATH_MAX];	/* where the ext4 is mounted */
	char upper[PATH_MAX];	/* <ext4>/upper: the rw branch */
	char lower[PATH_MAX];	/* a tmpfs: the ro branch */
	char mnt[PATH_MAX];
	long long sectors;	/* size of the dm device */
	char why[256];		/* why the tests cannot run here ("" if they can) */
	int loop_set, dm_made, ext4_mounted, lower_mounted, mounted, faulted;
};

/* ---- commands ---- */

/* Run a command that must succeed; on failure log it with its output. */
#define SH_OK(...) do {							\
	char _o[4096];							\
	int _r = sh(_o, sizeof(_o), __VA_ARGS__);			\
	ASSERT_EQ(0, _r) {						\
		char _c[8192];						\
		snprintf(_c, sizeof(_c), __VA_ARGS__);			\
		TH_LOG("'%s' exited %d: %s", _c, _r, _o);		\
	}								\
} while (0)

/*
 * Drop [off, off + len) of the block device's page cache, so the next
 * access reads the device: POSIX_FADV_DONTNEED drains the per-CPU LRU
 * batches too (a just-read page sits there, and drop_caches skips it).
 */
static int evict(const char *dev, long long off, long long len)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = posix_fadvise(fd, off, len, POSIX_FADV_DONTNEED);
	close(fd);
	return r ? -1 : 0;
}

/* ---- the dm device ---- */

/* Load table (text, one target per line), then swap it in. */
static int dm_table(FIXTURE_DATA(flt) *self, const char *table, char *out, size_t outsz)
{
	int fd = open(self->table, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, table, strlen(table));
	close(fd);
	if (n != (ssize_t)strlen(table))
		return -1;
	return sh(out, outsz, "dmsetup load %s %s && dmsetup suspend %s && dmsetup resume %s",
		  self->dmname, self->table, self->dmname, self->dmname);
}

/* The table: linear, except "error" over [start, start + len) (sectors). */
static void table_text(FIXTURE_DATA(flt) *self, long long start, long long len, char *t,
		       size_t size)
{
	size_t o = 0;

	if (len <= 0) {
		snprintf(t, size, "0 %lld linear %s 0\n", self->sectors, self->loopdev);
		return;
	}
	if (start > 0)
		o += snprintf(t + o, size - o, "0 %lld linear %s 0\n", start, self->loopdev);
	o += snprintf(t + o, size - o, "%lld %lld error\n", start, len);
	if (start + len < self->sectors)
		snprintf(t + o, size - o, "%lld %lld linear %s %lld\n", start + len,
			 self->sectors - start - len, self->loopdev, start + len);
}

static void fault_on(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self,
		     long long start, long long len)
{
	char t[512], out[4096];

	table_text(self, start, len, t, sizeof(t));
	self->faulted = 1;
	ASSERT_EQ(0, dm_table(self, t, out, sizeof(out))) TH_LOG("dm table '%s': %s", t, out);
	TH_LOG("fault: sectors [%lld, %lld) of %s now fail (dm \"error\")", start, start + len,
	       self->dmdev);
}

static int fault_off(FIXTURE_DATA(flt) *self, char *out, size_t outsz)
{
	char t[256];
	int r;

	table_text(self, 0, 0, t, sizeof(t));
	r = dm_table(self, t, out, outsz);
	if (r == 0)
		self->faulted = 0;
	return r;
}

#define FAULT_OFF() do {						\
	char _o[4096];							\
	ASSERT_EQ(0, fault_off(self, _o, sizeof(_o))) TH_LOG("restoring the linear table: %s", _o); \
} while (0)

/* ---- set-up ---- */

FIXTURE_SETUP(flt)
{
	char out[4096];

	umask(0);
	setenv("DM_DISABLE_UDEV", "1", 1);
	ASSERT_EQ(0, make_workdir(self->dir, "flt"));
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, pathf(self->img, "%s/upper.img", self->dir));
	ASSERT_EQ(0, pathf(self->table, "%s/dm.table", self->dir));
	ASSERT_EQ(0, make_dir(self->ext4, self->dir, "ext4"));
	ASSERT_EQ(0, make_dir(self->lower, self->dir, "lower"));
	ASSERT_EQ(0, make_dir(self->mnt, self->dir, "mnt"));
	ASSERT_EQ(0, pathf(self->upper, "%s/upper", self->ext4));
	snprintf(self->dmname, sizeof(self->dmname), "aufs-faults-%d", (int)getpid());
	ASSERT_EQ(0, pathf(self->dmdev, "/dev/mapper/%s", self->dmname));

	/* What the guest must have; anything missing: the tests skip. */
	if (sh(out, sizeof(out), "command -v dmsetup && command -v losetup && command -v mkfs.ext4")) {
		snprintf(self->why, sizeof(self->why),
			 "dmsetup, losetup or mkfs.ext4 not installed (scripts/setup.sh): %.120s", out);
		return;
	}
	if (sh(out, sizeof(out), "modprobe -q dm-mod; modprobe -q loop; modprobe -q ext4; "
	       "test -c /dev/mapper/control && grep -qw ext4 /proc/filesystems && dmsetup targets")) {
		snprintf(self->why, sizeof(self->why),
			 "no device-mapper, loop or ext4 in this kernel: %.120s", out);
		return;
	}
	if (!strstr(out, "error") || !strstr(out, "linear")) {
		snprintf(self->why, sizeof(self->why), "dm targets error/linear missing: %.120s", out);
		return;
	}
}

/*
 * The upper branch: image, loop, dm (linear), ext4, <ext4>/upper; and the
 * lower tmpfs with its files.  0 when the test has to skip (the caller
 * returns).
 */
static int make_upper(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self)
{
	char out[4096], t[256];
	int fd;

	if (self->why[0])
		SKIP(return 0, "%s", self->why);
	fd = open(self->img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, IMG_SIZE));
	close(fd);
	ASSERT_EQ(0, sh(out, sizeof(out), "losetup -f --show %s", self->img)) TH_LOG("losetup: %s", out);
	ASSERT_LT(strlen(out), sizeof(self->loopdev));
	strcpy(self->loopdev, out);
	self->loop_set = 1;
	self->sectors = IMG_SIZE / 512;
	table_text(self, 0, 0, t, sizeof(t));
	ASSERT_EQ(0, sh(out, sizeof(out), "printf '%%s' '%s' | dmsetup create %s", t, self->dmname))
		TH_LOG("dmsetup create: %s", out);
	self->dm_made = 1;
	SH_OK("mkfs.ext4 -q -F -m 0 -b 4096 -O quota,project "
	      "-E lazy_itable_init=1,lazy_journal_init=1 %s", self->dmdev);
	ASSERT_EQ(0, mount(self->dmdev, self->ext4, "ext4", MS_SYNCHRONOUS,
			   "errors=continue,prjquota,noinit_itable"))
		TH_LOG("mount ext4 %s: %s", self->dmdev, strerror(errno));
	self->ext4_mounted = 1;
	ASSERT_EQ(0, mkdir(self->upper, 0755));
	ASSERT_EQ(0, mount("aufs-flt-lower", self->lower, "tmpfs", 0, "size=96m,mode=0755"));
	self->lower_mounted = 1;
	ASSERT_EQ(0, put_file(self->lower, "hello", HELLO));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "d"));
	ASSERT_EQ(0, put_file(self->lower, "d/victim", "victim on the lower branch\n"));
	ASSERT_EQ(0, put_file(self->lower, "d/other", "other\n"));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "A"));
	ASSERT_EQ(0, put_file(self->lower, "A/file", "A/file on the lower branch\n"));
	ASSERT_EQ(0, make_dir(NULL, self->lower, "B"));
	ASSERT_EQ(0, put_file(self->lower, "B/victim", "B/victim on the lower branch\n"));
	return 1;
}

/* umount + mount the ext4 (the union must not be mounted): cold caches. */
static void remount_ext4(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self)
{
	ASSERT_EQ(0, umount2(self->ext4, 0)) TH_LOG("umount ext4: %s", strerror(errno));
	self->ext4_mounted = 0;
	ASSERT_EQ(0, mount(self->dmdev, self->ext4, "ext4", MS_SYNCHRONOUS,
			   "errors=continue,prjquota,noinit_itable"))
		TH_LOG("mount ext4 %s: %s", self->dmdev, strerror(errno));
	self->ext4_mounted = 1;
}

static void mount_union(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s=rw:%s=ro", self->upper, self->lower));
	ASSERT_EQ(0, aufs_mount(self->mnt, 0, d)) TH_LOG("mount -o %s: %s", d, strerror(errno));
	self->mounted = 1;
}

FIXTURE_TEARDOWN(flt)
{
	char out[4096];
	int r, i;

	if (self->faulted && fault_off(self, out, sizeof(out))) {
		TH_LOG("teardown: restoring the dm table: %s", out);
		_metadata->passed = 0;
	}
	if (self->mounted && umount2(self->mnt, 0)) {
		TH_LOG("teardown: umount %s: %s", self->mnt, strerror(errno));
		_metadata->passed = 0;
		umount2(self->mnt, MNT_DETACH);
	}
	if (self->ext4_mounted && umount2(self->ext4, 0)) {
		TH_LOG("teardown: umount ext4 %s: %s", self->ext4, strerror(errno));
		_metadata->passed = 0;
		umount2(self->ext4, MNT_DETACH);
		sleep(1);
	}
	if (self->dm_made) {
		r = sh(out, sizeof(out), "e2fsck -fn %s", self->dmdev);
		if (r)
			log_text("e2fsck -fn of the upper ext4 after the test (not asserted)", out);
		for (i = 0; i < 20; i++) {
			r = sh(out, sizeof(out), "dmsetup remove %s", self->dmname);
			if (r == 0)
				break;
			usleep(100000);
		}
		if (r) {
			TH_LOG("teardown: dmsetup remove %s: %s", self->dmname, out);
			_metadata->passed = 0;
		}
	}
	if (self->loop_set && sh(out, sizeof(out), "losetup -d %s", self->loopdev)) {
		TH_LOG("teardown: losetup -d %s: %s", self->loopdev, out);
		_metadata->passed = 0;
	}
	if (self->lower_mounted && umount2(self->lower, 0)) {
		TH_LOG("teardown: umount %s: %s", self->lower, strerror(errno));
		_metadata->passed = 0;
		umount2(self->lower, MNT_DETACH);
	}
	rm_tree(self->dir);
}

/* ---- snapshots ---- */

struct snap {
	struct manifest lower;	/* every attribute, incl. inode numbers and times */
	struct manifest uni;	/* names, types, modes, sizes, contents */
	struct manifest upper;	/* the same for the upper branch (hidden names too) */
};

static void take(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self, struct snap *s)
{
	ASSERT_EQ(0, manifest_make(&s->lower, self->lower, MANIFEST_ALL))
		TH_LOG("lower %s: %s", s->lower.errpath, strerror(s->lower.err));
	ASSERT_EQ(0, manifest_make(&s->uni, self->mnt, 0))
		TH_LOG("union %s: %s", s->uni.errpath, strerror(s->uni.err));
	ASSERT_EQ(0, manifest_make(&s->upper, self->upper, 0))
		TH_LOG("upper %s: %s", s->upper.errpath, strerror(s->upper.err));
}

static void snap_free(struct snap *s)
{
	manifest_free(&s->lower);
	manifest_free(&s->uni);
	manifest_free(&s->upper);
}

/* Drop the line of the whiteout base (made once per branch, on demand). */
static void drop_wh_base(struct manifest *m)
{
	size_t i, o = 0;

	for (i = 0; i < m->n; i++) {
		if (!strncmp(m->lines[i], WH_BASE " ", strlen(WH_BASE) + 1)) {
			fprintf(stderr, "# upper branch has the whiteout base: %s\n", m->lines[i]);
			free(m->lines[i]);
			continue;
		}
		m->lines[o++] = m->lines[i];
	}
	m->n = o;
}

/* After a failed call: lower, union view and upper branch as before. */
static void expect_unchanged(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self,
			     struct snap *before)
{
	struct snap now;

	memset(&now, 0, sizeof(now));
	take(_metadata, self, &now);
	drop_wh_base(&before->upper);
	drop_wh_base(&now.upper);
	EXPECT_EQ(0, manifest_diff(&before->lower, &now.lower,
				   "lower branch changed (- before, + after)", 40));
	EXPECT_EQ(0, manifest_diff(&before->uni, &now.uni,
				   "union view changed (- before, + after)", 40));
	EXPECT_EQ(0, manifest_diff(&before->upper, &now.upper,
				   "upper branch changed (- before, + after; whiteout base ignored)", 40));
	snap_free(&now);
}

static void expect_content(struct __test_metadata *_metadata, const char *dir, const char *rel,
			   const char *want)
{
	char p[PATH_MAX], buf[4096];

	ASSERT_EQ(0, pathf(p, "%s/%s", dir, rel));
	ASSERT_EQ((ssize_t)strlen(want), read_file(p, buf, sizeof(buf)))
		TH_LOG("%s: %s", p, strerror(errno));
	ASSERT_STREQ(want, buf);
}

static void expect_absent(struct __test_metadata *_metadata, const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	ASSERT_EQ(0, pathf(p, "%s/%s", dir, rel));
	ASSERT_EQ(-1, lstat(p, &st)) TH_LOG("%s exists", p);
	ASSERT_EQ(ENOENT, errno) TH_LOG("lstat %s: %s", p, strerror(errno));
}

/* ---- block maps ---- */

struct ext {
	long long logical, physical, length;	/* bytes */
};

/* The extents of an open file (or directory), merged where contiguous. */
static int extents(int fd, struct ext *out, int max)
{
	size_t sz = sizeof(struct fiemap) + 512 * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, sz);
	unsigned long long start = 0;
	int n = 0, last = 0;
	unsigned int i;

	if (!fm)
		return -1;
	while (!last) {
		memset(fm, 0, sz);
		fm->fm_start = start;
		fm->fm_length = ~0ULL - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = 512;
		if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
			free(fm);
			return -1;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		for (i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];

			if (n > 0 && out[n - 1].logical + out[n - 1].length == (long long)e->fe_logical &&
			    out[n - 1].physical + out[n - 1].length == (long long)e->fe_physical) {
				out[n - 1].length += e->fe_length;
			} else if (n < max) {
				out[n].logical = e->fe_logical;
				out[n].physical = e->fe_physical;
				out[n].length = e->fe_length;
				n++;
			}
			if (e->fe_flags & FIEMAP_EXTENT_LAST)
				last = 1;
			start = e->fe_logical + e->fe_length;
		}
	}
	free(fm);
	return n;
}

static void fill_pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed) % 251);
}

/* ================================================================== */

/*
 * (a) EIO in the middle of a copy-up.  A filler file takes all the free
 * space of the ext4; a hole of HOLE_SIZE is punched into it at a 1 MiB
 * aligned device offset P, so the copy-up's data can only go to
 * [P, P + HOLE_SIZE), and [P + GOOD_SIZE, P + HOLE_SIZE) is made to fail.
 * The copy (32 MiB) cannot fit in the writable 8 MiB (plus the few MiB ext4
 * keeps in reserve), so a write of it fails with EIO, wherever mballoc puts
 * it.  The first write(2) through the union (which is what copies up) must
 * then fail with EIO (or open(O_WRONLY) if that is where the union copies
 * up), and nothing may have changed.
 */
TEST_F_TIMEOUT(flt, eio_during_copy_up, 900)
{
	unsigned char *data = malloc(BIG_SIZE);
	char p[PATH_MAX];
	struct ext ex[64];
	struct snap before;
	struct statvfs sv;
	unsigned long long h_lower, h_want, h;
	long long chunk, size, P = -1, logical = 0;
	off_t len;
	int fd, n, i, r, e;

	ASSERT_NE(NULL, data);
	if (!make_upper(_metadata, self)) {
		free(data);
		return;
	}
	fill_pattern(data, BIG_SIZE, 11);
	ASSERT_EQ(0, pathf(p, "%s/big", self->lower));
	ASSERT_EQ(0, write_file_mode(p, (const char *)data, BIG_SIZE, 0644));
	h_lower = fnv1a_update(FNV1A_INIT, data, BIG_SIZE);
	data[0] = 'X';
	h_want = fnv1a_update(FNV1A_INIT, data, BIG_SIZE);
	mount_union(_metadata, self);

	/* filler: all the free space, then the hole */
	ASSERT_EQ(0, pathf(p, "%s/filler", self->ext4));
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstatvfs(fd, &sv));
	size = 0;
	for (chunk = (long long)sv.f_bfree * sv.f_frsize; chunk >= 4096;) {
		if (fallocate(fd, 0, size, chunk) == 0) {
			size += chunk;
			continue;
		}
		ASSERT_EQ(ENOSPC, errno) TH_LOG("fallocate: %s", strerror(errno));
		/* a failed fallocate may keep part of the space: go on from the size */
		chunk /= 2;
		size = lseek(fd, 0, SEEK_END);
		ASSERT_LE(0, size);
	}
	ASSERT_EQ(0, fsync(fd));
	n = extents(fd, ex, 64);
	ASSERT_LT(0, n) TH_LOG("FIEMAP of the filler: %s", strerror(errno));
	for (i = 0; i < n && P < 0; i++) {
		long long ph = (ex[i].physical + MIB - 1) / MIB * MIB;

		if (ph + HOLE_SIZE <= ex[i].physical + ex[i].length) {
			P = ph;
			logical = ex[i].logical + (ph - ex[i].physical);
		}
	}
	ASSERT_LE(0, P) TH_LOG("no %lld MiB run in the %d extents of the filler", HOLE_SIZE / MIB, n);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, logical, HOLE_SIZE))
		TH_LOG("punch: %s", strerror(errno));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, statvfs(self->ext4, &sv));
	TH_LOG("filler: %lld MiB; free: %llu KiB, hole at device bytes [%lld, %lld)", size / MIB,
	       (unsigned long long)sv.f_bfree * sv.f_frsize / 1024, P, P + HOLE_SIZE);
	sync();	/* freed blocks are reusable after the commit */

	/* the state before */
	memset(&before, 0, sizeof(before));
	take(_metadata, self, &before);
	ASSERT_EQ(0, pathf(p, "%s/big", self->mnt));
	ASSERT_EQ(0, file_hash(p, &h, &len));
	ASSERT_EQ(h_lower, h);

	fault_on(_metadata, self, (P + GOOD_SIZE) / 512, (HOLE_SIZE - GOOD_SIZE) / 512);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -1;
		e = errno;
		TH_LOG("open(O_WRONLY) of the lower file through the union failed: %s", strerror(e));
	} else {
		r = write(fd, "X", 1);
		e = errno;
		close(fd);
	}
	FAULT_OFF();
	ASSERT_EQ(-1, r) TH_LOG("the write that copies up 32 MiB onto failing blocks succeeded");
	EXPECT_EQ(EIO, e) TH_LOG("errno %d (%s), expected EIO", e, strerror(e));

	expect_unchanged(_metadata, self, &before);
	ASSERT_EQ(0, file_hash(p, &h, &len));
	EXPECT_EQ(h_lower, h) TH_LOG("the union no longer shows the lower content");
	EXPECT_EQ(BIG_SIZE, len);

	/* the fault is gone: the same mount copies up */
	fd = open(p, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open after the fault: %s", strerror(errno));
	ASSERT_EQ(1, write(fd, "X", 1)) TH_LOG("write after the fault: %s", strerror(errno));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, file_hash(p, &h, &len));
	EXPECT_EQ(h_want, h);
	EXPECT_EQ(BIG_SIZE, len);
	ASSERT_EQ(0, pathf(p, "%s/big", self->upper));
	ASSERT_EQ(0, file_hash(p, &h, &len)) TH_LOG("%s: %s", p, strerror(errno));
	EXPECT_EQ(h_want, h);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = extents(fd, ex, 64);
		for (i = 0; i < n && i < 4; i++)
			TH_LOG("copy-up after the fault: file bytes %lld+%lld at device bytes %lld "
			       "(hole starts at %lld)", ex[i].logical, ex[i].length, ex[i].physical, P);
		close(fd);
	}
	ASSERT_EQ(0, pathf(p, "%s/big", self->lower));
	ASSERT_EQ(0, file_hash(p, &h, NULL));
	EXPECT_EQ(h_lower, h);
	snap_free(&before);
	free(data);
}

/*
 * (b) EIO while the whiteout is made.  upper/d exists (made directly on
 * the branch, then the ext4 is remounted so nothing of it is cached but
 * its inode and dentry, which the union holds).  Its directory block is
 * made to fail, the page cache dropped, and a lower file in d/ is
 * unlinked through the union: the whiteout .wh.victim cannot be added to
 * upper/d.  (The union's own lookups left negative dentries for victim and
 * .wh.victim in upper/d, so the first access to the block is the
 * whiteout's link/create; a lookup of a new name checks the block is gone.)
 */
TEST_F_TIMEOUT(flt, eio_during_whiteout, 300)
{
	char p[PATH_MAX];
	struct ext ex[8];
	struct snap before;
	struct stat st;
	int fd, n, r, e;

	if (!make_upper(_metadata, self))
		return;
	ASSERT_EQ(0, make_dir(NULL, self->upper, "d"));
	remount_ext4(_metadata, self);
	mount_union(_metadata, self);
	expect_content(_metadata, self->mnt, "d/victim", "victim on the lower branch\n");
	memset(&before, 0, sizeof(before));
	take(_metadata, self, &before);

	ASSERT_EQ(0, pathf(p, "%s/d", self->upper));
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = extents(fd, ex, 8);
	close(fd);
	ASSERT_LT(0, n) TH_LOG("FIEMAP of %s: %s", p, strerror(errno));
	fault_on(_metadata, self, ex[0].physical / 512, ex[0].length / 512);
	ASSERT_EQ(0, drop_caches("1"));
	ASSERT_EQ(0, evict(self->dmdev, ex[0].physical, ex[0].length)) TH_LOG("fadvise: %s", strerror(errno));
	/* the block really is gone from the cache: a lookup there fails */
	ASSERT_EQ(0, pathf(p, "%s/d/no-such-name", self->upper));
	ASSERT_EQ(-1, lstat(p, &st));
	ASSERT_EQ(EIO, errno) TH_LOG("set-up: a lookup in upper/d gave %s, not EIO "
				     "(directory block still cached?)", strerror(errno));

	ASSERT_EQ(0, pathf(p, "%s/d/victim", self->mnt));
	r = unlink(p);
	e = errno;
	FAULT_OFF();
	ASSERT_EQ(-1, r) TH_LOG("unlink succeeded although upper/d could not be read or written");
	EXPECT_EQ(EIO, e) TH_LOG("errno %d (%s), expected EIO", e, strerror(e));

	expect_unchanged(_metadata, self, &before);
	expect_content(_metadata, self->mnt, "d/victim", "victim on the lower branch\n");

	/* the fault is gone: the same mount makes whiteouts and copies up */
	ASSERT_EQ(0, unlink(p)) TH_LOG("unlink after the fault: %s", strerror(errno));
	expect_absent(_metadata, self->mnt, "d/victim");
	expect_content(_metadata, self->mnt, "d/other", "other\n");
	ASSERT_EQ(0, pathf(p, "%s/d/.wh.victim", self->upper));
	EXPECT_EQ(0, lstat(p, &st)) TH_LOG("no whiteout %s: %s", p, strerror(errno));
	expect_content(_metadata, self->lower, "d/victim", "victim on the lower branch\n");
	ASSERT_EQ(0, pathf(p, "%s/hello", self->mnt));
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "more", 4)) TH_LOG("copy-up after the fault: %s", strerror(errno));
	close(fd);
	expect_content(_metadata, self->mnt, "hello", HELLO "more");
	expect_content(_metadata, self->upper, "hello", HELLO "more");
	expect_content(_metadata, self->lower, "hello", HELLO);
	snap_free(&before);
}

/* ---- project quota: EXDEV from the branch ---- */

static void set_project(struct __test_metadata *_metadata, const char *dir, unsigned int id)
{
	struct fsxattr fsx;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FSGETXATTR, &fsx));
	fsx.fsx_projid = id;
	fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FSSETXATTR, &fsx)) TH_LOG("project id on %s: %s", dir,
								 strerror(errno));
	close(fd);
}

/* upper/A (project 0) and upper/B (project PROJ_B, inherited); 0: skip. */
static int prj_setup(struct __test_metadata *_metadata, FIXTURE_DATA(flt) *self)
{
	char b[PATH_MAX];

	if (!make_upper(_metadata, self))
		return 0;
	ASSERT_EQ(0, make_dir(NULL, self->upper, "A"));
	ASSERT_EQ(0, make_dir(b, self->upper, "B"));
	set_project(_metadata, b, PROJ_B);
	mount_union(_metadata, self);
	return 1;
}

/*
 * unlink(2) has no EXDEV: removing a lower file in B must work although
 * ext4 refuses the whiteout as a hard link to the branch's whiteout base
 * (another project); a plain-file whiteout is what the module documents
 * "when the link cannot be made".
 */
TEST_F_TIMEOUT(flt, prjquota_unlink_in_other_project, 300)
{
	char p[PATH_MAX];
	struct stat st;
	int r;

	if (!prj_setup(_metadata, self))
		return;
	ASSERT_EQ(0, pathf(p, "%s/B/victim", self->mnt));
	r = unlink(p);
	EXPECT_EQ(0, r) TH_LOG("unlink of a lower file in a directory of another project: %s",
			       strerror(errno));
	if (r == 0) {
		expect_absent(_metadata, self->mnt, "B/victim");
		ASSERT_EQ(0, pathf(p, "%s/B/.wh.victim", self->upper));
		EXPECT_EQ(0, lstat(p, &st)) TH_LOG("no whiteout %s", p);
	} else {
		/* failed: then nothing changed */
		expect_content(_metadata, self->mnt, "B/victim", "B/victim on the lower branch\n");
		ASSERT_EQ(0, pathf(p, "%s/B/.wh.victim", self->upper));
		EXPECT_EQ(-1, lstat(p, &st)) TH_LOG("half-made whiteout %s", p);
	}
	expect_content(_metadata, self->lower, "B/victim", "B/victim on the lower branch\n");
	/* new files in B work, and can be removed */
	ASSERT_EQ(0, put_file(self->mnt, "B/new", "new\n"));
	ASSERT_EQ(0, pathf(p, "%s/B/new", self->mnt));
	ASSERT_EQ(0, unlink(p));
	expect_absent(_metadata, self->mnt, "B/new");
}

/*
 * rename(2) and link(2) into B may fail with EXDEV, as on the ext4 itself
 * (mv and cp fall back to copying); either way the union is consistent:
 * EXDEV leaves the source as it was (content, no whiteout) and no target,
 * success moves it.
 */
TEST_F_TIMEOUT(flt, prjquota_rename_and_link_exdev, 300)
{
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
	struct snap before;
	struct stat st;
	int r, e;

	if (!prj_setup(_metadata, self))
		return;

	/* a lower file: copy-up into A, then the rename into B */
	memset(&before, 0, sizeof(before));
	take(_metadata, self, &before);
	ASSERT_EQ(0, pathf(src, "%s/A/file", self->mnt));
	ASSERT_EQ(0, pathf(dst, "%s/B/moved", self->mnt));
	r = rename(src, dst);
	e = errno;
	TH_LOG("rename of a lower file from A into B: %s", r ? strerror(e) : "ok");
	if (r) {
		EXPECT_EQ(EXDEV, e);
		expect_content(_metadata, self->mnt, "A/file", "A/file on the lower branch\n");
		expect_absent(_metadata, self->mnt, "B/moved");
		ASSERT_EQ(0, pathf(p, "%s/A/.wh.file", self->upper));
		EXPECT_EQ(-1, lstat(p, &st)) TH_LOG("%s left behind by a failed rename", p);
		ASSERT_EQ(0, pathf(p, "%s/B/moved", self->upper));
		EXPECT_EQ(-1, lstat(p, &st)) TH_LOG("%s left behind by a failed rename", p);
	} else {
		expect_absent(_metadata, self->mnt, "A/file");
		expect_content(_metadata, self->mnt, "B/moved", "A/file on the lower branch\n");
	}
	{
		struct manifest now;

		ASSERT_EQ(0, manifest_make(&now, self->lower, MANIFEST_ALL));
		EXPECT_EQ(0, manifest_diff(&before.lower, &now, "lower branch changed", 20));
		manifest_free(&now);
	}

	/* a file only on the upper branch */
	ASSERT_EQ(0, put_file(self->mnt, "A/up", "up\n"));
	ASSERT_EQ(0, pathf(src, "%s/A/up", self->mnt));
	ASSERT_EQ(0, pathf(dst, "%s/B/up", self->mnt));
	r = rename(src, dst);
	e = errno;
	TH_LOG("rename of an upper file from A into B: %s", r ? strerror(e) : "ok");
	if (r) {
		EXPECT_EQ(EXDEV, e);
		expect_content(_metadata, self->mnt, "A/up", "up\n");
		expect_absent(_metadata, self->mnt, "B/up");
	} else {
		expect_absent(_metadata, self->mnt, "A/up");
		expect_content(_metadata, self->mnt, "B/up", "up\n");
	}

	/* link(2) of a lower file into B */
	ASSERT_EQ(0, pathf(src, "%s/hello", self->mnt));
	ASSERT_EQ(0, pathf(dst, "%s/B/hello-link", self->mnt));
	r = link(src, dst);
	e = errno;
	TH_LOG("link of a lower file into B: %s", r ? strerror(e) : "ok");
	if (r) {
		EXPECT_EQ(EXDEV, e);
		expect_absent(_metadata, self->mnt, "B/hello-link");
	} else {
		expect_content(_metadata, self->mnt, "B/hello-link", HELLO);
	}
	expect_content(_metadata, self->mnt, "hello", HELLO);
	expect_content(_metadata, self->lower, "hello", HELLO);
	snap_free(&before);
}

TEST_HARNESS_MAIN
