/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one interface between the C shim and the Rust core of aufs.
 *
 * The Rust side is generated from this file by bindgen (build.rs).  Layouts
 * are checked on both sides: bindgen's own layout assertions on the Rust side
 * and, at module load, au_abi_check() compares the shim's sizeof/offsetof
 * against the table the Rust core exports (au_rs_abi_layout); on the host a
 * cc-compiled copy of the same table is compared in `cargo test`.
 *
 * Conventions: functions named au_rs_* are implemented in Rust (src/ffi/)
 * and called by C; au_c_* are implemented in C (kmod/branch.c; the
 * allocator and panic services in kmod/module.c) and called by Rust.  An
 * int return is 0 or a negative errno, unless its comment says what else it
 * may be: a length (text generators, au_c_readlink), a branch index (the
 * target questions), 1 for "yes" (the policy questions, au_c_metacopy) or
 * for a second kind of success (au_rs_rename_check, au_rs_rename: the moved
 * directory keeps its lower entries, au_rs_plink_find).
 * @ctx is the shim's context of the call (struct au_ctx in kmod/aufs.h: the
 * mount, the branch set the indexes refer to, and the credentials of the
 * union's own work); @mctx the context of a mount or remount (struct
 * au_mctx: the branch paths resolved so far).  A "dentry" here is always a
 * lower (branch) dentry passed as an opaque pointer; whoever holds a struct
 * au_lower owns one reference.  A call with many inputs takes them as one
 * request struct (struct au_*_req; struct au_at for a name in a branch
 * directory), lent for the call; its outputs stay parameters.  No function
 * here takes more than seven parameters.  Every struct is in the layout
 * table (AU_ABI_LAYOUT), and AU_ABI_VERSION changes with any of them.
 */
#ifndef AUFS_ABI_H
#define AUFS_ABI_H

#include <linux/types.h>

#define AU_ABI_VERSION		8
#define AU_BRANCH_MAX		127
#define AU_NAME_MAX		242
#define AU_MSG_MAX		256	/* error text buffer, NUL included */

/* Branch permission, as decided by the core. */
enum au_perm {
	AU_PERM_RW = 0,
	AU_PERM_RO = 1,
	AU_PERM_RR = 2,
};

/* au_brinfo.flags */
#define AU_BR_WH	0x1	/* ro/rr+wh: whiteouts here hide lower branches */
#define AU_BR_NOLWH	0x2	/* rw+nolwh: whiteouts are plain files */

/*
 * The union's own xattrs on branch files: never shown through the union,
 * never set through it, never copied up.  The metacopy marker: a regular
 * file that holds only the attributes of the union object, whose data is
 * the next regular file of the name below.
 */
#define AU_XATTR_PRIVATE	"trusted.aufs."
#define AU_XATTR_METACOPY	AU_XATTR_PRIVATE "metacopy"
/*
 * A directory's rename record (dirren): the path, from the branch root,
 * of its contents on the branches below (the core's dirren.rs checks it).
 */
#define AU_XATTR_DIRREN		AU_XATTR_PRIVATE "dirren"

/* File types, as in dirent d_type (DT_*). */
#define AU_DT_UNKNOWN	0
#define AU_DT_FIFO	1
#define AU_DT_CHR	2
#define AU_DT_DIR	4
#define AU_DT_BLK	6
#define AU_DT_REG	8
#define AU_DT_LNK	10
#define AU_DT_SOCK	12

struct au_rs_sb;		/* Rust: per-mount options + branch table */
struct au_rs_dir;		/* Rust: merged directory listing */
struct au_rs_xino;		/* Rust: inode number table */
struct au_rs_xino_spare;	/* Rust: room for it, made outside its lock */

/* One entry of a union object on one branch. */
struct au_lower {
	void *dentry;		/* lower dentry, one reference held */
	__u32 bindex;		/* branch index, 0 = top */
	__u32 pad;
};

