// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: inodes.  A union inode mirrors the attributes of the topmost lower
 * inode; its number comes from the core (src/xino.rs): derived from the
 * lower number, kept across copy-up and cache eviction.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/namei.h>
#include <linux/posix_acl.h>
#include <linux/slab.h>
#include <linux/xattr.h>
#include "aufs.h"
#include <linux/fileattr.h>	/* needs linux/fs.h first */

struct kmem_cache *au_inode_cachep;

struct inode *au_alloc_inode(struct super_block *sb)
{
	struct au_inode *ai = alloc_inode_sb(sb, au_inode_cachep, GFP_KERNEL);

	if (!ai)
		return NULL;
	ai->h_inode = NULL;
	ai->h_prev = NULL;
	ai->pins = NULL;
	spin_lock_init(&ai->pin_lock);
	ai->plink.dentry = NULL;
	ai->plink.mnt = NULL;
	ai->brid = ai->prev_brid = 0;
	ai->w = NULL;
	ai->rdc = NULL;
	atomic_set(&ai->misses, 0);
	seqlock_init(&ai->perm_lock);
	ai->perm_cred = NULL;
	ai->perm_granted = 0;
	return &ai->vfs_inode;
}

void au_free_inode(struct inode *inode)
{
	kmem_cache_free(au_inode_cachep, AU_I(inode));
}

void au_evict_inode(struct inode *inode)
{
	struct au_sbinfo *si = AU_SB(inode->i_sb);
	struct au_inode *ai = AU_I(inode);
	unsigned int nofs;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	au_notify_unwatch(inode);
	au_rdcache_drop(inode);
	if (ai->h_inode) {
		/* The table forgets what cannot be asked for again. */
		nofs = au_xino_lock(si);
		au_rs_ino_evicted(si->xino, ai->brid, ai->h_inode->i_ino,
				  ai->h_inode->i_nlink);
		au_xino_unlock(si, nofs);
	}
	iput(ai->h_inode);
	iput(ai->h_prev);
	ai->h_inode = NULL;
	ai->h_prev = NULL;
	if (ai->plink.dentry) {
		path_put(&ai->plink);
		ai->plink.dentry = NULL;
	}
	if (ai->perm_cred) {
		put_cred(ai->perm_cred);
		ai->perm_cred = NULL;
	}
	while (ai->pins) {
		struct au_hpin *p = ai->pins;

		ai->pins = p->next;
		path_put(&p->path);
		kfree(p);
	}
}

/*
 * Pin @h (the real file about to be opened for @inode, on the branch with
 * id @brid): see struct au_hpin.  Each real path once.
 */
int au_pin_real(struct inode *inode, const struct path *h, unsigned int brid)
{
	struct au_inode *ai = AU_I(inode);
	struct au_hpin *p, *n;

	for (p = smp_load_acquire(&ai->pins); p; p = p->next)
		if (path_equal(&p->path, h))
			return 0;
	n = kmalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;
	n->path = *h;
	n->brid = brid;
	spin_lock(&ai->pin_lock);
	for (p = ai->pins; p; p = p->next)
		if (path_equal(&p->path, h))
			break;
	if (!p) {
		path_get(&n->path);
		n->next = ai->pins;
		smp_store_release(&ai->pins, n);
		n = NULL;
	}
	spin_unlock(&ai->pin_lock);
	kfree(n);
	return 0;
}

/*
 * The pseudo-link of the object @di stands for (plink), if it has one:
 * 1 with @pl referenced, 0, or -errno.  The core decides which objects
 * have one (src/plink.rs).
 */
int au_plink_find(struct au_sbinfo *si, struct au_dinfo *di, struct path *pl,
		  unsigned int *bindex)
{
	struct au_ctx ctx = au_ctx(si, di->brs);
	void *d = NULL;
	u32 pb = 0;
	int r;

	r = au_rs_plink_find(di->brs->rs, &ctx, di->lower, di->nlower, &d, &pb);
	if (r <= 0)
		return r;
	pl->dentry = d;
	pl->mnt = mntget(di->brs->br[pb].path.mnt);
	*bindex = pb;
	return 1;
}

/* Give @inode its pseudo-link @pl (the reference passes), unless it has one. */
void au_plink_set(struct inode *inode, struct path *pl)
{
	struct au_inode *ai = AU_I(inode);
	bool used = false;

	spin_lock(&inode->i_lock);
	if (!ai->plink.dentry) {
		ai->plink.mnt = pl->mnt;
		smp_store_release(&ai->plink.dentry, pl->dentry);
		used = true;
	}
	spin_unlock(&inode->i_lock);
	if (!used)
		path_put(pl);
}

