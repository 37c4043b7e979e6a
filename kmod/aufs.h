/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aufs: private data of the C shim.  The union policy lives in the Rust
 * core (see aufs_abi.h); these structures only hold what the VFS objects
 * need to carry between calls.
 */
#ifndef AUFS_H
#define AUFS_H

#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/path.h>
#include <linux/rcupdate.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/seqlock.h>
#include "aufs_abi.h"
#include "compat.h"

#define AUFS_NAME		"aufs"
#define AUFS_VERSION		"0.1.0"
#define AUFS_SUPER_MAGIC	0x61756673	/* "aufs" */
#define AUFS_ROOT_INO		2

struct au_watch;

struct au_branch {
	struct path path;
	unsigned int id;
};

/*
 * The branches of a mount as one remount left them: immutable and
 * reference-counted, published in si->brs (RCU).  Every dentry info holds
 * the set its branch indexes refer to; an info made with an older set is
 * refreshed before it is used (au_di_get()).  The core's state (options,
 * branch table) goes with the set.
 */
struct au_brset {
	struct kref kref;
	struct rcu_head rcu;
	unsigned int gen;		/* grows with every change */
	bool sbwatched;			/* si->brgen counts its changes (notify.c) */
	struct au_rs_sb *rs;
	unsigned int nbr;
	struct au_branch br[];		/* index 0 on top */
};

/*
 * The context of a call into the core (the "ctx" of aufs_abi.h): the mount,
 * the branch set the call's indexes refer to, and the credentials the
 * union's own work (AU_CRED_INTERNAL) is done with: the mounter's, or what
 * an LSM made of them for one copy-up.
 */
struct au_ctx {
	struct au_sbinfo *si;
	struct au_brset *brs;
	const struct cred *cred;
};

static inline struct au_sbinfo *AU_CTX_SI(void *ctx)
{
	return ((struct au_ctx *)ctx)->si;
}

static inline struct au_brset *AU_CTX_BRS(void *ctx)
{
	return ((struct au_ctx *)ctx)->brs;
}

/*
 * Lock order, outermost first.  No lock is taken twice on one path, and
 * while it holds a lock of its own the union calls the VFS on branch
 * objects only (a branch is never an aufs mount), never on its own.
 *
 *  1. The VFS's: the union's freeze protection, then the union inode's
 *     i_rwsem (the directory of a namespace operation; the file of a
 *     setattr, xattr change, write or truncate); s_umount for a remount.
 *  2. si->rwsem: read-held by every change of the union (from the first
 *     step of its frame to the last: au_nsop_begin(), nsop.c) and by
 *     opens, write-held by a remount only to check what is busy and to swap the
 *     branch set (its paths are resolved before, without it).
 *  3. au_inode->cpup_mtx: a copy-up of that inode (a parent's and a
 *     child's are taken one after the other, never nested); also the
 *     removal of a name of it (unlink, rmdir, the target a rename
 *     replaces), so a copy-up comes first or finds the name unlinked.
 *     au_finfo->mtx (file.c) is at the same level.
 *  4. A branch: its freeze protection (mnt_want_write), its directory's
 *     i_rwsem (I_MUTEX_PARENT, or lock_rename()), its inode's i_rwsem.
 *  5. Leaves: si->xino_mtx, a watch's mtx (notify.c), si->fsn_mtx, and
 *     the spinlocks (d_lock, i_lock, pin_lock, perm_lock).
 *
 * Where the VFS would call back into the union, and what prevents it:
 *  - setattr: file capabilities (ATTR_KILL_PRIV, from chown, write(2),
 *    truncate) are removed by the branch filesystem from the entry that
 *    is changed, not by setattr_prepare() on the union, whose LSM hook
 *    would remove them through the union's own xattr handler;
 *  - a new union dentry is instantiated (LSM hooks may read or set its
 *    xattrs) after si->rwsem is released (dir.c);
 *  - the union's own opens of branch files are FMODE_NONOTIFY: no
 *    fanotify permission listener, which may use the union, is waited for;
 *  - memory reclaim evicts union inodes, and au_evict_inode() takes
 *    si->xino_mtx and a watch's mtx: both are held only inside
 *    memalloc_nofs_save() (au_xino_lock(), notify.c), so no allocation
 *    under them recurses into a filesystem; the inode number table does
 *    not allocate under xino_mtx at all (its room is made outside it, so
 *    its growth may use all of reclaim: au_ino(), au_ino_keep());
 *  - the union's fsnotify handlers (notify.c) only count, without locks.
 */