/* What the shim found at a branch path during mount (C -> Rust). */
struct au_brfacts {
	__u32 is_dir;
	__u32 sb_rdonly;
	__u32 is_aufs;
	__u32 under_mountpoint;	/* lies under the directory being mounted on */
	char fs_type[32];	/* NUL-terminated file_system_type name */
	const __u8 *abs_path;	/* resolved absolute path, valid during the mount */
	__u32 abs_len;
	__u32 flags;		/* AU_BRF_* */
};

/* au_brfacts.flags */
#define AU_BRF_IDMAPPED	0x1	/* an idmapped mount */
#define AU_BRF_INEXACT	0x2	/* names compare other than byte for byte
				 * (casefolding, or the filesystem's own
				 * d_hash/d_compare, as vfat) */

/* One row of the branch table (Rust -> C). */
struct au_brinfo {
	__u32 perm;		/* enum au_perm */
	__u32 flags;		/* AU_BR_* */
	__u32 id;		/* branch id, 64.. */
	__u32 pad;
};

/* Attributes of a lower entry (C -> Rust). */
struct au_stat {
	__u32 positive;		/* 0: negative dentry, the rest is zero */
	__u32 mode;		/* S_IFMT bits included: the core derives the type */
	__u32 nlink;
	__u32 dev;		/* the inode's sb->s_dev, new_encode_dev() form */
	__u64 ino;
	__s64 size;
	__u32 rdev;		/* new_encode_dev() form */
	__u32 generation;	/* i_generation */
	__u32 prot;		/* 1: append-only or immutable */
	__u32 pad;
};

/* Result of a union lookup (Rust -> C). */
struct au_lookup_out {
	__u32 nlower;		/* entries written to the caller's array */
	__u32 dtype;		/* type of the union object; AU_DT_UNKNOWN if negative */
	__s32 bopaque;		/* branch whose dir holds the opaque marker, or -1 */
	__s32 bwh;		/* branch holding a whiteout of the name, or -1 */
	__s32 bneg;		/* topmost branch where the name is absent, or -1 */
	__u32 why;		/* on an error, what the shim reports: AU_LOOKUP_* */
};

/* au_lookup_out.why */
#define AU_LOOKUP_ERRNO		0	/* only the errno */
#define AU_LOOKUP_NODATA	1	/* -EIO: a metacopy whose data is gone */
#define AU_LOOKUP_REFUSED	2	/* -EPERM: a metacopy marker, no metacopy option */
#define AU_LOOKUP_BADREC	3	/* -EIO: a malformed dirren record */

/* Times of a lower entry. */
struct au_times {
	__s64 atime_sec;
	__s64 mtime_sec;
	__u32 atime_nsec;
	__u32 mtime_nsec;
};

/*
 * One target of a namespace operation (C -> Rust, au_rs_op_target): an
 * object that must be on the branch the operation goes to, or a directory
 * that gets a new name in it.
 */
struct au_target {
	const struct au_lower *lower;	/* OBJECT: its parent's entries (none
					 * for the root); NEWNAME: its own */
	__u32 nlower;
	__u32 kind;		/* AU_TARGET_* */
	__u32 top;		/* OBJECT: the branch of its topmost entry */
	__u32 pad;
	const __u8 *name;	/* NEWNAME of a create: the new name (the
				 * create policy decides); NULL: link, rename */
	__u32 namelen;
	__u32 isdir;		/* NEWNAME of a create: a mkdir */
};

/* au_target.kind */
#define AU_TARGET_OBJECT	0
#define AU_TARGET_NEWNAME	1
#define AU_TARGET_MAX		4	/* a rename: source, both parents, target */

/*
 * A copy-up (C -> Rust, au_rs_copy_up): the object @obj copied into the
 * directory @dir (its parent's entry on @t) on branch @t under @name.
 */
struct au_cpup_req {
	const struct au_lower *obj;
	__u32 nobj;
	__u32 t;
	void *dir;
	const __u8 *name;
	__u32 len;
	__u32 meta_only;	/* the change needs no data */
	__s64 trunc_len;	/* the data copied at most; < 0: all of it */
	__u64 id;		/* names the temporary entries */
};

