// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: what the target kernel's headers provide.  Not part of the module:
 * Kbuild compiles this file once for each AU_PROBE_<NAME> below, with the
 * module's flags and -Werror, and writes "#define AU_HAVE_<NAME> 1" into
 * .compat_probes.h for each that compiles (compat.h reads it).  Each probe
 * uses the interface its name says exactly as the shim does, so a
 * backported interface counts as much as a new kernel's.  An idmap
 * argument is NULL where the probe is not about its type.
 */
#include <linux/fs.h>

#ifdef AU_PROBE_MNT_IDMAP
/* 6.3: the VFS calls take the mount's struct mnt_idmap, not a user namespace. */
#include <linux/mount.h>
int au_probe(struct vfsmount *mnt, struct inode *dir, struct dentry *d);
int au_probe(struct vfsmount *mnt, struct inode *dir, struct dentry *d)
{
	return vfs_create(mnt_idmap(mnt), dir, d, 0600, true);
}
#endif

#ifdef AU_PROBE_INODE_CTIME
/* 6.6 (Debian's 6.1 has them too): the ctime only through accessors. */
void au_probe(struct inode *inode, const struct inode *h);
void au_probe(struct inode *inode, const struct inode *h)
{
	inode_set_ctime_to_ts(inode, inode_get_ctime(h));
}
#endif

#ifdef AU_PROBE_INODE_AMTIME
/* 6.7: atime and mtime likewise. */
void au_probe(struct inode *inode, const struct inode *h);
void au_probe(struct inode *inode, const struct inode *h)
{
	inode_set_atime_to_ts(inode, inode_get_atime(h));
	inode_set_mtime_to_ts(inode, inode_get_mtime(h));
}
#endif

#ifdef AU_PROBE_ACL_API
/*
 * 6.2: POSIX ACLs have their own VFS calls (the VFS no longer hands
 * system.posix_acl_* to xattr handlers) and ->set_acl gets the dentry;
 * the permission checks' ->get_acl became ->get_inode_acl.
 */
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
struct posix_acl *au_probe(struct inode *inode, struct dentry *d);
struct posix_acl *au_probe(struct inode *inode, struct dentry *d)
{
	struct inode_operations iop = { .get_inode_acl = NULL };

	(void)iop;
	vfs_set_acl(NULL, d, XATTR_NAME_POSIX_ACL_ACCESS, NULL);
	vfs_remove_acl(NULL, d, XATTR_NAME_POSIX_ACL_DEFAULT);
	posix_acl_release(vfs_get_acl(NULL, d, XATTR_NAME_POSIX_ACL_ACCESS));
	return get_inode_acl(inode, ACL_TYPE_ACCESS);
}
#endif

#ifdef AU_PROBE_FSNOTIFY_OBJ
/* Newer kernels: marks are found and added by object and type (a superblock's too). */
#include <linux/fsnotify_backend.h>
int au_probe(struct fsnotify_mark *m, struct super_block *sb, struct fsnotify_group *g);
int au_probe(struct fsnotify_mark *m, struct super_block *sb, struct fsnotify_group *g)
{
	fsnotify_put_mark(fsnotify_find_mark(sb, FSNOTIFY_OBJ_TYPE_SB, g));
	return fsnotify_add_mark(m, sb, FSNOTIFY_OBJ_TYPE_SB, 0);
}
#endif

#ifdef AU_PROBE_KVREALLOC_NEWSIZE
/* 6.12: kvrealloc() finds the old size itself. */
#include <linux/slab.h>
void *au_probe(void *p);
void *au_probe(void *p)
{
	return kvrealloc(p, 64, GFP_KERNEL);
}
#endif

#ifdef AU_PROBE_CPUP_XATTR_DENTRY
/* 6.10: the copy-up xattr filter gets the source dentry. */
#include <linux/security.h>
int au_probe(struct dentry *src);
int au_probe(struct dentry *src)
{
	return security_inode_copy_up_xattr(src, "user.x");
}
#endif

#ifdef AU_PROBE_BACKING_FILE
/*
 * 6.8: a stacked filesystem's real file is a backing file (it shows the
 * user's path) and its I/O goes through the backing_file_* helpers.
 */
#include <linux/backing-file.h>
#include <linux/mm.h>
int au_probe(struct file *f, struct kiocb *iocb, struct iov_iter *iter,
	     struct vm_area_struct *vma, struct backing_file_ctx *ctx);
int au_probe(struct file *f, struct kiocb *iocb, struct iov_iter *iter,
	     struct vm_area_struct *vma, struct backing_file_ctx *ctx)
{
	ctx->cred = NULL;
	ctx->user_file = f;
	ctx->accessed = NULL;
	backing_file_read_iter(f, iter, iocb, 0, ctx);
	backing_file_write_iter(f, iter, iocb, 0, ctx);
	backing_file_splice_read(f, NULL, NULL, 0, 0, ctx);
	return backing_file_mmap(f, vma, ctx);
}
#endif

#ifdef AU_PROBE_BACKING_FILE_OPEN_FILE
/* backing_file_open() takes the user's file, not its path (Debian's 6.12). */
#include <linux/backing-file.h>
struct file *au_probe(const struct file *user, const struct path *real);
struct file *au_probe(const struct file *user, const struct path *real)
{
	return backing_file_open(user, O_RDONLY, real, NULL);
}
#endif

#ifdef AU_PROBE_D_REAL_TYPE
/* Newer kernels: ->d_real is asked for a dentry's data or its metadata. */
struct dentry *au_probe(struct dentry *d);
struct dentry *au_probe(struct dentry *d)
{
	return d_real(d, D_REAL_METADATA);
}
#endif

#ifdef AU_PROBE_SPLICE_FILE_RANGE
/*
 * 6.7: splicing between files under freeze protection already held;
 * do_splice_direct() takes it itself from then on.
 */
#include <linux/splice.h>
ssize_t au_probe(struct file *in, loff_t *ipos, struct file *out, loff_t *opos);
ssize_t au_probe(struct file *in, loff_t *ipos, struct file *out, loff_t *opos)
{
	return splice_file_range(in, ipos, out, opos, 1);
}
#endif
