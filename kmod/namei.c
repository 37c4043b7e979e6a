// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: lookup and dentry operations, and the branch primitives the core's
 * lookup is built on (au_c_lookup, au_c_stat, au_c_dget, au_c_dput).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include "aufs.h"

struct au_dinfo *au_di_alloc(unsigned int nlower)
{
	struct au_dinfo *di;

	di = kzalloc(struct_size(di, lower, nlower), GFP_KERNEL);
	if (!di)
		return NULL;
	kref_init(&di->kref);
	di->nlower = nlower;
	di->bopaque = di->bwh = di->bneg = -1;
	return di;
}

/* An info with the one entry @h (its reference goes in) on branch @bindex;
 * on failure @h is put. */
struct au_dinfo *au_di_one(struct dentry *h, unsigned int bindex)
{
	struct au_dinfo *di = au_di_alloc(1);

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
	kfree(di);
}

void au_di_put(struct au_dinfo *di)
{
	if (di)
		kref_put(&di->kref, au_di_release);
}

/* A reference to the dentry's current info, or NULL. */
struct au_dinfo *au_di_get(struct dentry *dentry)
{
	struct au_dinfo *di;

	spin_lock(&dentry->d_lock);
	di = dentry->d_fsdata;
	if (di)
		kref_get(&di->kref);
	spin_unlock(&dentry->d_lock);
	return di;
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

/* ---- branch primitives for the core ---- */

/*
 * Branch lookups are the union's own work (as overlayfs's), made with its
 * credentials: who may search a union directory is decided once, by
 * au_permission(), on every branch or (dirperm1) on the topmost one.
 */
int au_c_lookup(void *ctx, u32 bindex, void *dir, const u8 *name, u32 len,
		void **out)
{
	const struct cred *old = override_creds(((struct au_ctx *)ctx)->cred);
	struct dentry *d;

	d = lookup_one_len_unlocked(name, dir, len);
	revert_creds(old);
	if (IS_ERR(d))
		return PTR_ERR(d);
	*out = d;
	return 0;
}

void *au_c_dget(void *dentry)
{
	return dget(dentry);
}

void au_c_dput(void *dentry)
{
	dput(dentry);
}

int au_c_stat(void *ctx, u32 bindex, void *dentry, struct au_stat *st)
{
	struct dentry *d = dentry;
	struct inode *inode = d_inode(d);

	memset(st, 0, sizeof(*st));
	if (!inode || d_unhashed(d))
		return 0;
	st->positive = 1;
	st->mode = inode->i_mode;
	st->nlink = inode->i_nlink;
	st->ino = inode->i_ino;
	st->size = i_size_read(inode);
	st->rdev = new_encode_dev(inode->i_rdev);
	return 0;
}

/* ---- lookup ---- */

struct dentry *au_lookup(struct inode *dir, struct dentry *dentry,
			 unsigned int flags)
{
	struct super_block *sb = dir->i_sb;
	struct au_sbinfo *si = AU_SB(sb);
	struct au_dinfo *pdi;
	struct au_lookup_out res;
	struct au_lower *out;
	struct au_dinfo *di;
	struct inode *inode = NULL;
	int err;

	pdi = au_di_get(dentry->d_parent);
	if (!pdi)
		return ERR_PTR(-ESTALE);
	out = kcalloc(si->nbr, sizeof(*out), GFP_KERNEL);
	if (!out) {
		au_di_put(pdi);
		return ERR_PTR(-ENOMEM);
	}
	err = au_rs_lookup(si->rs, &si->ctx, pdi->lower, pdi->nlower,
			   dentry->d_name.name, dentry->d_name.len,
			   out, si->nbr, &res);
	au_di_put(pdi);
	if (err) {
		kfree(out);
		return ERR_PTR(err);
	}
	di = au_di_alloc(res.nlower);
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
	au_di_set(dentry, di);

	if (di->nlower) {
		inode = au_iget(sb, di);
		if (IS_ERR(inode))
			return ERR_CAST(inode);
	}
	return d_splice_alias(inode, dentry);
}

/* ---- dentry operations ---- */

/*
 * udba=reval: a cached union dentry is still good while every lower entry it
 * stands on is still hashed and positive (a lower entry removed, renamed or
 * replaced behind the union's back is unhashed or negative).  Negative
 * dentries are always looked up again, since any branch may have gained
 * the name.
 */
static int au_d_revalidate(struct dentry *dentry, unsigned int flags)
{
	struct au_dinfo *di;
	struct inode *inode;
	unsigned int i;
	int valid = 1;

	if (flags & LOOKUP_RCU)
		return -ECHILD;
	inode = d_inode(dentry);
	if (!inode)
		return 0;
	di = au_di_get_positive(dentry);
	if (!di)
		return 0;
	for (i = 0; i < di->nlower && valid; i++) {
		struct dentry *h = di->lower[i].dentry;

		if (d_unhashed(h) || d_is_negative(h))
			valid = 0;
	}
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
};
