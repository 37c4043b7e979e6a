/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aufs: the differences between the kernels the shim is built for
 * (Debian 12's 6.1 and 6.12), as the names the rest of the shim uses.
 * What a kernel provides is decided by probes of its headers
 * (compat_probes.c, which Kbuild turns into .compat_probes.h) or, for a
 * macro, by whether its headers define it; never by the version number:
 * Debian backports interfaces into its stable kernels (6.1.0-57 has the
 * ctime accessors, 6.12.118 a backing_file_open() that takes the user's
 * file).  The differences in the calls into branch filesystems are in
 * branch.c, next to the calls; no other file tests an AU_HAVE_*.
 */
#ifndef AUFS_COMPAT_H
#define AUFS_COMPAT_H

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include ".compat_probes.h"
#ifdef AU_HAVE_BACKING_FILE
#include <linux/backing-file.h>
#endif

/* ---- idmaps ---- */

/*
 * What the VFS calls take to map ids through a mount: its struct
 * mnt_idmap, or (older kernels) its user namespace.  The union's own
 * entry points get the union mount's and pass it on where they ask the
 * VFS about the union inode; the calls on a branch take the branch
 * mount's (au_mnt_idmap()).  Neither is ever idmapped (aufs does not allow
 * idmapped mounts of itself, src/branch.rs refuses idmapped branches, and
 * a mount is idmapped only before it is attached), but the type is the
 * kernel's.
 */
#ifdef AU_HAVE_MNT_IDMAP
typedef struct mnt_idmap au_idmap;
#define AU_NOP_IDMAP	(&nop_mnt_idmap)	/* no mapping */

static inline au_idmap *au_mnt_idmap(const struct vfsmount *mnt)
{
	return mnt_idmap(mnt);
}
#else
typedef struct user_namespace au_idmap;
#define AU_NOP_IDMAP	(&init_user_ns)

static inline au_idmap *au_mnt_idmap(const struct vfsmount *mnt)
{
	return mnt_user_ns(mnt);
}
#endif

/* ---- inode timestamps: fields, or accessors only ---- */

static inline struct timespec64 au_inode_ctime(const struct inode *inode)
{
#ifdef AU_HAVE_INODE_CTIME
	return inode_get_ctime(inode);
#else
	return inode->i_ctime;
#endif
}

static inline void au_inode_set_ctime(struct inode *inode, struct timespec64 ts)
{
#ifdef AU_HAVE_INODE_CTIME
	inode_set_ctime_to_ts(inode, ts);
#else
	inode->i_ctime = ts;
#endif
}

static inline struct timespec64 au_inode_atime(const struct inode *inode)
{
#ifdef AU_HAVE_INODE_AMTIME
	return inode_get_atime(inode);
#else
	return inode->i_atime;
#endif
}

static inline void au_inode_set_atime(struct inode *inode, struct timespec64 ts)
{
#ifdef AU_HAVE_INODE_AMTIME
	inode_set_atime_to_ts(inode, ts);
#else
	inode->i_atime = ts;
#endif
}

static inline struct timespec64 au_inode_mtime(const struct inode *inode)
{
#ifdef AU_HAVE_INODE_AMTIME
	return inode_get_mtime(inode);
#else
	return inode->i_mtime;
#endif
}

static inline void au_inode_set_mtime(struct inode *inode, struct timespec64 ts)
{
#ifdef AU_HAVE_INODE_AMTIME
	inode_set_mtime_to_ts(inode, ts);
#else
	inode->i_mtime = ts;
#endif
}

/* ---- POSIX ACLs of union inodes ---- */

/*
 * The inode operations for ACLs (au_get_acl(), au_set_acl(): inode.c).
 * Permission checks ask ->get_acl, renamed ->get_inode_acl when the VFS
 * got calls of its own for system.posix_acl_*: since then a change of an
 * ACL never reaches an xattr handler but ->set_acl (with the dentry), and
 * a read ends in ->get_inode_acl.
 */
#ifdef AU_HAVE_ACL_API
#define AU_IOP_ACL	.get_inode_acl = au_get_acl, .set_acl = au_set_acl
#else
#define AU_IOP_ACL	.get_acl = au_get_acl
#endif

/* ---- ->d_real: which real dentry is asked for ---- */

/*
 * Older kernels ask for the real dentry of a given inode (file_dentry() of
 * a real file opened with the union path), or with NULL for the one with
 * the data; newer ones ask for the data's or the metadata's.
 */
#ifdef AU_HAVE_D_REAL_TYPE
typedef enum d_real_type au_d_real_t;

static inline bool au_d_real_meta(au_d_real_t type)
{
	return type == D_REAL_METADATA;
}

static inline const struct inode *au_d_real_inode(au_d_real_t type)
{
	return NULL;
}
#else
typedef const struct inode *au_d_real_t;

static inline bool au_d_real_meta(au_d_real_t inode)
{
	return false;
}

static inline const struct inode *au_d_real_inode(au_d_real_t inode)
{
	return inode;
}
#endif

/* ---- fsnotify ---- */

/*
 * A group whose marks are removed from ->evict_inode (memory reclaim) must
 * not allocate with filesystem reclaim under its lock: a flag of older
 * kernels, what every group does on newer ones.
 */
#ifdef FSNOTIFY_GROUP_NOFS
#define AU_FSN_GROUP_NOFS	FSNOTIFY_GROUP_NOFS
#else
#define AU_FSN_GROUP_NOFS	0
#endif

/* @g's mark on superblock @sb, referenced, or NULL. */
static inline struct fsnotify_mark *au_fsn_find_sb_mark(struct super_block *sb,
							 struct fsnotify_group *g)
{
#ifdef AU_HAVE_FSNOTIFY_OBJ
	return fsnotify_find_mark(sb, FSNOTIFY_OBJ_TYPE_SB, g);
#else
	return fsnotify_find_mark(&sb->s_fsnotify_marks, g);
#endif
}

/* Attach mark @m to superblock @sb. */
static inline int au_fsn_add_sb_mark(struct fsnotify_mark *m, struct super_block *sb)
{
#ifdef AU_HAVE_FSNOTIFY_OBJ
	return fsnotify_add_mark(m, sb, FSNOTIFY_OBJ_TYPE_SB, 0);
#else
	return fsnotify_add_mark(m, &sb->s_fsnotify_marks, FSNOTIFY_OBJ_TYPE_SB, 0, NULL);
#endif
}

/* ---- memory ---- */

/* kvrealloc(): newer kernels find the old size themselves. */
static inline void *au_kvrealloc(void *p, size_t old_size, size_t new_size, gfp_t gfp)
{
#ifdef AU_HAVE_KVREALLOC_NEWSIZE
	return kvrealloc(p, new_size, gfp);
#else
	return kvrealloc(p, old_size, new_size, gfp);
#endif
}

/* Gone from newer kernels, whose allocator spreads by itself. */
#ifdef SLAB_MEM_SPREAD
#define AU_SLAB_MEM_SPREAD	SLAB_MEM_SPREAD
#else
#define AU_SLAB_MEM_SPREAD	0
#endif

/* ---- the real file of an open union file (file.c) ---- */

/*
 * The real file shows the union path (/proc/PID/maps of a mapping of it)
 * and holds the union mount (a mapping keeps it busy).  Newer kernels have
 * backing files for that: the real path is the file's own, the union
 * path is kept beside it.  Older ones have open_with_fake_path(): the
 * union path is the file's, and the branch filesystem finds its own
 * dentry through ->d_real (file_dentry()).
 */
static inline struct file *au_real_open(const struct file *user, int flags,
					const struct path *real,
					const struct cred *cred)
{
#if defined(AU_HAVE_BACKING_FILE_OPEN_FILE)
	return backing_file_open(user, flags, real, cred);
#elif defined(AU_HAVE_BACKING_FILE)
	return backing_file_open(&user->f_path, flags, real, cred);
#else
	return open_with_fake_path(&user->f_path, flags, d_inode(real->dentry), cred);
#endif
}

/*
 * The I/O on the real file, for union file @user: with the caller's
 * credentials (as the union file's own I/O), the writes inside the
 * branch's freeze protection.  On newer kernels through the backing_file_*
 * helpers, which also pass asynchronous I/O on and run the LSMs' mmap
 * hook for backing files; their vfs_iter_write() takes the freeze
 * protection itself.  The union file's atime is the caller's to touch.
 */
#ifdef AU_HAVE_BACKING_FILE
static inline void au_real_ctx(struct backing_file_ctx *ctx, struct file *user)
{
	*ctx = (struct backing_file_ctx){ .cred = current_cred(), .user_file = user };
}

static inline ssize_t au_real_read(struct file *user, struct file *real,
				   struct kiocb *iocb, struct iov_iter *iter)
{
	struct backing_file_ctx ctx;

	au_real_ctx(&ctx, user);
	return backing_file_read_iter(real, iter, iocb, iocb->ki_flags, &ctx);
}

/* Removes the union file's set-id bits and capabilities first. */
static inline ssize_t au_real_write(struct file *user, struct file *real,
				    struct kiocb *iocb, struct iov_iter *iter)
{
	struct backing_file_ctx ctx;

	au_real_ctx(&ctx, user);
	return backing_file_write_iter(real, iter, iocb, iocb->ki_flags, &ctx);
}

static inline ssize_t au_real_splice_read(struct file *user, struct file *real,
					  loff_t *ppos, struct pipe_inode_info *pipe,
					  size_t len, unsigned int flags)
{
	struct backing_file_ctx ctx;

	au_real_ctx(&ctx, user);
	return backing_file_splice_read(real, ppos, pipe, len, flags, &ctx);
}

/* @vma maps @user; from now on it maps @real. */
static inline int au_real_mmap(struct file *user, struct file *real,
			       struct vm_area_struct *vma)
{
	struct backing_file_ctx ctx;

	au_real_ctx(&ctx, user);
	return backing_file_mmap(real, vma, &ctx);
}
#else
static inline rwf_t au_real_rwf(int ki_flags)
{
	rwf_t flags = 0;

	if (ki_flags & IOCB_NOWAIT)
		flags |= RWF_NOWAIT;
	if (ki_flags & IOCB_HIPRI)
		flags |= RWF_HIPRI;
	if (ki_flags & IOCB_DSYNC)
		flags |= RWF_DSYNC;
	if (ki_flags & IOCB_SYNC)
		flags |= RWF_SYNC;
	if (ki_flags & IOCB_APPEND)
		flags |= RWF_APPEND;
	return flags;
}

static inline ssize_t au_real_read(struct file *user, struct file *real,
				   struct kiocb *iocb, struct iov_iter *iter)
{
	return vfs_iter_read(real, iter, &iocb->ki_pos, au_real_rwf(iocb->ki_flags));
}

/* Removes the union file's set-id bits and capabilities first. */
static inline ssize_t au_real_write(struct file *user, struct file *real,
				    struct kiocb *iocb, struct iov_iter *iter)
{
	ssize_t ret = file_remove_privs(user);

	if (ret)
		return ret;
	/* here vfs_iter_write() leaves the freeze protection to its caller */
	file_start_write(real);
	ret = vfs_iter_write(real, iter, &iocb->ki_pos, au_real_rwf(iocb->ki_flags));
	file_end_write(real);
	return ret;
}

static inline ssize_t au_real_splice_read(struct file *user, struct file *real,
					  loff_t *ppos, struct pipe_inode_info *pipe,
					  size_t len, unsigned int flags)
{
	return generic_file_splice_read(real, ppos, pipe, len, flags);
}

/* @vma maps @user; from now on it maps @real. */
static inline int au_real_mmap(struct file *user, struct file *real,
			       struct vm_area_struct *vma)
{
	if (!real->f_op->mmap)
		return -ENODEV;
	vma_set_file(vma, real);
	return call_mmap(vma->vm_file, vma);
}
#endif

#endif /* AUFS_COMPAT_H */
