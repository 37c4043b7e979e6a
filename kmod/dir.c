// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: namespace operations.  Each picks the writable branch the change
 * goes to (the core decides), copies up what must be there first, lets the
 * core carry the operation out on that branch, and then brings the union
 * dentries and inodes up to date.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/fs.h>
#include <linux/namei.h>
#include "aufs.h"

/* Make sure @parent is on the branch a new entry goes to; that branch. */
static int au_prep_parent(struct dentry *parent, struct au_dinfo **pdi)
{
	int t, err;

	t = au_wbr_create(parent);
	if (t < 0)
		return t;
	err = au_copy_up(parent, t, -1);
	if (err)
		return err;
	*pdi = au_di_get_positive(parent);
	return *pdi ? t : -ESTALE;
}

/* Refresh a directory inode from its topmost entry. */
static void au_dir_refresh(struct dentry *dir)
{
	struct au_dinfo *di = au_di_get_positive(dir);

	if (di) {
		au_cpattr(d_inode(dir), d_inode(di->lower[0].dentry));
		au_di_put(di);
	}
}

/*
 * Make the entry, its info (*@pdi_out) and its union inode (*@pinode), both
 * referenced; the caller gives them to @dentry once si->rwsem is released
 * (au_instantiate()).
 */
static int __au_new(struct inode *dir, struct dentry *dentry, umode_t mode,
		    dev_t rdev, const char *target, struct au_dinfo **pdi_out,
		    struct inode **pinode)
{
	struct super_block *sb = dir->i_sb;
	struct au_sbinfo *si = AU_SB(sb);
	struct au_dinfo *pdi = NULL, *di;
	struct inode *inode;
	struct au_ctx ctx;
	void *h = NULL;
	int t, err;

	t = au_prep_parent(dentry->d_parent, &pdi);
	if (t < 0)
		return t;
	ctx = au_ctx(si, pdi->brs);
	err = au_rs_create(pdi->brs->rs, &ctx, pdi->lower, pdi->nlower, t,
			   dentry->d_name.name, dentry->d_name.len, mode,
			   new_encode_dev(rdev), target,
			   target ? strlen(target) : 0, &h);
	if (err)
		goto out;
	err = -ENOMEM;
	di = au_di_one(pdi->brs, h, t);
	if (!di)
		goto out;
	inode = au_iget(sb, di);
	if (IS_ERR(inode)) {
		err = PTR_ERR(inode);
		au_di_put(di);
		goto out;
	}
	*pdi_out = di;
	*pinode = inode;
	err = 0;
out:
	au_di_put(pdi);
	au_dir_refresh(dentry->d_parent);
	return err;
}

/*
 * A new name made by __au_new() or __au_link(), now that si->rwsem is
 * released (an LSM hook in d_instantiate() may use the union's xattr
 * handler: the lock order in aufs.h): the dentry takes @di and @inode
 * (their references) together, and a directory gets its udba=notify
 * watch.  A remount meanwhile leaves @di stale: it is refreshed on its
 * next use, as any other.
 */
static void au_instantiate(struct dentry *dentry, struct au_dinfo *di,
			   struct inode *inode)
{
	au_di_set(dentry, di);
	d_instantiate(dentry, inode);
	if (!S_ISDIR(inode->i_mode))
		return;
	di = au_di_get_positive(dentry);
	if (di)
		au_notify_watch(inode, di);
	au_di_put(di);
}

/*
 * Every change of the union holds the mount's rwsem for reading: a remount
 * that changes the branches waits for it, so one operation works on one
 * branch set from its first step to its last.
 */
static int au_new(struct inode *dir, struct dentry *dentry, umode_t mode,
		  dev_t rdev, const char *target)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	struct au_dinfo *di = NULL;
	struct inode *inode = NULL;
	int err;

	down_read(&si->rwsem);
	err = __au_new(dir, dentry, mode, rdev, target, &di, &inode);
	up_read(&si->rwsem);
	if (!err)
		au_instantiate(dentry, di, inode);
	return err;
}