/*
 * The entry whose attributes @dentry shows: its topmost, or, for a name of
 * a plinked file that is not linked up yet (its topmost entry is not
 * written in place), the pseudo-link.  Not referenced: @di, or the union
 * inode, holds it.  Returns the index of its branch in @di->brs.
 */
unsigned int au_meta_path(struct dentry *dentry, struct au_dinfo *di, struct path *p)
{
	struct au_inode *ai = AU_I(d_inode(dentry));
	struct dentry *pl = smp_load_acquire(&ai->plink.dentry);
	unsigned int i;

	if (pl && d_is_reg(dentry) &&
	    !au_rs_write_in_place(di->brs->rs, di->lower[0].bindex)) {
		/* only while its branch is one of the union's (remount del) */
		for (i = 0; i < di->brs->nbr; i++)
			if (di->brs->br[i].path.mnt == ai->plink.mnt &&
			    au_rs_write_in_place(di->brs->rs, i)) {
				p->dentry = pl;
				p->mnt = ai->plink.mnt;
				return i;
			}
	}
	au_h_path(di, 0, p);
	return di->lower[0].bindex;
}

/*
 * The entry whose data @dentry shows: a metacopy's data entry, else as
 * au_meta_path().
 */
unsigned int au_data_path(struct dentry *dentry, struct au_dinfo *di, struct path *p)
{
	if (!au_di_metacopy(di))
		return au_meta_path(dentry, di, p);
	au_h_path(di, di->nlower - 1, p);
	return di->lower[di->nlower - 1].bindex;
}

/*
 * ->d_real: the real dentry behind union dentry @dentry (compat.h says
 * what the kernel asks for).  The one of a given real inode (older
 * kernels' file_dentry() of a real file opened with the union path):
 * that file's, pinned when it was opened.  A dentry's data or metadata
 * (newer kernels; older ones ask for the data with no inode): its data
 * entry (a metacopy's is its last, on a lower branch) or the entry its
 * attributes are on, au_data_path() or au_meta_path(); pinned on the
 * union inode, as the caller uses it without a reference while it holds
 * @dentry, and asked in turn, for a branch on a stacked filesystem.
 * Anything else, and a non-regular file, is the union dentry itself.
 */
struct dentry *au_d_real(struct dentry *dentry, au_d_real_t type)
{
	const struct inode *inode = au_d_real_inode(type);
	struct inode *ui = d_inode(dentry);
	struct au_dinfo *di;
	struct au_hpin *p;
	struct path h;
	unsigned int i;
	int err;

	if (!ui || inode == ui || !S_ISREG(ui->i_mode))
		return dentry;
	if (inode) {
		for (p = smp_load_acquire(&AU_I(ui)->pins); p; p = p->next)
			if (d_inode(p->path.dentry) == inode)
				return p->path.dentry;
		pr_warn_ratelimited("no real dentry of %pd for inode %lu\n",
				    dentry, inode->i_ino);
		return dentry;
	}
	/* the entries as they are: no lookup (a refresh) here */
	di = au_di_get_raw(dentry);
	if (!di || !di->nlower) {
		au_di_put(di);
		return dentry;
	}
	i = au_d_real_meta(type) ? au_meta_path(dentry, di, &h) :
				   au_data_path(dentry, di, &h);
	err = au_pin_real(ui, &h, di->brs->br[i].id);
	au_di_put(di);
	if (err)
		return dentry;
	return d_real(h.dentry, type);
}

static bool au_ts_same(struct timespec64 a, struct timespec64 b)
{
	return timespec64_equal(&a, &b);
}

/* Does @inode show the attributes of @h_inode already (au_cpattr())? */
static bool au_attr_same(struct inode *inode, struct inode *h_inode)
{
	return !((inode->i_mode ^ h_inode->i_mode) & ~S_IFMT) &&
	       uid_eq(inode->i_uid, h_inode->i_uid) &&
	       gid_eq(inode->i_gid, h_inode->i_gid) &&
	       au_ts_same(au_inode_atime(inode), au_inode_atime(h_inode)) &&
	       au_ts_same(au_inode_mtime(inode), au_inode_mtime(h_inode)) &&
	       au_ts_same(au_inode_ctime(inode), au_inode_ctime(h_inode)) &&
	       inode->i_blkbits == h_inode->i_blkbits &&
	       (inode->i_nlink == h_inode->i_nlink || !inode->i_nlink) &&
	       i_size_read(inode) == i_size_read(h_inode) &&
	       inode->i_blocks == h_inode->i_blocks &&
	       !((inode->i_flags ^ h_inode->i_flags) & (S_APPEND | S_IMMUTABLE));
}

