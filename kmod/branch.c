// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: the branches.  Every call the union makes into a branch
 * filesystem's VFS is here, except the read/write pass-through of open
 * files (file.c):
 *  - the branch primitives the core is built on (au_c_*, declared in
 *    aufs_abi.h): branch path resolution for a mount or remount, lookup,
 *    stat, directory reads, and the changes (create, link, remove, rename,
 *    copies of data, attributes and flags), each change one VFS call with
 *    its locks and inside the branch's freeze protection;
 *  - the shim's own calls on the entries of a union object (au_h_*:
 *    getattr, setattr, xattrs, chattr flags, readlink, statfs, fsync),
 *    made on what the caller chose, with the caller's credentials.
 * No union policy: the core and the callers decide, this file acts.
 *
 * The calls that differ between the kernels the shim is built for differ
 * here, by what compat.h's probes found (AU_HAVE_*): the idmap each call
 * takes (always the branch mount's), a rename's lock, the copy of data
 * (who takes the freeze protection), POSIX ACLs, the LSMs' xattr filter.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/security.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/statfs.h>
#include <linux/xattr.h>
#include "aufs.h"
#include <linux/fileattr.h>	/* needs linux/fs.h first */

/* ---- mount and remount: branch paths for the core ---- */

struct au_mctx *au_mctx_alloc(void)
{
	return kvzalloc(sizeof(struct au_mctx), GFP_KERNEL);
}

void au_mctx_free(struct au_mctx *m)
{
	unsigned int i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		path_put(&m->paths[i]);
		kfree(m->abs[i]);
	}
	path_put(&m->target);
	kvfree(m);
}

/* Drop position @idx; those after it move up. */
static void au_mctx_drop(struct au_mctx *m, unsigned int idx)
{
	if (idx >= m->n)
		return;
	path_put(&m->paths[idx]);
	kfree(m->abs[idx]);
	memmove(&m->paths[idx], &m->paths[idx + 1], (m->n - idx - 1) * sizeof(m->paths[0]));
	memmove(&m->abs[idx], &m->abs[idx + 1], (m->n - idx - 1) * sizeof(m->abs[0]));
	m->n--;
	m->paths[m->n] = (struct path){};
	m->abs[m->n] = NULL;
}

void au_c_br_forget(void *mctx, u32 idx)
{
	au_mctx_drop(mctx, idx);
}

void au_c_br_removed(void *mctx, u32 idx)
{
	au_mctx_drop(mctx, idx);
}

/*
 * Does the filesystem of @path compare names other than byte for byte: its
 * own d_hash/d_compare (vfat, or a filesystem mounted nocase), or an
 * encoding for casefolded directories (ext4, f2fs)?
 */
static bool au_inexact_names(const struct path *path)
{
	if (path->dentry->d_flags & (DCACHE_OP_HASH | DCACHE_OP_COMPARE))
		return true;
#if IS_ENABLED(CONFIG_UNICODE)
	if (path->dentry->d_sb->s_encoding)
		return true;
#endif
	return false;
}

int au_c_br_resolve(void *mctx, u32 idx, const u8 *name, u32 len,
		    struct au_brfacts *out)
{
	struct au_mctx *m = mctx;
	struct path path;
	struct super_block *sb;
	char *s, *abs;
	int err;

	if (idx > m->n || m->n >= AU_MCTX_MAX)
		return -EINVAL;		/* the core never asks for this */
	s = kmemdup_nul(name, len, GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	err = kern_path(s, LOOKUP_FOLLOW, &path);
	kfree(s);
	if (err)
		return err;
	abs = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!abs) {
		path_put(&path);
		return -ENOMEM;
	}
	/* the new branch takes position idx */
	memmove(&m->paths[idx + 1], &m->paths[idx], (m->n - idx) * sizeof(m->paths[0]));
	memmove(&m->abs[idx + 1], &m->abs[idx], (m->n - idx) * sizeof(m->abs[0]));
	m->paths[idx] = path;
	m->abs[idx] = abs;
	m->n++;
	sb = path.dentry->d_sb;
	out->is_dir = d_is_dir(path.dentry);
	out->sb_rdonly = sb_rdonly(sb) || __mnt_is_readonly(path.mnt);
	out->is_aufs = sb->s_type == &au_fs_type;
	out->under_mountpoint = m->target.dentry && path_is_under(&path, &m->target);
	out->flags = (is_idmapped_mnt(path.mnt) ? AU_BRF_IDMAPPED : 0) |
		     (au_inexact_names(&path) ? AU_BRF_INEXACT : 0);
	strscpy(out->fs_type, sb->s_type->name, sizeof(out->fs_type));
	s = d_path(&path, abs, PATH_MAX);
	if (!IS_ERR(s)) {
		out->abs_path = s;
		out->abs_len = strlen(s);
	}
	return 0;
}

