// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: copy-up.  au_copy_up() gives a union dentry an entry on a writable
 * branch, ancestors first, one at a time (no recursion: a lower tree may
 * be any depth); the core does each object's copy with the branch
 * primitives of branch.c.  Also the target-branch helpers (au_wbr*).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/security.h>
#include "aufs.h"

/* ---- copy-up of union dentries ---- */

/*
 * Does @dentry have its entry on branch @t (a directory: also on @t)?  A
 * metacopy there counts only if @meta_ok (the change needs no data).
 */
static bool au_di_is_up(struct dentry *dentry, struct au_dinfo *di,
			unsigned int t, bool meta_ok)
{
	if (d_is_dir(dentry))
		return au_di_find(di, t) >= 0;
	return di->lower[0].bindex == t && (meta_ok || !au_di_metacopy(di));
}

static int au_is_up(struct dentry *dentry, unsigned int t, bool meta_ok)
{
	struct au_dinfo *di = au_di_get_positive(dentry);
	int up;

	if (!di)
		return -ENOENT;
	up = au_di_is_up(dentry, di, t, meta_ok);
	au_di_put(di);
	return up;
}

/*
 * The dinfo after a copy-up to @t made @h: @h on top, lower dirs kept; a
 * metacopy (@meta) keeps the entry of the data, the last of @di.
 */
static struct au_dinfo *au_di_after_cpup(struct au_dinfo *di, unsigned int t,
					 struct dentry *h, bool meta)
{
	struct au_dinfo *n;
	unsigned int i, k = 1, keep = 0;
	bool dir = d_is_dir(h);

	for (i = 0; dir && i < di->nlower; i++)
		keep += di->lower[i].bindex > t;
	n = au_di_alloc(di->brs, 1 + keep + meta);
	if (!n)
		return NULL;
	n->lower[0].dentry = h;
	n->lower[0].bindex = t;
	for (i = 0; dir && i < di->nlower; i++)
		if (di->lower[i].bindex > t) {
			n->lower[k].dentry = dget(di->lower[i].dentry);
			n->lower[k++].bindex = di->lower[i].bindex;
		}
	if (meta)
		n->lower[k] = (struct au_lower){
			.dentry = dget(di->lower[di->nlower - 1].dentry),
			.bindex = di->lower[di->nlower - 1].bindex,
		};
	n->bopaque = di->bopaque;
	return n;
}

/*
 * The number the copy @h_inode on @t answers to from now on: the union
 * inode's own, unless the copy split a hard link (then the copy is another
 * file and gets its own number).  Made known to the table before the copy
 * is published, so a lookup of the new entry finds this inode.
 */
static int au_cpup_ino(struct au_sbinfo *si, struct inode *inode, bool keep,
		       unsigned int brid, struct inode *h_inode, u64 *ino)
{
	if (!keep)
		return au_ino(si, brid, h_inode->i_ino, ino);
	*ino = inode->i_ino;
	return au_ino_keep(si, brid, h_inode->i_ino, *ino);
}

/*
 * Copy @dentry (whose parent is on @t, unless it is unlinked) up to @t.
 * Serialized per union inode; whoever comes second finds the work done.
 * @meta_ok: the change needs no data; the core may make a metacopy.
 */
