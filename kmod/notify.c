// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: udba=notify.  Each cached union directory has a watch: an event
 * count and fsnotify marks on its branch directories.  A create, delete or
 * move in one of them (made through the union or behind its back) bumps
 * the count; a dentry info records its parent's count (and a directory its
 * own) when it is looked up, and d_revalidate compares with the branches
 * only when a count moved (the core decides: policy::must_compare).
 *
 * Lifetimes: the event handler touches only the watch, which each mark
 * references, never the union inode (an event may run while the inode is
 * evicted).  Marks go when the union inode is evicted, when a refresh no
 * longer has their branch directory, or when the branch filesystem goes
 * (fsnotify removes them itself).  The group reference is put at umount;
 * module exit waits for the marks still being freed.
 *
 * udba=reval uses fsnotify too, to skip work: one mark on each branch
 * filesystem (superblock) bumps the mount's branch change count (si->brgen)
 * on every create, delete or move anywhere on it.  An entry whose stamps
 * matched at count N is still good while the count is N (namei.c).  The
 * same marks count attribute changes (si->attrgen): a directory's lower
 * permission checks stay good while neither count moved (inode.c).
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/fsnotify_backend.h>
#include <linux/slab.h>
#include "aufs.h"

#define AU_FSN_MASK	(FS_CREATE | FS_DELETE | FS_MOVED_FROM | FS_MOVED_TO | \
			 FS_DELETE_SELF | FS_MOVE_SELF)

struct au_watch {
	refcount_t ref;			/* the union inode's + one per mark */
	struct rcu_head rcu;		/* RCU path walk reads gen */
	atomic_t gen;			/* bumped by every event */
	struct mutex mtx;		/* marks */
	struct list_head marks;
};

struct au_mark {
	struct fsnotify_mark fsn;
	struct au_watch *w;		/* referenced */
	struct inode *h_inode;		/* what it marks; only compared */
	struct list_head list;		/* w->marks */
};

/* Marks the union holds (added, not yet dropped), every mount: debugfs
 * aufs/notify_marks.  fsnotify frees a dropped mark later (after SRCU). */
atomic_t au_nmarks = ATOMIC_INIT(0);

/*
 * A watch's marks change under its mtx, which the eviction of its union
 * inode takes too, also in memory reclaim: no filesystem reclaim while it
 * is held (the lock order in aufs.h).
 */
static unsigned int au_watch_lock(struct au_watch *w)
{
	mutex_lock(&w->mtx);
	return memalloc_nofs_save();
}

static void au_watch_unlock(struct au_watch *w, unsigned int nofs)
{
	memalloc_nofs_restore(nofs);
	mutex_unlock(&w->mtx);
}

static void au_watch_put(struct au_watch *w)
{
	if (refcount_dec_and_test(&w->ref))
		kfree_rcu(w, rcu);
}

static int au_fsn_event(struct fsnotify_mark *mark, u32 mask, struct inode *inode,
			struct inode *dir, const struct qstr *name, u32 cookie)
{
	struct au_mark *m = container_of(mark, struct au_mark, fsn);

	atomic_inc(&m->w->gen);
	return 0;
}

static void au_fsn_free_mark(struct fsnotify_mark *mark)
{
	struct au_mark *m = container_of(mark, struct au_mark, fsn);

	au_watch_put(m->w);
	kfree(m);
}

static const struct fsnotify_ops au_fsn_ops = {
	.handle_inode_event	= au_fsn_event,
	.free_mark		= au_fsn_free_mark,
};

/* The mount's group, made when first needed. */
static struct fsnotify_group *au_notify_group(struct au_sbinfo *si)
{
	struct fsnotify_group *g = READ_ONCE(si->fsn);

	if (g)
		return g;
	mutex_lock(&si->fsn_mtx);
	if (!si->fsn) {
		/* NOFS: marks are removed from ->evict_inode, also in reclaim */
		g = fsnotify_alloc_group(&au_fsn_ops, AU_FSN_GROUP_NOFS);
		if (IS_ERR(g))
			pr_warn_once("udba=notify: no fsnotify group (%ld): checking every time\n",
				     PTR_ERR(g));
		else
			WRITE_ONCE(si->fsn, g);
	}
	g = si->fsn;
	mutex_unlock(&si->fsn_mtx);
	return g;
}

/* The union directory's event count, or -1 when it is not watched. */
long au_notify_gen(struct inode *dir)
{
	struct au_watch *w;
	long gen;

	if (!dir || !S_ISDIR(dir->i_mode))
		return -1;
	rcu_read_lock();	/* RCU path walk: the inode may be going */
	w = READ_ONCE(AU_I(dir)->w);
	gen = w ? atomic_read(&w->gen) : -1;
	rcu_read_unlock();
	return gen;
}