u32 au_c_br_relation(void *mctx, u32 a, u32 b)
{
	struct au_mctx *m = mctx;
	struct dentry *da, *db;

	if (a >= m->n || b >= m->n)
		return 0;
	da = m->paths[a].dentry;
	db = m->paths[b].dentry;
	if (!da || !db || da->d_sb != db->d_sb)
		return 0;
	if (da == db)
		return 1;
	if (is_subdir(da, db))
		return 2;
	if (is_subdir(db, da))
		return 3;
	return 0;
}

/* ---- lookup and stat for the core ---- */

/*
 * Branch lookups are the union's own work (as overlayfs's), made with its
 * credentials: who may search a union directory is decided once, by
 * au_permission(), on every branch or (dirperm1) on the topmost one.
 */
int au_c_lookup(void *ctx, u32 bindex, void *dir, const u8 *name, u32 len,
		void **out)
{
	const struct cred *old = override_creds(((struct au_ctx *)ctx)->cred);
	struct dentry *d;

	d = lookup_one_len_unlocked(name, dir, len);
	revert_creds(old);
	if (IS_ERR(d))
		return PTR_ERR(d);
	*out = d;
	return 0;
}

void *au_c_dget(void *dentry)
{
	return dget(dentry);
}

void au_c_dput(void *dentry)
{
	dput(dentry);
}

int au_c_stat(void *ctx, u32 bindex, void *dentry, struct au_stat *st)
{
	struct dentry *d = dentry;
	struct inode *inode = d_inode(d);

	memset(st, 0, sizeof(*st));
	if (!inode || d_unhashed(d))
		return 0;
	st->positive = 1;
	st->mode = inode->i_mode;
	st->nlink = inode->i_nlink;
	st->ino = inode->i_ino;
	st->size = i_size_read(inode);
	st->rdev = new_encode_dev(inode->i_rdev);
	st->dev = new_encode_dev(inode->i_sb->s_dev);
	st->generation = inode->i_generation;
	st->prot = IS_APPEND(inode) || IS_IMMUTABLE(inode);
	return 0;
}

int au_c_metacopy(void *ctx, u32 bindex, void *dentry)
{
	struct dentry *d = dentry;
	struct inode *inode = d_inode(d);
	ssize_t r;

	if (!inode || !S_ISREG(inode->i_mode) || !(inode->i_opflags & IOP_XATTR))
		return 0;
	/* The union's own marker: no permission of the caller's applies. */
	r = __vfs_getxattr(d, inode, AU_XATTR_METACOPY, NULL, 0);
	if (r >= 0)
		return 1;
	return r == -ENODATA || r == -EOPNOTSUPP ? 0 : r;
}

/*
 * The bytes available to users on branch @bindex (the create policies):
 * statfs of the branch's root, f_bavail * f_bsize, saturating.
 */
int au_c_free_space(void *ctx, u32 bindex, u64 *out)
{
	struct au_brset *brs = AU_CTX_BRS(ctx);
	struct kstatfs st;
	u64 v;
	struct path root;
	int err;

	if (bindex >= brs->nbr)
		return -EINVAL;
	root.mnt = brs->br[bindex].path.mnt;
	root.dentry = root.mnt->mnt_root;
	err = vfs_statfs(&root, &st);
	if (err)
		return err;
	if (st.f_bsize <= 0 || check_mul_overflow((u64)st.f_bavail, (u64)st.f_bsize, &v))
		v = st.f_bsize <= 0 ? 0 : U64_MAX;
	*out = v;
	return 0;
}

int au_c_dirren_get(void *ctx, u32 bindex, void *dentry, u8 *buf, u32 len)
{
	struct dentry *d = dentry;
	struct inode *inode = d_inode(d);
	ssize_t r;

	if (!inode || !S_ISDIR(inode->i_mode) || !(inode->i_opflags & IOP_XATTR))
		return -ENODATA;
	/* The union's own record: no permission of the caller's applies. */
	r = __vfs_getxattr(d, inode, AU_XATTR_DIRREN, buf, len);
	if (r == -EOPNOTSUPP)
		return -ENODATA;
	return r > INT_MAX ? -ERANGE : r;
}

/* ---- au_c_iterate: one branch directory, entry by entry, to the core ---- */

struct au_rdctx {
	struct dir_context ctx;
	void *cookie;
	int err;
	unsigned int count;
};

static bool au_fill(struct dir_context *ctx, const char *name, int len,
		    loff_t pos, u64 ino, unsigned int d_type)
{
	struct au_rdctx *rd = container_of(ctx, struct au_rdctx, ctx);

	rd->count++;
	rd->err = au_rs_dir_add(rd->cookie, name, len, d_type, ino);
	return rd->err == 0;
}

int au_c_iterate(void *ctx, u32 bindex, void *dir, void *cookie)
{
	struct au_brset *brs = AU_CTX_BRS(ctx);
	struct au_rdctx rd = { .ctx.actor = au_fill, .cookie = cookie };
	struct path path;
	struct file *h_file;
	int err;

	if (bindex >= brs->nbr)
		return -EINVAL;
	path.mnt = brs->br[bindex].path.mnt;
	path.dentry = dir;
	/*
	 * Like lookups, reading a branch directory is the union's own work:
	 * its credentials, and no fanotify listener waited for (aufs.h).
	 */
	h_file = dentry_open(&path, O_RDONLY | O_DIRECTORY | FMODE_NONOTIFY,
			     ((struct au_ctx *)ctx)->cred);
	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	do {
		rd.count = 0;
		err = iterate_dir(h_file, &rd.ctx);
		if (!err)
			err = rd.err;
	} while (!err && rd.count);
	fput(h_file);
	return err;
}

