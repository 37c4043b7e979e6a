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

/* ---- branch sets ---- */

/*
 * A branch set for the core state @rs, whose branches are the context's
 * paths (taken from it).  On failure @rs is freed too.
 */
static struct au_brset *au_brs_new(struct au_rs_sb *rs, struct au_mctx *m,
				   unsigned int gen)
{
	unsigned int i, n = au_rs_sb_nbr(rs);
	struct au_brinfo bi;
	struct au_brset *brs;

	if (!n || n > AU_BRANCH_MAX || n != m->n) {
		au_rs_sb_free(rs);
		return ERR_PTR(-EINVAL);
	}
	brs = kzalloc(struct_size(brs, br, n), GFP_KERNEL);
	if (!brs) {
		au_rs_sb_free(rs);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&brs->kref);
	brs->gen = gen;
	brs->rs = rs;
	for (i = 0; i < n; i++) {
		if (au_rs_sb_brinfo(rs, i, &bi)) {
			au_brs_put(brs);
			return ERR_PTR(-EINVAL);
		}
		brs->br[i].path = m->paths[i];
		m->paths[i] = (struct path){};
		brs->br[i].id = bi.id;
		brs->nbr = i + 1;
	}
	return brs;
}

static int au_stack_depth(struct au_brset *brs)
{
	int depth = 0;
	unsigned int i;

	for (i = 0; i < brs->nbr; i++)
		depth = max(depth, brs->br[i].path.dentry->d_sb->s_stack_depth);
	return depth + 1;
}

/* ---- superblock operations ---- */

static u64 au_add_sat(u64 a, u64 b)
{
	u64 r;

	return check_add_overflow(a, b, &r) ? U64_MAX : r;
}

static u64 au_mul_sat(u64 a, u64 b)
{
	u64 r;

	return check_mul_overflow(a, b, &r) ? U64_MAX : r;
}

/*
 * statfs with the sum option (as aufs's): the blocks and inodes of every
 * branch filesystem, each counted once however many branches it holds, in
 * the smallest block size among them.
 */
static int au_statfs_sum(struct au_brset *brs, struct kstatfs *buf)
{
	u64 blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, f;
	long bsize = LONG_MAX;
	struct kstatfs st;
	struct path root;
	unsigned int i, j;
	bool seen;
	int err;

	for (i = 0; i < brs->nbr; i++) {
		root.mnt = brs->br[i].path.mnt;
		seen = false;
		for (j = 0; j < i && !seen; j++)
			seen = brs->br[j].path.mnt->mnt_sb == root.mnt->mnt_sb;
		if (seen)
			continue;
		root.dentry = root.mnt->mnt_root;
		err = au_h_statfs(&root, &st);
		if (err)
			return err;
		if (i == 0)
			*buf = st;
		if (st.f_bsize <= 0)
			continue;
		if (st.f_bsize < bsize) {
			f = bsize == LONG_MAX ? 1 : bsize / st.f_bsize;
			blocks = au_mul_sat(blocks, f);
			bfree = au_mul_sat(bfree, f);
			bavail = au_mul_sat(bavail, f);
			bsize = st.f_bsize;
		}
		f = st.f_bsize / bsize;
		blocks = au_add_sat(blocks, au_mul_sat(st.f_blocks, f));
		bfree = au_add_sat(bfree, au_mul_sat(st.f_bfree, f));
		bavail = au_add_sat(bavail, au_mul_sat(st.f_bavail, f));
		files = au_add_sat(files, st.f_files);
		ffree = au_add_sat(ffree, st.f_ffree);
	}
	buf->f_bsize = bsize == LONG_MAX ? PAGE_SIZE : bsize;
	buf->f_blocks = blocks;
	buf->f_bfree = bfree;
	buf->f_bavail = bavail;
	buf->f_files = files;
	buf->f_ffree = ffree;
	buf->f_frsize = 0;
	return 0;
}

/*
 * statfs: the first branch's filesystem (its root: a branch may be a
 * directory of it), or with sum the sum of all of them.
 */
