// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: namespace operations.  Each runs in a frame (nsop.c) that picks
 * the writable branch the change goes to (the core decides), copies up
 * what must be there first and takes the infos; in it the core carries the
 * operation out on that branch, and the union dentries and inodes are
 * brought up to date.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/fs.h>
#include <linux/namei.h>
#include "aufs.h"

/*
 * A new name made by au_new() or au_link(), now that si->rwsem is
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
 * A new entry in the directory the core chooses (its create policy), made
 * there after the directory is copied up; its info and union inode are
 * made in the frame (nsop.c) and given to @dentry after it.
 */
static int au_new(struct inode *dir, struct dentry *dentry, umode_t mode,
		  dev_t rdev, const char *target)
{
	struct super_block *sb = dir->i_sb;
	struct dentry *parent = dentry->d_parent;
	struct au_nsop op = {
		.tg = { { .dentry = parent, .newname = true,
			  .name = &dentry->d_name, .isdir = S_ISDIR(mode) } },
		.ntg = 1,
		.up = { AU_NSOP_UP(parent) },
		.nup = 1,
		.obj = { parent },
		.nobj = 1,
		.dir = { parent },
	};
	struct au_dinfo *pdi, *di = NULL;
	struct inode *inode = NULL;
	struct au_new_req req;
	void *h = NULL;
	int err;

	err = au_nsop_begin(&op, sb);
	if (err)
		goto out;
	pdi = op.di[0];
	req = (struct au_new_req){
		.parent = pdi->lower, .nparent = pdi->nlower, .t = op.t,
		.name = dentry->d_name.name, .len = dentry->d_name.len,
		.entry = {
			.mode = mode, .rdev = new_encode_dev(rdev),
			.target = target, .tlen = target ? strlen(target) : 0,
		},
	};
	err = au_rs_create(pdi->brs->rs, &op.ctx, &req, &h);
	if (err)
		goto out;
	err = -ENOMEM;
	di = au_di_one(pdi->brs, h, op.t);
	if (!di)
		goto out;
	inode = au_iget(sb, di);
	if (IS_ERR(inode)) {
		err = PTR_ERR(inode);
		au_di_put(di);
		goto out;
	}
	err = 0;
out:
	au_nsop_end(&op);
	if (!err)
		au_instantiate(dentry, di, inode);
	return err;
}

int au_create(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	      umode_t mode, bool excl)
{
	return au_new(dir, dentry, (mode & 07777) | S_IFREG, 0, NULL);
}

int au_mkdir(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	     umode_t mode)
{
	return au_new(dir, dentry, (mode & 07777) | S_IFDIR, 0, NULL);
}

int au_mknod(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	     umode_t mode, dev_t rdev)
{
	return au_new(dir, dentry, mode, rdev, NULL);
}

int au_symlink(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	       const char *target)
{
	return au_new(dir, dentry, S_IFLNK | 0777, 0, target);
}

/* As au_new(), for a new name of @old's inode. */
int au_link(struct dentry *old, struct inode *dir, struct dentry *dentry)
{
	struct dentry *parent = dentry->d_parent;
	struct au_nsop op = {
		.tg = {
			{ .dentry = old },
			{ .dentry = parent, .newname = true },
		},
		.ntg = 2,
		.up = { AU_NSOP_UP(old), AU_NSOP_UP(parent) },
		.nup = 2,
		.obj = { old, parent },
		.nobj = 2,
		.dir = { parent },
	};
	struct au_dinfo *sdi, *pdi, *di = NULL;
	struct inode *inode = d_inode(old);
	struct au_new_req req;
	void *h = NULL;
	int err;

	err = au_nsop_begin(&op, dir->i_sb);
	if (err)
		goto out;
	sdi = op.di[0];
	pdi = op.di[1];
	req = (struct au_new_req){
		.parent = pdi->lower, .nparent = pdi->nlower,
		.src = sdi->lower, .nsrc = sdi->nlower, .t = op.t,
		.name = dentry->d_name.name, .len = dentry->d_name.len,
	};
	err = au_rs_link(pdi->brs->rs, &op.ctx, &req, &h);
	if (err)
		goto out;
	err = -ENOMEM;
	di = au_di_one(pdi->brs, h, op.t);
	if (!di)
		goto out;
	ihold(inode);
	au_cpattr(inode, d_inode(h));
	err = 0;
out:
	au_nsop_end(&op);
	if (!err)
		au_instantiate(dentry, di, inode);
	return err;
}

/*
 * Under the victim's cpup_mtx, as its copy-ups (the frame takes it): one
 * in progress (an open for write takes no lock an unlink takes) ends
 * first and the removal sees its copy; one that starts later finds the
 * dentry unlinked (dropped here, before the VFS would) and copies an
 * orphan.  Else a copy could land in the parent's branch directory after
 * the name was whited out there, or after an rmdir of the parent moved
 * that directory away to empty it.
 */
