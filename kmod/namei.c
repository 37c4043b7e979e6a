// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: lookup and dentry operations (the branch primitives the core's
 * lookup is built on are in branch.c).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/xattr.h>
#include "aufs.h"

/*
 * udba=reval: does an entry of @dentry's type carry a stamp of its own
 * entries (a directory's branch directories; under metacopy a regular
 * file's entries, whose marker may be set or removed directly)?  The core
 * says.  Lock-free (RCU path walk).
 */
static bool au_di_own_stamp(struct au_dinfo *di, unsigned int dtype)
{
	return dtype == AU_DT_DIR ||
	       (dtype == AU_DT_REG && au_rs_stamp_own(di->brs->rs, AU_DT_REG));
}

static unsigned int au_dtype(struct dentry *dentry)
{
	return d_is_dir(dentry) ? AU_DT_DIR : d_is_reg(dentry) ? AU_DT_REG : AU_DT_UNKNOWN;
}

/* Do @di's branch directories still match @stamp (taken when @ok)? */
static bool au_dirs_same(struct au_dinfo *di, bool ok, u64 stamp)
{
	u64 now;

	return ok && au_dirs_stamp(di, &now) && now == stamp;
}

/*
 * A lookup in a directory on at least AU_LISTING_DIRS branches makes its
 * merged listing after AU_LISTING_MISSES lookups that had none: from then
 * on, while the directory does not change, a lookup asks one branch (or
 * none, for a name that is not there) instead of all (au_rs_lookup()).
 * Reading the branch directories once costs about as much as a few
 * lookups on each.
 */
#define AU_LISTING_DIRS		4
#define AU_LISTING_MISSES	8

/*
 * The entries of @name in the directory @pdi (union inode @pdir), as a new
 * info (maybe negative), with the parent's event count as it was before.
 */
static struct au_dinfo *au_di_lookup(struct au_sbinfo *si, struct au_dinfo *pdi,
				     struct inode *pdir, const struct qstr *name)
{
	long pgen = au_notify_gen(pdir);
	struct au_ctx ctx = au_ctx(si, pdi->brs);
	struct au_brset *brs = pdi->brs;
	struct au_lookup_out res = {};
	struct au_lookup_req req;
	struct au_lower *out;
	struct au_rdcache *rdc = NULL;
	struct au_dinfo *di;
	u64 pstamp = 0;
	bool pstamp_ok;
	s64 brgen, attrgen;
	int err;

	/*
	 * Before the lookup: a change while it runs shows next time.  The
	 * parent's own stamp is the same one if nothing changed on any branch
	 * filesystem since it last matched (a changed attribute of a branch
	 * directory would make it differ later: one comparison too many).
	 */
	brgen = atomic64_read(&si->brgen);
	attrgen = atomic64_read(&si->attrgen);
	if (brs->sbwatched && pdi->ostamp_ok && READ_ONCE(pdi->brgen) == brgen) {
		pstamp = pdi->ostamp;
		pstamp_ok = true;
	} else {
		pstamp_ok = au_dirs_stamp(pdi, &pstamp);
	}
	/*
	 * The parent's merged listing, if current, tells where the name is:
	 * one branch asked instead of all of them.  A directory on many
	 * branches gets one made after a few lookups without.
	 */
	if (pdir && S_ISDIR(pdir->i_mode))
		rdc = au_rdcache_get(pdir, pdi, pstamp_ok, pstamp,
				     pdi->nlower >= AU_LISTING_DIRS &&
				     atomic_inc_return(&AU_I(pdir)->misses) > AU_LISTING_MISSES);
	if (rdc)
		atomic_set(&AU_I(pdir)->misses, 0);
	out = kcalloc(brs->nbr, sizeof(*out), GFP_KERNEL);
	if (!out) {
		au_rdcache_put(rdc);
		return ERR_PTR(-ENOMEM);
	}
	req = (struct au_lookup_req){
		.parent = pdi->lower, .nparent = pdi->nlower,
		.name = name->name, .len = name->len,
		.listing = rdc ? au_rdcache_dir(rdc) : NULL,
	};
	err = au_rs_lookup(brs->rs, &ctx, &req, out, brs->nbr, &res);
	au_rdcache_put(rdc);
	if (err && res.why == AU_LOOKUP_NODATA)
		pr_warn_ratelimited("%.*s: metacopy without its data on a lower branch (removed or replaced there?)\n",
				    (int)name->len, name->name);
	else if (err && res.why == AU_LOOKUP_REFUSED)
		pr_warn_ratelimited("%.*s: refusing a metacopy (" AU_XATTR_METACOPY ") on a branch: the mount has no metacopy option\n",
				    (int)name->len, name->name);
	else if (err && res.why == AU_LOOKUP_BADREC)
		pr_warn_ratelimited("%.*s: refusing a malformed rename record (" AU_XATTR_DIRREN ") on a branch\n",
				    (int)name->len, name->name);
	if (err) {
		kfree(out);
		return ERR_PTR(err);
	}
	di = au_di_alloc(brs, res.nlower);
	if (!di) {
		while (res.nlower--)
			dput(out[res.nlower].dentry);
		kfree(out);
		return ERR_PTR(-ENOMEM);
	}
	memcpy(di->lower, out, res.nlower * sizeof(*out));
	kfree(out);
	di->bopaque = res.bopaque;
	di->bwh = res.bwh;
	di->bneg = res.bneg;
	di->pgen = pgen;
	di->pstamp = pstamp;
	di->pstamp_ok = pstamp_ok;
	di->brgen = brgen;
	/*
	 * A file's own stamp, after the lookup: a marker set meanwhile left
	 * a change time too recent to make one (au_dirs_stamp()).
	 */
	if (res.dtype == AU_DT_REG && au_di_own_stamp(di, AU_DT_REG)) {
		di->ostamp_ok = au_dirs_stamp(di, &di->ostamp);
		di->attrgen = attrgen;
	}
	return di;
}