static bool au_di_has(struct au_dinfo *di, struct inode *h_inode)
{
	unsigned int i;

	for (i = 0; i < di->nlower; i++)
		if (d_inode(di->lower[i].dentry) == h_inode)
			return true;
	return false;
}

static void au_mark_drop(struct fsnotify_group *g, struct au_mark *m)
{
	list_del(&m->list);
	atomic_dec(&au_nmarks);
	fsnotify_destroy_mark(&m->fsn, g);
	fsnotify_put_mark(&m->fsn);	/* ours, from fsnotify_init_mark() */
}

/*
 * udba=notify (the core says): make the marks of union directory @dir
 * exactly the branch directories of @di.  Whatever happened before a new
 * mark existed is covered: adding one bumps the count, so the next
 * revalidation compares once.
 */
void au_notify_watch(struct inode *dir, struct au_dinfo *di)
{
	struct au_sbinfo *si = AU_SB(dir->i_sb);
	struct fsnotify_group *g;
	struct au_watch *w;
	struct au_mark *m, *n;
	bool moved = false;
	unsigned int i, nofs;

	if (!S_ISDIR(dir->i_mode) || !au_rs_udba_notify(di->brs->rs))
		return;
	g = au_notify_group(si);
	if (IS_ERR_OR_NULL(g))
		return;
	w = READ_ONCE(AU_I(dir)->w);
	if (!w) {
		w = kzalloc(sizeof(*w), GFP_KERNEL);
		if (!w)
			return;		/* unwatched: every check compares */
		refcount_set(&w->ref, 1);
		atomic_set(&w->gen, 1);
		mutex_init(&w->mtx);
		INIT_LIST_HEAD(&w->marks);
		if (cmpxchg(&AU_I(dir)->w, NULL, w)) {
			kfree(w);
			w = READ_ONCE(AU_I(dir)->w);
		}
	}
	nofs = au_watch_lock(w);
	list_for_each_entry_safe(m, n, &w->marks, list)
		if (!au_di_has(di, m->h_inode))
			au_mark_drop(g, m);
	for (i = 0; i < di->nlower; i++) {
		struct inode *h_inode = d_inode(di->lower[i].dentry);
		bool have = false;

		list_for_each_entry(m, &w->marks, list)
			have |= m->h_inode == h_inode;
		if (have)
			continue;
		moved = true;
		m = kzalloc(sizeof(*m), GFP_KERNEL);
		if (!m)
			continue;
		fsnotify_init_mark(&m->fsn, g);
		m->fsn.mask = AU_FSN_MASK;
		refcount_inc(&w->ref);
		m->w = w;
		m->h_inode = h_inode;
		if (fsnotify_add_inode_mark(&m->fsn, h_inode, 0)) {
			fsnotify_put_mark(&m->fsn);	/* frees it */
			continue;
		}
		list_add(&m->list, &w->marks);
		atomic_inc(&au_nmarks);
	}
	if (moved)
		atomic_inc(&w->gen);
	au_watch_unlock(w, nofs);
}

/* The union inode goes: so do its marks (->evict_inode). */
void au_notify_unwatch(struct inode *inode)
{
	struct au_sbinfo *si = AU_SB(inode->i_sb);
	struct au_watch *w = AU_I(inode)->w;
	struct au_mark *m, *n;
	unsigned int nofs;

	if (!w)
		return;
	AU_I(inode)->w = NULL;
	nofs = au_watch_lock(w);
	list_for_each_entry_safe(m, n, &w->marks, list)
		au_mark_drop(si->fsn, m);
	au_watch_unlock(w, nofs);
	au_watch_put(w);
}

/* udba=reval: a mark on a branch filesystem (see au_sbwatch()) */
struct au_sbmark {
	struct fsnotify_mark fsn;
	atomic64_t *gen;		/* si->brgen; the marks go first */
	atomic64_t *attrgen;		/* si->attrgen */
	struct super_block *sb;		/* what it marks; only compared */
	struct au_sbmark *next;		/* si->sbmarks, each referenced */
};

/* Drop @m, taken off si->sbmarks: gone, and no handler running, on return. */
static void au_sbmark_drop(struct au_sbinfo *si, struct au_sbmark *m)
{
	atomic_dec(&si->nsbmarks);
	fsnotify_destroy_mark(&m->fsn, si->sbfsn);	/* if still on */
	fsnotify_put_mark(&m->fsn);			/* ours */
}