int au_create(struct user_namespace *mnt_userns, struct inode *dir,
	      struct dentry *dentry, umode_t mode, bool excl)
{
	return au_new(dir, dentry, (mode & 07777) | S_IFREG, 0, NULL);
}

int au_mkdir(struct user_namespace *mnt_userns, struct inode *dir,
	     struct dentry *dentry, umode_t mode)
{
	return au_new(dir, dentry, (mode & 07777) | S_IFDIR, 0, NULL);
}

int au_mknod(struct user_namespace *mnt_userns, struct inode *dir,
	     struct dentry *dentry, umode_t mode, dev_t rdev)
{
	return au_new(dir, dentry, mode, rdev, NULL);
}

int au_symlink(struct user_namespace *mnt_userns, struct inode *dir,
	       struct dentry *dentry, const char *target)
{
	return au_new(dir, dentry, S_IFLNK | 0777, 0, target);
}

/* As __au_new(), for a new name of @old's inode (referenced in *@pinode). */
static int __au_link(struct dentry *old, struct inode *dir, struct dentry *dentry,
		     struct au_dinfo **pdi_out, struct inode **pinode)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	struct au_dinfo *sdi = NULL, *pdi = NULL, *di;
	struct inode *inode = d_inode(old);
	struct au_wbr_arg w[] = {
		{ .dentry = old },
		{ .dentry = dentry->d_parent, .newname = true },
	};
	struct au_ctx ctx;
	void *h = NULL;
	int t, err;

	t = au_wbr_op(w, ARRAY_SIZE(w));
	if (t < 0)
		return t;
	err = au_copy_up(old, t, -1);
	if (!err)
		err = au_copy_up(dentry->d_parent, t, -1);
	if (err)
		return err;
	sdi = au_di_get_positive(old);
	pdi = au_di_get_positive(dentry->d_parent);
	err = -ESTALE;
	if (!sdi || !pdi || sdi->brs != pdi->brs)
		goto out;
	ctx = au_ctx(si, pdi->brs);
	err = au_rs_link(pdi->brs->rs, &ctx, pdi->lower, pdi->nlower, sdi->lower,
			 sdi->nlower, t, dentry->d_name.name, dentry->d_name.len, &h);
	if (err)
		goto out;
	err = -ENOMEM;
	di = au_di_one(pdi->brs, h, t);
	if (!di)
		goto out;
	ihold(inode);
	au_cpattr(inode, d_inode(h));
	*pdi_out = di;
	*pinode = inode;
	err = 0;
out:
	au_di_put(sdi);
	au_di_put(pdi);
	au_dir_refresh(dentry->d_parent);
	return err;
}

/*
 * Under the victim's cpup_mtx, as its copy-ups: one in progress (an open
 * for write takes no lock an unlink takes) ends first and the removal sees
 * its copy; one that starts later finds the dentry unlinked (dropped here,
 * before the VFS would) and copies an orphan.  Else a copy could land in
 * the parent's branch directory after the name was whited out there, or
 * after an rmdir of the parent moved that directory away to empty it.
 */
