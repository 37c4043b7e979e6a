// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: inodes.  A union inode mirrors the attributes of the topmost lower
 * inode; its number comes from the core's xino table, so it stays the same
 * for the life of the mount.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/xattr.h>
#include "aufs.h"

struct kmem_cache *au_inode_cachep;

struct inode *au_alloc_inode(struct super_block *sb)
{
	struct au_inode *ai = alloc_inode_sb(sb, au_inode_cachep, GFP_KERNEL);

	if (!ai)
		return NULL;
	ai->h_inode = NULL;
	ai->bindex = 0;
	return &ai->vfs_inode;
}

void au_free_inode(struct inode *inode)
{
	kmem_cache_free(au_inode_cachep, AU_I(inode));
}

void au_evict_inode(struct inode *inode)
{
	struct au_inode *ai = AU_I(inode);

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	iput(ai->h_inode);
	ai->h_inode = NULL;
}

/* Copy the attributes users see from the lower inode. */
void au_cpattr(struct inode *inode, struct inode *h_inode)
{
	inode->i_mode = (inode->i_mode & S_IFMT) | (h_inode->i_mode & ~S_IFMT);
	inode->i_uid = h_inode->i_uid;
	inode->i_gid = h_inode->i_gid;
	inode->i_atime = h_inode->i_atime;
	inode->i_mtime = h_inode->i_mtime;
	inode->i_ctime = h_inode->i_ctime;
	inode->i_blkbits = h_inode->i_blkbits;
	set_nlink(inode, h_inode->i_nlink);
	i_size_write(inode, i_size_read(h_inode));
	inode->i_blocks = h_inode->i_blocks;
	inode->i_flags = (inode->i_flags & ~(S_APPEND | S_IMMUTABLE)) |
			 (h_inode->i_flags & (S_APPEND | S_IMMUTABLE));
}

static int au_permission(struct user_namespace *mnt_userns, struct inode *inode,
			 int mask)
{
	struct inode *h_inode = AU_I(inode)->h_inode;

	if (h_inode)
		au_cpattr(inode, h_inode);
	return generic_permission(mnt_userns, inode, mask);
}

static int au_getattr(struct user_namespace *mnt_userns, const struct path *path,
		      struct kstat *stat, u32 request_mask, unsigned int flags)
{
	struct dentry *dentry = path->dentry;
	struct inode *inode = d_inode(dentry);
	struct path h_path;
	int err;

	if (!AU_D(dentry) || !AU_D(dentry)->nlower)
		return -ESTALE;
	au_h_path(dentry, &h_path);
	err = vfs_getattr(&h_path, stat, request_mask, flags);
	if (err)
		return err;
	au_cpattr(inode, d_inode(h_path.dentry));
	stat->dev = dentry->d_sb->s_dev;
	stat->ino = inode->i_ino;
	return 0;
}

static int au_setattr(struct user_namespace *mnt_userns, struct dentry *dentry,
		      struct iattr *ia)
{
	/* Changes through the union come with copy-up (Stage 2). */
	return -EROFS;
}

static const char *au_get_link(struct dentry *dentry, struct inode *inode,
			       struct delayed_call *done)
{
	if (!dentry)
		return ERR_PTR(-ECHILD);
	if (!AU_D(dentry) || !AU_D(dentry)->nlower)
		return ERR_PTR(-ESTALE);
	return vfs_get_link(AU_D(dentry)->lower[0].dentry, done);
}

static ssize_t au_listxattr(struct dentry *dentry, char *list, size_t size)
{
	if (!AU_D(dentry) || !AU_D(dentry)->nlower)
		return -ESTALE;
	return vfs_listxattr(AU_D(dentry)->lower[0].dentry, list, size);
}

static const struct inode_operations au_dir_iops = {
	.lookup		= au_lookup,
	.permission	= au_permission,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
};

static const struct inode_operations au_file_iops = {
	.permission	= au_permission,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
};

static const struct inode_operations au_symlink_iops = {
	.get_link	= au_get_link,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
};

static int au_xattr_get(const struct xattr_handler *handler,
			struct dentry *dentry, struct inode *inode,
			const char *name, void *buffer, size_t size)
{
	struct dentry *d = dentry ? dentry : d_find_any_alias(inode);
	int err;

	if (!d)
		return -ESTALE;
	err = AU_D(d) && AU_D(d)->nlower ?
		vfs_getxattr(&init_user_ns, AU_D(d)->lower[0].dentry, name, buffer, size) :
		-ESTALE;
	if (!dentry)
		dput(d);
	return err;
}

static int au_xattr_set(const struct xattr_handler *handler,
			struct user_namespace *mnt_userns,
			struct dentry *dentry, struct inode *inode,
			const char *name, const void *value,
			size_t size, int flags)
{
	return -EROFS;
}

static const struct xattr_handler au_xattr_handler = {
	.prefix	= "",	/* every name goes to the branch as it is */
	.get	= au_xattr_get,
	.set	= au_xattr_set,
};

const struct xattr_handler *au_xattr_handlers[] = {
	&au_xattr_handler,
	NULL,
};

static int au_itest(struct inode *inode, void *data)
{
	return AU_I(inode)->h_inode == data;
}

static int au_iset(struct inode *inode, void *data)
{
	AU_I(inode)->h_inode = igrab(data);
	return AU_I(inode)->h_inode ? 0 : -ESTALE;
}

/* The union inode for a positive dinfo (its topmost entry decides). */
struct inode *au_iget(struct super_block *sb, struct au_dinfo *di)
{
	struct au_sbinfo *si = AU_SB(sb);
	struct inode *h_inode = d_inode(di->lower[0].dentry);
	struct inode *inode;
	u64 ino;

	mutex_lock(&si->xino_mtx);
	ino = au_rs_xino(si->rs, di->lower[0].bindex, h_inode->i_ino);
	mutex_unlock(&si->xino_mtx);
	if (!ino)
		return ERR_PTR(-EIO);

	inode = iget5_locked(sb, ino, au_itest, au_iset, h_inode);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW)) {
		au_cpattr(inode, h_inode);
		return inode;
	}
	inode->i_ino = ino;
	AU_I(inode)->bindex = di->lower[0].bindex;
	inode->i_mode = h_inode->i_mode & S_IFMT;
	au_cpattr(inode, h_inode);
	switch (inode->i_mode & S_IFMT) {
	case S_IFDIR:
		inode->i_op = &au_dir_iops;
		inode->i_fop = &au_dir_fops;
		break;
	case S_IFREG:
		inode->i_op = &au_file_iops;
		inode->i_fop = &au_file_fops;
		break;
	case S_IFLNK:
		inode->i_op = &au_symlink_iops;
		break;
	default:
		inode->i_op = &au_file_iops;
		init_special_inode(inode, inode->i_mode, h_inode->i_rdev);
		break;
	}
	unlock_new_inode(inode);
	return inode;
}
