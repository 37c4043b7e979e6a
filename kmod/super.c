// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: superblock.  Mount data goes to the core as it is; the core parses
 * it, asks the shim to resolve each branch path, validates the set and
 * returns the branch table.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/uaccess.h>
#include <linux/compat.h>
#include <linux/sched/task_stack.h>
#include <asm/syscall.h>
#include "aufs.h"

/* Mask for si= values: a raw kernel pointer is never shown. */
static unsigned long au_si_mask;

/* Mount context for au_c_br_resolve/au_c_br_relation. */
struct au_mctx {
	struct path paths[AU_BRANCH_MAX];
	char *abs[AU_BRANCH_MAX];	/* d_path() buffers */
	struct path target;	/* the directory mounted on, if known */
};

/*
 * The directory being mounted on, when we are called from mount(2).  The
 * VFS tells a filesystem its mount point only after attaching it, too late
 * to refuse a branch the mount would cover.  On the classic mount(2) path
 * (what mount(8) on Debian 12 uses) the target is the syscall's second
 * argument, resolved here exactly as the VFS resolved it.  Mounts made with
 * fsopen()/fsmount() have no target yet: they get no such check.
 */
static void au_mount_target(struct path *target)
{
	struct pt_regs *regs = task_pt_regs(current);
	unsigned long args[6];
	char *name;

	if (!(current->flags & PF_KTHREAD) && !in_compat_syscall() &&
	    syscall_get_nr(current, regs) == __NR_mount) {
		syscall_get_arguments(current, regs, args);
		name = strndup_user((const char __user *)args[1], PATH_MAX);
		if (IS_ERR(name))
			return;
		if (kern_path(name, LOOKUP_FOLLOW, target))
			target->mnt = NULL, target->dentry = NULL;
		kfree(name);
	}
}

int au_c_br_resolve(void *mctx, u32 idx, const u8 *name, u32 len,
		    struct au_brfacts *out)
{
	struct au_mctx *m = mctx;
	struct path path;
	struct super_block *sb;
	char *s;
	int err;

	if (idx >= AU_BRANCH_MAX)
		return -ENOSPC;
	s = kmemdup_nul(name, len, GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	err = kern_path(s, LOOKUP_FOLLOW, &path);
	kfree(s);
	if (err)
		return err;
	path_put(&m->paths[idx]);
	m->paths[idx] = path;
	sb = path.dentry->d_sb;
	out->is_dir = d_is_dir(path.dentry);
	out->sb_rdonly = sb_rdonly(sb) || __mnt_is_readonly(path.mnt);
	out->is_aufs = sb->s_type == &au_fs_type;
	out->under_mountpoint = m->target.dentry && path_is_under(&path, &m->target);
	strscpy(out->fs_type, sb->s_type->name, sizeof(out->fs_type));
	if (!m->abs[idx])
		m->abs[idx] = kmalloc(PATH_MAX, GFP_KERNEL);
	if (m->abs[idx]) {
		char *p = d_path(&path, m->abs[idx], PATH_MAX);

		if (!IS_ERR(p)) {
			out->abs_path = p;
			out->abs_len = strlen(p);
		}
	}
	return 0;
}

u32 au_c_br_relation(void *mctx, u32 a, u32 b)
{
	struct au_mctx *m = mctx;
	struct dentry *da, *db;

	if (a >= AU_BRANCH_MAX || b >= AU_BRANCH_MAX)
		return 0;
	da = m->paths[a].dentry;
	db = m->paths[b].dentry;
	if (!da || !db || da->d_sb != db->d_sb)
		return 0;
	if (da == db)
		return 1;
	if (is_subdir(da, db))
		return 2;
	if (is_subdir(db, da))
		return 3;
	return 0;
}

static int au_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	int err;

	err = vfs_statfs(&si->br[0].path, buf);
	if (err)
		return err;
	buf->f_type = AUFS_SUPER_MAGIC;
	buf->f_namelen = AU_NAME_MAX;
	return 0;
}