static int au_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct au_brset *brs = au_brs_get(AU_SB(dentry->d_sb));
	struct path root;
	int err;

	if (au_rs_statfs_sum(brs->rs) > 0) {
		err = au_statfs_sum(brs, buf);
	} else {
		root.mnt = brs->br[0].path.mnt;
		root.dentry = root.mnt->mnt_root;
		err = au_h_statfs(&root, buf);
	}
	au_brs_put(brs);
	if (err)
		return err;
	buf->f_type = AUFS_SUPER_MAGIC;
	buf->f_namelen = AU_NAME_MAX;
	memset(&buf->f_fsid, 0, sizeof(buf->f_fsid));
	return 0;
}

/*
 * The text may be longer than a page (a long xino= path, each byte escaped
 * to four): it is made as long as it is, and the seq_file grows to take it.
 * An error here would make /proc/mounts unreadable for the whole namespace.
 */
static int au_show_options(struct seq_file *m, struct dentry *root)
{
	struct au_sbinfo *si = AU_SB(root->d_sb);
	struct au_brset *brs = au_brs_get(si);
	size_t size = PAGE_SIZE;
	char *buf = NULL;
	int n = -E2BIG, tries;

	seq_printf(m, ",si=%lx", si->id);
	/* a set's options never change: the second size fits */
	for (tries = 0; tries < 2 && n == -E2BIG; tries++) {
		buf = kvmalloc(size, GFP_KERNEL);
		n = buf ? au_rs_show_options(brs->rs, buf, size) : -ENOMEM;
		if (n > (int)size) {
			kvfree(buf);
			buf = NULL;
			size = n;
			n = -E2BIG;
		}
	}
	au_brs_put(brs);
	if (n > 0)
		seq_write(m, buf, n);
	kvfree(buf);
	return n < 0 ? n : 0;
}

/* Has @ai had a real file of branch @id opened (au_pin_real())? */
static bool au_pinned_on(struct au_inode *ai, unsigned int id)
{
	struct au_hpin *p;

	for (p = smp_load_acquire(&ai->pins); p; p = p->next)
		if (p->brid == id)
			return true;
	return false;
}

/*
 * Is a union object in use with an entry it shows on branch @id: its
 * topmost (or the one before a copy-up), or the real file an open used
 * (a metacopy's data): an open file, a mapping, a cwd, a mount point
 * (with @writers: open for writing)?  Unused dentries are let go first, so
 * what is left is in use.  The root does not count: a remount moves it to
 * the new branches itself.
 */
static bool au_br_busy(struct super_block *sb, unsigned int id, bool writers)
{
	struct inode *inode;
	bool busy = false;

	shrink_dcache_sb(sb);
	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		struct au_inode *ai = AU_I(inode);

		if (inode == d_inode(sb->s_root))
			continue;
		spin_lock(&inode->i_lock);
		if (!(inode->i_state & (I_NEW | I_FREEING | I_WILL_FREE)) &&
		    (ai->brid == id || (ai->h_prev && ai->prev_brid == id) ||
		     au_pinned_on(ai, id)) &&
		    (!writers || atomic_read(&inode->i_writecount) > 0))
			busy = true;
		spin_unlock(&inode->i_lock);
		if (busy)
			break;
	}
	spin_unlock(&sb->s_inode_list_lock);
	return busy;
}

/*
 * One "aufs: <what> branch <path> <why>" line: the branch's full path (a
 * branch is often the root of its filesystem, whose name alone is "/").
 */
static void au_pr_busy(const char *what, const struct path *path, const char *why)
{
	char *buf = kmalloc(PATH_MAX, GFP_NOFS);	/* under si->rwsem */
	char *p = buf ? d_path(path, buf, PATH_MAX) : ERR_PTR(-ENOMEM);

	if (IS_ERR(p))
		pr_err("%s: branch %pd %s\n", what, path->dentry, why);
	else
		pr_err("%s: branch %s %s\n", what, p, why);
	kfree(buf);
}

/* What makes the change from @old to @new impossible now: -EBUSY, or 0. */
static int au_remount_busy(struct super_block *sb, struct au_brset *old,
			   struct au_brset *new)
{
	unsigned int i;
	int j;

	for (i = 0; i < old->nbr; i++) {
		unsigned int id = old->br[i].id;

		j = au_brs_index(new, id);
		if (j < 0 && au_br_busy(sb, id, false)) {
			au_pr_busy("del", &old->br[i].path,
				   "is busy (open files, cwd or mount points)");
			return -EBUSY;
		}
		if (j >= 0 && au_rs_write_in_place(old->rs, i) &&
		    !au_rs_write_in_place(new->rs, j) && au_br_busy(sb, id, true)) {
			au_pr_busy("mod", &old->br[i].path,
				   "has files open for writing");
			return -EBUSY;
		}
	}
	return 0;
}