/* The root's info for branch set @brs: every branch's root. */
static struct au_dinfo *au_di_root(struct au_brset *brs)
{
	struct au_dinfo *di = au_di_alloc(brs, brs->nbr);
	unsigned int i;

	if (!di)
		return NULL;
	for (i = 0; i < brs->nbr; i++) {
		di->lower[i].dentry = dget(brs->br[i].path.dentry);
		di->lower[i].bindex = i;
	}
	return di;
}

/*
 * Install @di in place of @old (the reference to @di goes to the dentry)
 * unless the dentry's info changed meanwhile (a copy-up, a concurrent
 * revalidation): that one is at least as new.  Whether it was installed.
 */
static bool au_di_replace(struct dentry *dentry, struct au_dinfo *old,
			  struct au_dinfo *di)
{
	bool ok;

	spin_lock(&dentry->d_lock);
	ok = dentry->d_fsdata == old;
	if (ok)
		dentry->d_fsdata = di;
	spin_unlock(&dentry->d_lock);
	au_di_put(ok ? old : di);
	return ok;
}

/*
 * Install @di (a new lookup of @dentry's name; its reference is taken) if
 * it fits the dentry: a negative one stays negative, a positive one keeps
 * its type; a file whose topmost entry is now another file, or anything
 * that no longer fits, is -ESTALE (d_revalidate then drops it and the VFS
 * looks it up anew).  A directory's inode follows its new topmost entry,
 * keeping its number (and the mounts on it).
 *
 * @expect (if not NULL) is the info @di was compared with.  A lookup made
 * before a copy-up of the dentry finished is older than what the copy-up
 * installed: if the dentry's info is no longer @expect, @di is dropped and
 * the dentry kept as it is.  The inode's topmost entry and branch are read
 * under its cpup_mtx (the copy-up changes both under it), so a copy-up
 * that ends between two reads never looks like another directory.
 */