/*
 * One side of a rename: the entries of the parent and of the object (the
 * target's: none if there is none), and the name.
 */
struct au_rename_side {
	const struct au_lower *parent;
	const struct au_lower *obj;
	const __u8 *name;
	__u32 nparent;
	__u32 nobj;
	__u32 len;
	__u32 pad;
};

/* A rename(2) in the union (C -> Rust, au_rs_rename). */
struct au_rename_req {
	struct au_rename_side src;
	struct au_rename_side dst;
	__u32 flags;		/* RENAME_* */
	__u32 t;		/* the branch acted on */
	__u64 id;		/* names the temporary entries */
};

/*
 * A mount or a remount (C -> Rust, au_rs_sb_new, au_rs_remount): the
 * options @data, the branch paths resolved through @mctx (struct au_mctx).
 */
struct au_mount_req {
	const __u8 *data;
	void *mctx;
	__u32 len;
	__u32 rdonly;		/* the mount is (to be) read-only */
};

/*
 * A union lookup (C -> Rust, au_rs_lookup): @name in the directory of
 * the entries @parent.
 */
struct au_lookup_req {
	const struct au_lower *parent;
	const __u8 *name;
	const struct au_rs_dir *listing;	/* NULL, or the parent's merged listing */
	__u32 nparent;
	__u32 len;
};

/*
 * What a create makes (au_new_req.entry): @mode with its S_IFMT bits, a
 * device's @rdev (new_encode_dev() form), a symlink's @target.
 */
struct au_new_entry {
	const __u8 *target;
	__u32 tlen;
	__u32 mode;
	__u32 rdev;
	__u32 pad;
};

/*
 * A new name in the union (C -> Rust, au_rs_create, au_rs_link): @name in
 * the directory of the entries @parent, on branch @t.  A create makes
 * @entry there (@src is none); a link makes it a name of the object @src
 * (@entry is unused).
 */
struct au_new_req {
	const struct au_lower *parent;
	const struct au_lower *src;
	const __u8 *name;
	__u32 nparent;
	__u32 nsrc;
	__u32 len;
	__u32 t;
	struct au_new_entry entry;
};

/*
 * An unlink or rmdir in the union (C -> Rust, au_rs_remove): the object
 * @obj, named @name in the directory of the entries @parent, removed on
 * branch @t.
 */
struct au_remove_req {
	const struct au_lower *parent;
	const struct au_lower *obj;
	const __u8 *name;
	__u32 nparent;
	__u32 nobj;
	__u32 len;
	__u32 t;
	__u64 id;		/* names the temporary entries */
};

/*
 * The question a rename asks first (C -> Rust, au_rs_rename_check): the
 * entries of the source and of the target it replaces (none if there is
 * none), the branch and the RENAME_* flags of the rename.
 */
struct au_rename_check_req {
	const struct au_lower *src;
	const struct au_lower *dst;
	__u32 nsrc;
	__u32 ndst;
	__u32 t;
	__u32 flags;
};

/*
 * A name in a directory of a branch (Rust -> C, the branch changes
 * au_c_create, au_c_link, au_c_rename): the directory's lower dentry and
 * the name, lent for the call.
 */
struct au_at {
	void *dir;
	const __u8 *name;
	__u32 len;
	__u32 pad;
};

/* Who a branch change is made as (au_c_* @cred). */
#define AU_CRED_CALLER		0	/* the calling process */
#define AU_CRED_INTERNAL	1	/* the union's own work: the mounter's creds */

/* One merged directory entry (Rust -> C). */
struct au_dirent {
	const __u8 *name;
	__u32 namelen;
	__u32 dtype;
	__u32 bindex;		/* branch the entry was taken from */
	__u32 pad;
	__u64 ino;		/* lower inode number on that branch */
};