/* ---- branch changes for the core ---- */


static struct vfsmount *au_mnt(void *ctx, u32 bindex)
{
	struct au_brset *brs = AU_CTX_BRS(ctx);

	return bindex < brs->nbr ? brs->br[bindex].path.mnt : NULL;
}

/*
 * A change on a branch: write access to its mount (mnt_want_write() is also
 * the branch filesystem's freeze protection) and the credentials.
 */
struct au_wr {
	struct vfsmount *mnt;
	const struct cred *old;	/* NULL: the caller's own credentials */
};

/* Get write access to branch @bindex and take the credentials @cred asks for. */
static int au_wr_begin(struct au_wr *wr, void *ctx, u32 bindex, u32 cred)
{
	int err;

	wr->mnt = au_mnt(ctx, bindex);
	if (!wr->mnt)
		return -EINVAL;
	err = mnt_want_write(wr->mnt);
	if (err)
		return err;
	wr->old = cred == AU_CRED_INTERNAL ?
		override_creds(((struct au_ctx *)ctx)->cred) : NULL;
	return 0;
}

static void au_wr_end(struct au_wr *wr)
{
	if (wr->old)
		revert_creds(wr->old);
	mnt_drop_write(wr->mnt);
}

int au_c_root(void *ctx, u32 bindex, void **out)
{
	struct au_brset *brs = AU_CTX_BRS(ctx);

	if (bindex >= brs->nbr)
		return -EINVAL;
	*out = dget(brs->br[bindex].path.dentry);
	return 0;
}

/* One change in a directory of a branch: what au_hop_begin() set up. */
struct au_hop {
	struct au_wr wr;
	struct inode *pdir;
};

static void au_hop_end(struct au_hop *op)
{
	inode_unlock(op->pdir);
	au_wr_end(&op->wr);
}

/*
 * Get write access to branch @bindex, take the credentials @cred asks for,
 * lock directory @parent and look @name up in it: the dentry to act on
 * (referenced), or an error with everything undone.
 */
static struct dentry *au_hop_begin(struct au_hop *op, void *ctx, u32 bindex,
				   struct dentry *parent, const u8 *name, u32 len,
				   u32 cred)
{
	struct dentry *d;
	int err;

	err = au_wr_begin(&op->wr, ctx, bindex, cred);
	if (err)
		return ERR_PTR(err);
	op->pdir = d_inode(parent);
	inode_lock_nested(op->pdir, I_MUTEX_PARENT);
	d = lookup_one_len(name, parent, len);
	if (IS_ERR(d))
		au_hop_end(op);
	return d;
}

/*
 * After a successful create on a branch.  Some filesystems leave a new
 * directory's dentry unhashed (or negative) and expect a fresh lookup;
 * an unhashed dentry can also mean that the name was removed on the
 * branch directly right after we made it.  Look the name up again in that
 * case (the parent is still locked): a positive answer is the object,
 * a negative one means it is gone already (ENOENT, not an I/O error).
 */
static int au_created(struct dentry **dp, struct dentry *parent,
		      const u8 *name, u32 len)
{
	struct dentry *d = *dp, *n;

	if (!d_unhashed(d) && d_is_positive(d))
		return 0;
	if (d_is_positive(d) && !d_is_dir(d))
		return 0;	/* removed already; the open file stays ours */
	n = lookup_one_len((const char *)name, parent, len);
	if (IS_ERR(n))
		return PTR_ERR(n);
	if (d_is_negative(n)) {
		dput(n);
		return -ENOENT;
	}
	dput(d);
	*dp = n;
	return 0;
}

int au_c_create(void *ctx, u32 bindex, const struct au_at *at,
		const struct au_new_entry *e, u32 cred, void **out)
{
	u32 mode = e->mode;
	struct au_hop op;
	struct dentry *d;
	char *link = NULL;
	int err;

	if (S_ISLNK(mode)) {
		link = kmemdup_nul(e->target, e->tlen, GFP_KERNEL);
		if (!link)
			return -ENOMEM;
	}
	d = au_hop_begin(&op, ctx, bindex, at->dir, at->name, at->len, cred);
	if (IS_ERR(d)) {
		kfree(link);
		return PTR_ERR(d);
	}
	if (d_is_positive(d)) {
		err = -EEXIST;
	} else {
		au_idmap *idmap = au_mnt_idmap(op.wr.mnt);

		switch (mode & S_IFMT) {
		case S_IFREG:
			err = vfs_create(idmap, op.pdir, d, mode, true);
			break;
		case S_IFDIR:
			err = vfs_mkdir(idmap, op.pdir, d, mode);
			break;
		case S_IFLNK:
			err = vfs_symlink(idmap, op.pdir, d, link);
			break;
		default:
			err = vfs_mknod(idmap, op.pdir, d, mode, new_decode_dev(e->rdev));
			break;
		}
		if (!err)
			err = au_created(&d, at->dir, at->name, at->len);
	}
	if (err)
		dput(d);
	else
		*out = d;
	au_hop_end(&op);
	kfree(link);
	return err;
}