static int au_di_update(struct dentry *dentry, struct au_dinfo *di,
			struct au_dinfo *expect)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct inode *inode = d_inode(dentry);
	struct au_inode *ai = inode ? AU_I(inode) : NULL;
	struct inode *h_inode;
	int err = -ESTALE;
	u64 ino;

	if (!inode != !di->nlower)
		goto out_di;
	if (inode) {
		struct dentry *pl = smp_load_acquire(&ai->plink.dentry);

		h_inode = d_inode(di->lower[0].dentry);
		if ((h_inode->i_mode ^ inode->i_mode) & S_IFMT)
			goto out_di;
		/* a name of a plinked file stands for the pseudo-link */
		if (pl && S_ISREG(inode->i_mode) &&
		    !au_rs_write_in_place(di->brs->rs, di->lower[0].bindex))
			h_inode = d_inode(pl);
		if (h_inode != READ_ONCE(ai->h_inode)) {
			mutex_lock(&ai->cpup_mtx);
			if (expect && READ_ONCE(dentry->d_fsdata) != expect) {
				/* a copy-up ended after our lookup */
				mutex_unlock(&ai->cpup_mtx);
				au_di_put(di);
				return 0;
			}
			err = 0;
			/*
			 * Only a directory follows, and only to another
			 * branch (copied up, or a branch added above it).
			 * Another directory on the same branch under this
			 * name is another object (replaced, or a rename
			 * onto it is in progress): its own union inode and
			 * number, not this one's; the dentry goes.
			 */
			if (h_inode == ai->h_inode)
				;
			else if (!S_ISDIR(inode->i_mode) ||
				 ai->brid == au_di_brid(di, 0))
				err = -ESTALE;
			else {
				ino = inode->i_ino;
				err = au_ino_keep(si, au_di_brid(di, 0),
						  h_inode->i_ino, ino);
				if (!err)
					au_inode_retop(inode, di, ino);
			}
			if (!err) {
				kref_get(&di->kref);
				au_di_set(dentry, di);
			}
			mutex_unlock(&ai->cpup_mtx);
			if (err)
				goto out_di;
			goto watch;
		}
	}
	kref_get(&di->kref);	/* a concurrent refresh may replace it */
	if (expect)
		au_di_replace(dentry, expect, di);
	else
		au_di_set(dentry, di);
watch:
	if (inode)
		au_notify_watch(inode, di);
	au_di_put(di);
	return 0;
out_di:
	au_di_put(di);
	return err;
}

/*
 * Bring @dentry's info to the current branch set, its parent's being
 * current: look the name up again (see au_di_update()).
 */
static int au_di_refresh_one(struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_dinfo *pdi = NULL, *di;
	struct dentry *parent = NULL;
	struct au_brset *brs;
	struct name_snapshot name;
	int err = 0;

	if (IS_ROOT(dentry)) {
		brs = au_brs_get(si);
		di = au_di_root(brs);
		au_brs_put(brs);
	} else {
		parent = dget_parent(dentry);
		pdi = au_di_get_raw(parent);
		if (!au_di_is_current(si, pdi)) {
			err = -EAGAIN;	/* the branches changed again: start over */
			goto out;
		}
		take_dentry_name_snapshot(&name, dentry);
		di = au_di_lookup(si, pdi, d_inode(parent), &name.name);
		release_dentry_name_snapshot(&name);
	}
	if (IS_ERR_OR_NULL(di))
		err = di ? PTR_ERR(di) : -ENOMEM;
	else
		err = au_di_update(dentry, di, NULL);
out:
	au_di_put(pdi);
	dput(parent);
	return err;
}

/*
 * A reference to the dentry's info, made with the current branch set, or
 * NULL.  After a remount changed the branches, the stale infos of the
 * dentry and of its ancestors are refreshed first, top-down, one at a time
 * (no recursion); ERR_PTR(-ESTALE) when the dentry no longer fits.
 */
static struct au_dinfo *au_di_get_fresh(struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct dentry *d, *p;
	struct au_dinfo *di;
	int err, tries = 0;

	for (;;) {
		di = au_di_get_raw(dentry);
		if (!di || au_di_is_current(si, di))
			return di;
		au_di_put(di);
		/* the topmost stale one, whose parent is current */
		d = dget(dentry);
		for (;;) {
			p = dget_parent(d);
			if (p == d) {
				dput(p);
				break;
			}
			di = au_di_get_raw(p);
			err = au_di_is_current(si, di);
			au_di_put(di);
			if (err) {
				dput(p);
				break;
			}
			dput(d);
			d = p;
		}
		err = au_di_refresh_one(d);
		dput(d);
		if (err == -EAGAIN && ++tries < 16)
			continue;
		if (err)
			return ERR_PTR(err);
	}
}

/* A reference to the dentry's current info, or NULL (also when stale). */
struct au_dinfo *au_di_get(struct dentry *dentry)
{
	struct au_dinfo *di = au_di_get_fresh(dentry);

	return IS_ERR(di) ? NULL : di;
}

/* As au_di_get(), but only for an info with at least one entry. */
struct au_dinfo *au_di_get_positive(struct dentry *dentry)
{
	struct au_dinfo *di = au_di_get(dentry);

	if (di && !di->nlower) {
		au_di_put(di);
		di = NULL;
	}
	return di;
}

/* ---- lookup ---- */

