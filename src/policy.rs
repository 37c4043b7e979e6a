//! Per-object policy questions the shim asks before it acts: which branch
//! an operation goes to, may this entry be written in place, may two names
//! share one union inode, which branches' permissions count.  The answers
//! are decided here, never in C.

use crate::backend::{FileType, Lower};
use crate::errno::{Errno, Result};
use crate::opts::Udba;
use crate::union::Branches;
use crate::write::{cpup_target, create_target};

/// What one target of a namespace operation needs of the branch the
/// operation goes to.
pub enum Need<'a, N> {
    /// An object that must be on it (the source of a link or a rename, a
    /// target a rename replaces): its copy-up target, from the entries of
    /// its parent (none for the root) and the branch of its topmost entry.
    Object { parent: &'a [Lower<N>], top: u32 },
    /// A directory that gets a new name in it: its create target, from its
    /// own entries.
    NewName { dir: &'a [Lower<N>] },
}

/// The branch a namespace operation with several targets goes to (a link:
/// its source and the new name's directory; a rename: the source, both
/// directories and a target it replaces): the topmost of what each needs,
/// so that all of them can be there.  The first target that has no branch
/// gives the error; no target at all is EINVAL.
pub fn op_target<'a, N: 'a>(brs: &dyn Branches, needs: impl IntoIterator<Item = Need<'a, N>>) -> Result<u32> {
    let mut t: Option<u32> = None;
    for need in needs {
        let x = match need {
            Need::Object { parent, top } => cpup_target(brs, parent, top)?,
            Need::NewName { dir } => create_target(brs, dir)?,
        };
        t = Some(t.map_or(x, |t| t.min(x)));
    }
    t.ok_or(Errno::EINVAL)
}

/// May a file whose topmost entry is on branch `br` be opened for writing
/// as it is (without a copy-up)?
pub fn write_in_place(brs: &dyn Branches, br: u32) -> bool {
    brs.writable(br)
}

/// May every name of the lower inode share one union inode?
///
/// Names of one inode on a writable branch are one file for good: a change
/// is made in place.  So are the names of a file on a read-only branch
/// with pseudo-links (`plink`, see [`crate::plink`]): a copy-up of one name
/// is the copy of all.  Without them (`noplink`) copy-up copies one
/// *name*, after which that name is another file (aufs breaks the hard
/// link); a union inode must never stand for two files, so each name of
/// such a file then gets its own union inode.
pub fn share_inode(brs: &dyn Branches, plink: bool, br: u32, is_dir: bool, nlink: u32) -> bool {
    is_dir || nlink <= 1 || plink || brs.writable(br)
}

/// Does a copy-up of a file found on branch `br` with `nlink` links keep
/// its inode number?  Only a file that stays one file: a hard link broken
/// by the copy-up is a new file with a number of its own.
pub fn keep_ino_on_copy_up(brs: &dyn Branches, plink: bool, br: u32, is_dir: bool, nlink: u32) -> bool {
    share_inode(brs, plink, br, is_dir, nlink)
}

/// Does a copy-up copy only the attributes (a metacopy) and leave the data
/// where it is until it is written?  With the `metacopy` option, for a
/// change that needs no data (`meta_only`: chmod, chown, utimes, an xattr;
/// not a truncate or an open for write), of a regular file that is one
/// file (a lower hard link is copied whole, so its other names stay one
/// file with it) and has data to spare.  Not for an append-only or
/// immutable (`protected`) file: its copy could not take the data later.
/// (A chattr copies the data too: the shim asks with `meta_only` false.)
pub fn metacopy(enabled: bool, meta_only: bool, ftype: FileType, nlink: u32, size: i64, protected: bool, trunc: Option<i64>) -> bool {
    enabled && meta_only && ftype == FileType::Reg && nlink <= 1 && size > 0 && !protected && trunc.is_none()
}

/// Which entries of a union object a permission check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermScope {
    /// The topmost entry only.
    Top,
    /// Every branch the directory exists on (aufs's default).
    All,
}