/*
 * Layout table: sizes and offsets in a fixed order.  The Rust core lists the
 * same values from its bindgen types (src/abi.rs); the order must match.
 * Needs offsetof (linux/stddef.h or stddef.h) where it is expanded.
 */
#define AU_ABI_LAYOUT(X)						\
	X(AU_ABI_VERSION)						\
	X(sizeof(struct au_lower))					\
	X(offsetof(struct au_lower, bindex))				\
	X(sizeof(struct au_brfacts))					\
	X(offsetof(struct au_brfacts, fs_type))				\
	X(sizeof(struct au_brinfo))					\
	X(offsetof(struct au_brinfo, id))				\
	X(sizeof(struct au_stat))					\
	X(offsetof(struct au_stat, ino))				\
	X(offsetof(struct au_stat, size))				\
	X(offsetof(struct au_stat, prot))				\
	X(sizeof(struct au_lookup_out))					\
	X(offsetof(struct au_lookup_out, bneg))				\
	X(sizeof(struct au_dirent))					\
	X(offsetof(struct au_dirent, namelen))				\
	X(offsetof(struct au_dirent, ino))				\
	X(sizeof(struct au_times))					\
	X(offsetof(struct au_times, atime_nsec))				\
	X(sizeof(struct au_target))					\
	X(offsetof(struct au_target, nlower))				\
	X(offsetof(struct au_target, top))				\
	X(offsetof(struct au_target, name))				\
	X(sizeof(struct au_cpup_req))					\
	X(offsetof(struct au_cpup_req, dir))				\
	X(offsetof(struct au_cpup_req, trunc_len))			\
	X(offsetof(struct au_cpup_req, id))				\
	X(sizeof(struct au_rename_side))				\
	X(offsetof(struct au_rename_side, name))			\
	X(offsetof(struct au_rename_side, len))				\
	X(sizeof(struct au_rename_req))					\
	X(offsetof(struct au_rename_req, dst))				\
	X(offsetof(struct au_rename_req, id))				\
	X(sizeof(struct au_mount_req))					\
	X(offsetof(struct au_mount_req, len))				\
	X(sizeof(struct au_lookup_req))					\
	X(offsetof(struct au_lookup_req, listing))			\
	X(offsetof(struct au_lookup_req, len))				\
	X(sizeof(struct au_new_entry))					\
	X(offsetof(struct au_new_entry, rdev))				\
	X(sizeof(struct au_new_req))					\
	X(offsetof(struct au_new_req, nsrc))				\
	X(offsetof(struct au_new_req, entry))				\
	X(sizeof(struct au_remove_req))					\
	X(offsetof(struct au_remove_req, t))				\
	X(offsetof(struct au_remove_req, id))				\
	X(sizeof(struct au_rename_check_req))				\
	X(offsetof(struct au_rename_check_req, flags))			\
	X(sizeof(struct au_at))						\
	X(offsetof(struct au_at, len))
#define AU_ABI_LAYOUT_LEN	49

/* ---- implemented in Rust ---- */
const __u64 *au_rs_abi_layout(void);
/*
 * A mount: 0 and *@out the new state; else -errno and a message in @msg
 * (@msglen bytes, NUL included).
 */
int au_rs_sb_new(const struct au_mount_req *req, struct au_rs_sb **out,
		 char *msg, __u32 msglen);
void au_rs_sb_free(struct au_rs_sb *sb);
/*
 * A remount: the request's options and branch changes applied, in order,
 * to a copy of @sb, new branches resolved through its mctx (whose
 * positions hold the current branches).  0 and *@out the new state, or
 * NULL when nothing changes; else -errno and a message, and @sb is as it
 * was.
 */
int au_rs_remount(const struct au_rs_sb *sb, const struct au_mount_req *req,
		  struct au_rs_sb **out, char *msg, __u32 msglen);
