// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: the shared objects every other file stands on.  Branch sets
 * (struct au_brset) and dentry infos (struct au_dinfo): made, referenced,
 * installed and put here; the stamp of a directory info's branch
 * directories (udba=reval); and the inode number table's callers, which
 * make its room outside its lock.  Nothing here calls into another file of the
 * shim: refreshing an info after a branch change needs a lookup, and that
 * is namei.c's (au_di_get()).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/rcupdate.h>
#include <linux/slab.h>
#include "aufs.h"

/* ---- branch sets ---- */

static void au_brs_free_rcu(struct rcu_head *rcu)
{
	struct au_brset *brs = container_of(rcu, struct au_brset, rcu);

	au_rs_sb_free(brs->rs);		/* kvfree() only: fine here */
	kfree(brs);
}

static void au_brs_release(struct kref *kref)
{
	struct au_brset *brs = container_of(kref, struct au_brset, kref);
	unsigned int i;

	for (i = 0; i < brs->nbr; i++)
		path_put(&brs->br[i].path);
	/*
	 * Lock-free readers may still look at it and ask its core for policy
	 * (au_brs_get(), RCU path walk): both go after a grace period.
	 */
	call_rcu(&brs->rcu, au_brs_free_rcu);
}

void au_brs_put(struct au_brset *brs)
{
	kref_put(&brs->kref, au_brs_release);
}

/* The current branch set, referenced. */
struct au_brset *au_brs_get(struct au_sbinfo *si)
{
	struct au_brset *brs;

	rcu_read_lock();
	do {
		brs = rcu_dereference(si->brs);
	} while (!kref_get_unless_zero(&brs->kref));
	rcu_read_unlock();
	return brs;
}

/* Index of the branch with id @id in @brs, or -1. */
int au_brs_index(struct au_brset *brs, unsigned int id)
{
	unsigned int i;

	for (i = 0; i < brs->nbr; i++)
		if (brs->br[i].id == id)
			return i;
	return -1;
}

/* ---- dentry infos ---- */

struct au_dinfo *au_di_alloc(struct au_brset *brs, unsigned int nlower)
{
	struct au_dinfo *di;

	di = kzalloc(struct_size(di, lower, nlower), GFP_KERNEL);
	if (!di)
		return NULL;
	kref_init(&di->kref);
	kref_get(&brs->kref);
	di->brs = brs;
	di->nlower = nlower;
	di->bopaque = di->bwh = di->bneg = -1;
	return di;
}

/* An info with the one entry @h (its reference goes in) on branch @bindex;
 * on failure @h is put. */
struct au_dinfo *au_di_one(struct au_brset *brs, struct dentry *h, unsigned int bindex)
{
	struct au_dinfo *di = au_di_alloc(brs, 1);

	if (!di) {
		dput(h);
		return NULL;
	}
	di->lower[0].dentry = h;
	di->lower[0].bindex = bindex;
	return di;
}

static void au_di_release(struct kref *kref)
{
	struct au_dinfo *di = container_of(kref, struct au_dinfo, kref);
	unsigned int i;

	for (i = 0; i < di->nlower; i++)
		dput(di->lower[i].dentry);
	au_brs_put(di->brs);
	kfree_rcu(di, rcu);	/* RCU path walk may be reading it */
}

void au_di_put(struct au_dinfo *di)
{
	if (di)
		kref_put(&di->kref, au_di_release);
}

/* A reference to the dentry's info as it is, or NULL. */
struct au_dinfo *au_di_get_raw(struct dentry *dentry)
{
	struct au_dinfo *di;

	spin_lock(&dentry->d_lock);
	di = dentry->d_fsdata;
	if (di)
		kref_get(&di->kref);
	spin_unlock(&dentry->d_lock);
	return di;
}

/* Install @di (its reference goes to the dentry); the old one is put. */
void au_di_set(struct dentry *dentry, struct au_dinfo *di)
{
	struct au_dinfo *old;

	spin_lock(&dentry->d_lock);
	old = dentry->d_fsdata;
	dentry->d_fsdata = di;
	spin_unlock(&dentry->d_lock);
	au_di_put(old);
}

bool au_di_is_current(struct au_sbinfo *si, struct au_dinfo *di)
{
	return di && di->brs == rcu_access_pointer(si->brs);
}

