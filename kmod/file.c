// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: regular files.  An open union file holds an open file on the
 * topmost entry.  Opening for write copies the file up first (as
 * overlayfs does): a write, a writable shared mapping or fallocate then
 * never has to copy under the locks they run with, and a union with no
 * writable branch refuses the open with EROFS.  A file opened for reading
 * follows a copy-up someone else makes.  The real file shows the union
 * path (as overlayfs's do; au_real_open(), compat.h): /proc/PID/maps shows
 * it, and a mapping keeps the union mount busy.  Where that path is the
 * real file's own, branch filesystems find their dentry with file_dentry()
 * (xfs does in fallocate): ->d_real maps the union dentry back to the real
 * one, which the union inode pins (au_pin_real()).  The real file is
 * opened without atime updates and notifications where that is allowed:
 * those belong to the union file, whose path it shows.  Its I/O goes
 * through compat.h's au_real_*() (the kernels differ in who takes the
 * branch's freeze protection for a write).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include "aufs.h"

struct au_finfo {
	struct mutex mtx;	/* h_file is replaced under it */
	struct file *h_file;
};

#define AU_OPEN_DROP	(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)

/*
 * Open the topmost entry of @file's dentry.  Writable only where the core
 * says the entry may be written in place; the dentry's own entries decide,
 * never what the union inode points at.
 */
static struct file *au_h_open(struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;
	struct au_dinfo *di = au_di_get_positive(dentry);
	int flags = file->f_flags & ~AU_OPEN_DROP;
	struct inode *h_inode;
	struct file *h_file;
	struct path h_path;
	unsigned int i;
	bool dio;

	if (!di)
		return ERR_PTR(-ESTALE);
	dio = au_rs_direct_io(di->brs->rs);
	if (file->f_mode & FMODE_WRITE &&
	    !au_rs_write_in_place(di->brs->rs, di->lower[0].bindex)) {
		au_di_put(di);
		return ERR_PTR(-EROFS);
	}
	/* au_open() gave a file opened for write its data; never the lower's */
	if (file->f_mode & FMODE_WRITE && au_di_metacopy(di)) {
		au_di_put(di);
		return ERR_PTR(-ESTALE);
	}
	i = au_data_path(dentry, di, &h_path);
	h_inode = d_inode(h_path.dentry);
	/*
	 * A branch changed directly may have put another type of object at
	 * the name since the union inode was made (a directory where the file
	 * was): never open it for this inode (a read of a directory's file
	 * would be EINVAL); the name is looked up again.
	 */
	if (!h_inode || inode_wrong_type(h_inode, d_inode(dentry)->i_mode)) {
		au_di_put(di);
		return ERR_PTR(-ESTALE);
	}
	h_file = ERR_PTR(au_pin_real(d_inode(dentry), &h_path, di->brs->br[i].id));
	if (!IS_ERR(h_file)) {
		/* O_NOATIME is an optimization: only where it is allowed */
		if (inode_owner_or_capable(au_mnt_idmap(h_path.mnt), h_inode))
			flags |= O_NOATIME;
		h_file = au_real_open(file, flags | FMODE_NONOTIFY, &h_path,
				      current_cred());
	}
	au_di_put(di);
	/* nodio: no O_DIRECT, also not later by fcntl(F_SETFL) */
	if (!IS_ERR(h_file) && dio)
		file->f_mode |= h_file->f_mode & FMODE_CAN_ODIRECT;
	return h_file;
}

/* The inode of @file's topmost entry now (no reference). */
static struct inode *au_top_inode(struct file *file)
{
	struct au_dinfo *di = au_di_get_positive(file->f_path.dentry);
	struct inode *h_inode = NULL;
	struct path p;

	if (di) {
		au_data_path(file->f_path.dentry, di, &p);
		h_inode = d_inode(p.dentry);
		au_di_put(di);
	}
	return h_inode;
}

/*
 * Under si->rwsem (read), like every change: a remount that deletes a
 * branch, or makes it read-only, checks what is open on it and swaps the
 * branches while no open is between its choice of entry and the real open.
 */
static int au_open(struct inode *inode, struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_finfo *fi;
	struct file *h_file;
	int t, err = 0;

	fi = kzalloc(sizeof(*fi), GFP_KERNEL);
	if (!fi)
		return -ENOMEM;
	mutex_init(&fi->mtx);
	down_read(&si->rwsem);
	if (file->f_flags & O_DIRECT) {
		/* nodio: refused before any copy-up (dio is the default) */
		struct au_brset *brs = au_brs_get(si);

		if (!au_rs_direct_io(brs->rs))
			err = -EINVAL;
		au_brs_put(brs);
	}
	if (!err && file->f_mode & FMODE_WRITE) {
		/* O_TRUNC: nothing of the data is needed. */
		t = au_wbr(dentry);
		err = t < 0 ? t : au_copy_up(dentry, t,
					     (file->f_flags & O_TRUNC) ? 0 : -1);
	}
	h_file = err ? ERR_PTR(err) : au_h_open(file);
	up_read(&si->rwsem);
	if (IS_ERR(h_file)) {
		kfree(fi);
		return PTR_ERR(h_file);
	}
	fi->h_file = h_file;
	file->private_data = fi;
	return 0;
}

static int au_release(struct inode *inode, struct file *file)
{
	struct au_finfo *fi = file->private_data;

	fput(fi->h_file);
	kfree(fi);
	return 0;
}

/* The lower file to use now, referenced. */
static struct file *au_real(struct file *file)
{
	struct au_finfo *fi = file->private_data;
	struct inode *top = au_top_inode(file);
	struct file *h_file;

	mutex_lock(&fi->mtx);
	if (top && file_inode(fi->h_file) != top) {
		/* Copied up since it was opened (by someone else): follow. */
		h_file = au_h_open(file);
		if (IS_ERR(h_file))
			goto out;
		h_file->f_pos = fi->h_file->f_pos;
		fput(fi->h_file);
		fi->h_file = h_file;
	}
	h_file = get_file(fi->h_file);
out:
	mutex_unlock(&fi->mtx);
	return h_file;
}

static ssize_t au_read_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *file = iocb->ki_filp, *h_file;
	ssize_t ret;

	if (!iov_iter_count(iter))
		return 0;
	h_file = au_real(file);
	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	ret = au_real_read(file, h_file, iocb, iter);
	fput(h_file);
	if (ret >= 0 || ret == -EIOCBQUEUED)
		touch_atime(&file->f_path);
	return ret;
}