__u32 au_rs_sb_nbr(const struct au_rs_sb *sb);
int au_rs_sb_brinfo(const struct au_rs_sb *sb, __u32 bindex, struct au_brinfo *out);
/*
 * The options /proc/mounts shows after si=: their length (no NUL), written
 * to @buf only if it is at most @len; or a negative errno.
 */
int au_rs_show_options(const struct au_rs_sb *sb, char *buf, __u32 len);
/* Text generators: return the length written (no NUL) or a negative errno. */
int au_rs_sysfs_br(const struct au_rs_sb *sb, __u32 bindex, char *buf, __u32 len);
int au_rs_sysfs_brid(const struct au_rs_sb *sb, __u32 bindex, char *buf, __u32 len);
int au_rs_sysfs_xi_path(const struct au_rs_sb *sb, char *buf, __u32 len);
int au_rs_sysfs_config(char *buf, __u32 len);
/*
 * The entries found go to @out (room for @cap).  @req->listing: NULL, or
 * the parent's merged listing (au_rs_readdir of the same entries, still
 * current): it tells where the name is without asking every branch.  On
 * an error @res->why says what the shim reports: a metacopy whose data is
 * gone (-EIO), or one the mount does not follow (-EPERM).
 */
int au_rs_lookup(const struct au_rs_sb *sb, void *ctx,
		 const struct au_lookup_req *req, struct au_lower *out,
		 __u32 cap, struct au_lookup_out *res);
int au_rs_readdir(const struct au_rs_sb *sb, void *ctx,
		  const struct au_lower *dir, __u32 ndir, struct au_rs_dir **out);
__u32 au_rs_dir_count(const struct au_rs_dir *d);
int au_rs_dir_entry(const struct au_rs_dir *d, __u32 idx, struct au_dirent *out);
void au_rs_dir_free(struct au_rs_dir *d);
/* Called back by au_c_iterate for each lower entry. */
int au_rs_dir_add(void *cookie, const __u8 *name, __u32 len, __u32 dtype, __u64 ino);
/*
 * Inode numbers (src/xino.rs): a table of its own, so it can change while
 * the options and branch table are read.  Every call on one table is
 * serialized by the caller (the shim's per-sb xino mutex), and none
 * allocates: an insertion into a full table (au_rs_ino, au_rs_ino_keep)
 * is -EAGAIN; the caller asks au_rs_xino_room() for the capacity, makes
 * it with au_rs_xino_spare() without the mutex (memory reclaim evicts
 * union inodes, and eviction takes the mutex), hands it over with
 * au_rs_xino_adopt() under the mutex and tries again.
 */
struct au_rs_xino *au_rs_xino_new(void);
void au_rs_xino_free(struct au_rs_xino *x);
int au_rs_ino(struct au_rs_xino *x, __u32 brid, __u64 h_ino, __u64 *ino);
/* After a copy-up: @h_ino on branch @brid is union inode @ino. */
int au_rs_ino_keep(struct au_rs_xino *x, __u32 brid, __u64 h_ino, __u64 ino);
/* The union inode whose top was @h_ino (now with @h_nlink links) is gone. */
void au_rs_ino_evicted(struct au_rs_xino *x, __u32 brid, __u64 h_ino, __u32 h_nlink);
__u64 au_rs_xino_room(struct au_rs_xino *x);
struct au_rs_xino_spare *au_rs_xino_spare(__u64 cap);
void au_rs_xino_adopt(struct au_rs_xino *x, struct au_rs_xino_spare *spare);
__u64 au_rs_xino_len(struct au_rs_xino *x);
/* Branch @brid was deleted: its entries go. */
void au_rs_xino_forget_branch(struct au_rs_xino *x, __u32 brid);

/* Policy questions (src/policy.rs): 1 yes, 0 no. */
int au_rs_write_in_place(const struct au_rs_sb *sb, __u32 bindex);
/*
 * The pseudo-link of the object @obj (plink): 1 with a referenced dentry
 * in *@out and its branch in *@br, 0 when there is none, or -errno.
 */
