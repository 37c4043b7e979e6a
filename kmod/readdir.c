// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: directories.  The merged listing is made by the core from every
 * branch's directory, cached on the union inode while the branch
 * directories do not change (struct au_rdcache), and read from by each
 * open file from offset 0 on.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include "aufs.h"

/* ---- the merged listing, cached on the union directory inode ---- */

/*
 * A directory's merged listing is kept on its union inode and shared by
 * every reader, with a stamp of the branch directories it was made from
 * (au_dirs_stamp(): which they are and their change times, taken before
 * they were read).  A reader starting at offset 0 uses it while the stamp
 * still matches: any entry made, removed or renamed in one of them,
 * through the union or directly on the branch, changes a ctime, and a
 * change too recent to tell apart is never cached.  Otherwise the listing
 * is made again from every branch.  Immutable once made; a reader keeps
 * the one it started with.
 */
struct au_rdcache {
	refcount_t ref;
	struct au_rs_dir *dir;
	struct au_brset *brs;		/* the listing's branch indexes refer to it */
	u64 stamp;
};

void au_rdcache_put(struct au_rdcache *c)
{
	if (c && refcount_dec_and_test(&c->ref)) {
		au_rs_dir_free(c->dir);
		au_brs_put(c->brs);
		kfree(c);
	}
}

/* The inode goes (->evict_inode). */
void au_rdcache_drop(struct inode *inode)
{
	au_rdcache_put(AU_I(inode)->rdc);
	AU_I(inode)->rdc = NULL;
}

/* The inode's listing if it still stands for @di's directories, referenced. */
static struct au_rdcache *au_rdcache_find(struct inode *inode, struct au_dinfo *di,
					   bool ok, u64 stamp)
{
	struct au_rdcache *c;

	if (!ok)
		return NULL;
	spin_lock(&inode->i_lock);
	c = AU_I(inode)->rdc;
	if (c && c->brs == di->brs && c->stamp == stamp)
		refcount_inc(&c->ref);
	else
		c = NULL;
	spin_unlock(&inode->i_lock);
	return c;
}

/* Keep @c (referenced by the caller) on the inode in place of the old one. */
static void au_rdcache_keep(struct inode *inode, struct au_rdcache *c)
{
	struct au_rdcache *old;

	refcount_inc(&c->ref);
	spin_lock(&inode->i_lock);
	old = AU_I(inode)->rdc;
	AU_I(inode)->rdc = c;
	spin_unlock(&inode->i_lock);
	au_rdcache_put(old);
}

/*
 * Make the listing of directory @inode, whose entries are @di, from every
 * branch, and keep it on the inode if @ok (@stamp, taken before, stands
 * for the directories).
 */
static struct au_rdcache *au_rdcache_make(struct inode *inode, struct au_dinfo *di,
					   bool ok, u64 stamp)
{
	struct au_ctx ctx = au_ctx(AU_SB(inode->i_sb), di->brs);
	struct au_rdcache *c = kzalloc(sizeof(*c), GFP_KERNEL);
	int err;

	if (!c)
		return ERR_PTR(-ENOMEM);
	err = au_rs_readdir(di->brs->rs, &ctx, di->lower, di->nlower, &c->dir);
	if (err) {
		kfree(c);
		return ERR_PTR(err);
	}
	refcount_set(&c->ref, 1);
	kref_get(&di->brs->kref);
	c->brs = di->brs;
	c->stamp = stamp;
	if (ok)
		au_rdcache_keep(inode, c);
	return c;
}

/*
 * For a lookup in directory @dir (entries @di, stamp @stamp if @ok): its
 * current listing, referenced, or NULL.  With @make, one is made when
 * there is none (only if it can be kept).
 */
struct au_rdcache *au_rdcache_get(struct inode *dir, struct au_dinfo *di, bool ok,
				  u64 stamp, bool make)
{
	struct au_rdcache *c = au_rdcache_find(dir, di, ok, stamp);

	if (!c && ok && make) {
		c = au_rdcache_make(dir, di, ok, stamp);
		if (IS_ERR(c))
			c = NULL;	/* the lookup asks the branches */
	}
	return c;
}

struct au_rs_dir *au_rdcache_dir(struct au_rdcache *c)
{
	return c->dir;
}

/* ---- the union directory file ---- */

struct au_dirfile {
	struct au_rdcache *c;		/* what this reader reads */
};

static int au_dir_open(struct inode *inode, struct file *file)
{
	struct au_dirfile *df = kzalloc(sizeof(*df), GFP_KERNEL);

	if (!df)
		return -ENOMEM;
	file->private_data = df;
	return 0;
}

static int au_dir_release(struct inode *inode, struct file *file)
{
	struct au_dirfile *df = file->private_data;

	au_rdcache_put(df->c);
	kfree(df);
	return 0;
}

/* The listing as it is now: the cached one, or made again and cached. */
static int au_dir_refresh(struct file *file, struct au_dirfile *df)
{
	struct dentry *dentry = file->f_path.dentry;
	struct inode *inode = d_inode(dentry);
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct au_rdcache *c;
	u64 stamp = 0;
	bool ok;

	if (!di)
		return -ESTALE;
	ok = au_dirs_stamp(di, &stamp);	/* before reading */
	c = au_rdcache_find(inode, di, ok, stamp);
	if (!c)
		c = au_rdcache_make(inode, di, ok, stamp);
	au_di_put(di);
	if (IS_ERR(c))
		return PTR_ERR(c);
	au_rdcache_put(df->c);
	df->c = c;
	return 0;
}

static int au_iterate(struct file *file, struct dir_context *ctx)
{
	struct au_dirfile *df = file->private_data;
	struct au_sbinfo *si = AU_SB(file->f_path.dentry->d_sb);
	struct au_rdcache *c;
	struct au_dirent e;
	u32 i, n;
	u64 ino;
	int err;

	if (ctx->pos == 0 || !df->c) {
		err = au_dir_refresh(file, df);
		if (err)
			return err;
	}
	c = df->c;
	if (!dir_emit_dots(file, ctx))
		return 0;
	n = au_rs_dir_count(c->dir);
	for (i = ctx->pos - 2; i < n; i++) {
		err = au_rs_dir_entry(c->dir, i, &e);
		if (err)
			return err;
		if (e.bindex >= c->brs->nbr)
			return -EIO;
		err = au_ino(si, c->brs->br[e.bindex].id, e.ino, &ino);
		if (err)
			return err;
		if (!dir_emit(ctx, e.name, e.namelen, ino, e.dtype))
			break;
		ctx->pos++;
	}
	return 0;
}

/*
 * fsync(dirfd): the directory's entry on a writable branch is the one the
 * union changes; lower ones are never written.
 */
static int au_dir_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct dentry *dentry = file->f_path.dentry;
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct path h_path;
	int err = 0;

	if (!di)
		return -ESTALE;
	if (au_rs_write_in_place(di->brs->rs, di->lower[0].bindex)) {
		au_h_path(di, 0, &h_path);
		err = au_h_fsync_dir(&h_path, start, end, datasync);
	}
	au_di_put(di);
	return err;
}

const struct file_operations au_dir_fops = {
	.open		= au_dir_open,
	.release	= au_dir_release,
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= au_iterate,
	.fsync		= au_dir_fsync,
};