static int __au_remove(struct inode *dir, struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	struct au_inode *ai = AU_I(d_inode(dentry));
	struct au_dinfo *di = NULL, *pdi = NULL;
	struct au_ctx ctx;
	int t, err;

	t = au_wbr(dentry);
	if (t < 0)
		return t;
	err = au_copy_up(dentry->d_parent, t, -1);
	if (err)
		return err;
	/*
	 * Current with this branch set now (si->rwsem keeps it): taking the
	 * info again under cpup_mtx never refreshes it, which takes cpup_mtx.
	 */
	di = au_di_get_positive(dentry);
	au_di_put(di);
	mutex_lock(&ai->cpup_mtx);
	di = au_di_get_positive(dentry);
	pdi = au_di_get_positive(dentry->d_parent);
	err = -ESTALE;
	if (!di || !pdi || di->brs != pdi->brs)
		goto out;
	ctx = au_ctx(si, pdi->brs);
	err = au_rs_remove(pdi->brs->rs, &ctx, pdi->lower, pdi->nlower, di->lower,
			   di->nlower, t, dentry->d_name.name, dentry->d_name.len,
			   au_next_id(si));
	if (err)
		goto out;
	/*
	 * The dentry keeps its entries: an open file goes on using them
	 * (fstat; a change of a lower file copies it up as an orphan).
	 */
	au_gone(dentry, t);
	d_drop(dentry);
out:
	mutex_unlock(&ai->cpup_mtx);
	au_di_put(di);
	au_di_put(pdi);
	au_dir_refresh(dentry->d_parent);
	return err;
}

int au_link(struct dentry *old, struct inode *dir, struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	struct au_dinfo *di = NULL;
	struct inode *inode = NULL;
	int err;

	down_read(&si->rwsem);
	err = __au_link(old, dir, dentry, &di, &inode);
	up_read(&si->rwsem);
	if (!err)
		au_instantiate(dentry, di, inode);
	return err;
}

static int au_remove(struct inode *dir, struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	int err;

	down_read(&si->rwsem);
	err = __au_remove(dir, dentry);
	up_read(&si->rwsem);
	return err;
}

int au_unlink(struct inode *dir, struct dentry *dentry)
{
	return au_remove(dir, dentry);
}

int au_rmdir(struct inode *dir, struct dentry *dentry)
{
	return au_remove(dir, dentry);
}

/* After a rename on @t: the moved dentry keeps only its entry on @t. */
static void au_di_keep_top(struct dentry *dentry)
{
	struct au_dinfo *di = au_di_get_positive(dentry), *n;

	if (!di)
		return;
	n = au_di_one(di->brs, dget(di->lower[0].dentry), di->lower[0].bindex);
	if (n) {
		kref_get(&n->kref);
		au_di_set(dentry, n);
		au_notify_watch(d_inode(dentry), n);
		au_di_put(n);
	}
	au_di_put(di);
}

static int __au_rename(struct inode *odir, struct dentry *odentry,
		       struct inode *ndir, struct dentry *ndentry, unsigned int flags)
{
	struct au_sbinfo *si = AU_SB(odir->i_sb);
	struct au_dinfo *spdi = NULL, *dpdi = NULL, *sdi = NULL, *ddi = NULL;
	struct dentry *sparent = odentry->d_parent, *dparent = ndentry->d_parent;
	bool exchange = flags & RENAME_EXCHANGE;
	bool dst_positive = d_really_is_positive(ndentry);
	struct mutex *tmtx = NULL;
	struct au_wbr_arg w[AU_TARGET_MAX] = {
		{ .dentry = odentry },
		{ .dentry = sparent, .newname = true },
		{ .dentry = dparent, .newname = true },
		{ .dentry = ndentry },	/* a target it replaces */
	};
	struct au_rename_req req;
	struct au_ctx ctx;
	int t, err;

	if (flags & RENAME_WHITEOUT)
		return -EINVAL;
	t = au_wbr_op(w, dst_positive ? 4 : 3);
	if (t < 0)
		return t;

	sdi = au_di_get_positive(odentry);
	ddi = dst_positive ? au_di_get_positive(ndentry) : NULL;
	err = -ESTALE;
	ctx = au_ctx(si, sdi ? sdi->brs : NULL);
	if (sdi && (ddi || !dst_positive) && (!ddi || ddi->brs == sdi->brs))
		err = au_rs_rename_check(sdi->brs->rs, &ctx, sdi->lower, sdi->nlower,
					 ddi ? ddi->lower : NULL, ddi ? ddi->nlower : 0,
					 t, flags);
	au_di_put(sdi);
	au_di_put(ddi);
	sdi = ddi = NULL;
	if (err > 0) {
		/*
		 * Two names of one file on one branch (the union shows lower
		 * hard links as separate objects, so the VFS's own "same
		 * inode" test did not catch it): a successful no-op.  The VFS
		 * moves @odentry to the new name now; the old name is looked
		 * up again and found on its branch.
		 */
		return 0;
	}
	if (err)
		return err;

