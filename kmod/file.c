// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: regular files.  Opening a union file opens the topmost lower file;
 * reads, mmap and the rest are passed to it.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/fs.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include "aufs.h"

static inline struct file *au_hf(struct file *file)
{
	return file->private_data;
}

static int au_open(struct inode *inode, struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;
	struct path h_path;
	struct file *h_file;

	if (!AU_D(dentry) || !AU_D(dentry)->nlower)
		return -ESTALE;
	/* Writes need copy-up, which comes with the writable union. */
	if (file->f_mode & FMODE_WRITE)
		return -EROFS;
	au_h_path(dentry, &h_path);
	h_file = open_with_fake_path(&h_path,
				     file->f_flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC),
				     d_inode(h_path.dentry), current_cred());
	if (IS_ERR(h_file))
		return PTR_ERR(h_file);
	file->private_data = h_file;
	return 0;
}

static int au_release(struct inode *inode, struct file *file)
{
	fput(au_hf(file));
	return 0;
}

static ssize_t au_read_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *file = iocb->ki_filp;
	ssize_t ret;

	if (!iov_iter_count(iter))
		return 0;
	ret = vfs_iter_read(au_hf(file), iter, &iocb->ki_pos, 0);
	if (ret >= 0)
		touch_atime(&file->f_path);
	return ret;
}

static ssize_t au_splice_read(struct file *in, loff_t *ppos,
			      struct pipe_inode_info *pipe, size_t len,
			      unsigned int flags)
{
	return generic_file_splice_read(au_hf(in), ppos, pipe, len, flags);
}

static int au_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct file *h_file = au_hf(file);

	if (!h_file->f_op->mmap)
		return -ENODEV;
	if (WARN_ON(file != vma->vm_file))
		return -EIO;
	vma_set_file(vma, h_file);
	return call_mmap(vma->vm_file, vma);
}

static loff_t au_llseek(struct file *file, loff_t offset, int whence)
{
	struct file *h_file = au_hf(file);
	loff_t ret;

	/* SEEK_DATA/SEEK_HOLE and the size are the lower file's. */
	h_file->f_pos = file->f_pos;
	ret = vfs_llseek(h_file, offset, whence);
	file->f_pos = h_file->f_pos;
	return ret;
}

static int au_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	return vfs_fsync_range(au_hf(file), start, end, datasync);
}

static int au_flush(struct file *file, fl_owner_t id)
{
	struct file *h_file = au_hf(file);

	if (h_file->f_op->flush)
		return h_file->f_op->flush(h_file, id);
	return 0;
}

const struct file_operations au_file_fops = {
	.open		= au_open,
	.release	= au_release,
	.llseek		= au_llseek,
	.read_iter	= au_read_iter,
	.splice_read	= au_splice_read,
	.mmap		= au_mmap,
	.fsync		= au_fsync,
	.flush		= au_flush,
};