/* ---- udba=reval: stamps of branch directories ---- */

static inline u64 au_mix(u64 h, u64 v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

/*
 * A stamp of the branch directories of @di: which inodes they are and
 * their change times (every entry made, removed or renamed in a directory
 * changes its ctime; nobody can set a ctime back).  False when no stamp
 * can stand for them: a directory gone, a filesystem that revalidates its
 * own dentries (its attributes may be old), or a change time so recent
 * that a second change in the same clock tick would leave it as it is.
 * Lock-free, no sleeping: RCU path walk calls it (the dinfo, its dentries
 * and their inodes are freed after a grace period).
 */
bool au_dirs_stamp(struct au_dinfo *di, u64 *stamp)
{
	struct timespec64 now;
	u64 h = di->nlower;
	unsigned int i;

	ktime_get_coarse_real_ts64(&now);
	for (i = 0; i < di->nlower; i++) {
		struct dentry *d = di->lower[i].dentry;
		struct inode *h_inode = d_inode_rcu(d);
		struct timespec64 ct;
		time64_t sec;
		long nsec;
		s64 age;

		if (!h_inode || d_unhashed(d) ||
		    (READ_ONCE(d->d_flags) & DCACHE_OP_REVALIDATE))
			return false;
		/*
		 * Read once (a change may be writing it meanwhile): the
		 * barrier keeps the compiler from reading it again later.
		 */
		ct = au_inode_ctime(h_inode);
		barrier();
		sec = ct.tv_sec;
		nsec = ct.tv_nsec;
		if (now.tv_sec - sec < 2) {
			age = (now.tv_sec - sec) * NSEC_PER_SEC + now.tv_nsec - nsec;
			if (age < 2 * (s64)TICK_NSEC)
				return false;
		}
		h = au_mix(h, (unsigned long)h_inode);
		h = au_mix(h, sec);
		h = au_mix(h, nsec);
	}
	*stamp = h;
	return true;
}

/* Index in @di of the entry on branch @t, or -1. */
int au_di_find(struct au_dinfo *di, unsigned int t)
{
	unsigned int i;

	for (i = 0; i < di->nlower; i++)
		if (di->lower[i].bindex == t)
			return i;
	return -1;
}

/* ---- inode numbers ---- */

/*
 * Make room in the inode number table after an insertion found it full.
 * The room is allocated without xino_mtx: memory reclaim evicts union
 * inodes, and au_evict_inode() takes it.
 */
static int au_xino_grow(struct au_sbinfo *si)
{
	struct au_rs_xino_spare *spare;
	unsigned int nofs;
	u64 cap;

	nofs = au_xino_lock(si);
	cap = au_rs_xino_room(si->xino);
	au_xino_unlock(si, nofs);
	if (!cap)
		return 0;	/* another caller made room meanwhile */
	spare = au_rs_xino_spare(cap);
	if (!spare)
		return -ENOMEM;
	nofs = au_xino_lock(si);
	au_rs_xino_adopt(si->xino, spare);
	au_xino_unlock(si, nofs);
	return 0;
}

/*
 * One insertion-or-lookup in the table under xino_mtx (@keep: record @*ino
 * for a copy-up; else find or make the number of @h_ino), tried again
 * after making room while the table is full.
 */
static int au_xino_do(struct au_sbinfo *si, bool keep, unsigned int brid,
		      u64 h_ino, u64 *ino)
{
	unsigned int nofs;
	int err;

	do {
		nofs = au_xino_lock(si);
		if (keep)
			err = au_rs_ino_keep(si->xino, brid, h_ino, *ino);
		else
			err = au_rs_ino(si->xino, brid, h_ino, ino);
		au_xino_unlock(si, nofs);
	} while (err == -EAGAIN && !(err = au_xino_grow(si)));
	return err;
}

/* The union number of lower inode @h_ino on the branch with id @brid. */
int au_ino(struct au_sbinfo *si, unsigned int brid, u64 h_ino, u64 *ino)
{
	return au_xino_do(si, false, brid, h_ino, ino);
}

/* After a copy-up: lower inode @h_ino on branch @brid is union inode @ino. */
int au_ino_keep(struct au_sbinfo *si, unsigned int brid, u64 h_ino, u64 ino)
{
	return au_xino_do(si, true, brid, h_ino, &ino);
}
