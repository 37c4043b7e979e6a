//! Per-object policy questions the shim asks before it acts: which branch
//! an operation goes to, may this entry be written in place, may two names
//! share one union inode, which branches' permissions count.  The answers
//! are decided here, never in C.

use crate::backend::{Backend, FileType, Lower};
use crate::errno::{Errno, Result};
use crate::name::{OPQ_NAME, WH_PREFIX};
use crate::opts::{Cpup, Create, Udba};
use crate::union::Branches;
use crate::write::{cpup_target, create_target};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// What one target of a namespace operation needs of the branch the
/// operation goes to.
pub enum Need<'a, N> {
    /// An object that must be on it (the source of a link or a rename, a
    /// target a rename replaces): its copy-up target, from the entries of
    /// its parent (none for the root) and the branch of its topmost entry.
    Object { parent: &'a [Lower<N>], top: u32 },
    /// A directory that gets a new name in it: its create target, from its
    /// own entries.  `new`: the name and whether it is a directory, for a
    /// create (the create policy decides); `None` for the new name of a
    /// link or a rename (`tdp`).
    NewName { dir: &'a [Lower<N>], new: Option<(&'a [u8], bool)> },
}

/// What the write policies of one mount need: its options, its state (the
/// round-robin counter, the free space cache) and the time now (monotonic,
/// in nanoseconds, from the shim).
pub struct Policies<'a> {
    pub create: Create,
    pub cpup: Cpup,
    pub state: &'a WbrState,
    pub now: u64,
}

/// The branch a namespace operation with several targets goes to (a link:
/// its source and the new name's directory; a rename: the source, both
/// directories and a target it replaces): the topmost of what each needs,
/// so that all of them can be there.  The first target that has no branch
/// gives the error; no target at all is EINVAL.
pub fn op_target<'a, B: Backend>(
    b: &B,
    brs: &dyn Branches,
    p: &Policies<'_>,
    needs: impl IntoIterator<Item = Need<'a, B::Node>>,
) -> Result<u32>
where
    B::Node: 'a,
{
    let mut t: Option<u32> = None;
    for need in needs {
        let x = match need {
            Need::Object { parent, top } => cpup_target(brs, parent, top, p.cpup)?,
            Need::NewName { dir, new: None } => create_target(brs, dir)?,
            Need::NewName { dir, new: Some((name, is_dir)) } => create_policy(b, brs, p, dir, name, is_dir)?,
        };
        t = Some(t.map_or(x, |t| t.min(x)));
    }
    t.ok_or(Errno::EINVAL)
}

/// The per-mount state of the create policies: aufs's round-robin counter
/// and the free space of each branch as last seen, with the time it was
/// gathered.  Atomics: creates in different directories run at once; two
/// of them refreshing the cache at once both ask the branches, which is
/// harmless.
#[derive(Debug)]
pub struct WbrState {
    rr: AtomicU32,
    /// When the free space was gathered (`now` of the shim); `u64::MAX`:
    /// never.
    stamp: AtomicU64,
    /// Bytes available to users on each branch (0 for a read-only one or
    /// one whose statfs failed).
    free: Vec<AtomicU64>,
}

impl WbrState {
    /// No branches (replaced once the branch table is built).
    pub const fn empty() -> WbrState {
        WbrState { rr: AtomicU32::new(0), stamp: AtomicU64::new(u64::MAX), free: Vec::new() }
    }

    /// The state of a mount with the branches `brs` (`n` of them); aufs
    /// starts its round-robin counter at minus the lowest writable branch.
    pub fn new(brs: &dyn Branches, n: u32) -> Result<WbrState> {
        let mut free = Vec::new();
        free.try_reserve_exact(n as usize)?;
        free.extend((0..n).map(|_| AtomicU64::new(0)));
        let bottom = (0..n).rev().find(|b| brs.writable(*b)).unwrap_or(0);
        Ok(WbrState { rr: AtomicU32::new(0u32.wrapping_sub(bottom)), stamp: AtomicU64::new(u64::MAX), free })
    }