/* Per-superblock info (sb->s_fs_info). */
struct au_sbinfo {
	struct super_block *sb;
	struct au_brset __rcu *brs;	/* the current branches (one reference) */
	/*
	 * Changes of the union (namespace operations, opens for write, setattr,
	 * xattrs) read-hold it; a remount that changes branches write-holds it,
	 * so an operation sees one branch set from start to end.
	 */
	struct rw_semaphore rwsem;
	struct au_rs_xino *xino;	/* inode numbers, under au_xino_lock() */
	struct mutex xino_mtx;
	atomic64_t next_id;		/* names the union's temporary entries */
	struct fsnotify_group *fsn;	/* udba=notify, made when first needed */
	struct mutex fsn_mtx;
	struct fsnotify_group *sbfsn;	/* udba=reval: branch filesystem marks */
	struct au_sbmark *sbmarks;	/* ... each of them (notify.c) */
	atomic_t nsbmarks;		/* ... how many: debugfs si_<id>/fs_marks */
	atomic64_t brgen;		/* ... their count of changes */
	atomic64_t attrgen;		/* ... and of attribute changes */
	const struct cred *cred;	/* the mounter's: the union's own changes */
	unsigned long id;		/* si=, /sys/fs/aufs/si_<id> */
	struct dentry *dbg;		/* debugfs aufs/si_<id> */

	/* sysfs: si_<id>/{br<N>,brid<N>,xi_path}; the kobject owns this struct */
	struct kobject kobj;
	bool kobj_added;
	unsigned int nattr;		/* br<N> files made: br_attrs has 2 * nattr */
	struct attribute *br_attrs;	/* br0.. then brid0.. */
	char **br_attr_names;
};

/*
 * Per-dentry info (dentry->d_fsdata): the entries on each branch.  Never
 * changed in place: a change (copy-up, whiteout...) installs a new one, so
 * users take a reference with au_di_get() and drop it with au_di_put().
 */
/*
 * A dentry's info is read without locks in RCU path walk (d_revalidate,
 * permission): it is freed after a grace period, and so are the branch
 * dentries and inodes it points to (the dcache's and icache's own rule).
 */
struct au_dinfo {
	struct kref kref;
	struct rcu_head rcu;
	struct au_brset *brs;		/* what the bindexes refer to (referenced) */
	long pgen, ogen;		/* udba=notify: parent's, own event count */
	u64 pstamp, ostamp;		/* udba=reval: parent's, own entries */
	bool pstamp_ok, ostamp_ok;	/* ... if the stamp can stand for them */
	s64 brgen;			/* ... and they matched at this si->brgen */
	s64 attrgen;			/* ... and si->attrgen (a file's own) */
	int bopaque, bwh, bneg;
	unsigned int nlower;
	struct au_lower lower[];	/* top first */
};

/*
 * Per-inode info: the VFS inode and the topmost lower inode it mirrors.
 * @h_prev keeps the inode it mirrored before a copy-up alive until the
 * union inode goes: a file opened or mapped before the copy-up still uses
 * it.  (A file is copied up once: from a read-only branch to a writable
 * one, where later changes are made in place.)
 */
/*
 * A real file shows the union path (au_real_open(), compat.h): the
 * union's /proc/PID/maps lines, and a mapping keeps the union mount busy.
 * Its real dentry and mount are pinned here, on the union inode, which the
 * union dentry of the file's path keeps alive; so is every real dentry
 * ->d_real answered with (file_dentry() on older kernels, the data or
 * the metadata of a dentry on newer ones): the answer is used without a
 * reference.  A remount's "in use" check sees the branch each is on (a
 * metacopy's data is on another branch than its attributes).
 * Append-only, freed at evict.
 */
struct au_hpin {
	struct au_hpin *next;
	struct path path;
	unsigned int brid;		/* the branch it is on */
};