static int au_remove(struct inode *dir, struct dentry *dentry)
{
	struct dentry *parent = dentry->d_parent;
	struct au_nsop op = {
		.tg = { { .dentry = dentry } },
		.ntg = 1,
		.up = { AU_NSOP_UP(parent) },
		.nup = 1,
		.victim = dentry,
		.obj = { dentry, parent },
		.nobj = 2,
		.dir = { parent },
	};
	struct au_dinfo *di, *pdi;
	struct au_remove_req req;
	int err;

	err = au_nsop_begin(&op, dir->i_sb);
	if (err)
		goto out;
	di = op.di[0];
	pdi = op.di[1];
	req = (struct au_remove_req){
		.parent = pdi->lower, .nparent = pdi->nlower,
		.obj = di->lower, .nobj = di->nlower, .t = op.t,
		.name = dentry->d_name.name, .len = dentry->d_name.len,
		.id = au_next_id(op.si),
	};
	err = au_rs_remove(pdi->brs->rs, &op.ctx, &req);
	if (err)
		goto out;
	/*
	 * The dentry keeps its entries: an open file goes on using them
	 * (fstat; a change of a lower file copies it up as an orphan).
	 */
	au_gone(dentry, op.t);
	d_drop(dentry);
out:
	au_nsop_end(&op);
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

/*
 * Asked by the frame before anything is copied up (*@arg: the RENAME_*
 * flags): the source is its first target, a target it replaces its
 * fourth.  1 for two names of one file on one branch (the union shows
 * lower hard links as separate objects, so the VFS's own "same inode"
 * test did not catch it): a successful no-op.  The VFS moves the source
 * dentry to the new name then; the old name is looked up again and found
 * on its branch.
 */
static int au_rename_check(struct au_nsop *op, void *arg)
{
	unsigned int flags = *(unsigned int *)arg;
	bool dst_positive = op->ntg > 3;
	struct au_rename_check_req req;
	struct au_dinfo *sdi, *ddi;
	struct au_ctx ctx;
	int err = -ESTALE;

	sdi = au_di_get_positive(op->tg[0].dentry);
	ddi = dst_positive ? au_di_get_positive(op->tg[3].dentry) : NULL;
	ctx = au_ctx(op->si, sdi ? sdi->brs : NULL);
	if (sdi && (ddi || !dst_positive) && (!ddi || ddi->brs == sdi->brs)) {
		req = (struct au_rename_check_req){
			.src = sdi->lower, .nsrc = sdi->nlower,
			.dst = ddi ? ddi->lower : NULL, .ndst = ddi ? ddi->nlower : 0,
			.t = op->t, .flags = flags,
		};
		err = au_rs_rename_check(sdi->brs->rs, &ctx, &req);
	}
	au_di_put(sdi);
	au_di_put(ddi);
	return err;
}

/*
 * A target that goes waits for its copy-ups, as a removal does
 * (au_remove()): one in progress would otherwise end by renaming its copy
 * over the file moved here.
 */
int au_rename(au_idmap *idmap, struct inode *odir,
	      struct dentry *odentry, struct inode *ndir, struct dentry *ndentry,
	      unsigned int flags)
{
	struct dentry *sparent = odentry->d_parent, *dparent = ndentry->d_parent;
	bool exchange = flags & RENAME_EXCHANGE;
	bool dst_positive = d_really_is_positive(ndentry);
	struct au_nsop op = {
		.tg = {
			{ .dentry = odentry },
			{ .dentry = sparent, .newname = true },
			{ .dentry = dparent, .newname = true },
			{ .dentry = ndentry },	/* a target it replaces */
		},
		.ntg = dst_positive ? 4 : 3,
		.check = au_rename_check,
		.arg = &flags,
		.up = {
			AU_NSOP_UP(sparent), AU_NSOP_UP(dparent),
			AU_NSOP_UP(odentry), AU_NSOP_UP(ndentry),
		},
		.nup = exchange ? 4 : 3,
		.victim = dst_positive && !exchange ? ndentry : NULL,
		.obj = { sparent, dparent, odentry, ndentry },
		.nobj = dst_positive ? 4 : 3,
		.dir = { sparent, dparent },
	};
	struct au_dinfo *spdi, *dpdi, *sdi, *ddi;
	struct au_rename_req req;
	int err;

	if (flags & RENAME_WHITEOUT)
		return -EINVAL;
	err = au_nsop_begin(&op, odir->i_sb);
	if (err)
		goto out;
	spdi = op.di[0];
	dpdi = op.di[1];
	sdi = op.di[2];
	ddi = dst_positive ? op.di[3] : NULL;
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
		.flags = flags, .t = op.t, .id = au_next_id(op.si),
	};
	err = au_rs_rename(spdi->brs->rs, &op.ctx, &req);
	if (err < 0)
		goto out;
	if (dst_positive && !exchange) {
		au_gone(ndentry, op.t);
		d_drop(ndentry);	/* d_move() would: now, under its cpup_mtx */
	}
	/* 1: a directory whose dirren record leads to its entries below */
	if (!err)
		au_di_keep_top(odentry);
	if (exchange)
		au_di_keep_top(ndentry);
out:
	au_nsop_end(&op);
	return err > 0 ? 0 : err;
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
	AU_IOP_ACL,
};
