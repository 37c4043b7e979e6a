// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: directories.  The merged listing is made by the core from every
 * branch's directory; it is built when a reader starts at offset 0 and kept
 * on the open file for the reads that follow.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include "aufs.h"

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
	/* Like lookups, reading a branch directory is the union's own work. */
	h_file = dentry_open(&path, O_RDONLY | O_DIRECTORY,
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

/* ---- the union directory file ---- */

struct au_dirfile {
	struct au_rs_dir *cache;
	struct au_brset *brs;		/* the cache's branch indexes refer to it */
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

	au_rs_dir_free(df->cache);
	if (df->brs)
		au_brs_put(df->brs);
	kfree(df);
	return 0;
}

static int au_dir_refresh(struct file *file, struct au_dirfile *df)
{
	struct dentry *dentry = file->f_path.dentry;
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct au_rs_dir *d = NULL;
	struct au_ctx ctx;
	int err;

	if (!di)
		return -ESTALE;
	ctx = au_ctx(si, di->brs);
	err = au_rs_readdir(di->brs->rs, &ctx, di->lower, di->nlower, &d);
	if (err) {
		au_di_put(di);
		return err;
	}
	au_rs_dir_free(df->cache);
	df->cache = d;
	if (df->brs)
		au_brs_put(df->brs);
	kref_get(&di->brs->kref);
	df->brs = di->brs;
	au_di_put(di);
	return 0;
}

static int au_iterate(struct file *file, struct dir_context *ctx)
{
	struct au_dirfile *df = file->private_data;
	struct au_sbinfo *si = AU_SB(file->f_path.dentry->d_sb);
	struct au_dirent e;
	u32 i, n;
	u64 ino;
	int err;

	if (ctx->pos == 0 || !df->cache) {
		err = au_dir_refresh(file, df);
		if (err)
			return err;
	}
	if (!dir_emit_dots(file, ctx))
		return 0;
	n = au_rs_dir_count(df->cache);
	for (i = ctx->pos - 2; i < n; i++) {
		err = au_rs_dir_entry(df->cache, i, &e);
		if (err)
			return err;
		if (e.bindex >= df->brs->nbr)
			return -EIO;
		mutex_lock(&si->xino_mtx);
		err = au_rs_ino(si->xino, df->brs->br[e.bindex].id, e.ino, &ino);
		mutex_unlock(&si->xino_mtx);
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
	struct file *h_file;
	struct path h_path;
	int err = 0;

	if (!di)
		return -ESTALE;
	if (au_rs_write_in_place(di->brs->rs, di->lower[0].bindex)) {
		au_h_path(di, 0, &h_path);
		h_file = dentry_open(&h_path, O_RDONLY | O_DIRECTORY, current_cred());
		err = PTR_ERR_OR_ZERO(h_file);
		if (!err) {
			err = vfs_fsync_range(h_file, start, end, datasync);
			fput(h_file);
		}
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