struct au_inode {
	struct inode *h_inode;
	struct inode *h_prev;
	struct au_hpin *pins;		/* see struct au_hpin */
	/*
	 * plink: the pseudo-link of a lower file with several names, once
	 * one of them was copied up (set once, under cpup_mtx; see
	 * src/plink.rs): the data every name not yet linked up shows.
	 */
	struct path plink;
	spinlock_t pin_lock;		/* appending to @pins */
	unsigned int brid, prev_brid;	/* branch ids of h_inode, h_prev */
	struct mutex cpup_mtx;		/* serializes copy-ups of this inode */
	struct au_watch *w;		/* udba=notify, directories (notify.c) */
	struct au_rdcache *rdc;		/* a directory's merged listing (readdir.c) */
	atomic_t misses;		/* lookups in it without one, since */
	/*
	 * A directory's lower permission checks, as they last came out
	 * (inode.c): what they granted (MAY_READ/MAY_EXEC) to @perm_cred
	 * (referenced), good while the branch filesystems' counts of changes
	 * and the branch set are the same (@perm_gen, @perm_brs).
	 */
	seqlock_t perm_lock;
	const struct cred *perm_cred;
	s64 perm_gen;
	unsigned int perm_brs;
	int perm_granted;
	struct inode vfs_inode;
};

static inline struct au_sbinfo *AU_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}


static inline struct au_inode *AU_I(struct inode *inode)
{
	return container_of(inode, struct au_inode, vfs_inode);
}

/*
 * si->xino_mtx, without filesystem reclaim while it is held (see the lock
 * order above): what au_xino_lock() returns goes to au_xino_unlock().
 */
static inline unsigned int au_xino_lock(struct au_sbinfo *si)
{
	mutex_lock(&si->xino_mtx);
	return memalloc_nofs_save();
}

static inline void au_xino_unlock(struct au_sbinfo *si, unsigned int nofs)
{
	memalloc_nofs_restore(nofs);
	mutex_unlock(&si->xino_mtx);
}

/* A unique number for the temporary names of one operation. */
static inline u64 au_next_id(struct au_sbinfo *si)
{
	return atomic64_inc_return(&si->next_id);
}

/* Entry @i of @di as a path on its branch (no reference taken). */
static inline void au_h_path(struct au_dinfo *di, unsigned int i, struct path *h)
{
	h->mnt = di->brs->br[di->lower[i].bindex].path.mnt;
	h->dentry = di->lower[i].dentry;
}

/*
 * Is @di a metacopy: a regular file whose topmost entry holds only its
 * attributes, its data being its last entry (the only non-directory with
 * more than one; src/union.rs)?
 */
static inline bool au_di_metacopy(struct au_dinfo *di)
{
	return di->nlower > 1 && !d_is_dir(di->lower[0].dentry);
}

/* One of the union's own xattrs (AU_XATTR_PRIVATE): never shown or copied. */
static inline bool au_xattr_private(const char *name)
{
	return !strncmp(name, AU_XATTR_PRIVATE, sizeof(AU_XATTR_PRIVATE) - 1);
}

/* The id of the branch of entry @i of @di. */
static inline unsigned int au_di_brid(struct au_dinfo *di, unsigned int i)
{
	return di->brs->br[di->lower[i].bindex].id;
}

/* A call context for branch set @brs. */
static inline struct au_ctx au_ctx(struct au_sbinfo *si, struct au_brset *brs)
{
	return (struct au_ctx){ .si = si, .brs = brs, .cred = si->cred };
}

/*
 * Mount and remount context for au_c_br_resolve() & co (branch.c): the
 * resolved branch paths, by position.  A remount starts with the current branches
 * at their positions; the core then inserts, forgets and removes.  A br=
 * remount resolves the whole new list before the old branches go, so
 * there is room for twice the most branches a table may have; the core
 * judges the table that results.
 */
#define AU_MCTX_MAX	(2 * AU_BRANCH_MAX)

struct au_mctx {
	unsigned int n;
	struct path paths[AU_MCTX_MAX];
	char *abs[AU_MCTX_MAX];	/* d_path() buffers */
	struct path target;	/* the directory mounted on, if known */
};


/* module.c */
extern struct file_system_type au_fs_type;
extern struct dentry *au_debugfs;

/* dinfo.c: the ground floor (branch sets, dentry infos, inode numbers) */
struct au_brset *au_brs_get(struct au_sbinfo *si);
void au_brs_put(struct au_brset *brs);
int au_brs_index(struct au_brset *brs, unsigned int id);
struct au_dinfo *au_di_alloc(struct au_brset *brs, unsigned int nlower);
struct au_dinfo *au_di_one(struct au_brset *brs, struct dentry *h, unsigned int bindex);
struct au_dinfo *au_di_get_raw(struct dentry *dentry);
void au_di_put(struct au_dinfo *di);
void au_di_set(struct dentry *dentry, struct au_dinfo *di);
bool au_di_is_current(struct au_sbinfo *si, struct au_dinfo *di);
bool au_dirs_stamp(struct au_dinfo *di, u64 *stamp);
int au_di_find(struct au_dinfo *di, unsigned int t);
int au_ino(struct au_sbinfo *si, unsigned int brid, u64 h_ino, u64 *ino);
int au_ino_keep(struct au_sbinfo *si, unsigned int brid, u64 h_ino, u64 ino);