int au_c_link(void *ctx, u32 bindex, void *src, const struct au_at *at,
	      u32 cred, void **out)
{
	struct au_hop op;
	struct dentry *d;
	int err;

	d = au_hop_begin(&op, ctx, bindex, at->dir, at->name, at->len, cred);
	if (IS_ERR(d))
		return PTR_ERR(d);
	err = d_is_positive(d) ? -EEXIST :
		vfs_link(src, au_mnt_idmap(op.wr.mnt), op.pdir, d, NULL);
	if (!err && d_is_negative(d))
		err = -EIO;
	if (err)
		dput(d);
	else
		*out = d;
	au_hop_end(&op);
	return err;
}

int au_c_remove(void *ctx, u32 bindex, void *dir, const u8 *name, u32 len,
		u32 is_dir, u32 cred)
{
	struct au_hop op;
	struct dentry *d;
	int err;

	d = au_hop_begin(&op, ctx, bindex, dir, name, len, cred);
	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d_is_negative(d))
		err = -ENOENT;
	else if (is_dir)
		err = vfs_rmdir(au_mnt_idmap(op.wr.mnt), op.pdir, d);
	else
		err = vfs_unlink(au_mnt_idmap(op.wr.mnt), op.pdir, d, NULL);
	dput(d);
	au_hop_end(&op);
	return err;
}

int au_c_rename(void *ctx, u32 bindex, const struct au_at *from,
		const struct au_at *to, u32 flags, u32 cred)
{
	struct dentry *op = from->dir, *np = to->dir, *trap, *od, *nd;
	struct renamedata rd = {};
	struct au_wr wr;
	int err;

	err = au_wr_begin(&wr, ctx, bindex, cred);
	if (err)
		return err;
	/*
	 * Newer kernels refuse to lock two directories with no common
	 * ancestor in the dcache (one of them disconnected from the other's
	 * tree): EXDEV, as a rename(2) on the branch gets, with nothing
	 * locked; the core undoes what the operation prepared.
	 */
	trap = lock_rename(np, op);
	if (IS_ERR(trap)) {
		au_wr_end(&wr);
		return PTR_ERR(trap);
	}
	od = lookup_one_len(from->name, op, from->len);
	err = PTR_ERR(od);
	if (IS_ERR(od))
		goto out_unlock;
	err = -ENOENT;
	if (d_is_negative(od))
		goto out_od;
	err = -EINVAL;
	if (od == trap)
		goto out_od;
	nd = lookup_one_len(to->name, np, to->len);
	err = PTR_ERR(nd);
	if (IS_ERR(nd))
		goto out_od;
	err = -ENOTEMPTY;
	if (nd == trap)
		goto out_nd;
#ifdef AU_HAVE_MNT_IDMAP
	rd.old_mnt_idmap = au_mnt_idmap(wr.mnt);
	rd.new_mnt_idmap = au_mnt_idmap(wr.mnt);
#else
	rd.old_mnt_userns = au_mnt_idmap(wr.mnt);
	rd.new_mnt_userns = au_mnt_idmap(wr.mnt);
#endif
	rd.old_dir = d_inode(op);
	rd.old_dentry = od;
	rd.new_dir = d_inode(np);
	rd.new_dentry = nd;
	rd.flags = flags;
	err = vfs_rename(&rd);
out_nd:
	dput(nd);
out_od:
	dput(od);
out_unlock:
	unlock_rename(np, op);
	au_wr_end(&wr);
	return err;
}

static struct file *au_open_h(void *ctx, u32 bindex, struct dentry *d, int flags)
{
	struct path path = { .mnt = au_mnt(ctx, bindex), .dentry = d };

	if (!path.mnt)
		return ERR_PTR(-EINVAL);
	/* the union's own work: no fanotify listener waited for (aufs.h) */
	return dentry_open(&path, flags | O_LARGEFILE | O_NOATIME | FMODE_NONOTIFY,
			   current_cred());
}

/*
 * Change the attributes of branch entry @h as @ia says (no access checks),
 * inside its branch's freeze protection (the caller's).
 */
int au_h_setattr(const struct path *h, struct iattr *ia)
{
	struct inode *inode = d_inode(h->dentry);
	int err;

	inode_lock(inode);
	err = notify_change(au_mnt_idmap(h->mnt), h->dentry, ia, NULL);
	inode_unlock(inode);
	return err;
}

/*
 * Splice up to @len bytes from @in at *@ipos to @out at *@opos, inside the
 * freeze protection of @out's filesystem, which the caller holds.  Where
 * do_splice_direct() takes that protection itself (a second hold would
 * wait behind a freeze that began after the first, which waits for us),
 * the kernel has splice_file_range() instead, which leaves the checks of
 * the ranges and the LSMs' to its caller, as do_splice_direct() then does.
 */