struct dentry *au_lookup(struct inode *dir, struct dentry *dentry,
			 unsigned int flags)
{
	struct super_block *sb = dir->i_sb;
	struct au_dinfo *pdi, *di;
	struct inode *inode = NULL;

	pdi = au_di_get(dentry->d_parent);
	if (!pdi)
		return ERR_PTR(-ESTALE);
	di = au_di_lookup(AU_SB(sb), pdi, dir, &dentry->d_name);
	au_di_put(pdi);
	if (IS_ERR(di))
		return ERR_CAST(di);
	kref_get(&di->kref);
	au_di_set(dentry, di);
	if (di->nlower) {
		inode = au_iget(sb, di);
		if (IS_ERR(inode)) {
			au_di_put(di);
			return ERR_CAST(inode);
		}
		au_notify_watch(inode, di);
	}
	au_di_put(di);
	return d_splice_alias(inode, dentry);
}

/* ---- dentry operations ---- */

/* Do two infos stand on the same lower entries? */
static bool au_di_same(struct au_dinfo *a, struct au_dinfo *b)
{
	unsigned int i;

	if (a->nlower != b->nlower || a->brs != b->brs)
		return false;
	for (i = 0; i < a->nlower; i++)
		if (a->lower[i].dentry != b->lower[i].dentry ||
		    a->lower[i].bindex != b->lower[i].bindex)
			return false;
	return true;
}

/*
 * udba: compare @dentry's cached info with a new lookup of its name on the
 * branches.  1: still good (a directory may have taken the new info); 0: it
 * must go.  A lookup that fails for another reason keeps a directory (its
 * mounts) and drops a file.
 */
static int au_reval_compare(struct dentry *dentry, struct au_dinfo *di,
			    struct dentry *parent, struct au_dinfo *pdi)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_dinfo *ndi;
	long ogen = au_notify_gen(d_inode(dentry));
	struct name_snapshot name;
	int valid = d_is_dir(dentry);
	bool ostamp_ok = false;
	u64 ostamp = 0;
	s64 brgen, attrgen;

	if (!pdi || pdi->brs != di->brs)
		goto out;	/* a remount in between: the next use refreshes */
	/* its own: before the lookup looks for an opaque or metacopy marker */
	brgen = atomic64_read(&si->brgen);
	attrgen = atomic64_read(&si->attrgen);
	if (au_di_own_stamp(di, au_dtype(dentry)))
		ostamp_ok = au_dirs_stamp(di, &ostamp);
	take_dentry_name_snapshot(&name, dentry);
	ndi = au_di_lookup(si, pdi, d_inode(parent), &name.name);
	release_dentry_name_snapshot(&name);
	if (IS_ERR(ndi))
		goto out;
	ndi->ogen = ogen;
	if (au_di_same(di, ndi)) {
		/* the same, with the new event counts and stamps */
		ndi->ostamp = ostamp;
		ndi->ostamp_ok = ostamp_ok;
		ndi->brgen = brgen;	/* the older counts cover both stamps */
		ndi->attrgen = attrgen;
		au_di_replace(dentry, di, ndi);
		valid = 1;
	} else {
		valid = !au_di_update(dentry, ndi, di);
	}
out:
	return valid;
}

/*
 * Did a branch directory @di was looked up in (the parent's), or for a
 * directory one of its own, change since?  udba=reval tells by stamps
 * (au_dirs_stamp()), read only when something changed on a branch
 * filesystem at all (si->brgen, notify.c); udba=notify by event counts
 * (notify.c); unwatched or no stamp counts as yes.  @pdi is the parent's
 * current info, @pdir its inode.  Lock-free and without sleeping: RCU
 * path walk calls it too.
 */
static bool au_di_changed(struct dentry *dentry, struct au_dinfo *di,
			  struct au_dinfo *pdi, struct inode *pdir)
{
	bool dir = d_is_dir(dentry);
	long pgen, ogen;