/* super.c */
extern const struct super_operations au_sops;
int au_fill_super(struct super_block *sb, void *data, int silent);

/* namei.c */
extern const struct dentry_operations au_dops;
struct au_dinfo *au_di_get(struct dentry *dentry);
struct au_dinfo *au_di_get_positive(struct dentry *dentry);
struct dentry *au_lookup(struct inode *dir, struct dentry *dentry,
			 unsigned int flags);

/* inode.c */
extern struct kmem_cache *au_inode_cachep;
struct inode *au_alloc_inode(struct super_block *sb);
void au_free_inode(struct inode *inode);
void au_evict_inode(struct inode *inode);
int au_pin_real(struct inode *inode, const struct path *h, unsigned int brid);
unsigned int au_data_path(struct dentry *dentry, struct au_dinfo *di, struct path *p);
unsigned int au_meta_path(struct dentry *dentry, struct au_dinfo *di, struct path *p);
int au_plink_find(struct au_sbinfo *si, struct au_dinfo *di, struct path *pl,
		  unsigned int *bindex);
void au_plink_set(struct inode *inode, struct path *pl);
struct dentry *au_d_real(struct dentry *dentry, au_d_real_t type);
extern const struct xattr_handler *au_xattr_handlers[];
struct inode *au_iget(struct super_block *sb, struct au_dinfo *di);
struct inode *au_iget_root(struct super_block *sb, struct au_dinfo *di);
void au_cpattr(struct inode *inode, struct inode *h_inode);
void au_inode_retop(struct inode *inode, struct au_dinfo *di, u64 ino);
void au_gone(struct dentry *dentry, unsigned int t);
int au_permission(au_idmap *idmap, struct inode *inode, int mask);
int au_getattr(au_idmap *idmap, const struct path *path,
	       struct kstat *stat, u32 request_mask, unsigned int flags);
int au_setattr(au_idmap *idmap, struct dentry *dentry, struct iattr *ia);
int au_fileattr_get(struct dentry *dentry, struct fileattr *fa);
int au_fileattr_set(au_idmap *idmap, struct dentry *dentry, struct fileattr *fa);
struct posix_acl *au_get_acl(struct inode *inode, int type, bool rcu);
int au_set_acl(au_idmap *idmap, struct dentry *dentry, struct posix_acl *acl,
	       int type);
ssize_t au_listxattr(struct dentry *dentry, char *list, size_t size);

/* branch.c: au_c_* (aufs_abi.h), and the shim's own calls on branch entries */
struct au_mctx *au_mctx_alloc(void);
void au_mctx_free(struct au_mctx *m);
int au_h_setattr(const struct path *h, struct iattr *ia);
int au_h_statfs(const struct path *h_path, struct kstatfs *buf);
int au_h_getattr(const struct path *h_path, struct kstat *stat, u32 request_mask,
		 unsigned int flags);
char *au_h_get_link(struct dentry *h);
int au_h_fileattr_get(struct dentry *h, struct fileattr *fa);
int au_h_fileattr_set(const struct path *h, struct fileattr *fa);
ssize_t au_h_listxattr(struct dentry *h, char *list, size_t size);
ssize_t au_h_getxattr(const struct path *h, const char *name, void *value, size_t size);
int au_h_setxattr(const struct path *h, const char *name, const void *value,
		  size_t size, int flags);
struct posix_acl *au_h_get_inode_acl(struct inode *h_inode, int type);
int au_h_set_acl(const struct path *h, int type, struct posix_acl *acl);
int au_h_fsync_dir(const struct path *h_path, loff_t start, loff_t end, int datasync);

/* copy_up.c */
int au_copy_up(struct dentry *dentry, unsigned int t, loff_t trunc);
int au_copy_up_meta(struct dentry *dentry, unsigned int t);
/* A target of a namespace operation: @dentry must be on its branch, or
 * (@newname) the directory @dentry gets a new name in it: for a create,
 * @name (a directory when @isdir), whose branch the create policy decides;
 * NULL for a link or a rename. */