/*
 * Copy the attributes users see from the lower inode.  Many paths do it at
 * once, RCU path walk's permission check among them: a union inode that
 * shows them already is not written at all (the common case: no shared
 * cache line dirtied), and writers take i_lock, so two never interleave.
 * The chattr bits change atomically (inode_set_flags()): the VFS sets and
 * clears S_NOSEC in the same word without i_lock.
 */
void au_cpattr(struct inode *inode, struct inode *h_inode)
{
	if (data_race(au_attr_same(inode, h_inode)))
		return;
	spin_lock(&inode->i_lock);
	inode->i_mode = (inode->i_mode & S_IFMT) | (h_inode->i_mode & ~S_IFMT);
	inode->i_uid = h_inode->i_uid;
	inode->i_gid = h_inode->i_gid;
	au_inode_set_atime(inode, au_inode_atime(h_inode));
	au_inode_set_mtime(inode, au_inode_mtime(h_inode));
	au_inode_set_ctime(inode, au_inode_ctime(h_inode));
	inode->i_blkbits = h_inode->i_blkbits;
	/* An unlinked union inode (whited out while open) stays unlinked. */
	if (inode->i_nlink || !h_inode->i_nlink)
		set_nlink(inode, h_inode->i_nlink);
	i_size_write(inode, i_size_read(h_inode));
	inode->i_blocks = h_inode->i_blocks;
	spin_unlock(&inode->i_lock);
	inode_set_flags(inode, h_inode->i_flags & (S_APPEND | S_IMMUTABLE),
			S_APPEND | S_IMMUTABLE);
}

/* Point the union inode at its new topmost entry (under its cpup_mtx). */
void au_inode_retop(struct inode *inode, struct au_dinfo *di, u64 ino)
{
	struct au_inode *ai = AU_I(inode);
	struct inode *h_inode = d_inode(di->lower[0].dentry);
	struct inode *drop;

	spin_lock(&inode->i_lock);
	drop = ai->h_prev;
	ai->h_prev = ai->h_inode;
	ai->prev_brid = ai->brid;
	ai->h_inode = igrab(h_inode);
	ai->brid = au_di_brid(di, 0);
	inode->i_ino = ino;
	spin_unlock(&inode->i_lock);
	iput(drop);
	au_cpattr(inode, h_inode);
}

/* The topmost lower inode, referenced (copy-up may replace it any time). */
static struct inode *au_h_inode_get(struct inode *inode)
{
	struct inode *h_inode;

	spin_lock(&inode->i_lock);
	h_inode = AU_I(inode)->h_inode;
	if (h_inode)
		ihold(h_inode);
	spin_unlock(&inode->i_lock);
	return h_inode;
}

/*
 * A directory's read and search permission is checked on every branch it
 * is on (aufs's default; with dirperm1 the topmost only: the core says
 * which), on the real lower inodes, so a lower directory's mode, its
 * filesystem's ->permission and the LSMs count, whatever the dcache holds.
 * In RCU path walk (MAY_NOT_BLOCK) without references: the directory's one
 * dentry, its info and the lower inodes are freed after a grace period.
 * @generic: every lower directory decides by the generic rules (no
 * ->permission of its own), so its answer can only change with its
 * attributes (au_perm_remember()).
 */
static int au_di_lower_permission(struct au_dinfo *di, int mask, bool *generic)
{
	unsigned int i;
	int err = 0;

	*generic = true;
	/* referenced or not, a lower directory's dentry stays positive here */
	for (i = 1; i < di->nlower && !err; i++) {
		struct inode *h = d_inode_rcu(di->lower[i].dentry);
		struct vfsmount *mnt = di->brs->br[di->lower[i].bindex].path.mnt;

		if (!h)
			return -ECHILD;
		*generic &= !h->i_op->permission;
		err = inode_permission(au_mnt_idmap(mnt), h, mask);
	}
	return err;
}