static int au_copy_up_one(struct dentry *dentry, unsigned int t, loff_t trunc,
			  bool meta_ok)
{
	struct au_sbinfo *si = AU_SB(dentry->d_sb);
	struct inode *inode = d_inode(dentry);
	struct au_dinfo *di = NULL, *pdi = NULL, *ndi;
	struct au_cpup_req req;
	struct au_ctx ctx;
	struct cred *lsm_cred = NULL;
	const struct cred *old;
	struct dentry *parent = NULL, *h = NULL;
	bool keep;
	u64 id, ino;
	int err, pi;
	bool meta = false;

	err = mutex_lock_killable(&AU_I(inode)->cpup_mtx);
	if (err)
		return err;
	/*
	 * One info for the check and the copy: a revalidation may replace it
	 * in between (a branch changed directly), and the core must be given
	 * the entries the check was made on.
	 */
	di = au_di_get_positive(dentry);
	err = -ENOENT;
	if (!di)
		goto out;
	err = au_di_is_up(dentry, di, t, meta_ok);
	if (err)
		goto out;	/* done meanwhile */
	ctx = au_ctx(si, di->brs);
	/* An LSM may make the copy with credentials of its own. */
	old = override_creds(si->cred);
	err = security_inode_copy_up(dentry, &lsm_cred);
	revert_creds(old);
	if (err)
		goto out;
	if (lsm_cred)
		ctx.cred = lsm_cred;
	keep = au_rs_share_inode(di->brs->rs, di->lower[0].bindex, d_is_dir(dentry),
				 d_inode(di->lower[0].dentry)->i_nlink);
	id = au_next_id(si);
	if (d_unlinked(dentry)) {
		/* Unlinked but still open: the copy must not bring the name back. */
		err = au_rs_copy_up_orphan(di->brs->rs, &ctx, di->lower, di->nlower, t,
					   id, (void **)&h);
	} else {
		err = -EINVAL;
		if (IS_ROOT(dentry))
			goto out;	/* the root is on every branch */
		parent = dget_parent(dentry);
		pdi = au_di_get_positive(parent);
		err = -ENOENT;	/* the parent moved meanwhile: the caller retries */
		if (!pdi || pdi->brs != di->brs || (pi = au_di_find(pdi, t)) < 0)
			goto out;
		req = (struct au_cpup_req){
			.obj = di->lower, .nobj = di->nlower, .t = t,
			.dir = pdi->lower[pi].dentry,
			.name = dentry->d_name.name, .len = dentry->d_name.len,
			.meta_only = meta_ok, .trunc_len = trunc, .id = id,
		};
		err = au_rs_copy_up(di->brs->rs, &ctx, &req, (void **)&h);
		meta = err == 1;
		if (meta)
			err = 0;
	}
	if (err)
		goto out;
	/*
	 * plink: the copy of a lower file with several names is theirs too;
	 * the names not linked up yet show it from now on (au_data_path()).
	 */
	if (keep && d_is_reg(dentry) && !smp_load_acquire(&AU_I(inode)->plink.dentry)) {
		struct path pl;
		unsigned int pb;

		if (au_plink_find(si, di, &pl, &pb) > 0)
			au_plink_set(inode, &pl);
	}
	err = au_cpup_ino(si, inode, keep, di->brs->br[t].id, d_inode(h), &ino);
	ndi = err ? NULL : au_di_after_cpup(di, t, h, meta);
	if (!ndi) {
		/* Not published: the copy goes again, the union is as it was. */
		err = err ?: -ENOMEM;
		if (pdi && di->lower[0].bindex != t)	/* a new entry, not a metacopy's data */
			au_c_remove(&ctx, t, pdi->lower[pi].dentry, dentry->d_name.name,
				    dentry->d_name.len, d_is_dir(h), AU_CRED_INTERNAL);
		dput(h);
		goto out;
	}
	/* Inode first: d_revalidate compares the dentry's entries with it. */
	au_inode_retop(inode, ndi, ino);
	kref_get(&ndi->kref);
	au_di_set(dentry, ndi);
	au_notify_watch(inode, ndi);	/* a directory: its new branch directory */
	au_di_put(ndi);
	if (parent)
		au_cpattr(d_inode(parent), d_inode(pdi->lower[pi].dentry));
	err = 0;
out:
	mutex_unlock(&AU_I(inode)->cpup_mtx);
	if (lsm_cred)
		put_cred(lsm_cred);
	au_di_put(pdi);
	dput(parent);
	au_di_put(di);
	return err < 0 ? err : 0;
}

/*
 * Give @dentry an entry on writable branch @t, its missing ancestors first,
 * top-down: each round copies the topmost ancestor not yet on @t (as
 * overlayfs does), so the depth of a lower tree costs time, never stack.
 * @trunc >= 0 limits the data copied (copy-up for a truncate).
 */