    fn free(&self, br: u32) -> u64 {
        self.free.get(br as usize).map_or(0, |f| f.load(Ordering::Relaxed))
    }

    /// Gather the free space of every writable branch when the cache is
    /// older than `sec` seconds (or was never filled).
    fn refresh<B: Backend>(&self, b: &B, brs: &dyn Branches, sec: u32, now: u64) {
        let stamp = self.stamp.load(Ordering::Relaxed);
        let max_age = u64::from(sec).saturating_mul(1_000_000_000);
        if stamp != u64::MAX && now >= stamp && now - stamp <= max_age {
            return;
        }
        for (i, f) in self.free.iter().enumerate() {
            let br = i as u32;
            let v = if brs.writable(br) { b.free_space(br).unwrap_or(0) } else { 0 };
            f.store(v, Ordering::Relaxed);
        }
        self.stamp.store(now, Ordering::Relaxed);
    }

    /// The next branch of round robin among `ok` (aufs: the counter goes
    /// down by one for each file; a directory takes the branch the counter
    /// is at without moving it).
    fn rr(&self, n: u32, is_dir: bool, ok: impl Fn(u32) -> bool) -> Option<u32> {
        if n == 0 {
            return None;
        }
        for _ in 0..n {
            let v = if is_dir {
                self.rr.load(Ordering::Relaxed)
            } else {
                let mut v = self.rr.fetch_sub(1, Ordering::Relaxed);
                if v == 0 {
                    v = self.rr.fetch_sub(1, Ordering::Relaxed);
                }
                v
            };
            let br = v % n;
            if ok(br) {
                return Some(br);
            }
        }
        None
    }
}

/// The branch with the most free space among `cand` (top-down); on a tie
/// the lower one, as aufs's mfs.
fn most_free(st: &WbrState, cand: &[u32]) -> Option<u32> {
    let mut best: Option<(u32, u64)> = None;
    for &br in cand {
        let f = st.free(br);
        if best.is_none_or(|(_, bf)| f >= bf) {
            best = Some((br, f));
        }
    }
    best.map(|(b, _)| b)
}