/*
 * The count a remembered permission answer is good for: it moves with
 * every create, delete, move or attribute change on a branch filesystem.
 * -1 (nothing is remembered, nothing recalled) when they are not all
 * watched, or when @di may not be what the branches hold now: a
 * directory's info (but the root's, the branch roots) must have matched
 * the branches at this count (namei.c), or a lower directory made since
 * would be missing from the answer kept.  Read before the checks it
 * stands for.
 */
static s64 au_perm_gen(struct au_sbinfo *si, struct dentry *dentry,
		       struct au_dinfo *di)
{
	s64 br;

	if (!di->brs->sbwatched)
		return -1;
	br = atomic64_read(&si->brgen);
	if (!IS_ROOT(dentry) && (!di->pstamp_ok || !di->ostamp_ok ||
				 READ_ONCE(di->brgen) != br))
		return -1;
	return br + atomic64_read(&si->attrgen);
}

/* Did the checks grant @mask to the caller at @gen, as far as we know? */
static bool au_perm_known(struct au_inode *ai, struct au_dinfo *di, s64 gen, int mask)
{
	unsigned int seq;
	bool hit;

	if (gen < 0)
		return false;
	do {
		seq = read_seqbegin(&ai->perm_lock);
		hit = ai->perm_cred == current_cred() && ai->perm_gen == gen &&
		      ai->perm_brs == di->brs->gen &&
		      (ai->perm_granted & mask) == mask;
	} while (read_seqretry(&ai->perm_lock, seq));
	return hit;
}

/*
 * Remember that the checks granted @mask to the caller at @gen.  Only an
 * answer of the generic rules, which only attribute changes can change:
 * an LSM's may also change with its policy, which is then seen after the
 * next change on a branch filesystem (or the next remount).  Also in RCU
 * path walk: credentials put there are freed after a grace period (once
 * get_cred() took them, even access(2)'s), never at once.
 */
static void au_perm_remember(struct au_inode *ai, struct au_dinfo *di, s64 gen,
			     int mask)
{
	const struct cred *cred = current_cred(), *old;

	if (gen < 0)
		return;
	write_seqlock(&ai->perm_lock);
	old = ai->perm_cred;
	if (old == cred && ai->perm_gen == gen && ai->perm_brs == di->brs->gen) {
		ai->perm_granted |= mask;
	} else {
		ai->perm_cred = old == cred ? cred : get_cred(cred);
		ai->perm_gen = gen;
		ai->perm_brs = di->brs->gen;
		ai->perm_granted = mask;
	}
	write_sequnlock(&ai->perm_lock);
	if (old && old != cred)
		put_cred(old);
}

/*
 * The lower checks of directory @inode (its dentry @alias, its info @di),
 * or what they gave last time, for the same credentials, while nothing
 * changed on any branch filesystem: at any depth, a directory walked again
 * costs what a bare one does.
 */
static int au_dir_lower_check(struct inode *inode, struct dentry *alias,
			      struct au_dinfo *di, int mask)
{
	struct au_inode *ai = AU_I(inode);
	int want = mask & (MAY_READ | MAY_EXEC);
	s64 gen = au_perm_gen(AU_SB(inode->i_sb), alias, di);
	bool generic;
	int err;

	if (au_perm_known(ai, di, gen, want))
		return 0;
	err = au_di_lower_permission(di, mask, &generic);
	if (!err && generic)
		au_perm_remember(ai, di, gen, want);
	return err;
}

static int au_dir_lower_permission(struct inode *inode, int mask)
{
	struct au_dinfo *di;
	struct dentry *alias;
	int err = 0;

	if (mask & MAY_NOT_BLOCK) {
		struct hlist_node *n = READ_ONCE(inode->i_dentry.first);

		alias = n ? hlist_entry(n, struct dentry, d_u.d_alias) : NULL;
		di = alias ? READ_ONCE(alias->d_fsdata) : NULL;
		/* an info of an older branch set is refreshed in ref-walk */
		if (!di || di->brs != rcu_access_pointer(AU_SB(inode->i_sb)->brs))
			return -ECHILD;
		return au_dir_lower_check(inode, alias, di, mask);
	}
	alias = d_find_any_alias(inode);	/* a directory has one */
	if (!alias)
		return 0;
	di = au_di_get_positive(alias);
	if (di)
		err = au_dir_lower_check(inode, alias, di, mask);
	au_di_put(di);
	dput(alias);
	return err;
}

/*
 * What the core says about a union inode's topmost entry, now, and the
 * idmap of its branch's mount (a branch's never changes: only a mount not
 * yet attached may be idmapped).
 */