static ssize_t au_write_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *file = iocb->ki_filp, *h_file;
	struct inode *inode = file_inode(file);
	ssize_t ret;

	if (!iov_iter_count(iter))
		return 0;
	inode_lock(inode);
	h_file = au_real(file);
	if (IS_ERR(h_file)) {
		ret = PTR_ERR(h_file);
		goto out;
	}
	/*
	 * Set-id bits and capabilities go first, through the union (as
	 * overlayfs does; au_real_write() removes them), so the union inode
	 * shows the change at once.  A write queued for later (aio) shows
	 * its size and times at the next stat.
	 */
	au_cpattr(inode, file_inode(h_file));
	ret = au_real_write(file, h_file, iocb, iter);
	au_cpattr(inode, file_inode(h_file));
	fput(h_file);
out:
	inode_unlock(inode);
	return ret;
}

static ssize_t au_splice_read(struct file *in, loff_t *ppos,
			      struct pipe_inode_info *pipe, size_t len,
			      unsigned int flags)
{
	struct file *h_file = au_real(in);
	ssize_t ret;

	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	ret = au_real_splice_read(in, h_file, ppos, pipe, len, flags);
	fput(h_file);
	return ret;
}

/* Never copies: a file that may be written was copied up at open. */
static int au_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct file *h_file = au_real(file);
	int err;

	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	err = au_real_mmap(file, h_file, vma);
	fput(h_file);
	return err;
}

static loff_t au_llseek(struct file *file, loff_t offset, int whence)
{
	struct file *h_file = au_real(file);
	loff_t ret;

	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	/* SEEK_DATA/SEEK_HOLE and the size are the lower file's. */
	h_file->f_pos = file->f_pos;
	ret = vfs_llseek(h_file, offset, whence);
	file->f_pos = h_file->f_pos;
	fput(h_file);
	return ret;
}

static int au_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct file *h_file = au_real(file);
	int err;

	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	err = vfs_fsync_range(h_file, start, end, datasync);
	fput(h_file);
	return err;
}

static long au_fallocate(struct file *file, int mode, loff_t off, loff_t len)
{
	struct inode *inode = file_inode(file);
	struct file *h_file;
	long err;

	inode_lock(inode);
	h_file = au_real(file);
	if (IS_ERR(h_file)) {
		err = PTR_ERR(h_file);
		goto out;
	}
	au_cpattr(inode, file_inode(h_file));
	err = file_remove_privs(file);	/* see au_write_iter() */
	if (!err)
		err = vfs_fallocate(h_file, mode, off, len);
	au_cpattr(inode, file_inode(h_file));
	fput(h_file);
out:
	inode_unlock(inode);
	return err;
}

static int au_flush(struct file *file, fl_owner_t id)
{
	struct au_finfo *fi = file->private_data;
	struct file *h_file;
	int err = 0;

	mutex_lock(&fi->mtx);
	h_file = get_file(fi->h_file);
	mutex_unlock(&fi->mtx);
	if (h_file->f_op->flush)
		err = h_file->f_op->flush(h_file, id);
	fput(h_file);
	return err;
}

const struct file_operations au_file_fops = {
	.open		= au_open,
	.release	= au_release,
	.llseek		= au_llseek,
	.read_iter	= au_read_iter,
	.write_iter	= au_write_iter,
	.splice_read	= au_splice_read,
	.splice_write	= iter_file_splice_write,
	.mmap		= au_mmap,
	.fsync		= au_fsync,
	.fallocate	= au_fallocate,
	.flush		= au_flush,
};