static long au_splice(struct file *in, loff_t *ipos, struct file *out,
		      loff_t *opos, size_t len)
{
#ifdef AU_HAVE_SPLICE_FILE_RANGE
	int err;

	err = rw_verify_area(READ, in, ipos, len);
	if (!err)
		err = rw_verify_area(WRITE, out, opos, len);
	if (err)
		return err;
	return splice_file_range(in, ipos, out, opos, len);
#else
	return do_splice_direct(in, ipos, out, opos, len, SPLICE_F_MOVE);
#endif
}

/*
 * Copy data, keeping holes: a clone where the filesystem can, else only
 * the data segments are spliced across.  All with the credentials of the
 * union's work, and every write inside the destination branch's freeze
 * protection, never taken twice: vfs_clone_file_range() takes it itself,
 * so the splices, the size and the sync get ours after it.
 */
int au_c_copy_data(void *ctx, u32 sbr, void *src, u32 dbr, void *dst, s64 len)
{
	struct iattr ia = { .ia_valid = ATTR_SIZE, .ia_size = len };
	struct vfsmount *mnt = au_mnt(ctx, dbr);
	const struct cred *old;
	struct file *in, *out;
	loff_t pos = 0, data, hole;
	long n;
	int err;

	if (!mnt)
		return -EINVAL;
	old = override_creds(((struct au_ctx *)ctx)->cred);
	in = au_open_h(ctx, sbr, src, O_RDONLY);
	if (IS_ERR(in)) {
		err = PTR_ERR(in);
		goto out_cred;
	}
	/* open for writing, it has write access to the branch's mount */
	out = au_open_h(ctx, dbr, dst, O_WRONLY);
	if (IS_ERR(out)) {
		err = PTR_ERR(out);
		goto out_in;
	}
	/* A reflink where the branches allow it: instant, and keeps holes. */
	if (len > 0 && vfs_clone_file_range(in, 0, out, 0, len, 0) == len)
		pos = len;
	err = mnt_want_write(mnt);
	if (err)
		goto out_out;
	while (pos < len) {
		data = vfs_llseek(in, pos, SEEK_DATA);
		if (data == -ENXIO || data >= len)
			break;		/* only a hole is left */
		if (data < 0)
			data = pos;	/* no SEEK_DATA support: copy it all */
		hole = vfs_llseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > len)
			hole = len;
		pos = data;
		while (pos < hole) {
			loff_t opos = pos;

			if (fatal_signal_pending(current)) {
				err = -EINTR;
				goto out_drop;
			}
			n = au_splice(in, &pos, out, &opos, min_t(loff_t, hole - pos, SZ_1M));
			if (n < 0) {
				err = n;
				goto out_drop;
			}
			if (n == 0) {
				/*
				 * The lower file shrank under us (changed on
				 * its branch directly): the copy ends at its
				 * new end, as a reader would have seen it.
				 */
				len = pos;
				break;
			}
			cond_resched();
		}
	}
	/* The size, including a hole at the end (not past the source's end). */
	ia.ia_size = min_t(loff_t, len, i_size_read(file_inode(in)));
	/*
	 * A hole at the end is kept only if the source still has one there:
	 * a source truncated and written again on its branch directly while
	 * the scan above ran (it saw no data, the size came back) would make
	 * a copy whose tail is zeros where the source has data.  Then the
	 * copy ends where the data copied ends: the source as it was after
	 * the cut.
	 */
	if (ia.ia_size > pos) {
		loff_t s1 = i_size_read(file_inode(in));

		data = vfs_llseek(in, pos, SEEK_DATA);
		if (s1 < ia.ia_size || (data >= 0 && data < ia.ia_size))
			ia.ia_size = pos;
	}
	if (i_size_read(file_inode(out)) != ia.ia_size)
		err = au_h_setattr(&out->f_path, &ia);
	if (!err)
		err = vfs_fsync(out, 0);
out_drop:
	mnt_drop_write(mnt);
out_out:
	fput(out);
out_in:
	fput(in);
out_cred:
	revert_creds(old);
	return err;
}

/*
 * An LSM's say on copying xattr @name of @src: 0 copy it, 1 leave it out,
 * or -errno to refuse the copy-up.  The hook that gets the dentry says
 * "leave it out" with -ECANCELED, the older one with 1.
 */
static int au_lsm_copy_xattr(struct dentry *src, const char *name)
{
	int err;

#ifdef AU_HAVE_CPUP_XATTR_DENTRY
	err = security_inode_copy_up_xattr(src, name);
	if (err == -ECANCELED)
		return 1;
#else
	err = security_inode_copy_up_xattr(name);
#endif
	return err == -EOPNOTSUPP ? 0 : err;
}

#ifdef AU_HAVE_ACL_API
/*
 * A POSIX ACL, where the VFS has calls of its own for them: no xattr
 * handler reads or writes one any more.
 */