/* umount, after every inode is gone: the group's reference. */
void au_notify_fin(struct au_sbinfo *si)
{
	if (!IS_ERR_OR_NULL(si->fsn))
		fsnotify_put_group(si->fsn);
	si->fsn = NULL;
	/* the filesystem marks: gone, and no handler running, on return */
	while (si->sbmarks) {
		struct au_sbmark *m = si->sbmarks;

		si->sbmarks = m->next;
		au_sbmark_drop(si, m);
	}
	if (si->sbfsn) {
		fsnotify_put_group(si->sbfsn);
		fsnotify_wait_marks_destroyed();
	}
	si->sbfsn = NULL;
}

/* ---- udba=reval: the branch filesystems' change count ---- */

static int au_sbfsn_event(struct fsnotify_group *group, u32 mask, const void *data,
			  int data_type, struct inode *dir, const struct qstr *name,
			  u32 cookie, struct fsnotify_iter_info *iter_info)
{
	struct fsnotify_mark *mark = fsnotify_iter_sb_mark(iter_info);
	struct au_sbmark *m;

	if (!mark)
		return 0;
	m = container_of(mark, struct au_sbmark, fsn);
	if (mask & AU_FSN_MASK)
		atomic64_inc(m->gen);
	if (mask & FS_ATTRIB)
		atomic64_inc(m->attrgen);
	return 0;
}

static void au_sbfsn_free_mark(struct fsnotify_mark *mark)
{
	kfree(container_of(mark, struct au_sbmark, fsn));
}

static const struct fsnotify_ops au_sbfsn_ops = {
	.handle_event		= au_sbfsn_event,
	.free_mark		= au_sbfsn_free_mark,
};

/*
 * Before @brs is published: a mark on each of its branch filesystems that
 * has none yet (marks stay until umount, or until their filesystem goes).
 * Only then may a count stand for its stamps (brs->sbwatched); on any
 * failure every check reads the stamps.  Mount and remount (serialized).
 * (fsnotify_destroy_group() is not exported: the marks are listed.)
 */
void au_sbwatch(struct au_sbinfo *si, struct au_brset *brs)
{
	struct fsnotify_group *g = si->sbfsn;
	unsigned int i;

	brs->sbwatched = false;
	if (!au_rs_udba_stamps(brs->rs))
		return;
	if (!g) {
		g = fsnotify_alloc_group(&au_sbfsn_ops, 0);
		if (IS_ERR(g)) {
			pr_warn_once("udba=reval: no fsnotify group (%ld): stamps only\n",
				     PTR_ERR(g));
			return;
		}
		si->sbfsn = g;
	}
	for (i = 0; i < brs->nbr; i++) {
		struct super_block *sb = brs->br[i].path.mnt->mnt_sb;
		struct fsnotify_mark *old;
		struct au_sbmark *m;
		int err;

		old = au_fsn_find_sb_mark(sb, g);
		if (old) {
			fsnotify_put_mark(old);
			continue;
		}
		m = kzalloc(sizeof(*m), GFP_KERNEL);
		if (!m)
			return;
		fsnotify_init_mark(&m->fsn, g);
		m->fsn.mask = AU_FSN_MASK | FS_ATTRIB;
		m->gen = &si->brgen;
		m->attrgen = &si->attrgen;
		m->sb = sb;
		err = au_fsn_add_sb_mark(&m->fsn, sb);
		if (err) {
			fsnotify_put_mark(&m->fsn);	/* frees it */
			return;
		}
		/*
		 * our reference: destroyed when no branch is on its filesystem
		 * any more, or at umount, if the filesystem has not gone first
		 */
		m->next = si->sbmarks;
		si->sbmarks = m;
		atomic_inc(&si->nsbmarks);
	}
	brs->sbwatched = true;
}

/*
 * After a remount published a new branch set: the marks on filesystems no
 * branch is on any more go, or they would count those filesystems' changes
 * (and make the union compare its cached entries) until umount.  Only a
 * current set's infos rely on the marks (namei.c, inode.c).  Serialized
 * with au_sbwatch() and au_notify_fin() by s_umount.
 */
void au_sbwatch_prune(struct au_sbinfo *si)
{
	struct au_brset *brs = rcu_dereference_protected(si->brs, 1);
	struct au_sbmark **pm = &si->sbmarks, *m;
	unsigned int i;

	while ((m = *pm)) {
		for (i = 0; i < brs->nbr; i++)
			if (brs->br[i].path.mnt->mnt_sb == m->sb)
				break;
		if (i < brs->nbr) {
			pm = &m->next;
			continue;
		}
		*pm = m->next;
		au_sbmark_drop(si, m);
	}
}