int au_rs_plink_find(const struct au_rs_sb *sb, void *ctx,
		     const struct au_lower *obj, __u32 nobj, void **out, __u32 *br);
int au_rs_share_inode(const struct au_rs_sb *sb, __u32 bindex, __u32 is_dir,
		      __u32 nlink);
/*
 * udba: is a cached negative dentry still good / must a positive one be
 * compared with a new lookup?  @changed: fsnotify reported a change in the
 * parent's branch directories since the dentry was looked up.  1 yes, 0 no.
 */
int au_rs_keep_negative(const struct au_rs_sb *sb, __u32 changed);
int au_rs_must_compare(const struct au_rs_sb *sb, __u32 changed);
int au_rs_udba_stamps(const struct au_rs_sb *sb);
/*
 * udba=reval: does a cached entry of type @dtype (AU_DT_*) carry a stamp of
 * its own entries too (a directory; a regular file under metacopy)?
 */
int au_rs_stamp_own(const struct au_rs_sb *sb, __u32 dtype);
/* 1: udba=notify (the shim watches the branch directories it caches). */
int au_rs_udba_notify(const struct au_rs_sb *sb);
/* 1: check a permission on every branch the object is on; 0: the top only. */
int au_rs_perm_all(const struct au_rs_sb *sb, __u32 is_dir, __u32 write);
/* 1: O_DIRECT is what the branch allows (dio); 0: refused (nodio). */
int au_rs_direct_io(const struct au_rs_sb *sb);

/* The writable union (src/write.rs).  @t is the branch acted on. */
/*
 * The branch (>= 0) an operation with the @n (1..AU_TARGET_MAX) targets
 * @tg goes to: the topmost of what each needs (src/policy.rs); or -errno.
 */
/*
 * @ctx the call context of the targets' branch set (the create policies
 * ask it for the branches' free space), @now the monotonic time in ns.
 */
int au_rs_op_target(const struct au_rs_sb *sb, void *ctx, __u64 now,
		    const struct au_target *tg, __u32 n);
/* statfs: 1 the sum of the branches (sum), 0 the first branch's. */
int au_rs_statfs_sum(const struct au_rs_sb *sb);
/* @id: unique per mount, names the temporary entries of this operation. */
/*
 * @meta_only: the change needs no data (chmod, chown, utimes, an xattr).
 * 0: a whole copy; 1: a metacopy (see AU_XATTR_METACOPY: the object's data
 * stays its last entry); or -errno.  A metacopy already on @t gets its
 * data (@meta_only 0): a whole copy replaces it.
 */
int au_rs_copy_up(const struct au_rs_sb *sb, void *ctx,
		  const struct au_cpup_req *req, void **out);
/* Copy-up of an unlinked regular file: made in the root of @t and unlinked
 * at once; *@out (unhashed) is all that keeps it. */
int au_rs_copy_up_orphan(const struct au_rs_sb *sb, void *ctx,
			 const struct au_lower *obj, __u32 nobj, __u32 t,
			 __u64 id, void **out);
/* *@out: the new entry on the request's branch, referenced. */
int au_rs_create(const struct au_rs_sb *sb, void *ctx,
		 const struct au_new_req *req, void **out);
int au_rs_link(const struct au_rs_sb *sb, void *ctx,
	       const struct au_new_req *req, void **out);
int au_rs_remove(const struct au_rs_sb *sb, void *ctx,
		 const struct au_remove_req *req);
/* 0: go on; 1: source and target are one file, nothing to do; or -errno. */
int au_rs_rename_check(const struct au_rs_sb *sb, void *ctx,
		       const struct au_rename_check_req *req);
int au_rs_rename(const struct au_rs_sb *sb, void *ctx,
		 const struct au_rename_req *req);

/* ---- implemented in C ---- */
void *au_c_kmalloc(__u64 size, __u64 align);
void *au_c_krealloc(void *p, __u64 old_size, __u64 new_size, __u64 align);
void au_c_kfree(void *p);
/* Logs and BUG()s; never returns (not marked noreturn so objtool sees the ud2 after the call). */
void au_c_panic(const char *msg, __u32 len);
/* Mount and remount: resolve a branch path about to take position @idx
 * (kept by the shim, those from @idx on move down by one), compare two. */