/// aufs's `dio`/`nodio`: may a union file be opened with `O_DIRECT` (and
/// get it by `fcntl(F_SETFL)`)?  With `dio` it is what the branch
/// filesystem allows; without it (aufs's default) `O_DIRECT` is refused
/// (EINVAL), before anything is copied up.
pub fn direct_io(dio: bool) -> bool {
    dio
}

/// aufs's rule: without `dirperm1`, read and search permission on a
/// directory is checked on every branch where it exists, so a lower
/// directory's restrictive mode is not bypassed by a permissive upper one.
/// Write permission is the topmost entry's: that is where the change goes.
pub fn perm_scope(dirperm1: bool, is_dir: bool, write: bool) -> PermScope {
    if is_dir && !dirperm1 && !write {
        PermScope::All
    } else {
        PermScope::Top
    }
}

/// How a cached union dentry is checked against the branches before it is
/// used again (udba: "user's direct branch access").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reval {
    /// `udba=none`: never.  The fastest; a change made directly on a
    /// branch may stay unseen (also a cached "no such file") until the
    /// dentry leaves the cache.
    Never,
    /// `udba=reval`: whenever the branch directories the entry was looked
    /// up in (and, for a directory, its own) may have changed: the shim
    /// keeps their identities and change times (ctime) with each cached
    /// entry; any difference, a directory gone, or a change time too
    /// recent to tell a second change in the same clock tick apart, counts
    /// as a change.  Then the name is looked up again on the branches and
    /// the result compared with what is cached.  No lookup is repeated
    /// while nothing changed, so a cached entry, negative ones included,
    /// costs a few memory reads per branch directory.
    OnStamp,
    /// `udba=notify`: only when fsnotify reported a change in a branch
    /// directory of the parent since the dentry was looked up.
    OnEvent,
}

pub fn reval(udba: Udba) -> Reval {
    match udba {
        Udba::None => Reval::Never,
        Udba::Reval => Reval::OnStamp,
        Udba::Notify => Reval::OnEvent,
    }
}

/// Is a cached negative dentry ("no such name") still good?  Under `none`
/// always; otherwise while the branch directories show no change
/// (`changed`: stamps under `reval`, events under `notify`).
pub fn keep_negative(r: Reval, changed: bool) -> bool {
    match r {
        Reval::Never => true,
        Reval::OnStamp | Reval::OnEvent => !changed,
    }
}

/// Must a cached positive dentry be compared with a new lookup?
pub fn must_compare(r: Reval, changed: bool) -> bool {
    match r {
        Reval::Never => false,
        Reval::OnStamp | Reval::OnEvent => changed,
    }
}