	err = au_copy_up(sparent, t, -1);
	if (!err)
		err = au_copy_up(dparent, t, -1);
	if (!err)
		err = au_copy_up(odentry, t, -1);
	if (!err && exchange)
		err = au_copy_up(ndentry, t, -1);
	if (err)
		return err;

	/*
	 * A target that goes waits for its copy-ups, as a removal does
	 * (__au_remove()): one in progress would otherwise end by renaming its
	 * copy over the file moved here.  Its info is current (taken above,
	 * under si->rwsem), so none is refreshed under the mutex.
	 */
	if (dst_positive && !exchange) {
		tmtx = &AU_I(d_inode(ndentry))->cpup_mtx;
		mutex_lock(tmtx);
	}
	spdi = au_di_get_positive(sparent);
	dpdi = au_di_get_positive(dparent);
	sdi = au_di_get_positive(odentry);
	ddi = dst_positive ? au_di_get_positive(ndentry) : NULL;
	err = -ESTALE;
	if (!spdi || !dpdi || !sdi || (dst_positive && !ddi))
		goto out;
	if (dpdi->brs != spdi->brs || sdi->brs != spdi->brs ||
	    (ddi && ddi->brs != spdi->brs))
		goto out;
	ctx = au_ctx(si, spdi->brs);
	req = (struct au_rename_req){
		.src = {
			.parent = spdi->lower, .nparent = spdi->nlower,
			.obj = sdi->lower, .nobj = sdi->nlower,
			.name = odentry->d_name.name, .len = odentry->d_name.len,
		},
		.dst = {
			.parent = dpdi->lower, .nparent = dpdi->nlower,
			.obj = ddi ? ddi->lower : NULL, .nobj = ddi ? ddi->nlower : 0,
			.name = ndentry->d_name.name, .len = ndentry->d_name.len,
		},
		.flags = flags, .t = t, .id = au_next_id(si),
	};
	err = au_rs_rename(spdi->brs->rs, &ctx, &req);
	if (err)
		goto out;
	if (dst_positive && !exchange) {
		au_gone(ndentry, t);
		d_drop(ndentry);	/* d_move() would: now, under tmtx */
	}
	au_di_keep_top(odentry);
	if (exchange)
		au_di_keep_top(ndentry);
out:
	if (tmtx)
		mutex_unlock(tmtx);
	au_di_put(spdi);
	au_di_put(dpdi);
	au_di_put(sdi);
	au_di_put(ddi);
	au_dir_refresh(sparent);
	if (dparent != sparent)
		au_dir_refresh(dparent);
	return err;
}

int au_rename(struct user_namespace *mnt_userns, struct inode *odir,
	      struct dentry *odentry, struct inode *ndir, struct dentry *ndentry,
	      unsigned int flags)
{
	struct au_sbinfo *si = AU_SB(odir->i_sb);
	int err;

	down_read(&si->rwsem);
	err = __au_rename(odir, odentry, ndir, ndentry, flags);
	up_read(&si->rwsem);
	return err;
}

const struct inode_operations au_dir_iops = {
	.fileattr_get	= au_fileattr_get,
	.fileattr_set	= au_fileattr_set,
	.lookup		= au_lookup,
	.create		= au_create,
	.mkdir		= au_mkdir,
	.mknod		= au_mknod,
	.symlink	= au_symlink,
	.link		= au_link,
	.unlink		= au_unlink,
	.rmdir		= au_rmdir,
	.rename		= au_rename,
	.permission	= au_permission,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
	.get_acl	= au_get_acl,
};
