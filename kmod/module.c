// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: module init/exit, the filesystem type, and the runtime services the
 * Rust core needs from the kernel (allocation, panic).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/log2.h>
#include <linux/debugfs.h>
#include <linux/fsnotify_backend.h>
#include "aufs.h"

/* ---- services for the Rust core ---- */

static size_t au_alloc_size(u64 size, u64 align)
{
	/* kmalloc aligns power-of-two sizes to themselves, vmalloc to a page. */
	if (align > ARCH_KMALLOC_MINALIGN)
		size = roundup_pow_of_two(max(size, align));
	return size;
}

void *au_c_kmalloc(u64 size, u64 align)
{
	if (align > PAGE_SIZE || size > INT_MAX)
		return NULL;
	return kvmalloc(au_alloc_size(size, align), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

void *au_c_krealloc(void *p, u64 old_size, u64 new_size, u64 align)
{
	if (align > PAGE_SIZE || new_size > INT_MAX)
		return NULL;
	return au_kvrealloc(p, au_alloc_size(old_size, align),
			    au_alloc_size(new_size, align), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

void au_c_kfree(void *p)
{
	kvfree(p);
}

void au_c_panic(const char *msg, u32 len)
{
	pr_emerg("Rust core panic: %.*s\n", (int)len, msg);
	BUG();
}

/* ---- ABI check: the shim and the core must agree on every layout ---- */

const __u64 *au_c_abi_layout(void);

static int au_abi_check(void)
{
	const __u64 *c = au_c_abi_layout(), *rs = au_rs_abi_layout();
	int i;

	for (i = 0; i < AU_ABI_LAYOUT_LEN; i++)
		if (c[i] != rs[i]) {
			pr_err("ABI mismatch between shim and Rust core at entry %d (%llu != %llu)\n",
			       i, c[i], rs[i]);
			return -ENOEXEC;
		}
	return 0;
}

/* ---- the filesystem type ---- */

static struct dentry *au_mount(struct file_system_type *fs_type, int flags,
			       const char *dev_name, void *data)
{
	return mount_nodev(fs_type, flags, data, au_fill_super);
}

static void au_kill_sb(struct super_block *sb)
{
	struct au_sbinfo *si = AU_SB(sb);

	if (si)
		au_sysfs_del(si);
	kill_anon_super(sb);
	if (si) {
		au_notify_fin(si);
		au_si_put(si);
	}
}

/* debugfs aufs/: per mount, si_<id>/xino_entries (inode number table size). */
struct dentry *au_debugfs;

struct file_system_type au_fs_type = {
	.owner		= THIS_MODULE,
	.name		= AUFS_NAME,
	.mount		= au_mount,
	.kill_sb	= au_kill_sb,
};
MODULE_ALIAS_FS(AUFS_NAME);

static void au_inode_init_once(void *p)
{
	struct au_inode *ai = p;

	inode_init_once(&ai->vfs_inode);
	mutex_init(&ai->cpup_mtx);
}

static int __init aufs_init(void)
{
	int err;

	err = au_abi_check();
	if (err)
		return err;
	au_inode_cachep = kmem_cache_create("aufs_inode", sizeof(struct au_inode), 0,
					    SLAB_RECLAIM_ACCOUNT | AU_SLAB_MEM_SPREAD | SLAB_ACCOUNT,
					    au_inode_init_once);
	if (!au_inode_cachep)
		return -ENOMEM;
	err = au_sysfs_init();
	if (err)
		goto out_cache;
	au_debugfs = debugfs_create_dir(AUFS_NAME, NULL);
	debugfs_create_atomic_t("notify_marks", 0400, au_debugfs, &au_nmarks);
	err = register_filesystem(&au_fs_type);
	if (err)
		goto out_sysfs;
	pr_info("loaded, version %s\n", AUFS_VERSION);
	return 0;

out_sysfs:
	debugfs_remove(au_debugfs);
	au_sysfs_fin();
out_cache:
	kmem_cache_destroy(au_inode_cachep);
	return err;
}

static void __exit aufs_exit(void)
{
	unregister_filesystem(&au_fs_type);
	debugfs_remove(au_debugfs);
	au_sysfs_fin();
	fsnotify_wait_marks_destroyed();	/* their free_mark is ours */
	rcu_barrier();	/* inodes are freed by RCU */
	kmem_cache_destroy(au_inode_cachep);
}

module_init(aufs_init);
module_exit(aufs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("aufs: advanced multi-layered unification filesystem (Rust core)");
MODULE_VERSION(AUFS_VERSION);
MODULE_AUTHOR("aufs-rs developers");