static void au_perm_policy(struct inode *inode, int mask, bool *in_place, bool *all,
			   au_idmap **h_idmap)
{
	struct au_sbinfo *si = AU_SB(inode->i_sb);
	struct au_brset *brs;
	int i;

	rcu_read_lock();
	brs = rcu_dereference(si->brs);
	i = au_brs_index(brs, READ_ONCE(AU_I(inode)->brid));
	*in_place = i >= 0 && au_rs_write_in_place(brs->rs, i);
	*h_idmap = i >= 0 ? au_mnt_idmap(brs->br[i].path.mnt) : AU_NOP_IDMAP;
	*all = S_ISDIR(inode->i_mode) &&
	       au_rs_perm_all(brs->rs, 1, !!(mask & (MAY_WRITE | MAY_APPEND)));
	rcu_read_unlock();
}

/*
 * Permission: the union inode's attributes (the topmost entry's), then the
 * real inodes.  Works in RCU path walk too (MAY_NOT_BLOCK): the topmost
 * real inode is read without a reference (inodes are freed after a grace
 * period, and a copy-up keeps the one before it until the union inode
 * goes), and the lower filesystems and LSMs get MAY_NOT_BLOCK as well.
 */
int au_permission(au_idmap *idmap, struct inode *inode, int mask)
{
	struct inode *h_inode;
	int err, h_mask = mask & ~MAY_NOT_BLOCK, nb = mask & MAY_NOT_BLOCK;
	bool in_place, all;
	au_idmap *h_idmap;

	au_perm_policy(inode, h_mask, &in_place, &all, &h_idmap);
	if (nb) {
		h_inode = READ_ONCE(AU_I(inode)->h_inode);
		if (!h_inode)
			return -ECHILD;
	} else {
		h_inode = au_h_inode_get(inode);
		if (!h_inode)
			return -ESTALE;
	}
	au_cpattr(inode, h_inode);
	err = generic_permission(idmap, inode, mask);
	/*
	 * The topmost real inode too: its filesystem and the LSMs have their
	 * say.  A write to an entry on a read-only branch goes to a copy made
	 * by the union, so the branch is not asked for write access there.
	 */
	if (!err && (h_mask & (MAY_WRITE | MAY_APPEND)) && !in_place &&
	    !special_file(h_inode->i_mode))
		h_mask &= ~(MAY_WRITE | MAY_APPEND);
	if (!err)
		err = inode_permission(h_idmap, h_inode, h_mask | nb);
	if (!nb)
		iput(h_inode);
	if (!err && all)
		err = au_dir_lower_permission(inode, (h_mask & (MAY_READ | MAY_EXEC)) | nb);
	return err;
}

int au_getattr(au_idmap *idmap, const struct path *path,
	       struct kstat *stat, u32 request_mask, unsigned int flags)
{
	struct dentry *dentry = path->dentry;
	struct inode *inode = d_inode(dentry);
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct path h_path;
	int err;

	if (!di)
		return -ESTALE;
	au_meta_path(dentry, di, &h_path);
	err = au_h_getattr(&h_path, stat, request_mask, flags);
	if (!err)
		au_cpattr(inode, d_inode(h_path.dentry));
	if (!err && au_di_metacopy(di)) {
		/* What the data takes is the data's (a metacopy holds a hole). */
		struct kstat ds;

		au_data_path(dentry, di, &h_path);
		err = au_h_getattr(&h_path, &ds, STATX_SIZE | STATX_BLOCKS, flags);
		stat->size = ds.size;
		stat->blocks = ds.blocks;
	}
	au_di_put(di);
	if (err)
		return err;
	stat->nlink = inode->i_nlink;
	stat->dev = dentry->d_sb->s_dev;
	stat->ino = inode->i_ino;
	return 0;
}

/*
 * A change of @dentry's attributes (setattr, xattrs, chattr flags), made
 * by the caller after the checks, in a frame (nsop.c) that copies it up
 * as the cpup policy says (@trunc as for au_copy_up(); @meta_ok: the
 * change needs no data, see au_copy_up_meta()), then lends its topmost
 * entry, with write access to that branch.  au_change_end() ends it
 * (also after an error) and refreshes the union inode.
 */