/* The root follows the new branch set at once (it is never looked up). */
static int au_root_refresh(struct super_block *sb, struct au_brset *brs)
{
	struct dentry *root = sb->s_root;
	struct inode *inode = d_inode(root);
	struct au_dinfo *di = au_di_alloc(brs, brs->nbr);
	unsigned int i;

	if (!di)
		return -ENOMEM;
	for (i = 0; i < brs->nbr; i++) {
		di->lower[i].dentry = dget(brs->br[i].path.dentry);
		di->lower[i].bindex = i;
	}
	mutex_lock(&AU_I(inode)->cpup_mtx);
	if (d_inode(di->lower[0].dentry) != AU_I(inode)->h_inode)
		au_inode_retop(inode, di, AUFS_ROOT_INO);
	mutex_unlock(&AU_I(inode)->cpup_mtx);
	au_di_set(root, di);
	return 0;
}

/*
 * Remount: the core applies the options and branch changes to a copy of
 * the mount's state, resolving new branch paths, and a new branch set is
 * made of it, all without the union's locks: a path may lead through a
 * filesystem (FUSE, NFS) whose server uses this union, and a lookup there
 * must not wait for a lock its server's writes need.  Remounts are
 * serialized by s_umount, so the set this one starts from stays the
 * mount's meanwhile.  Only then, under the rwsem every change and open of
 * the union read-holds: if no branch that goes (or stops being writable)
 * is in use, the new set replaces the old one in one step.  On any error
 * the mount is exactly as it was.  Cached dentries follow lazily
 * (au_di_get()); open files keep the branch they were opened on.
 */
static int au_remount_fs(struct super_block *sb, int *flags, char *data)
{
	struct au_sbinfo *si = AU_SB(sb);
	struct au_brset *old, *new = NULL;
	struct au_rs_sb *nrs = NULL;
	struct au_mount_req req;
	struct au_dinfo *rdi;
	struct au_mctx *m;
	unsigned int i, nofs;
	char *msg;
	int err;

	lockdep_assert_held_write(&sb->s_umount);
	msg = kzalloc(AU_MSG_MAX, GFP_KERNEL);
	m = au_mctx_alloc();
	if (!msg || !m) {
		kfree(msg);
		au_mctx_free(m);
		return -ENOMEM;
	}
	old = au_brs_get(si);
	for (i = 0; i < old->nbr; i++) {
		m->paths[i] = old->br[i].path;
		path_get(&m->paths[i]);
		m->n++;
	}
	req = (struct au_mount_req){
		.data = data, .len = data ? strnlen(data, PAGE_SIZE) : 0,
		.rdonly = !!(*flags & SB_RDONLY), .mctx = m,
	};
	err = au_rs_remount(old->rs, &req, &nrs, msg, AU_MSG_MAX);
	if (err) {
		pr_err("%s\n", msg[0] ? msg : "bad remount options");
		goto out;
	}
	if (!nrs)
		goto out;	/* nothing changes */
	new = au_brs_new(nrs, m, old->gen + 1);
	if (IS_ERR(new)) {
		err = PTR_ERR(new);
		new = NULL;
		goto out;
	}
	err = -EINVAL;
	if (au_stack_depth(new) > sb->s_stack_depth) {
		pr_err("remount: a new branch is stacked too deep for this mount\n");
		goto out;
	}
	au_sbwatch(si, new);

	down_write(&si->rwsem);
	err = au_remount_busy(sb, old, new);
	if (!err)
		err = au_root_refresh(sb, new);
	if (!err)
		rcu_assign_pointer(si->brs, new);	/* the mount's reference */
	up_write(&si->rwsem);
	if (err)
		goto out;
	au_brs_put(old);	/* the mount's reference */
	new = NULL;
	au_sbwatch_prune(si);

	rdi = au_di_get(sb->s_root);
	if (rdi)
		au_notify_watch(d_inode(sb->s_root), rdi);
	au_di_put(rdi);
	nofs = au_xino_lock(si);
	for (i = 0; i < old->nbr; i++)
		if (au_brs_index(rcu_dereference_protected(si->brs, 1), old->br[i].id) < 0)
			au_rs_xino_forget_branch(si->xino, old->br[i].id);
	au_xino_unlock(si, nofs);
	err = au_sysfs_refresh(si);
	if (err)
		pr_warn("remount: /sys/fs/aufs/si_%lx not rebuilt (%d)\n", si->id, err);
	err = 0;
out:
	au_brs_put(old);
	if (new)
		au_brs_put(new);
	au_mctx_free(m);
	kfree(msg);
	return err;
}