int au_c_br_resolve(void *mctx, __u32 idx, const __u8 *path, __u32 len,
		    struct au_brfacts *out);
/* 0 distinct, 1 same, 2 a inside b, 3 a contains b */
__u32 au_c_br_relation(void *mctx, __u32 a, __u32 b);
/* The branch resolved at @idx is not kept / the branch at @idx was
 * deleted: drop position @idx, those after it move up by one. */
void au_c_br_forget(void *mctx, __u32 idx);
void au_c_br_removed(void *mctx, __u32 idx);
/* Branch primitives (branch.c).  @ctx is a struct au_ctx. */
int au_c_lookup(void *ctx, __u32 bindex, void *dir, const __u8 *name,
		__u32 len, void **out);
void *au_c_dget(void *dentry);
void au_c_dput(void *dentry);
int au_c_stat(void *ctx, __u32 bindex, void *dentry, struct au_stat *out);
/* 1: regular file @dentry carries AU_XATTR_METACOPY, 0: not, or -errno. */
int au_c_metacopy(void *ctx, __u32 bindex, void *dentry);
/* The bytes available to users on branch @bindex's filesystem (statfs). */
int au_c_free_space(void *ctx, __u32 bindex, __u64 *out);
int au_c_iterate(void *ctx, __u32 bindex, void *dir, void *cookie);
/* Directory @dentry's AU_XATTR_DIRREN into @buf: its length (-ERANGE if
 * longer than @len), -ENODATA when it has none, or -errno. */
int au_c_dirren_get(void *ctx, __u32 bindex, void *dentry, __u8 *buf, __u32 len);
/* Branch changes (branch.c).  Each locks what the branch needs. */
int au_c_root(void *ctx, __u32 bindex, void **out);
/* *@out: the new entry @at, referenced. */
int au_c_create(void *ctx, __u32 bindex, const struct au_at *at,
		const struct au_new_entry *e, __u32 cred, void **out);
int au_c_link(void *ctx, __u32 bindex, void *src, const struct au_at *at,
	      __u32 cred, void **out);
int au_c_remove(void *ctx, __u32 bindex, void *dir, const __u8 *name, __u32 len,
		__u32 is_dir, __u32 cred);
int au_c_rename(void *ctx, __u32 bindex, const struct au_at *from,
		const struct au_at *to, __u32 flags, __u32 cred);
int au_c_copy_data(void *ctx, __u32 sbr, void *src, __u32 dbr, void *dst, __s64 len);
int au_c_copy_meta(void *ctx, __u32 sbr, void *src, __u32 dbr, void *dst);
int au_c_copy_flags(void *ctx, __u32 sbr, void *src, __u32 dbr, void *dst);
int au_c_set_size(void *ctx, __u32 bindex, void *node, __s64 size);
int au_c_mark_metacopy(void *ctx, __u32 bindex, void *node);
/* Set directory @node's AU_XATTR_DIRREN to @rec (@len 0: remove it). */
int au_c_dirren_set(void *ctx, __u32 bindex, void *node, const __u8 *rec, __u32 len);
/* @node's path from the root of branch @bindex, no leading '/', into
 * @buf: its length, or -ENAMETOOLONG / -EXDEV (not under the root). */
int au_c_path_of(void *ctx, __u32 bindex, void *node, __u8 *buf, __u32 len);
/* Returns the target's length (it may exceed @len: then call again). */
int au_c_readlink(void *ctx, __u32 bindex, void *node, __u8 *buf, __u32 len);
int au_c_times(void *ctx, __u32 bindex, void *node, struct au_times *out);
int au_c_set_times(void *ctx, __u32 bindex, void *node, const struct au_times *t);

#endif /* AUFS_ABI_H */