static int au_change_begin(struct au_nsop *op, struct dentry *dentry,
			   loff_t trunc, bool meta_ok, struct path *h_path)
{
	int err;

	*op = (struct au_nsop){
		.tg = { { .dentry = dentry } },
		.ntg = 1,
		.up = { { .dentry = dentry, .trunc = trunc, .meta_ok = meta_ok } },
		.nup = 1,
		.obj = { dentry },
		.nobj = 1,
	};
	h_path->mnt = NULL;
	err = au_nsop_begin(op, dentry->d_sb);
	if (err)
		return err;
	au_h_path(op->di[0], 0, h_path);
	err = mnt_want_write(h_path->mnt);
	if (err)
		h_path->mnt = NULL;
	return err;
}

static void au_change_end(struct au_nsop *op, struct dentry *dentry,
			  struct path *h_path)
{
	if (h_path->mnt) {
		mnt_drop_write(h_path->mnt);
		au_cpattr(d_inode(dentry), d_inode(h_path->dentry));
	}
	au_nsop_end(op);
}

/*
 * Copy up as needed, then change the topmost entry as the caller; its
 * filesystem removes file capabilities from it (ATTR_KILL_PRIV).
 */
int au_setattr(au_idmap *idmap, struct dentry *dentry, struct iattr *ia)
{
	unsigned int kill = ia->ia_valid & ATTR_KILL_PRIV;
	struct iattr pia = *ia;
	struct au_nsop op;
	struct path h_path;
	int err;

	/*
	 * Whether the caller may make the change, on the union inode (it may
	 * also clear S_ISGID of a new mode).  Not the removal of file
	 * capabilities: through the union's own xattr handler that would
	 * enter the union again (the lock order in aufs.h); the branch
	 * filesystem removes them from the entry the change is made on.
	 */
	pia.ia_valid &= ~kill;
	err = setattr_prepare(idmap, dentry, &pia);
	if (err)
		return err;
	pia.ia_valid |= kill;
	err = au_change_begin(&op, dentry,
			      (pia.ia_valid & ATTR_SIZE) ? pia.ia_size : -1,
			      true, &h_path);
	if (!err) {
		pia.ia_valid &= ~ATTR_FILE;
		/* notify_change() does not take the kill bits together with a mode. */
		if (pia.ia_valid & (ATTR_KILL_SUID | ATTR_KILL_SGID))
			pia.ia_valid &= ~ATTR_MODE;
		err = au_h_setattr(&h_path, &pia);
	}
	au_change_end(&op, dentry, &h_path);
	return err;
}

/*
 * The target is copied: the lower link's text may live in its inode or a
 * page, which a copy-up may let go of while the VFS still walks the link.
 */
static const char *au_get_link(struct dentry *dentry, struct inode *inode,
			       struct delayed_call *done)
{
	struct au_dinfo *di;
	char *link;

	if (!dentry)
		return ERR_PTR(-ECHILD);
	di = au_di_get_positive(dentry);
	if (!di)
		return ERR_PTR(-ESTALE);
	link = au_h_get_link(di->lower[0].dentry);
	au_di_put(di);
	if (!IS_ERR(link))
		set_delayed_call(done, kfree_link, link);
	return link;
}

/* chattr flags: the topmost entry's; a change copies up first. */
int au_fileattr_get(struct dentry *dentry, struct fileattr *fa)
{
	struct au_dinfo *di = au_di_get_positive(dentry);
	int err;

	struct path p;

	if (!di)
		return -ESTALE;
	au_meta_path(dentry, di, &p);
	err = au_h_fileattr_get(p.dentry, fa);
	au_di_put(di);
	return err;
}

int au_fileattr_set(au_idmap *idmap, struct dentry *dentry, struct fileattr *fa)
{
	struct au_nsop op;
	struct path h_path;
	int err;

	/* The caller must be allowed before anything is copied. */
	if (!inode_owner_or_capable(idmap, d_inode(dentry)))
		return -EPERM;
	/* With the data: an append-only or immutable copy could not take it. */
	err = au_change_begin(&op, dentry, -1, false, &h_path);
	if (!err)
		err = au_h_fileattr_set(&h_path, fa);
	au_change_end(&op, dentry, &h_path);
	return err;
}

/*
 * POSIX ACLs are the topmost entry's.  They are not cached in the union
 * inode (ACL_DONT_CACHE), so a change through the union or on the branch
 * shows at once.  Permission checks ask for them (in RCU path walk too),
 * and so does getxattr(2) of system.posix_acl_* on kernels with ACL calls
 * of their own (compat.h's AU_IOP_ACL).
 */