/*
 * syncfs(2), sync -f, and freezing the union reach the writable branches
 * (the only ones the union writes to), each filesystem once.
 */
static int au_sync_fs(struct super_block *sb, int wait)
{
	struct au_brset *brs;
	struct super_block *h_sb;
	unsigned int i, j;
	int err = 0, e;

	if (!wait)
		return 0;	/* the second, waiting pass does the work */
	brs = au_brs_get(AU_SB(sb));
	for (i = 0; i < brs->nbr; i++) {
		if (!au_rs_write_in_place(brs->rs, i))
			continue;
		h_sb = brs->br[i].path.mnt->mnt_sb;
		for (j = 0; j < i; j++)
			if (brs->br[j].path.mnt->mnt_sb == h_sb &&
			    au_rs_write_in_place(brs->rs, j))
				break;
		if (j < i)
			continue;	/* synced already */
		down_read(&h_sb->s_umount);
		e = sync_filesystem(h_sb);
		up_read(&h_sb->s_umount);
		if (e && !err)
			err = e;
	}
	au_brs_put(brs);
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
	mutex_init(&si->fsn_mtx);
	init_rwsem(&si->rwsem);
	atomic64_set(&si->next_id, 0);
	atomic64_set(&si->brgen, 1);	/* an info's 0 never matches */
	atomic64_set(&si->attrgen, 0);
	si->cred = prepare_creds();
	if (!si->cred) {
		kfree(si);
		return NULL;
	}
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

static struct dentry *au_make_root(struct super_block *sb, struct au_brset *brs)
{
	struct au_dinfo *di;
	struct inode *inode;
	struct dentry *root;
	unsigned int i;

	di = au_di_alloc(brs, brs->nbr);
	if (!di)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < brs->nbr; i++) {
		di->lower[i].dentry = dget(brs->br[i].path.dentry);
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
	au_notify_watch(inode, di);
	return root;
}

int au_fill_super(struct super_block *sb, void *data, int silent)
{
	struct au_sbinfo *si;
	struct au_brset *brs;
	struct au_rs_sb *rs = NULL;
	struct au_mount_req req;
	struct au_mctx *m;
	struct dentry *root;
	char *msg;
	int err;

	si = au_si_alloc(sb);
	m = au_mctx_alloc();
	msg = kzalloc(AU_MSG_MAX, GFP_KERNEL);
	err = -ENOMEM;
	if (!si || !m || !msg) {
		if (si)
			au_si_put(si);	/* its credentials and table too */
		goto out;
	}
	sb->s_fs_info = si;
	au_mount_target(&m->target);

	req = (struct au_mount_req){
		.data = data, .len = data ? strnlen(data, PAGE_SIZE) : 0,
		.rdonly = sb_rdonly(sb), .mctx = m,
	};
	err = au_rs_sb_new(&req, &rs, msg, AU_MSG_MAX);
	if (err) {
		pr_err("%s\n", msg[0] ? msg : "bad mount options");
		goto out;
	}
	brs = au_brs_new(rs, m, 0);
	if (IS_ERR(brs)) {
		err = PTR_ERR(brs);
		goto out;
	}
	au_sbwatch(si, brs);
	rcu_assign_pointer(si->brs, brs);	/* the mount's reference */

	sb->s_stack_depth = au_stack_depth(brs);
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

	root = au_make_root(sb, brs);
	if (IS_ERR(root)) {
		err = PTR_ERR(root);
		goto out;
	}
	sb->s_root = root;
	err = au_sysfs_add(si);
	/* on error, mount_nodev calls au_kill_sb, which releases everything */
out:
	au_mctx_free(m);
	kfree(msg);
	return err;
}
