// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: the frame of a change of the union.  A namespace operation (create,
 * link, unlink, rmdir, rename) and a change of attributes (setattr, xattrs,
 * chattr flags) each run inside one: au_nsop_begin() read-holds si->rwsem
 * (a remount that changes the branches waits, so the operation sees one
 * branch set from its first step to its last), asks the core for the
 * branch it goes to, copies up what must be there first, takes the
 * positive infos of its objects, checks that they are of one branch set
 * and builds the context of the core's call; au_nsop_end() puts the infos,
 * refreshes the directories' attributes and releases the rwsem.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/fs.h>
#include "aufs.h"

/* Refresh a directory inode from its topmost entry. */
static void au_dir_refresh(struct dentry *dir)
{
	struct au_dinfo *di = au_di_get_positive(dir);

	if (di) {
		au_cpattr(d_inode(dir), d_inode(di->lower[0].dentry));
		au_di_put(di);
	}
}

/* Copy @up to @t: with the data, or (@meta_ok) perhaps as a metacopy. */
static int au_nsop_copy_up(const struct au_nsop_up *up, unsigned int t)
{
	if (up->meta_ok && up->trunc < 0)
		return au_copy_up_meta(up->dentry, t);
	return au_copy_up(up->dentry, t, up->trunc);
}

/*
 * Begin the operation @op describes (see struct au_nsop): 0 when its infos
 * are taken and @op->ctx is built; > 0 when @op->check found nothing to
 * do; or -errno.  Whatever it returns, au_nsop_end() ends it.
 *
 * A name it removes (@op->victim) is removed under its inode's cpup_mtx,
 * as a copy-up of it is made (the lock order in aufs.h): one in progress
 * ends first; one that starts later finds the name gone.  Its info is
 * made current before the mutex is taken (si->rwsem keeps it so): taking
 * it again under the mutex never refreshes it, which takes cpup_mtx.
 */
int au_nsop_begin(struct au_nsop *op, struct super_block *sb)
{
	struct au_dinfo *di;
	unsigned int i;
	int err;

	op->si = AU_SB(sb);
	down_read(&op->si->rwsem);
	op->t = au_wbr_op(op->tg, op->ntg);
	if (op->t < 0)
		return op->t;
	if (op->check) {
		err = op->check(op, op->arg);
		if (err)
			return err;
	}
	for (i = 0; i < op->nup; i++) {
		err = au_nsop_copy_up(&op->up[i], op->t);
		if (err)
			return err;
	}
	if (op->victim) {
		di = au_di_get_positive(op->victim);
		au_di_put(di);
		op->mtx = &AU_I(d_inode(op->victim))->cpup_mtx;
		mutex_lock(op->mtx);
	}
	op->took = true;
	for (i = 0; i < op->nobj; i++)
		op->di[i] = au_di_get_positive(op->obj[i]);
	for (i = 0; i < op->nobj; i++)
		if (!op->di[i] || op->di[i]->brs != op->di[0]->brs)
			return -ESTALE;
	op->ctx = au_ctx(op->si, op->di[0]->brs);
	return 0;
}

/* End what au_nsop_begin() began. */
void au_nsop_end(struct au_nsop *op)
{
	unsigned int i;

	if (op->mtx)
		mutex_unlock(op->mtx);
	for (i = 0; i < op->nobj; i++)
		au_di_put(op->di[i]);
	for (i = 0; op->took && i < ARRAY_SIZE(op->dir); i++)
		if (op->dir[i] && (!i || op->dir[i] != op->dir[0]))
			au_dir_refresh(op->dir[i]);
	up_read(&op->si->rwsem);
}