static int __au_copy_up(struct dentry *dentry, unsigned int t, loff_t trunc,
			bool meta_ok)
{
	struct dentry *next, *parent;
	int err, tries = 0;

	if (d_unlinked(dentry) && !d_is_dir(dentry))
		return au_copy_up_one(dentry, t, trunc, false);
	for (;;) {
		err = au_is_up(dentry, t, meta_ok);
		if (err)
			return err < 0 ? err : 0;
		next = dget(dentry);
		for (;;) {
			parent = dget_parent(next);
			if (parent == next || au_is_up(parent, t, true)) {
				dput(parent);
				break;
			}
			dput(next);
			next = parent;
		}
		err = au_copy_up_one(next, t, next == dentry ? trunc : -1,
				     next == dentry && meta_ok);
		dput(next);
		/* -ENOENT: a parent moved under us; a bounded number of retries. */
		if (err == -ENOENT && ++tries < 8)
			continue;
		if (err)
			return err;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
}

/* A copy-up with the data: for a write, a truncate, a new name. */
int au_copy_up(struct dentry *dentry, unsigned int t, loff_t trunc)
{
	return __au_copy_up(dentry, t, trunc, false);
}

/*
 * A copy-up for a change of attributes only (chmod, chown, utimes, an
 * xattr): with the metacopy option, the data may stay where it is.
 */
int au_copy_up_meta(struct dentry *dentry, unsigned int t)
{
	return __au_copy_up(dentry, t, -1, true);
}

/*
 * Fill @tg for target @w; its infos, referenced in *@di and *@pdi, are
 * put by the caller.
 */
static int au_wbr_fill(const struct au_wbr_arg *w, struct au_dinfo **di,
		       struct au_dinfo **pdi, struct au_target *tg)
{
	struct dentry *parent;

	if (w->newname) {
		*pdi = au_di_get_positive(w->dentry);
		if (!*pdi)
			return -ENOENT;
		tg->kind = AU_TARGET_NEWNAME;
		tg->lower = (*pdi)->lower;
		tg->nlower = (*pdi)->nlower;
		if (w->name) {
			tg->name = w->name->name;
			tg->namelen = w->name->len;
			tg->isdir = w->isdir;
		}
		return 0;
	}
	*di = au_di_get_positive(w->dentry);
	if (!*di)
		return -ENOENT;
	if (!IS_ROOT(w->dentry)) {
		parent = dget_parent(w->dentry);
		*pdi = au_di_get_positive(parent);
		dput(parent);
		if (!*pdi)
			return -ENOENT;
		if ((*pdi)->brs != (*di)->brs)
			return -ESTALE;
	}
	tg->kind = AU_TARGET_OBJECT;
	tg->lower = *pdi ? (*pdi)->lower : NULL;
	tg->nlower = *pdi ? (*pdi)->nlower : 0;
	tg->top = (*di)->lower[0].bindex;
	return 0;
}

/*
 * The branch an operation on the @n targets @w goes to, as the core
 * decides (the topmost of what each needs), or -errno.  A target whose
 * infos are missing (-ENOENT) or of another branch set (-ESTALE) ends the
 * list; the core still answers for those before it, and their error comes
 * first, as if the targets were asked one by one.
 */
int au_wbr_op(const struct au_wbr_arg *w, unsigned int n)
{
	struct au_dinfo *di[AU_TARGET_MAX] = {}, *pdi[AU_TARGET_MAX] = {};
	struct au_target tg[AU_TARGET_MAX] = {};
	struct au_brset *brs = NULL, *b;
	unsigned int i, k;
	int t = 0, err = 0;

	if (!n || n > AU_TARGET_MAX)
		return -EINVAL;
	for (k = 0; k < n; k++) {
		err = au_wbr_fill(&w[k], &di[k], &pdi[k], &tg[k]);
		if (err)
			break;
		b = di[k] ? di[k]->brs : pdi[k]->brs;
		if (brs && b != brs) {
			err = -ESTALE;
			break;
		}
		brs = b;
	}
	if (k) {
		struct au_ctx ctx = au_ctx(AU_SB(w[0].dentry->d_sb), brs);

		t = au_rs_op_target(brs->rs, &ctx, ktime_get_ns(), tg, k);
	}
	if (t >= 0 && err)
		t = err;
	for (i = 0; i < n; i++) {
		au_di_put(di[i]);
		au_di_put(pdi[i]);
	}
	return t;
}

/* The branch a change of @dentry goes to (cpup policy). */
int au_wbr(struct dentry *dentry)
{
	struct au_wbr_arg w = { .dentry = dentry, .newname = false };

	return au_wbr_op(&w, 1);
}

/* The branch a new entry in directory @parent goes to (create policy). */
int au_wbr_create(struct dentry *parent)
{
	struct au_wbr_arg w = { .dentry = parent, .newname = true };

	return au_wbr_op(&w, 1);
}