struct posix_acl *au_get_acl(struct inode *inode, int type, bool rcu)
{
	struct inode *h_inode;
	struct posix_acl *acl;

	if (rcu)
		return ERR_PTR(-ECHILD);
	h_inode = au_h_inode_get(inode);
	if (!h_inode)
		return ERR_PTR(-ESTALE);
	acl = au_h_get_inode_acl(h_inode, type);
	iput(h_inode);
	return acl;
}

/*
 * setxattr(2) and removexattr(2) of system.posix_acl_* on kernels with ACL
 * calls of their own (else the xattr handler takes them): the VFS has
 * checked that the caller owns the file and that @acl is valid; a removal
 * needs one to exist.  As an xattr change: copied up as the cpup policy
 * says, then changed on the topmost entry.
 */
int au_set_acl(au_idmap *idmap, struct dentry *dentry, struct posix_acl *acl,
	       int type)
{
	struct au_nsop op;
	struct path h_path;
	int err;

	if (!acl) {
		struct posix_acl *cur = au_get_acl(d_inode(dentry), type, false);

		if (IS_ERR(cur))
			return PTR_ERR(cur);
		if (!cur)
			return -ENODATA;
		posix_acl_release(cur);
	}
	err = au_change_begin(&op, dentry, -1, true, &h_path);
	if (!err)
		err = au_h_set_acl(&h_path, type, acl);
	au_change_end(&op, dentry, &h_path);
	return err;
}

/* The topmost entry's xattrs, less the union's own (AU_XATTR_PRIVATE). */
ssize_t au_listxattr(struct dentry *dentry, char *list, size_t size)
{
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct path p;
	ssize_t ret, len;
	char *name;

	if (!di)
		return -ESTALE;
	au_meta_path(dentry, di, &p);
	ret = au_h_listxattr(p.dentry, list, size);
	au_di_put(di);
	if (ret <= 0 || !size)
		return ret;	/* a size asked for may count a hidden name */
	for (name = list; name < list + ret; ) {
		len = strnlen(name, list + ret - name) + 1;
		if (au_xattr_private(name)) {
			memmove(name, name + len, list + ret - (name + len));
			ret -= len;
		} else {
			name += len;
		}
	}
	return ret;
}

static const struct inode_operations au_file_iops = {
	.fileattr_get	= au_fileattr_get,
	.fileattr_set	= au_fileattr_set,
	.permission	= au_permission,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
	AU_IOP_ACL,
};

static const struct inode_operations au_symlink_iops = {
	.get_link	= au_get_link,
	.getattr	= au_getattr,
	.setattr	= au_setattr,
	.listxattr	= au_listxattr,
	AU_IOP_ACL,
};

static int au_xattr_get(const struct xattr_handler *handler,
			struct dentry *dentry, struct inode *inode,
			const char *name, void *buffer, size_t size)
{
	struct dentry *d;
	struct au_dinfo *di;
	int err = -ESTALE;

	if (au_xattr_private(name))
		return -EOPNOTSUPP;	/* the union's own, as overlayfs's */
	d = dentry ? dentry : d_find_any_alias(inode);
	if (!d)
		return -ESTALE;
	di = au_di_get_positive(d);
	if (di) {
		struct path p;

		au_meta_path(d, di, &p);
		err = au_h_getxattr(&p, name, buffer, size);
	}
	au_di_put(di);
	if (!dentry)
		dput(d);
	return err;
}

