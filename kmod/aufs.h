/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aufs: private data of the C shim.  The union policy lives in the Rust
 * core (see aufs_abi.h); these structures only hold what the VFS objects
 * need to carry between calls.
 */
#ifndef AUFS_H
#define AUFS_H

#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/path.h>
#include "aufs_abi.h"

#define AUFS_NAME		"aufs"
#define AUFS_VERSION		"0.1.0"
#define AUFS_SUPER_MAGIC	0x61756673	/* "aufs" */

struct au_branch {
	struct path path;
	unsigned int perm;	/* enum au_perm */
	unsigned int flags;	/* AU_BR_* */
	unsigned int id;
};

/* Per-superblock info (sb->s_fs_info). */
struct au_sbinfo {
	struct super_block *sb;
	struct au_rs_sb *rs;		/* the core's options + branch table */
	unsigned int nbr;
	struct au_branch *br;
	struct mutex xino_mtx;		/* serializes au_rs_xino() */
	unsigned long id;		/* si=, /sys/fs/aufs/si_<id> */

	/* sysfs: si_<id>/{br<N>,brid<N>,xi_path}; the kobject owns this struct */
	struct kobject kobj;
	bool kobj_added;
	struct attribute *br_attrs;	/* 2 * nbr: br0.. then brid0.. */
	char **br_attr_names;
};

/* Per-dentry info (dentry->d_fsdata): the entries on each branch. */
struct au_dinfo {
	int bopaque, bwh, bneg;
	unsigned int nlower;
	struct au_lower lower[];	/* top first */
};

/* Per-inode info: the VFS inode and the topmost lower inode it mirrors. */
struct au_inode {
	struct inode *h_inode;
	unsigned int bindex;
	struct inode vfs_inode;
};

static inline struct au_sbinfo *AU_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct au_dinfo *AU_D(struct dentry *dentry)
{
	return dentry->d_fsdata;
}

static inline struct au_inode *AU_I(struct inode *inode)
{
	return container_of(inode, struct au_inode, vfs_inode);
}

/* The topmost entry of a positive union dentry, as a path on its branch. */
static inline void au_h_path(struct dentry *dentry, struct path *h)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_dinfo *di = AU_D(dentry);

	h->mnt = si->br[di->lower[0].bindex].path.mnt;
	h->dentry = di->lower[0].dentry;
}

/* module.c */
extern struct file_system_type au_fs_type;

/* super.c */
extern const struct super_operations au_sops;

/* namei.c */
extern const struct dentry_operations au_dops;
struct au_dinfo *au_di_alloc(unsigned int nlower);
void au_di_free(struct au_dinfo *di);
struct dentry *au_lookup(struct inode *dir, struct dentry *dentry,
			 unsigned int flags);

/* inode.c */
extern struct kmem_cache *au_inode_cachep;
struct inode *au_alloc_inode(struct super_block *sb);
void au_free_inode(struct inode *inode);
void au_evict_inode(struct inode *inode);
extern const struct xattr_handler *au_xattr_handlers[];
struct inode *au_iget(struct super_block *sb, struct au_dinfo *di);
void au_cpattr(struct inode *inode, struct inode *h_inode);

/* file.c */
extern const struct file_operations au_file_fops;

/* readdir.c */
extern const struct file_operations au_dir_fops;

/* sysfs.c */
int au_sysfs_init(void);
void au_sysfs_fin(void);
int au_sysfs_add(struct au_sbinfo *si);
void au_sysfs_del(struct au_sbinfo *si);
void au_si_init_kobj(struct au_sbinfo *si);
void au_si_put(struct au_sbinfo *si);

#endif /* AUFS_H */