struct au_wbr_arg {
	struct dentry *dentry;
	bool newname;
	const struct qstr *name;
	bool isdir;
};
int au_wbr_op(const struct au_wbr_arg *w, unsigned int n);
int au_wbr(struct dentry *dentry);
int au_wbr_create(struct dentry *parent);

/* nsop.c: the frame of a change of the union */
#define AU_NSOP_MAX	AU_TARGET_MAX

/* A copy-up an operation needs first: as au_copy_up(), or au_copy_up_meta()
 * when @meta_ok and no @trunc. */
struct au_nsop_up {
	struct dentry *dentry;
	loff_t trunc;
	bool meta_ok;
};

/* A copy-up with the data, of all of it. */
#define AU_NSOP_UP(d)	{ .dentry = (d), .trunc = -1 }

/*
 * One operation: what it needs, filled in by the caller, then what
 * au_nsop_begin() found.  Zero-initialized but for what is set.
 */
struct au_nsop {
	/* Its targets: the branch it goes to (au_wbr_op()). */
	struct au_wbr_arg tg[AU_TARGET_MAX];
	unsigned int ntg;
	/*
	 * NULL, or asked once the branch is known, before anything is copied
	 * up: 0 to go on, > 0 when there is nothing to do, or -errno.
	 */
	int (*check)(struct au_nsop *op, void *arg);
	void *arg;
	/* Copied up to that branch, in this order. */
	struct au_nsop_up up[AU_NSOP_MAX];
	unsigned int nup;
	/* A name it removes: under its inode's cpup_mtx (lock order, 3.). */
	struct dentry *victim;
	/* Whose positive infos it takes, in this order; one branch set. */
	struct dentry *obj[AU_NSOP_MAX];
	unsigned int nobj;
	/* Directories whose attributes are refreshed at the end. */
	struct dentry *dir[2];

	/* Found by au_nsop_begin(): */
	struct au_sbinfo *si;
	int t;				/* the branch */
	struct au_dinfo *di[AU_NSOP_MAX];	/* the infos of @obj */
	struct au_ctx ctx;		/* a call context for their branch set */
	struct mutex *mtx;		/* @victim's cpup_mtx, held */
	bool took;			/* the infos were asked for */
};

int au_nsop_begin(struct au_nsop *op, struct super_block *sb);
void au_nsop_end(struct au_nsop *op);

/* dir.c */
extern const struct inode_operations au_dir_iops;
int au_create(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	      umode_t mode, bool excl);
int au_mkdir(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	     umode_t mode);
int au_mknod(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	     umode_t mode, dev_t rdev);
int au_symlink(au_idmap *idmap, struct inode *dir, struct dentry *dentry,
	       const char *target);
int au_link(struct dentry *old, struct inode *dir, struct dentry *dentry);
int au_unlink(struct inode *dir, struct dentry *dentry);
int au_rmdir(struct inode *dir, struct dentry *dentry);
int au_rename(au_idmap *idmap, struct inode *odir,
	      struct dentry *odentry, struct inode *ndir, struct dentry *ndentry,
	      unsigned int flags);

/* file.c */
extern const struct file_operations au_file_fops;

/* readdir.c */
struct au_rdcache;
void au_rdcache_drop(struct inode *inode);
struct au_rdcache *au_rdcache_get(struct inode *dir, struct au_dinfo *di, bool ok,
				  u64 stamp, bool make);
struct au_rs_dir *au_rdcache_dir(struct au_rdcache *c);
void au_rdcache_put(struct au_rdcache *c);
extern const struct file_operations au_dir_fops;

/* notify.c */
extern atomic_t au_nmarks;
long au_notify_gen(struct inode *dir);
void au_notify_watch(struct inode *dir, struct au_dinfo *di);
void au_notify_unwatch(struct inode *inode);
void au_notify_fin(struct au_sbinfo *si);
void au_sbwatch(struct au_sbinfo *si, struct au_brset *brs);
void au_sbwatch_prune(struct au_sbinfo *si);

/* sysfs.c */
int au_sysfs_init(void);
void au_sysfs_fin(void);
int au_sysfs_add(struct au_sbinfo *si);
int au_sysfs_refresh(struct au_sbinfo *si);
void au_sysfs_del(struct au_sbinfo *si);
void au_si_init_kobj(struct au_sbinfo *si);
void au_si_put(struct au_sbinfo *si);

#endif /* AUFS_H */