static int au_xattr_set(const struct xattr_handler *handler,
			au_idmap *idmap,
			struct dentry *dentry, struct inode *inode,
			const char *name, const void *value,
			size_t size, int flags)
{
	struct au_nsop op;
	struct path h_path;
	int err;

	/*
	 * Allowed and meaningful before anything is copied: the VFS checked
	 * user.*, trusted.* and security.* against the union inode; system.*
	 * (POSIX ACLs) is the owner's; a removal needs the name to exist.
	 */
	if (au_xattr_private(name))
		return -EOPNOTSUPP;
	if (!strncmp(name, XATTR_SYSTEM_PREFIX, XATTR_SYSTEM_PREFIX_LEN) &&
	    !inode_owner_or_capable(idmap, inode))
		return -EPERM;
	if (!value) {
		err = au_xattr_get(handler, dentry, inode, name, NULL, 0);
		if (err < 0)
			return err;
	}
	err = au_change_begin(&op, dentry, -1, true, &h_path);
	if (!err)
		err = au_h_setxattr(&h_path, name, value, size, flags);
	au_change_end(&op, dentry, &h_path);
	return err;
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

static void au_inode_fill(struct inode *inode, struct inode *h_inode,
			  unsigned int brid, u64 ino)
{
	inode->i_ino = ino;
	inode->i_acl = inode->i_default_acl = ACL_DONT_CACHE;
	AU_I(inode)->brid = brid;
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
}

/*
 * The union inode for a positive dinfo (its topmost entry decides).  Names
 * of one lower inode share a union inode unless the core says a copy-up
 * could make them different files (hard links on a read-only branch): then
 * each name gets an inode of its own, never found through the hash.
 * @ino: 0, or the number to use (the root's).
 */
static struct inode *__au_iget(struct super_block *sb, struct au_dinfo *di, u64 ino)
{
	struct au_sbinfo *si = AU_SB(sb);
	struct inode *h_inode = d_inode(di->lower[0].dentry);
	unsigned int brid = au_di_brid(di, 0);
	struct path pl = {};
	struct inode *inode;
	unsigned int pb;
	int err;

	/* A name of a plinked file stands for its pseudo-link's inode. */
	err = ino ? 0 : au_plink_find(si, di, &pl, &pb);
	if (err < 0)
		return ERR_PTR(err);
	if (err) {
		h_inode = d_inode(pl.dentry);
		brid = di->brs->br[pb].id;
	}
	if (!ino) {
		err = au_ino(si, brid, h_inode->i_ino, &ino);
		if (err)
			goto out;
	}
	if (!au_rs_share_inode(di->brs->rs, di->lower[0].bindex, S_ISDIR(h_inode->i_mode),
			       h_inode->i_nlink)) {
		inode = new_inode(sb);
		err = -ENOMEM;
		if (!inode)
			goto out;
		AU_I(inode)->h_inode = igrab(h_inode);
		if (!AU_I(inode)->h_inode) {
			iput(inode);
			err = -ESTALE;
			goto out;
		}
		au_inode_fill(inode, h_inode, brid, ino);
		goto done;
	}
	inode = iget5_locked(sb, ino, au_itest, au_iset, h_inode);
	err = -ENOMEM;
	if (!inode)
		goto out;
	if (!(inode->i_state & I_NEW)) {
		au_cpattr(inode, h_inode);
		goto done;
	}
	au_inode_fill(inode, h_inode, brid, ino);
	unlock_new_inode(inode);
done:
	if (pl.dentry)
		au_plink_set(inode, &pl);
	return inode;
out:
	if (pl.dentry)
		path_put(&pl);
	return ERR_PTR(err);
}

struct inode *au_iget(struct super_block *sb, struct au_dinfo *di)
{
	return __au_iget(sb, di, 0);
}

struct inode *au_iget_root(struct super_block *sb, struct au_dinfo *di)
{
	return __au_iget(sb, di, AUFS_ROOT_INO);
}

/* @inode's link count, as au_cpattr() writes it (under i_lock). */
static void au_set_nlink(struct inode *inode, unsigned int n)
{
	spin_lock(&inode->i_lock);
	set_nlink(inode, n);
	spin_unlock(&inode->i_lock);
}

/*
 * After @dentry's name went on branch @t (unlink, rmdir, rename over it):
 * an inode whose top entry was on @t now has the link count the branch
 * says; any other name of it lives on.  So do the other names of a lower
 * file whose names share the inode (plink): one link fewer, or the
 * pseudo-link's count.  An inode of this name alone, or one whose entry
 * was below @t (a whiteout hides it), has no links left.
 */
void au_gone(struct dentry *dentry, unsigned int t)
{
	struct inode *inode = d_inode(dentry);
	struct au_dinfo *di = au_di_get_positive(dentry);
	struct dentry *pl = smp_load_acquire(&AU_I(inode)->plink.dentry);

	if (di && di->lower[0].bindex == t && !d_is_dir(dentry))
		au_cpattr(inode, d_inode(di->lower[0].dentry));
	else if (pl)
		au_cpattr(inode, d_inode(pl));	/* other names live on */
	else if (di && !d_is_dir(dentry) && inode->i_nlink > 1 &&
		 au_rs_share_inode(di->brs->rs, di->lower[0].bindex, 0, inode->i_nlink))
		au_set_nlink(inode, inode->i_nlink - 1);	/* a lower hard link */
	else
		au_set_nlink(inode, 0);
	au_di_put(di);
}