static int au_show_options(struct seq_file *m, struct dentry *root)
{
	struct au_sbinfo *si = AU_SB(root->d_sb);
	char *buf;
	int n;

	seq_printf(m, ",si=%lx", si->id);
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = au_rs_show_options(si->rs, buf, PAGE_SIZE);
	if (n > 0)
		seq_write(m, buf, n);
	kfree(buf);
	return n < 0 ? n : 0;
}

/* Remount: the core says whether the options can be applied as they are. */
static int au_remount_fs(struct super_block *sb, int *flags, char *data)
{
	struct au_sbinfo *si = AU_SB(sb);
	char *msg;
	int err;

	msg = kzalloc(AU_MSG_MAX, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	err = au_rs_remount(si->rs, data, data ? strnlen(data, PAGE_SIZE) : 0,
			    msg, AU_MSG_MAX);
	if (err)
		pr_err("%s\n", msg[0] ? msg : "bad remount options");
	kfree(msg);
	return err;
}

/*
 * syncfs(2), sync -f, and freezing the union reach the writable branches
 * (the only ones the union writes to), each filesystem once.
 */
static int au_sync_fs(struct super_block *sb, int wait)
{
	struct au_sbinfo *si = AU_SB(sb);
	struct super_block *h_sb;
	unsigned int i, j;
	int err = 0, e;

	if (!wait)
		return 0;	/* the second, waiting pass does the work */
	for (i = 0; i < si->nbr; i++) {
		if (!au_rs_write_in_place(si->rs, i))
			continue;
		h_sb = si->br[i].path.mnt->mnt_sb;
		for (j = 0; j < i; j++)
			if (si->br[j].path.mnt->mnt_sb == h_sb &&
			    au_rs_write_in_place(si->rs, j))
				break;
		if (j < i)
			continue;	/* synced already */
		down_read(&h_sb->s_umount);
		e = sync_filesystem(h_sb);
		up_read(&h_sb->s_umount);
		if (e && !err)
			err = e;
	}
	return err;
}

/*
 * Freezing the union: freeze_super() has stopped the union's writers and
 * synced the branches through au_sync_fs(); nothing else is held here, so
 * the branches themselves stay usable to others.
 */
static int au_freeze_fs(struct super_block *sb)
{
	return 0;
}

static int au_unfreeze_fs(struct super_block *sb)
{
	return 0;
}

const struct super_operations au_sops = {
	.alloc_inode	= au_alloc_inode,
	.free_inode	= au_free_inode,
	.evict_inode	= au_evict_inode,
	.drop_inode	= generic_delete_inode,
	.statfs		= au_statfs,
	.sync_fs	= au_sync_fs,
	.freeze_fs	= au_freeze_fs,
	.unfreeze_fs	= au_unfreeze_fs,
	.show_options	= au_show_options,
	.remount_fs	= au_remount_fs,
};

static struct au_sbinfo *au_si_alloc(struct super_block *sb)
{
	struct au_sbinfo *si;

	si = kzalloc(sizeof(*si), GFP_KERNEL);
	if (!si)
		return NULL;
	si->sb = sb;
	mutex_init(&si->xino_mtx);
	atomic64_set(&si->next_id, 0);
	si->cred = prepare_creds();
	if (!si->cred) {
		kfree(si);
		return NULL;
	}
	si->ctx.si = si;
	si->ctx.cred = si->cred;
	au_si_init_kobj(si);	/* from here on, au_si_put() frees si */
	si->xino = au_rs_xino_new();
	if (!si->xino) {
		au_si_put(si);
		return NULL;
	}
	if (!au_si_mask)
		au_si_mask = get_random_long() | 1;
	si->id = au_si_mask ^ (unsigned long)si;
	return si;
}

/* Take the resolved branch paths from the mount context. */
static int au_si_take_branches(struct au_sbinfo *si, struct au_mctx *m)
{
	struct au_brinfo bi;
	unsigned int i;
	int err;

	si->nbr = au_rs_sb_nbr(si->rs);
	if (!si->nbr || si->nbr > AU_BRANCH_MAX)
		return -EINVAL;
	si->br = kcalloc(si->nbr, sizeof(*si->br), GFP_KERNEL);
	if (!si->br)
		return -ENOMEM;
	for (i = 0; i < si->nbr; i++) {
		err = au_rs_sb_brinfo(si->rs, i, &bi);
		if (err)
			return err;
		si->br[i].path = m->paths[i];
		m->paths[i].mnt = NULL;
		m->paths[i].dentry = NULL;
		si->br[i].perm = bi.perm;
		si->br[i].flags = bi.flags;
		si->br[i].id = bi.id;
	}
	return 0;
}

static int au_stack_depth(struct au_sbinfo *si)
{
	int depth = 0;
	unsigned int i;

	for (i = 0; i < si->nbr; i++)
		depth = max(depth, si->br[i].path.dentry->d_sb->s_stack_depth);
	return depth + 1;
}

static struct dentry *au_make_root(struct super_block *sb)
{
	struct au_sbinfo *si = AU_SB(sb);
	struct au_dinfo *di;
	struct inode *inode;
	struct dentry *root;
	unsigned int i;

	di = au_di_alloc(si->nbr);
	if (!di)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < si->nbr; i++) {
		di->lower[i].dentry = dget(si->br[i].path.dentry);
		di->lower[i].bindex = i;
	}
	inode = au_iget_root(sb, di);
	if (IS_ERR(inode)) {
		au_di_put(di);
		return ERR_CAST(inode);
	}
	root = d_make_root(inode);
	if (!root) {
		au_di_put(di);
		return ERR_PTR(-ENOMEM);
	}
	root->d_fsdata = di;
	return root;
}