	if (!pdi || !pdir)
		return true;
	if (au_rs_udba_stamps(di->brs->rs)) {
		struct au_sbinfo *si = AU_SB(dentry->d_sb);
		s64 gen = atomic64_read(&si->brgen);
		bool own = au_di_own_stamp(di, au_dtype(dentry));
		/* a file's marker is an attribute: its own stamp counts those */
		s64 agen = own && !dir ? atomic64_read(&si->attrgen) : 0;
		bool changed;

		/*
		 * Nothing was made, removed or moved on any branch filesystem
		 * since the stamps last matched: they still do.  (Changes of
		 * the parent's entries themselves come with such an event.)
		 */
		if (di->brs->sbwatched && di->pstamp_ok && (!own || di->ostamp_ok) &&
		    READ_ONCE(di->brgen) == gen && (dir || READ_ONCE(di->attrgen) == agen))
			return false;
		changed = !au_dirs_same(pdi, di->pstamp_ok, di->pstamp) ||
			  (own && !au_dirs_same(di, di->ostamp_ok, di->ostamp));
		if (!changed) {
			/* read before the stamps */
			WRITE_ONCE(di->brgen, gen);
			WRITE_ONCE(di->attrgen, agen);
		}
		return changed;
	}
	pgen = au_notify_gen(pdir);
	ogen = dir ? au_notify_gen(d_inode_rcu(dentry)) : 0;
	return pgen < 0 || pgen != di->pgen || ogen < 0 ||
	       (dir && ogen != di->ogen);
}

/*
 * RCU path walk (no references, no sleeping): a cached entry whose
 * branch directories show no change is good as it is; anything else is
 * -ECHILD, and the VFS calls again in ref-walk mode.
 */
static int au_d_revalidate_rcu(struct dentry *dentry)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct au_dinfo *di = READ_ONCE(dentry->d_fsdata), *pdi;
	struct dentry *parent;
	struct inode *pdir;
	bool changed;

	if (!di || di->brs != rcu_access_pointer(si->brs))
		return -ECHILD;
	if (IS_ROOT(dentry))
		return 1;
	parent = READ_ONCE(dentry->d_parent);
	pdir = d_inode_rcu(parent);
	pdi = READ_ONCE(parent->d_fsdata);
	if (!pdi || pdi->brs != di->brs)
		return -ECHILD;
	changed = au_di_changed(dentry, di, pdi, pdir);
	if (d_really_is_negative(dentry))
		return au_rs_keep_negative(di->brs->rs, changed) ? 1 : -ECHILD;
	if (!di->nlower || au_rs_must_compare(di->brs->rs, changed))
		return -ECHILD;
	return 1;
}

/*
 * A cached union dentry made before a branch change is brought up to date
 * (au_di_get()).  Then the udba mode (the core decides) says what else:
 * none: nothing; reval and notify: when a branch directory involved may
 * have changed (au_di_changed()), every lower entry must still be hashed
 * and positive, and a new lookup must find the same entries (a name
 * created, removed, renamed, replaced, whited out or made opaque directly
 * on a branch, above or below, shows at once); a negative dentry is looked
 * up again.
 */
static int au_d_revalidate(struct dentry *dentry, unsigned int flags)
{
	struct au_dinfo *di, *pdi = NULL;
	struct dentry *parent = NULL;
	unsigned int i;
	int valid = 1;

	if (flags & LOOKUP_RCU) {
		rcu_read_lock();	/* held by the walk; says what we rely on */
		valid = au_d_revalidate_rcu(dentry);
		rcu_read_unlock();
		return valid;
	}
	/* after a branch change: refreshed here, or dropped if it cannot be */
	di = au_di_get(dentry);
	if (!di)
		return 0;
	if (IS_ROOT(dentry))
		goto out;
	parent = dget_parent(dentry);
	pdi = au_di_get(parent);
	if (d_really_is_negative(dentry)) {
		valid = au_rs_keep_negative(di->brs->rs,
					    au_di_changed(dentry, di, pdi, d_inode(parent)));
		goto out;
	}
	if (!di->nlower) {
		valid = 0;
		goto out;
	}
	if (!au_rs_must_compare(di->brs->rs, au_di_changed(dentry, di, pdi, d_inode(parent))))
		goto out;
	for (i = 0; i < di->nlower && valid; i++) {
		struct dentry *h = di->lower[i].dentry;

		if (d_unhashed(h) || d_is_negative(h))
			valid = 0;
	}
	if (!valid && d_is_dir(dentry))
		valid = 1;	/* the comparison decides for a directory */
	if (valid)
		valid = au_reval_compare(dentry, di, parent, pdi);
out:
	au_di_put(pdi);
	dput(parent);
	au_di_put(di);
	return valid;
}

static void au_d_release(struct dentry *dentry)
{
	au_di_put(dentry->d_fsdata);
	dentry->d_fsdata = NULL;
}

const struct dentry_operations au_dops = {
	.d_revalidate	= au_d_revalidate,
	.d_release	= au_d_release,
	.d_real		= au_d_real,
};
