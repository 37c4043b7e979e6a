// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: changes to branches.  The branch primitives the core's write
 * operations are built on (au_c_*: one VFS call each, with its locks and
 * inside the branch's freeze protection), and au_copy_up(), which gives a
 * union dentry an entry on a writable branch, ancestors first, one at a
 * time (no recursion: a lower tree may be any depth).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/security.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/xattr.h>
#include "aufs.h"
#include <linux/fileattr.h>	/* needs linux/fs.h first */

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

int au_c_create(void *ctx, u32 bindex, void *dir, const u8 *name, u32 len,
		u32 mode, u32 rdev, const u8 *target, u32 tlen, u32 cred, void **out)
{
	struct au_hop op;
	struct dentry *d;
	char *link = NULL;
	int err;

	if (S_ISLNK(mode)) {
		link = kmemdup_nul(target, tlen, GFP_KERNEL);
		if (!link)
			return -ENOMEM;
	}
	d = au_hop_begin(&op, ctx, bindex, dir, name, len, cred);
	if (IS_ERR(d)) {
		kfree(link);
		return PTR_ERR(d);
	}
	if (d_is_positive(d)) {
		err = -EEXIST;
	} else {
		switch (mode & S_IFMT) {
		case S_IFREG:
			err = vfs_create(&init_user_ns, op.pdir, d, mode, true);
			break;
		case S_IFDIR:
			err = vfs_mkdir(&init_user_ns, op.pdir, d, mode);
			break;
		case S_IFLNK:
			err = vfs_symlink(&init_user_ns, op.pdir, d, link);
			break;
		default:
			err = vfs_mknod(&init_user_ns, op.pdir, d, mode, new_decode_dev(rdev));
			break;
		}
		if (!err)
			err = au_created(&d, dir, name, len);
	}
	if (err)
		dput(d);
	else
		*out = d;
	au_hop_end(&op);
	kfree(link);
	return err;
}

int au_c_link(void *ctx, u32 bindex, void *src, void *dir, const u8 *name,
	      u32 len, u32 cred, void **out)
{
	struct au_hop op;
	struct dentry *d;
	int err;

	d = au_hop_begin(&op, ctx, bindex, dir, name, len, cred);
	if (IS_ERR(d))
		return PTR_ERR(d);
	err = d_is_positive(d) ? -EEXIST :
		vfs_link(src, &init_user_ns, op.pdir, d, NULL);
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
		err = vfs_rmdir(&init_user_ns, op.pdir, d);
	else
		err = vfs_unlink(&init_user_ns, op.pdir, d, NULL);
	dput(d);
	au_hop_end(&op);
	return err;
}

int au_c_rename(void *ctx, u32 bindex, void *odir, const u8 *oname, u32 olen,
		void *ndir, const u8 *nname, u32 nlen, u32 flags, u32 cred)
{
	struct dentry *op = odir, *np = ndir, *trap, *od, *nd;
	struct renamedata rd = {};
	struct au_wr wr;
	int err;

	err = au_wr_begin(&wr, ctx, bindex, cred);
	if (err)
		return err;
	trap = lock_rename(np, op);
	od = lookup_one_len(oname, op, olen);
	err = PTR_ERR(od);
	if (IS_ERR(od))
		goto out_unlock;
	err = -ENOENT;
	if (d_is_negative(od))
		goto out_od;
	err = -EINVAL;
	if (od == trap)
		goto out_od;
	nd = lookup_one_len(nname, np, nlen);
	err = PTR_ERR(nd);
	if (IS_ERR(nd))
		goto out_od;
	err = -ENOTEMPTY;
	if (nd == trap)
		goto out_nd;
	rd.old_mnt_userns = &init_user_ns;
	rd.old_dir = d_inode(op);
	rd.old_dentry = od;
	rd.new_mnt_userns = &init_user_ns;
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

static int au_notify(struct dentry *d, struct iattr *ia)
{
	struct inode *inode = d_inode(d);
	int err;

	inode_lock(inode);
	err = notify_change(&init_user_ns, d, ia, NULL);
	inode_unlock(inode);
	return err;
}

/*
 * Copy data, keeping holes: a clone where the filesystem can, else only
 * the data segments are spliced across.  All of it inside the destination
 * branch's freeze protection, with the credentials of the union's work.
 */
int au_c_copy_data(void *ctx, u32 sbr, void *src, u32 dbr, void *dst, s64 len)
{
	struct iattr ia = { .ia_valid = ATTR_SIZE, .ia_size = len };
	struct file *in, *out;
	loff_t pos = 0, data, hole;
	struct au_wr wr;
	long n;
	int err;

	err = au_wr_begin(&wr, ctx, dbr, AU_CRED_INTERNAL);
	if (err)
		return err;
	in = au_open_h(ctx, sbr, src, O_RDONLY);
	if (IS_ERR(in)) {
		err = PTR_ERR(in);
		goto out_wr;
	}
	out = au_open_h(ctx, dbr, dst, O_WRONLY);
	if (IS_ERR(out)) {
		err = PTR_ERR(out);
		goto out_in;
	}
	/*
	 * A reflink where the branches allow it: instant, and keeps holes.
	 * do_clone_file_range(), not vfs_clone_file_range(): the freeze
	 * protection is already held (au_wr_begin), and taking it again
	 * would deadlock against a freeze that starts in between.
	 */
	if (len > 0 && do_clone_file_range(in, 0, out, 0, len, 0) == len)
		pos = len;
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
				goto out_out;
			}
			n = do_splice_direct(in, &pos, out, &opos,
					     min_t(loff_t, hole - pos, SZ_1M), SPLICE_F_MOVE);
			if (n < 0) {
				err = n;
				goto out_out;
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
	if (i_size_read(file_inode(out)) != ia.ia_size)
		err = au_notify(out->f_path.dentry, &ia);
	if (!err)
		err = vfs_fsync(out, 0);
out_out:
	fput(out);
out_in:
	fput(in);
out_wr:
	au_wr_end(&wr);
	return err;
}

static int au_copy_xattrs(struct dentry *src, struct dentry *dst)
{
	ssize_t list_size, size;
	char *list, *name, *value = NULL;
	int err = 0;

	list_size = vfs_listxattr(src, NULL, 0);
	if (list_size <= 0)
		return list_size == -EOPNOTSUPP ? 0 : list_size;
	list = kvmalloc(list_size, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	list_size = vfs_listxattr(src, list, list_size);
	if (list_size < 0) {
		err = list_size;
		goto out;
	}
	for (name = list; name < list + list_size; name += strlen(name) + 1) {
		if (au_xattr_private(name))
			continue;	/* the union's own (a metacopy marker) */
		/* An LSM may want an xattr dropped (1) or the copy-up refused. */
		err = security_inode_copy_up_xattr(name);
		if (err < 0 && err != -EOPNOTSUPP)
			break;
		if (err == 1) {
			err = 0;
			continue;
		}
		err = 0;
		size = vfs_getxattr(&init_user_ns, src, name, NULL, 0);
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
		size = vfs_getxattr(&init_user_ns, src, name, value, size);
		if (size < 0) {
			err = size;
			break;
		}
		err = vfs_setxattr(&init_user_ns, dst, name, value, size, 0);
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
	struct dentry *s = src, *d = dst;
	struct inode *si_inode = d_inode(s);
	struct iattr ia;
	struct au_wr wr;
	int err;

	err = au_wr_begin(&wr, ctx, dbr, AU_CRED_INTERNAL);
	if (err)
		return err;
	err = au_copy_xattrs(s, d);
	if (!err) {
		/* Owner first: chown may clear the set-id bits the mode restores. */
		ia = (struct iattr){ .ia_valid = ATTR_UID | ATTR_GID,
				     .ia_vfsuid = VFSUIDT_INIT(si_inode->i_uid),
				     .ia_vfsgid = VFSGIDT_INIT(si_inode->i_gid) };
		err = au_notify(d, &ia);
	}
	if (!err && !S_ISLNK(si_inode->i_mode)) {
		ia = (struct iattr){ .ia_valid = ATTR_MODE, .ia_mode = si_inode->i_mode };
		err = au_notify(d, &ia);
	}
	if (!err) {
		ia = (struct iattr){ .ia_valid = ATTR_ATIME | ATTR_MTIME |
					ATTR_ATIME_SET | ATTR_MTIME_SET,
				     .ia_atime = si_inode->i_atime,
				     .ia_mtime = si_inode->i_mtime };
		err = au_notify(d, &ia);
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
		err = vfs_fileattr_set(&init_user_ns, dst, &nfa);
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
	int err;

	err = au_wr_begin(&wr, ctx, bindex, AU_CRED_INTERNAL);
	if (err)
		return err;
	err = au_notify(node, ia);
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
	err = vfs_setxattr(&init_user_ns, node, AU_XATTR_METACOPY, "", 0, XATTR_CREATE);
	au_wr_end(&wr);
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

	if (!inode)
		return -ENOENT;
	out->atime_sec = inode->i_atime.tv_sec;
	out->atime_nsec = inode->i_atime.tv_nsec;
	out->mtime_sec = inode->i_mtime.tv_sec;
	out->mtime_nsec = inode->i_mtime.tv_nsec;
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

/* ---- copy-up of union dentries ---- */

/* Index in @di of the entry on branch @t, or -1. */
int au_di_find(struct au_dinfo *di, unsigned int t)
{
	unsigned int i;

	for (i = 0; i < di->nlower; i++)
		if (di->lower[i].bindex == t)
			return i;
	return -1;
}

/*
 * Does @dentry have its entry on branch @t (a directory: also on @t)?  A
 * metacopy there counts only if @meta_ok (the change needs no data).
 */
static bool au_di_is_up(struct dentry *dentry, struct au_dinfo *di,
			unsigned int t, bool meta_ok)
{
	if (d_is_dir(dentry))
		return au_di_find(di, t) >= 0;
	return di->lower[0].bindex == t && (meta_ok || !au_di_metacopy(di));
}

static int au_is_up(struct dentry *dentry, unsigned int t, bool meta_ok)
{
	struct au_dinfo *di = au_di_get_positive(dentry);
	int up;

	if (!di)
		return -ENOENT;
	up = au_di_is_up(dentry, di, t, meta_ok);
	au_di_put(di);
	return up;
}

/*
 * The dinfo after a copy-up to @t made @h: @h on top, lower dirs kept; a
 * metacopy (@meta) keeps the entry of the data, the last of @di.
 */
static struct au_dinfo *au_di_after_cpup(struct au_dinfo *di, unsigned int t,
					 struct dentry *h, bool meta)
{
	struct au_dinfo *n;
	unsigned int i, k = 1, keep = 0;
	bool dir = d_is_dir(h);

	for (i = 0; dir && i < di->nlower; i++)
		keep += di->lower[i].bindex > t;
	n = au_di_alloc(di->brs, 1 + keep + meta);
	if (!n)
		return NULL;
	n->lower[0].dentry = h;
	n->lower[0].bindex = t;
	for (i = 0; dir && i < di->nlower; i++)
		if (di->lower[i].bindex > t) {
			n->lower[k].dentry = dget(di->lower[i].dentry);
			n->lower[k++].bindex = di->lower[i].bindex;
		}
	if (meta)
		n->lower[k] = (struct au_lower){
			.dentry = dget(di->lower[di->nlower - 1].dentry),
			.bindex = di->lower[di->nlower - 1].bindex,
		};
	n->bopaque = di->bopaque;
	return n;
}

/*
 * The number the copy @h_inode on @t answers to from now on: the union
 * inode's own, unless the copy split a hard link (then the copy is another
 * file and gets its own number).  Made known to the table before the copy
 * is published, so a lookup of the new entry finds this inode.
 */
static int au_cpup_ino(struct au_sbinfo *si, struct inode *inode, bool keep,
		       unsigned int brid, struct inode *h_inode, u64 *ino)
{
	unsigned int nofs;
	int err;

	if (!keep)
		return au_ino(si, brid, h_inode, ino);
	*ino = inode->i_ino;
	nofs = au_xino_lock(si);
	err = au_rs_ino_keep(si->xino, brid, h_inode->i_ino, *ino);
	au_xino_unlock(si, nofs);
	return err;
}

/* Point the union inode at its new topmost entry (under its cpup_mtx). */
void au_inode_retop(struct inode *inode, struct au_dinfo *di, u64 ino)
{
	struct au_inode *ai = AU_I(inode);
	struct inode *h_inode = d_inode(di->lower[0].dentry);
	struct inode *drop;

	spin_lock(&inode->i_lock);
	drop = ai->h_prev;
	ai->h_prev = ai->h_inode;
	ai->prev_brid = ai->brid;
	ai->h_inode = igrab(h_inode);
	ai->brid = au_di_brid(di, 0);
	inode->i_ino = ino;
	spin_unlock(&inode->i_lock);
	iput(drop);
	au_cpattr(inode, h_inode);
}

/*
 * Copy @dentry (whose parent is on @t, unless it is unlinked) up to @t.
 * Serialized per union inode; whoever comes second finds the work done.
 * @meta_ok: the change needs no data; the core may make a metacopy.
 */
static int au_copy_up_one(struct dentry *dentry, unsigned int t, loff_t trunc,
			  bool meta_ok)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct inode *inode = d_inode(dentry);
	struct au_dinfo *di = NULL, *pdi = NULL, *ndi;
	struct au_ctx ctx;
	struct cred *lsm_cred = NULL;
	const struct cred *old;
	struct dentry *parent = NULL, *h = NULL;
	bool keep;
	u64 id, ino;
	int err, pi;
	bool meta = false;

	err = mutex_lock_killable(&AU_I(inode)->cpup_mtx);
	if (err)
		return err;
	/*
	 * One info for the check and the copy: a revalidation may replace it
	 * in between (a branch changed directly), and the core must be given
	 * the entries the check was made on.
	 */
	di = au_di_get_positive(dentry);
	err = -ENOENT;
	if (!di)
		goto out;
	err = au_di_is_up(dentry, di, t, meta_ok);
	if (err)
		goto out;	/* done meanwhile */
	ctx = au_ctx(si, di->brs);
	/* An LSM may make the copy with credentials of its own. */
	old = override_creds(si->cred);
	err = security_inode_copy_up(dentry, &lsm_cred);
	revert_creds(old);
	if (err)
		goto out;
	if (lsm_cred)
		ctx.cred = lsm_cred;
	keep = au_rs_share_inode(di->brs->rs, di->lower[0].bindex, d_is_dir(dentry),
				 d_inode(di->lower[0].dentry)->i_nlink);
	id = au_next_id(si);
	if (d_unlinked(dentry)) {
		/* Unlinked but still open: the copy must not bring the name back. */
		err = au_rs_copy_up_orphan(di->brs->rs, &ctx, di->lower, di->nlower, t,
					   id, (void **)&h);
	} else {
		err = -EINVAL;
		if (IS_ROOT(dentry))
			goto out;	/* the root is on every branch */
		parent = dget_parent(dentry);
		pdi = au_di_get_positive(parent);
		err = -ENOENT;	/* the parent moved meanwhile: the caller retries */
		if (!pdi || pdi->brs != di->brs || (pi = au_di_find(pdi, t)) < 0)
			goto out;
		err = au_rs_copy_up(di->brs->rs, &ctx, di->lower, di->nlower, t,
				    pdi->lower[pi].dentry, dentry->d_name.name,
				    dentry->d_name.len, trunc, meta_ok, id, (void **)&h);
		meta = err == 1;
		if (meta)
			err = 0;
	}
	if (err)
		goto out;
	/*
	 * plink: the copy of a lower file with several names is theirs too;
	 * the names not linked up yet show it from now on (au_data_path()).
	 */
	if (keep && d_is_reg(dentry) && !smp_load_acquire(&AU_I(inode)->plink.dentry)) {
		struct path pl;
		unsigned int pb;

		if (au_plink_find(si, di, &pl, &pb) > 0)
			au_plink_set(inode, &pl);
	}
	err = au_cpup_ino(si, inode, keep, di->brs->br[t].id, d_inode(h), &ino);
	ndi = err ? NULL : au_di_after_cpup(di, t, h, meta);
	if (!ndi) {
		/* Not published: the copy goes again, the union is as it was. */
		err = err ?: -ENOMEM;
		if (pdi && di->lower[0].bindex != t)	/* a new entry, not a metacopy's data */
			au_c_remove(&ctx, t, pdi->lower[pi].dentry, dentry->d_name.name,
				    dentry->d_name.len, d_is_dir(h), AU_CRED_INTERNAL);
		dput(h);
		goto out;
	}
	/* Inode first: d_revalidate compares the dentry's entries with it. */
	au_inode_retop(inode, ndi, ino);
	kref_get(&ndi->kref);
	au_di_set(dentry, ndi);
	au_notify_watch(inode, ndi);	/* a directory: its new branch directory */
	au_di_put(ndi);
	if (parent)
		au_cpattr(d_inode(parent), d_inode(pdi->lower[pi].dentry));
	err = 0;
out:
	mutex_unlock(&AU_I(inode)->cpup_mtx);
	if (lsm_cred)
		put_cred(lsm_cred);
	au_di_put(pdi);
	dput(parent);
	au_di_put(di);
	return err < 0 ? err : 0;
}

/*
 * Give @dentry an entry on writable branch @t, its missing ancestors first,
 * top-down: each round copies the topmost ancestor not yet on @t (as
 * overlayfs does), so the depth of a lower tree costs time, never stack.
 * @trunc >= 0 limits the data copied (copy-up for a truncate).
 */
static int __au_copy_up(struct dentry *dentry, unsigned int t, loff_t trunc,
			bool meta_ok)
{
	struct dentry *next, *parent;
	int err, tries = 0;

	if (d_unlinked(dentry) && !d_is_dir(dentry))
		return au_copy_up_one(dentry, t, trunc, false);
	for (;;) {
		err = au_is_up(dentry, t, meta_ok);
		if (err)
			return err < 0 ? err : 0;
		next = dget(dentry);
		for (;;) {
			parent = dget_parent(next);
			if (parent == next || au_is_up(parent, t, true)) {
				dput(parent);
				break;
			}
			dput(next);
			next = parent;
		}
		err = au_copy_up_one(next, t, next == dentry ? trunc : -1,
				     next == dentry && meta_ok);
		dput(next);
		/* -ENOENT: a parent moved under us; a bounded number of retries. */
		if (err == -ENOENT && ++tries < 8)
			continue;
		if (err)
			return err;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
}

/* A copy-up with the data: for a write, a truncate, a new name. */
int au_copy_up(struct dentry *dentry, unsigned int t, loff_t trunc)
{
	return __au_copy_up(dentry, t, trunc, false);
}

/*
 * A copy-up for a change of attributes only (chmod, chown, utimes, an
 * xattr): with the metacopy option, the data may stay where it is.
 */
int au_copy_up_meta(struct dentry *dentry, unsigned int t)
{
	return __au_copy_up(dentry, t, -1, true);
}

/* The branch a change of @dentry goes to (cpup policy): >= 0 or -errno. */
int au_wbr(struct dentry *dentry)
{
	struct au_dinfo *di = au_di_get_positive(dentry), *pdi = NULL;
	struct dentry *parent = NULL;
	int t = -ENOENT;

	if (!di)
		return t;
	if (!IS_ROOT(dentry)) {
		parent = dget_parent(dentry);
		pdi = au_di_get_positive(parent);
	}
	if (pdi && pdi->brs != di->brs)
		t = -ESTALE;
	else if (IS_ROOT(dentry) || pdi)
		t = au_rs_cpup_target(di->brs->rs, pdi ? pdi->lower : NULL,
				      pdi ? pdi->nlower : 0, di->lower[0].bindex);
	au_di_put(pdi);
	dput(parent);
	au_di_put(di);
	return t;
}

/* The branch a new entry in directory @parent goes to (create policy). */
int au_wbr_create(struct dentry *parent)
{
	struct au_dinfo *pdi = au_di_get_positive(parent);
	int t;

	if (!pdi)
		return -ENOENT;
	t = au_rs_create_target(pdi->brs->rs, pdi->lower, pdi->nlower);
	au_di_put(pdi);
	return t;
}