int au_fill_super(struct super_block *sb, void *data, int silent)
{
	struct au_sbinfo *si;
	struct au_mctx *m;
	struct dentry *root;
	char *msg;
	unsigned int i;
	int err;

	si = au_si_alloc(sb);
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	msg = kzalloc(AU_MSG_MAX, GFP_KERNEL);
	err = -ENOMEM;
	if (!si || !m || !msg) {
		if (si)
			au_si_put(si);	/* its credentials and table too */
		goto out;
	}
	sb->s_fs_info = si;
	au_mount_target(&m->target);

	err = au_rs_sb_new(data, data ? strnlen(data, PAGE_SIZE) : 0, sb_rdonly(sb),
			   m, &si->rs, msg, AU_MSG_MAX);
	if (err) {
		pr_err("%s\n", msg[0] ? msg : "bad mount options");
		goto out;
	}
	err = au_si_take_branches(si, m);
	if (err)
		goto out;

	sb->s_stack_depth = au_stack_depth(si);
	if (sb->s_stack_depth > FILESYSTEM_MAX_STACK_DEPTH) {
		pr_err("maximum filesystem stacking depth exceeded\n");
		err = -EINVAL;
		goto out;
	}
	sb->s_magic = AUFS_SUPER_MAGIC;
	sb->s_op = &au_sops;
	sb->s_d_op = &au_dops;
	sb->s_xattr = au_xattr_handlers;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_time_gran = 1;
	/*
	 * ACLs are the branches' (au_get_acl); with SB_POSIXACL the VFS leaves
	 * the umask to the branch filesystem, which applies default ACLs.
	 */
	sb->s_flags |= SB_NOSEC | SB_POSIXACL;

	root = au_make_root(sb);
	if (IS_ERR(root)) {
		err = PTR_ERR(root);
		goto out;
	}
	sb->s_root = root;
	err = au_sysfs_add(si);
	/* on error, mount_nodev calls au_kill_sb, which releases everything */
out:
	if (m) {
		for (i = 0; i < AU_BRANCH_MAX; i++) {
			path_put(&m->paths[i]);
			kfree(m->abs[i]);
		}
		path_put(&m->target);
	}
	kfree(m);
	kfree(msg);
	return err;
}