/// Branch that takes the new entry `name` (a directory when `is_dir`) in
/// the union directory `dir`, under the mount's create policy (aufs's
/// `create=`).
///
/// As aufs: if the name is whited out on a writable branch, or the
/// directory is opaque on one, the entry goes there (it replaces what
/// hides it); otherwise:
/// - `tdp`: the topmost writable branch on which the directory exists;
/// - `rr`: round robin over the writable branches (new directories do not
///   move the counter: they go where the next file would; when that is a
///   branch that cannot take it, `tdp` decides, where aufs gives EROFS);
/// - `mfs[:SEC]`: the writable branch with the most free space (gathered
///   at most every SEC seconds);
/// - `mfsrr:LOW[:SEC]`: mfs, and round robin when even the most free space
///   is less than LOW bytes;
/// - `pmfs[:SEC]`: tdp, but where the directory exists on several writable
///   branches, the one of them with the most free space;
/// - `pmfsrr:LOW[:SEC]`: pmfs, and mfsrr when the branch it chose has less
///   than LOW bytes;
/// - `tdmfs:LOW[:SEC]`: top-down, the first writable branch with more than
///   LOW bytes free, else the one with the most.
///
/// Difference from aufs: aufs's policies may choose a branch on which the
/// directory does not exist and copy it *down* there; this union chooses
/// only among the writable branches on which the directory exists (and
/// never below a whiteout of the name or the directory's opaque entry,
/// where the name would be hidden).  When there is none, `tdp` decides:
/// the directory is copied up to the nearest writable branch above it.
pub fn create_policy<B: Backend>(
    b: &B,
    brs: &dyn Branches,
    p: &Policies<'_>,
    dir: &[Lower<B::Node>],
    name: &[u8],
    is_dir: bool,
) -> Result<u32> {
    if p.create == Create::Tdp {
        return create_target(brs, dir);
    }
    // Where the name is whited out (the topmost whiteout counts), where the
    // directory is opaque (its last entry, if it holds the marker).
    let mut cap: Option<u32> = None;
    let mut wh = Vec::new();
    wh.try_reserve_exact(WH_PREFIX.len() + name.len())?;
    wh.extend_from_slice(WH_PREFIX);
    wh.extend_from_slice(name);
    for l in dir.iter().filter(|l| brs.may_whiteout(l.br)) {
        let n = b.lookup(l.br, &l.node, &wh)?;
        if b.stat(l.br, &n)?.is_some() {
            cap = Some(l.br);
            break;
        }
    }
    if let Some(l) = dir.last() {
        if cap.is_none_or(|c| l.br < c) && brs.may_whiteout(l.br) {
            let n = b.lookup(l.br, &l.node, OPQ_NAME)?;
            if b.stat(l.br, &n)?.is_some() {
                cap = Some(l.br);
            }
        }
    }
    if let Some(c) = cap {
        if brs.writable(c) {
            return Ok(c);
        }
    }
    let mut cand: Vec<u32> = Vec::new();
    cand.try_reserve_exact(dir.len())?;
    cand.extend(dir.iter().map(|l| l.br).filter(|br| brs.writable(*br) && cap.is_none_or(|c| *br <= c)));
    if cand.is_empty() {
        return create_target(brs, dir);
    }
    let n = u32::try_from(p.state.free.len()).map_err(|_| Errno::EINVAL)?;
    let st = p.state;
    let rr = || st.rr(n, is_dir, |br| cand.contains(&br));
    let pmfs = |sec: u32| {
        st.refresh(b, brs, sec, p.now);
        // tdp, then a writable entry with strictly more free space.
        let mut t = cand.first().copied();
        for &br in cand.iter() {
            if t.is_some_and(|t| st.free(br) > st.free(t)) {
                t = Some(br);
            }
        }
        t
    };
    let mfsrr = |low: u64, sec: u32| {
        st.refresh(b, brs, sec, p.now);
        let t = most_free(st, &cand);
        if t.is_none_or(|t| st.free(t) < low) {
            rr().or(t)
        } else {
            t
        }
    };
    let t = match p.create {
        Create::Tdp => cand.first().copied(),
        Create::Rr => rr(),
        Create::Mfs { sec } => {
            st.refresh(b, brs, sec, p.now);
            most_free(st, &cand)
        }
        Create::Mfsrr { low, sec } => mfsrr(low, sec),
        Create::Pmfs { sec } => pmfs(sec),
        Create::Pmfsrr { low, sec } => match pmfs(sec) {
            Some(t) if st.free(t) < low => mfsrr(low, sec),
            t => t,
        },
        Create::Tdmfs { low, sec } => {
            st.refresh(b, brs, sec, p.now);
            cand.iter().copied().find(|br| st.free(*br) > low).or_else(|| most_free(st, &cand))
        }
    };
    match t {
        Some(t) => Ok(t),
        None => create_target(brs, dir),
    }
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
    use alloc::format;

    fn pol(create: Create, state: &WbrState, now: u64) -> Policies<'_> {
        Policies { create, cpup: Cpup::Tdp, state, now }
    }

    fn nn<'a>(dir: &'a [Lower<MemNode>]) -> Need<'a, MemNode> {
        Need::NewName { dir, new: None }
    }

    #[test]
    fn an_operation_goes_to_the_topmost_of_its_targets() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[]), ("rw", &[])]);
        let st = WbrState::new(&m, 3).unwrap();
        let p = pol(Create::Tdp, &st, 0);
        let root = m.roots();
        let none: &[Lower<MemNode>] = &[];
        // Alone, an object on branch 2 is changed in place there...
        assert_eq!(op_target(&m, &m, &p, [Need::Object { parent: &root, top: 2 }]), Ok(2));
        // ... but a new name beside it goes to 0, and so does the link.
        assert_eq!(op_target(&m, &m, &p, [Need::Object { parent: &root, top: 2 }, nn(&root)]), Ok(0));
        assert_eq!(
            op_target(&m, &m, &p, [nn(&root), Need::Object { parent: none, top: 2 }]),
            Ok(0),
            "the order does not matter"
        );
        assert_eq!(op_target(&m, &m, &p, [Need::Object { parent: &root, top: 1 }]), Ok(0));
        assert_eq!(op_target(&m, &m, &p, []), Err(Errno::EINVAL));
        // The first target without a branch gives the error.
        let ro = MemBackend::new(&[("ro", &[]), ("ro", &[])]);
        let rr = ro.roots();
        let empty: &[Lower<MemNode>] = &[];
        assert_eq!(op_target(&ro, &ro, &p, [nn(empty), Need::Object { parent: &rr, top: 1 }]), Err(Errno::ENOENT));
        assert_eq!(op_target(&ro, &ro, &p, [Need::Object { parent: &rr, top: 1 }, nn(empty)]), Err(Errno::EROFS));
    }

    /// Three writable branches over a read-only one, with free space
    /// `free` (bytes) each.
    fn four(free: [u64; 3]) -> MemBackend {
        let m = MemBackend::new(&[("rw", &[]), ("rw", &[]), ("rw", &[]), ("ro", &["ro/"])]);
        for (i, f) in free.iter().enumerate() {
            m.branches.borrow_mut()[i].free = *f;
        }
        m
    }

    fn create_on(m: &MemBackend, st: &WbrState, c: Create, now: u64, name: &str, dir: bool) -> Result<u32> {
        let root = m.roots();
        let p = pol(c, st, now);
        op_target(m, m, &p, [Need::NewName { dir: &root, new: Some((name.as_bytes(), dir)) }])
    }

    #[test]
    fn create_tdp_and_rr() {
        let m = four([10, 20, 30]);
        let st = WbrState::new(&m, 4).unwrap();
        for i in 0..4 {
            assert_eq!(create_on(&m, &st, Create::Tdp, 0, &format!("f{i}"), false), Ok(0));
        }
        // rr: aufs's counter starts at minus the lowest writable branch and
        // goes down; the read-only branch is skipped.
        let got: Vec<u32> = (0..7).map(|i| create_on(&m, &st, Create::Rr, 0, &format!("f{i}"), false).unwrap()).collect();
        assert_eq!(got, [2, 1, 0, 2, 1, 0, 2]);
        // mkdir takes the branch the next file would, and does not move it
        let d: Vec<u32> = (0..3).map(|i| create_on(&m, &st, Create::Rr, 0, &format!("d{i}"), true).unwrap()).collect();
        assert_eq!(d, [1, 1, 1]);
        assert_eq!(create_on(&m, &st, Create::Rr, 0, "g", false), Ok(1));
        assert_eq!(create_on(&m, &st, Create::Rr, 0, "g", false), Ok(0));
        // the counter at the read-only branch: a mkdir goes by tdp
        let st = WbrState::new(&m, 4).unwrap();
        for i in 0..6 {
            create_on(&m, &st, Create::Rr, 0, &format!("h{i}"), false).unwrap();
        }
        assert_eq!(create_on(&m, &st, Create::Rr, 0, "e", true), Ok(0));
        assert_eq!(create_on(&m, &st, Create::Rr, 0, "h", false), Ok(2), "files skip it");
    }

    #[test]
    fn create_mfs_follows_free_space_after_its_interval() {
        let m = four([10, 30, 20]);
        let st = WbrState::new(&m, 4).unwrap();
        let mfs = Create::Mfs { sec: 5 };
        assert_eq!(create_on(&m, &st, mfs, 0, "a", false), Ok(1));
        m.branches.borrow_mut()[0].free = 100;
        assert_eq!(create_on(&m, &st, mfs, 5_000_000_000, "b", false), Ok(1), "cached for 5 s");
        assert_eq!(create_on(&m, &st, mfs, 5_000_000_001, "c", false), Ok(0), "then asked again");
        // equal free space: the lower branch, as aufs
        let m = four([7, 7, 3]);
        let st = WbrState::new(&m, 4).unwrap();
        assert_eq!(create_on(&m, &st, Create::Mfs { sec: 0 }, 0, "a", true), Ok(1));
        // a failing statfs counts as full
        let m = four([50, 7, 3]);
        m.branches.borrow_mut()[0].statfs_err = Some(Errno::EIO);
        let st = WbrState::new(&m, 4).unwrap();
        assert_eq!(create_on(&m, &st, Create::Mfs { sec: 30 }, 0, "a", false), Ok(1));
    }

    #[test]
    fn create_mfsrr_pmfs_pmfsrr_tdmfs() {
        // mfsrr: mfs while the most free space is at least LOW, else rr
        let m = four([10, 30, 20]);
        let st = WbrState::new(&m, 4).unwrap();
        assert_eq!(create_on(&m, &st, Create::Mfsrr { low: 30, sec: 0 }, 0, "a", false), Ok(1));
        let got: Vec<u32> = (0..3).map(|i| create_on(&m, &st, Create::Mfsrr { low: 31, sec: 0 }, 0, &format!("f{i}"), false).unwrap()).collect();
        assert_eq!(got, [2, 1, 0], "below LOW: round robin");
        // tdmfs: top-down, the first with more than LOW, else the most free
        let m = four([10, 30, 20]);
        let st = WbrState::new(&m, 4).unwrap();
        assert_eq!(create_on(&m, &st, Create::Tdmfs { low: 5, sec: 0 }, 0, "a", false), Ok(0));
        assert_eq!(create_on(&m, &st, Create::Tdmfs { low: 10, sec: 0 }, 0, "a", false), Ok(1), "skips a branch at LOW");
        assert_eq!(create_on(&m, &st, Create::Tdmfs { low: 25, sec: 0 }, 0, "a", false), Ok(1));
        assert_eq!(create_on(&m, &st, Create::Tdmfs { low: 99, sec: 0 }, 0, "a", false), Ok(1), "none: the most free");
        // pmfs: among the branches the parent is on, the most free; ties: the upper
        let m = MemBackend::new(&[("rw", &["p/"]), ("rw", &[]), ("rw", &["p/"]), ("ro", &["p/"])]);
        for (i, f) in [10u64, 99, 20].iter().enumerate() {
            m.branches.borrow_mut()[i].free = *f;
        }
        let st = WbrState::new(&m, 4).unwrap();
        let p = crate::union::lookup(&m, &m, &m.roots(), b"p", None).unwrap().lowers;
        let now = core::cell::Cell::new(0u64);
        let on = |c: Create| {
            now.set(now.get() + 1);
            op_target(&m, &m, &pol(c, &st, now.get()), [Need::NewName { dir: &p, new: Some((&b"x"[..], false)) }])
        };
        assert_eq!(on(Create::Pmfs { sec: 0 }), Ok(2), "1 has more, but p is not there");
        assert_eq!(on(Create::Mfs { sec: 0 }), Ok(2), "no copy-down onto 1");
        assert_eq!(on(Create::Pmfsrr { low: 20, sec: 0 }), Ok(2));
        m.branches.borrow_mut()[2].free = 10;
        assert_eq!(on(Create::Pmfs { sec: 0 }), Ok(0), "a tie: the upper");
        // pmfsrr below LOW: mfsrr among them (round robin when all are below)
        let got: Vec<u32> = (0..4).map(|_| on(Create::Pmfsrr { low: 50, sec: 0 }).unwrap()).collect();
        assert_eq!(got, [2, 0, 2, 0]);
    }

    #[test]
    fn create_never_goes_below_what_hides_the_name() {
        // .wh.x on branch 1: a new x goes there (it replaces the whiteout)
        let m = MemBackend::new(&[("rw", &[]), ("rw", &[".wh.x"]), ("rw", &["x"]), ("ro", &[])]);
        m.branches.borrow_mut()[2].free = 99;
        let st = WbrState::new(&m, 4).unwrap();
        for c in [Create::Rr, Create::Mfs { sec: 0 }, Create::Tdmfs { low: 50, sec: 0 }, Create::Pmfs { sec: 0 }] {
            assert_eq!(create_on(&m, &st, c, 0, "x", false), Ok(1), "{c:?}");
        }
        assert_eq!(create_on(&m, &st, Create::Mfs { sec: 0 }, 0, "y", false), Ok(2));
        // a whiteout on a read-only+wh branch: nothing below it
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro+wh", &["d/.wh.x"]), ("rw", &["d/"])]);
        m.branches.borrow_mut()[2].free = 99;
        let st = WbrState::new(&m, 3).unwrap();
        let d = crate::union::lookup(&m, &m, &m.roots(), b"d", None).unwrap().lowers;
        let p = pol(Create::Mfs { sec: 0 }, &st, 0);
        assert_eq!(op_target(&m, &m, &p, [Need::NewName { dir: &d, new: Some((&b"x"[..], false)) }]), Ok(0));
        assert_eq!(op_target(&m, &m, &p, [Need::NewName { dir: &d, new: Some((&b"y"[..], false)) }]), Ok(2));
        // an opaque directory on a writable branch: new names go there
        let m = MemBackend::new(&[("rw", &["d/"]), ("rw", &["d/.wh..wh..opq"]), ("rw", &["d/"])]);
        m.branches.borrow_mut()[0].free = 99;
        let st = WbrState::new(&m, 3).unwrap();
        let d = crate::union::lookup(&m, &m, &m.roots(), b"d", None).unwrap().lowers;
        assert_eq!(d.len(), 2, "the opaque entry ends the directory");
        let p = pol(Create::Rr, &st, 0);
        assert_eq!(op_target(&m, &m, &p, [Need::NewName { dir: &d, new: Some((&b"y"[..], false)) }]), Ok(1));
        // no writable branch with the parent: tdp (copy-up above it)
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["q/"])]);
        let st = WbrState::new(&m, 2).unwrap();
        let q = crate::union::lookup(&m, &m, &m.roots(), b"q", None).unwrap().lowers;
        let p = pol(Create::Rr, &st, 0);
        assert_eq!(op_target(&m, &m, &p, [Need::NewName { dir: &q, new: Some((&b"y"[..], false)) }]), Ok(0));
    }

    #[test]
    fn copy_up_policies() {
        // a file on 3 (ro) in a directory on 0, 1 and 3; 2 is writable but
        // the directory is not there
        let m = MemBackend::new(&[("rw", &["d/"]), ("rw", &["d/"]), ("rw", &[]), ("ro", &["d/f"])]);
        let st = WbrState::new(&m, 4).unwrap();
        let d = crate::union::lookup(&m, &m, &m.roots(), b"d", None).unwrap().lowers;
        let t = |c: Cpup| op_target(&m, &m, &Policies { create: Create::Tdp, cpup: c, state: &st, now: 0 }, [Need::Object { parent: &d, top: 3 }]);
        assert_eq!(t(Cpup::Tdp), Ok(0), "top-down from the parent's topmost entry");
        assert_eq!(t(Cpup::Bup), Ok(1), "bottom-up, where the parent is");
        assert_eq!(t(Cpup::Bu), Ok(1), "2 would need a copy-down of d");
        let root = m.roots();
        let t = |c: Cpup| op_target(&m, &m, &Policies { create: Create::Tdp, cpup: c, state: &st, now: 0 }, [Need::Object { parent: &root, top: 3 }]);
        assert_eq!(t(Cpup::Tdp), Ok(0));
        assert_eq!(t(Cpup::Bup), Ok(2));
        assert_eq!(t(Cpup::Bu), Ok(2));
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