static int au_copy_acl(const struct path *src, const struct path *dst,
		       const char *name)
{
	struct posix_acl *acl;
	int err;

	acl = vfs_get_acl(au_mnt_idmap(src->mnt), src->dentry, name);
	if (IS_ERR(acl))
		return PTR_ERR(acl);
	err = vfs_set_acl(au_mnt_idmap(dst->mnt), dst->dentry, name, acl);
	posix_acl_release(acl);
	return err;
}
#endif

static int au_copy_xattrs(const struct path *src, const struct path *dst)
{
	au_idmap *sidmap = au_mnt_idmap(src->mnt), *didmap = au_mnt_idmap(dst->mnt);
	ssize_t list_size, size;
	char *list, *name, *value = NULL;
	int err = 0;

	list_size = vfs_listxattr(src->dentry, NULL, 0);
	if (list_size <= 0)
		return list_size == -EOPNOTSUPP ? 0 : list_size;
	list = kvmalloc(list_size, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	list_size = vfs_listxattr(src->dentry, list, list_size);
	if (list_size < 0) {
		err = list_size;
		goto out;
	}
	for (name = list; name < list + list_size; name += strlen(name) + 1) {
		if (au_xattr_private(name))
			continue;	/* the union's own (a metacopy marker) */
		/* An LSM may want an xattr dropped (1) or the copy-up refused. */
		err = au_lsm_copy_xattr(src->dentry, name);
		if (err < 0)
			break;
		if (err == 1) {
			err = 0;
			continue;
		}
#ifdef AU_HAVE_ACL_API
		if (is_posix_acl_xattr(name)) {
			err = au_copy_acl(src, dst, name);
			goto next;
		}
#endif
		size = vfs_getxattr(sidmap, src->dentry, name, NULL, 0);
		if (size < 0) {
			err = size;
			break;
		}
		kvfree(value);
		value = kvmalloc(max_t(ssize_t, size, 1), GFP_KERNEL);
		if (!value) {
			err = -ENOMEM;
			break;
		}
		size = vfs_getxattr(sidmap, src->dentry, name, value, size);
		if (size < 0) {
			err = size;
			break;
		}
		err = vfs_setxattr(didmap, dst->dentry, name, value, size, 0);
#ifdef AU_HAVE_ACL_API
next:
#endif
		/* What the upper filesystem cannot hold is not copied (as overlayfs). */
		if (err == -EOPNOTSUPP)
			err = 0;
		if (err)
			break;
	}
out:
	kvfree(value);
	kvfree(list);
	return err;
}

int au_c_copy_meta(void *ctx, u32 sbr, void *src, u32 dbr, void *dst)
{
	struct path s = { .mnt = au_mnt(ctx, sbr), .dentry = src };
	struct path d = { .mnt = au_mnt(ctx, dbr), .dentry = dst };
	struct inode *si_inode = d_inode(s.dentry);
	struct iattr ia;
	struct au_wr wr;
	int err;

	if (!s.mnt)
		return -EINVAL;
	err = au_wr_begin(&wr, ctx, dbr, AU_CRED_INTERNAL);
	if (err)
		return err;
	err = au_copy_xattrs(&s, &d);
	if (!err) {
		/* Owner first: chown may clear the set-id bits the mode restores. */
		ia = (struct iattr){ .ia_valid = ATTR_UID | ATTR_GID,
				     .ia_vfsuid = VFSUIDT_INIT(si_inode->i_uid),
				     .ia_vfsgid = VFSGIDT_INIT(si_inode->i_gid) };
		err = au_h_setattr(&d, &ia);
	}
	if (!err && !S_ISLNK(si_inode->i_mode)) {
		ia = (struct iattr){ .ia_valid = ATTR_MODE, .ia_mode = si_inode->i_mode };
		err = au_h_setattr(&d, &ia);
	}
	if (!err) {
		ia = (struct iattr){ .ia_valid = ATTR_ATIME | ATTR_MTIME |
					ATTR_ATIME_SET | ATTR_MTIME_SET,
				     .ia_atime = au_inode_atime(si_inode),
				     .ia_mtime = au_inode_mtime(si_inode) };
		err = au_h_setattr(&d, &ia);
	}
	au_wr_end(&wr);
	return err;
}

/* The chattr flags a copy keeps; the first two protect the file. */
#define AU_PROT_FLAGS	(FS_APPEND_FL | FS_IMMUTABLE_FL)
#define AU_COPY_FLAGS	(AU_PROT_FLAGS | FS_NOATIME_FL | FS_SYNC_FL | FS_NODUMP_FL)

int au_c_copy_flags(void *ctx, u32 sbr, void *src, u32 dbr, void *dst)
{
	struct fileattr fa = {}, nfa;
	struct au_wr wr;
	int err;

	if (!S_ISREG(d_inode(src)->i_mode) && !S_ISDIR(d_inode(src)->i_mode))
		return 0;
	err = vfs_fileattr_get(src, &fa);
	if (err == -ENOIOCTLCMD || err == -ENOTTY || err == -EOPNOTSUPP)
		return 0;	/* the source has no flags to keep */
	if (err)
		return err;
	err = au_wr_begin(&wr, ctx, dbr, AU_CRED_INTERNAL);
	if (err)
		return err;
	/*
	 * The copy gets exactly the source's flags of this set, also when
	 * the source has none: a flag the new file inherited from its
	 * directory on the branch (ext4 passes NODUMP, SYNC, NOATIME down)
	 * is not the file's.
	 */
	err = vfs_fileattr_get(dst, &nfa);
	if (err == -ENOIOCTLCMD || err == -ENOTTY || err == -EOPNOTSUPP)
		err = (fa.flags & AU_COPY_FLAGS) ? -EOPNOTSUPP : 0;
	else if (!err && (nfa.flags & AU_COPY_FLAGS) != (fa.flags & AU_COPY_FLAGS)) {
		fileattr_fill_flags(&nfa, (nfa.flags & ~AU_COPY_FLAGS) |
				    (fa.flags & AU_COPY_FLAGS));
		err = vfs_fileattr_set(au_mnt_idmap(wr.mnt), dst, &nfa);
	}
	au_wr_end(&wr);
	/* Losing append-only or immutable would let a user past them. */
	if (err && !(fa.flags & AU_PROT_FLAGS))
		err = 0;
	else if (err)
		err = -EPERM;
	return err;
}

/* The union's own attribute change @ia of @node on branch @bindex. */
static int au_setattr_internal(void *ctx, u32 bindex, struct dentry *node,
			       struct iattr *ia)
{
	struct au_wr wr;
	struct path h;
	int err;

	err = au_wr_begin(&wr, ctx, bindex, AU_CRED_INTERNAL);
	if (err)
		return err;
	h = (struct path){ .mnt = wr.mnt, .dentry = node };
	err = au_h_setattr(&h, ia);
	au_wr_end(&wr);
	return err;
}

int au_c_set_size(void *ctx, u32 bindex, void *node, s64 size)
{
	struct iattr ia = { .ia_valid = ATTR_SIZE, .ia_size = size };

	return au_setattr_internal(ctx, bindex, node, &ia);
}

int au_c_mark_metacopy(void *ctx, u32 bindex, void *node)
{
	struct au_wr wr;
	int err;

	err = au_wr_begin(&wr, ctx, bindex, AU_CRED_INTERNAL);
	if (err)
		return err;
	err = vfs_setxattr(au_mnt_idmap(wr.mnt), node, AU_XATTR_METACOPY, "", 0,
			   XATTR_CREATE);
	au_wr_end(&wr);
	return err;
}

int au_c_dirren_set(void *ctx, u32 bindex, void *node, const u8 *rec, u32 len)
{
	struct dentry *d = node;
	struct au_wr wr;
	int err;

	if (!d_is_dir(d))
		return -ENOTDIR;
	err = au_wr_begin(&wr, ctx, bindex, AU_CRED_INTERNAL);
	if (err)
		return err;
	if (len)
		err = vfs_setxattr(au_mnt_idmap(wr.mnt), d, AU_XATTR_DIRREN,
				   rec, len, 0);
	else
		err = vfs_removexattr(au_mnt_idmap(wr.mnt), d, AU_XATTR_DIRREN);
	au_wr_end(&wr);
	return err;
}

int au_c_path_of(void *ctx, u32 bindex, void *node, u8 *buf, u32 len)
{
	struct au_brset *brs = AU_CTX_BRS(ctx);
	char *tmp, *p, *r;
	size_t rl, pl;
	int err;

	if (bindex >= brs->nbr)
		return -EINVAL;
	tmp = kmalloc(2 * PATH_MAX, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	p = dentry_path_raw(node, tmp, PATH_MAX);
	r = dentry_path_raw(brs->br[bindex].path.dentry, tmp + PATH_MAX, PATH_MAX);
	err = -ENAMETOOLONG;
	if (IS_ERR(p) || IS_ERR(r))
		goto out;
	rl = strlen(r);
	pl = strlen(p);
	if (rl == 1)		/* the branch is its filesystem's root */
		rl = 0;
	err = -EXDEV;
	if (pl <= rl + 1 || memcmp(p, r, rl) || p[rl] != '/')
		goto out;
	pl -= rl + 1;
	err = -ENAMETOOLONG;
	if (pl > len || pl > INT_MAX)
		goto out;
	memcpy(buf, p + rl + 1, pl);
	err = pl;
out:
	kfree(tmp);
	return err;
}

int au_c_readlink(void *ctx, u32 bindex, void *node, u8 *buf, u32 len)
{
	DEFINE_DELAYED_CALL(done);
	const char *link;
	size_t n;

	link = vfs_get_link(node, &done);
	if (IS_ERR(link))
		return PTR_ERR(link);
	n = strlen(link);
	if (n <= len)
		memcpy(buf, link, n);
	do_delayed_call(&done);
	return n > INT_MAX ? -ENAMETOOLONG : n;
}

int au_c_times(void *ctx, u32 bindex, void *node, struct au_times *out)
{
	struct inode *inode = d_inode((struct dentry *)node);
	struct timespec64 at, mt;

	if (!inode)
		return -ENOENT;
	at = au_inode_atime(inode);
	mt = au_inode_mtime(inode);
	out->atime_sec = at.tv_sec;
	out->atime_nsec = at.tv_nsec;
	out->mtime_sec = mt.tv_sec;
	out->mtime_nsec = mt.tv_nsec;
	return 0;
}

int au_c_set_times(void *ctx, u32 bindex, void *node, const struct au_times *t)
{
	struct iattr ia = {
		.ia_valid = ATTR_ATIME | ATTR_MTIME | ATTR_ATIME_SET | ATTR_MTIME_SET,
		.ia_atime = { .tv_sec = t->atime_sec, .tv_nsec = t->atime_nsec },
		.ia_mtime = { .tv_sec = t->mtime_sec, .tv_nsec = t->mtime_nsec },
	};

	return au_setattr_internal(ctx, bindex, node, &ia);
}

/* ---- the shim's own calls on the entries of union objects ---- */

int au_h_statfs(const struct path *h_path, struct kstatfs *buf)
{
	return vfs_statfs(h_path, buf);
}

int au_h_getattr(const struct path *h_path, struct kstat *stat, u32 request_mask,
		 unsigned int flags)
{
#ifdef AT_GETATTR_NOSEC
	/*
	 * Where the VFS has asked the LSMs about the union's path already, it
	 * says so with this flag (vfs_getattr() refuses it): the branch's
	 * attributes are then read without asking them again, as overlayfs.
	 */
	if (flags & AT_GETATTR_NOSEC)
		return vfs_getattr_nosec(h_path, stat, request_mask, flags);
#endif
	return vfs_getattr(h_path, stat, request_mask, flags);
}

/*
 * A copy of the target of symlink @h (kfree() it), or an ERR_PTR: the
 * lower link's text may live in its inode or a page, which a copy-up may
 * let go of while the VFS still walks the link.
 */
char *au_h_get_link(struct dentry *h)
{
	DEFINE_DELAYED_CALL(done);
	const char *h_link;
	char *link;

	h_link = vfs_get_link(h, &done);
	link = IS_ERR(h_link) ? ERR_CAST(h_link) : kstrdup(h_link, GFP_KERNEL);
	do_delayed_call(&done);
	return link ? link : ERR_PTR(-ENOMEM);
}

int au_h_fileattr_get(struct dentry *h, struct fileattr *fa)
{
	return vfs_fileattr_get(h, fa);
}

int au_h_fileattr_set(const struct path *h, struct fileattr *fa)
{
	return vfs_fileattr_set(au_mnt_idmap(h->mnt), h->dentry, fa);
}

ssize_t au_h_listxattr(struct dentry *h, char *list, size_t size)
{
	return vfs_listxattr(h, list, size);
}

ssize_t au_h_getxattr(const struct path *h, const char *name, void *value, size_t size)
{
	return vfs_getxattr(au_mnt_idmap(h->mnt), h->dentry, name, value, size);
}

/* Set xattr @name of @h, or remove it when @value is NULL. */
int au_h_setxattr(const struct path *h, const char *name, const void *value,
		  size_t size, int flags)
{
	if (value)
		return vfs_setxattr(au_mnt_idmap(h->mnt), h->dentry, name, value, size,
				    flags);
	return vfs_removexattr(au_mnt_idmap(h->mnt), h->dentry, name);
}

/* The POSIX ACL of type @type of @h_inode for a permission check, or NULL. */
struct posix_acl *au_h_get_inode_acl(struct inode *h_inode, int type)
{
#ifdef AU_HAVE_ACL_API
	return get_inode_acl(h_inode, type);
#else
	return get_acl(h_inode, type);
#endif
}

/*
 * Set (@acl NULL: remove) the POSIX ACL of type @type of @h, where the VFS
 * has calls for ACLs of their own; elsewhere the union's xattr handler
 * gets system.posix_acl_* and nothing asks for this.
 */
int au_h_set_acl(const struct path *h, int type, struct posix_acl *acl)
{
#ifdef AU_HAVE_ACL_API
	const char *name = type == ACL_TYPE_ACCESS ? XATTR_NAME_POSIX_ACL_ACCESS :
						     XATTR_NAME_POSIX_ACL_DEFAULT;

	if (!acl)
		return vfs_remove_acl(au_mnt_idmap(h->mnt), h->dentry, name);
	return vfs_set_acl(au_mnt_idmap(h->mnt), h->dentry, name, acl);
#else
	return -EOPNOTSUPP;
#endif
}

/* fsync(2) of directory @h_path, opened for it with the caller's credentials. */
int au_h_fsync_dir(const struct path *h_path, loff_t start, loff_t end, int datasync)
{
	struct file *h_file;
	int err;

	h_file = dentry_open(h_path, O_RDONLY | O_DIRECTORY | FMODE_NONOTIFY,
			     current_cred());
	err = PTR_ERR_OR_ZERO(h_file);
	if (!err) {
		err = vfs_fsync_range(h_file, start, end, datasync);
		fput(h_file);
	}
	return err;
}