/// Under `reval`, does a cached entry also carry a stamp of its own
/// entries, besides its parent's?  A directory does (names come and go in
/// it).  So does a regular file when metacopies are followed: a marker set
/// or removed on its branch directly changes what the name shows, and
/// changes only the file's own change time (and the attribute count).
pub fn stamp_own(is_dir: bool, is_reg: bool, metacopy: bool) -> bool {
    is_dir || is_reg && metacopy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{MemBackend, MemNode};

    #[test]
    fn an_operation_goes_to_the_topmost_of_its_targets() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[]), ("rw", &[])]);
        let root = m.roots();
        let none: &[Lower<MemNode>] = &[];
        // Alone, an object on branch 2 is changed in place there...
        assert_eq!(op_target(&m, [Need::Object { parent: &root, top: 2 }]), Ok(2));
        // ... but a new name beside it goes to 0, and so does the link.
        assert_eq!(
            op_target(&m, [Need::Object { parent: &root, top: 2 }, Need::NewName { dir: &root }]),
            Ok(0)
        );
        assert_eq!(
            op_target(&m, [Need::NewName { dir: &root }, Need::Object { parent: none, top: 2 }]),
            Ok(0),
            "the order does not matter"
        );
        assert_eq!(op_target(&m, [Need::Object { parent: &root, top: 1 }]), Ok(0));
        assert_eq!(op_target::<MemNode>(&m, []), Err(Errno::EINVAL));
        // The first target without a branch gives the error.
        let ro = MemBackend::new(&[("ro", &[]), ("ro", &[])]);
        let rr = ro.roots();
        let empty: &[Lower<MemNode>] = &[];
        assert_eq!(
            op_target(&ro, [Need::NewName { dir: empty }, Need::Object { parent: &rr, top: 1 }]),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            op_target(&ro, [Need::Object { parent: &rr, top: 1 }, Need::NewName { dir: empty }]),
            Err(Errno::EROFS)
        );
    }

    #[test]
    fn hard_links_on_read_only_branches_are_not_shared() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[])]);
        assert!(share_inode(&m, false, 1, false, 1));
        assert!(!share_inode(&m, false, 1, false, 2), "copy-up would split them");
        assert!(share_inode(&m, true, 1, false, 2), "pseudo-links keep them one file");
        assert!(share_inode(&m, false, 0, false, 2), "changed in place: one file for good");
        assert!(share_inode(&m, false, 1, true, 5), "directories have one name");
        assert!(!keep_ino_on_copy_up(&m, false, 1, false, 3));
        assert!(keep_ino_on_copy_up(&m, true, 1, false, 3));
        assert!(write_in_place(&m, 0));
        assert!(!write_in_place(&m, 1));
    }

    #[test]
    fn udba_modes() {
        assert_eq!(reval(Udba::None), Reval::Never);
        assert!(keep_negative(Reval::Never, true));
        assert!(!must_compare(Reval::Never, true));
        assert!(keep_negative(Reval::OnStamp, false));
        assert!(!keep_negative(Reval::OnStamp, true));
        assert!(must_compare(Reval::OnStamp, true));
        assert!(!must_compare(Reval::OnStamp, false));
        assert!(keep_negative(Reval::OnEvent, false));
        assert!(!keep_negative(Reval::OnEvent, true));
        assert!(must_compare(Reval::OnEvent, true));
        assert!(!must_compare(Reval::OnEvent, false));
        // whose own entries are stamped too
        assert!(stamp_own(true, false, false));
        assert!(!stamp_own(false, true, false), "a file without metacopy: its parent's only");
        assert!(stamp_own(false, true, true), "a marker may be set or removed on its branch");
        assert!(!stamp_own(false, false, true), "only regular files can be metacopies");
    }

    #[test]
    fn direct_io_only_with_dio() {
        assert!(direct_io(true));
        assert!(!direct_io(false));
    }

    #[test]
    fn dirperm1() {
        assert_eq!(perm_scope(false, true, false), PermScope::All);
        assert_eq!(perm_scope(true, true, false), PermScope::Top);
        assert_eq!(perm_scope(false, true, true), PermScope::Top);
        assert_eq!(perm_scope(false, false, false), PermScope::Top);
    }

    #[test]
    fn metacopy_only_for_attribute_changes_of_one_file() {
        let r = FileType::Reg;
        assert!(metacopy(true, true, r, 1, 1 << 30, false, None));
        assert!(!metacopy(false, true, r, 1, 1 << 30, false, None), "the option is off by default");
        assert!(!metacopy(true, false, r, 1, 1 << 30, false, None), "a write needs the data");
        assert!(!metacopy(true, true, r, 1, 1 << 30, false, Some(0)), "a truncate copies what stays");
        assert!(!metacopy(true, true, r, 2, 1 << 30, false, None), "a hard link is copied whole");
        assert!(!metacopy(true, true, r, 1, 0, false, None), "nothing to spare");
        assert!(!metacopy(true, true, r, 1, 1 << 30, true, None), "append-only: the data could not follow");
        assert!(!metacopy(true, true, FileType::Dir, 1, 4096, false, None));
        assert!(!metacopy(true, true, FileType::Lnk, 1, 5, false, None));
    }
}
