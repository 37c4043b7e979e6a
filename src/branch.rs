//! The branch table: the resolved, checked list of branches of one mount,
//! top (index 0) to bottom, with their permissions and ids, and the text of
//! the `br<N>`, `brid<N>` and `xi_path` files in sysfs.
//!
//! Everything that needs the kernel (looking a path up, comparing two
//! resolved paths) goes through a [`Resolver`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::errno;
use crate::opts::{same_path, BrPerm, BranchOp, BranchSpec, MountOpts, OptError, Xino, BRANCH_MAX};
use crate::text::{escape_into, show, to_string_lossless};
use crate::Errno;

/// What the kernel found at a branch path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BranchFacts {
    pub is_dir: bool,
    /// The superblock is mounted read-only.
    pub sb_rdonly: bool,
    /// The filesystem type name, e.g. `b"tmpfs"`, `b"squashfs"`.
    pub fs_type: Vec<u8>,
    /// The path is on an aufs mount.
    pub is_aufs: bool,
    /// The path lies under the directory the union is being mounted on, so
    /// the mount would cover its own branch.
    pub under_mountpoint: bool,
    /// The path is on an idmapped mount.
    pub idmapped: bool,
    /// The filesystem compares names other than byte for byte
    /// (casefolding, or its own hash and compare, as vfat): a listing of
    /// its names cannot tell that a name is absent.
    pub inexact_names: bool,
    /// The branch's absolute path as the kernel resolved it (empty: keep
    /// the path as given).  This is what /sys shows, as aufs does.
    pub abs_path: Vec<u8>,
}

/// How two resolved branch paths relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Distinct,
    Same,
    /// a is inside b.
    Inside,
    /// a contains b.
    Contains,
}

/// The kernel side of branch resolution.
///
/// Protocol: `resolve(idx, path)` is called for a branch that is about to
/// take position `idx` of the table; a resolver that keeps per-branch state
/// (the kernel keeps a `struct path`) inserts it at `idx`, shifting the
/// entries at `idx..` up by one.  `relation(a, b)` then compares positions in
/// that numbering (the new branch is `a`).  If the new branch is then refused
/// (an error, or a duplicate ignored at remount) [`Resolver::forget`]`(idx)`
/// is called and the entry at `idx` must be removed again; after a `del`,
/// [`Resolver::removed`]`(idx)` is called.  When [`BranchTable::build`] fails
/// the resolver's state is to be discarded as a whole.
pub trait Resolver {
    /// Look `path` up; `Err(errno)` if it cannot be.
    fn resolve(&mut self, idx: usize, path: &[u8]) -> crate::Result<BranchFacts>;
    /// How the branch at `a` relates to the one at `b`.
    fn relation(&mut self, a: usize, b: usize) -> Relation;
    /// The branch resolved at `idx` is not kept.
    fn forget(&mut self, _idx: usize) {}
    /// The branch at `idx` was deleted; those below move up by one.
    fn removed(&mut self, _idx: usize) {}
}

/// Filesystems that can never be a branch.
pub const FORBIDDEN_FS: &[&[u8]] = &[
    b"proc", b"sysfs", b"debugfs", b"tracefs", b"securityfs", b"configfs", b"cgroup",
    b"cgroup2", b"bpf", b"devpts", b"mqueue", b"pstore", b"fusectl", b"efivarfs",
];

/// Filesystems that can never be written ("real read-only"): default `rr`.
pub const RR_FS: &[&[u8]] = &[b"squashfs", b"iso9660", b"cramfs", b"romfs"];

/// First branch id.
pub const FIRST_ID: u32 = 64;

/// Name of the default xino file.
pub const XINO_NAME: &[u8] = b".aufs.xino";
/// Default xino directory when there is no rw branch.
pub const XINO_FALLBACK_DIR: &[u8] = b"/tmp";

/// The permission of a branch given without one: `rr` on squashfs, iso9660,
/// cramfs and romfs; else `rw` for index 0 unless the mount is read-only;
/// else `ro`.
pub fn default_perm(index: usize, fs_type: &[u8], mount_rdonly: bool) -> BrPerm {
    if RR_FS.contains(&fs_type) {
        BrPerm::RR
    } else if index == 0 && !mount_rdonly {
        BrPerm::RW
    } else {
        BrPerm::RO
    }
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub path: Vec<u8>,
    pub perm: BrPerm,
    pub id: u32,
}

/// The branches of a mount, index 0 on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchTable {
    branches: Vec<Branch>,
    /// Parallel to `branches`.
    facts: Vec<BranchFacts>,
    next_id: u32,
}

fn inval(msg: String) -> OptError {
    OptError::new(Errno::EINVAL, msg)
}

/// Outcome of checking one new branch.
enum Checked {
    Keep(BrPerm, BranchFacts),
    /// Same as an existing branch and `ignore_dup`.
    Duplicate,
}

fn add_path(v: &mut Vec<u8>, p: &[u8]) -> Result<(), OptError> {
    v.try_reserve(p.len())?;
    v.extend_from_slice(p);
    Ok(())
}

/// A branch about to take position `idx` (in the resolver's numbering):
/// `spec` as the options gave it, `perm_index` its index in the new table
/// (for its default permission), on a mount read-only or not; a duplicate
/// is ignored or an error.
struct NewBranch<'a> {
    spec: &'a BranchSpec,
    idx: usize,
    perm_index: usize,
    mount_rdonly: bool,
    ignore_dup: bool,
}

/// The checks of a resolved branch: Ok(None) for an ignored duplicate.
fn vet(
    r: &mut dyn Resolver,
    nb: &NewBranch<'_>,
    facts: &BranchFacts,
    others: &mut dyn Iterator<Item = (usize, &[u8])>,
    p: &str,
) -> Result<Option<BrPerm>, OptError> {
    let &NewBranch { spec, idx, perm_index, mount_rdonly, ignore_dup } = nb;
    if facts.is_aufs {
        return Err(inval(format!("branch {} is on aufs", p)));
    }
    if FORBIDDEN_FS.contains(&facts.fs_type.as_slice()) {
        return Err(inval(format!(
            "branch {}: filesystem {} cannot be a branch",
            p,
            show(&facts.fs_type)
        )));
    }
    if !facts.is_dir {
        return Err(inval(format!("branch {}: not a directory", p)));
    }
    // The union would have to map every owner it reads and writes through
    // the branch's idmapping; aufs does not, and neither do we (yet).
    if facts.idmapped {
        return Err(inval(format!("branch {}: an idmapped mount cannot be a branch", p)));
    }
    if facts.under_mountpoint {
        return Err(inval(format!("branch {} is inside the mount point", p)));
    }
    for (j, path) in others {
        match r.relation(idx, j) {
            Relation::Distinct => {}
            Relation::Same if ignore_dup => return Ok(None),
            Relation::Same => return Err(inval(format!("duplicate branch {}", p))),
            Relation::Inside | Relation::Contains => {
                return Err(inval(format!("branch {} overlaps {}", p, show(path))));
            }
        }
    }
    let perm = match &spec.perm {
        Some(perm) => perm.clone(),
        None => default_perm(perm_index, &facts.fs_type, mount_rdonly),
    };
    if perm.writable() && facts.sb_rdonly {
        return Err(inval(format!(
            "branch {}: read-only filesystem cannot be rw",
            p
        )));
    }
    Ok(Some(perm))
}

/// Resolve and check a branch about to take position `nb.idx`; `others` are
/// the positions (in the resolver's numbering) it must not collide with.
/// On an error or a duplicate, `forget(idx)` has been called.
fn check_new(
    r: &mut dyn Resolver,
    nb: &NewBranch<'_>,
    others: &mut dyn Iterator<Item = (usize, &[u8])>,
) -> Result<Checked, OptError> {
    let &NewBranch { spec, idx, .. } = nb;
    let p = show(&spec.path);
    let facts = match r.resolve(idx, &spec.path) {
        Ok(f) => f,
        Err(e) if e == Errno::ENOMEM => {
            return Err(OptError::new(e, format!("branch {}: out of memory", p)));
        }
        Err(e) if matches!(e, Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES | Errno::ELOOP | Errno::ENAMETOOLONG) => {
            return Err(inval(format!("branch {}: not found ({})", p, errno::name(e))));
        }
        Err(e) => return Err(inval(format!("branch {}: cannot be resolved ({})", p, errno::name(e)))),
    };
    let res = vet(r, nb, &facts, others, &p);
    match res {
        Ok(Some(perm)) => Ok(Checked::Keep(perm, facts)),
        Ok(None) => {
            r.forget(idx);
            Ok(Checked::Duplicate)
        }
        Err(e) => {
            r.forget(idx);
            Err(e)
        }
    }
}

impl BranchTable {
    fn empty() -> BranchTable {
        BranchTable {
            branches: Vec::new(),
            facts: Vec::new(),
            next_id: FIRST_ID,
        }
    }

    /// A fresh id: the next one not in use (ids wrap back to [`FIRST_ID`]).
    fn alloc_id(&mut self) -> u32 {
        let mut candidate = self.next_id;
        // At most BRANCH_MAX ids are in use, so this ends quickly.
        for _ in 0..=BRANCH_MAX.saturating_add(1) {
            candidate = self.next_id;
            self.next_id = if self.next_id == u32::MAX {
                FIRST_ID
            } else {
                self.next_id.saturating_add(1)
            };
            if !self.branches.iter().any(|b| b.id == candidate) {
                break;
            }
        }
        candidate
    }

    /// Resolve and check every branch of `opts`, in order.  All errors are
    /// EINVAL with the path in the message (ENOMEM if the resolver runs out
    /// of memory), except no branch (EINVAL) and too many (ENOSPC).
    pub fn build(
        opts: &MountOpts,
        mount_rdonly: bool,
        r: &mut dyn Resolver,
    ) -> core::result::Result<BranchTable, OptError> {
        let mut t = BranchTable::empty();
        t.fill(&opts.branches, mount_rdonly, r, 0)?;
        Ok(t)
    }

    /// Append `specs` checked against each other (not against branches
    /// already present).  The resolver numbering starts at `base`.
    fn fill(
        &mut self,
        specs: &[BranchSpec],
        mount_rdonly: bool,
        r: &mut dyn Resolver,
        base: usize,
    ) -> Result<(), OptError> {
        if specs.is_empty() {
            return Err(inval(String::from("no branch specified")));
        }
        if specs.len() > BRANCH_MAX {
            return Err(OptError::new(
                Errno::ENOSPC,
                format!("too many branches ({} > {})", specs.len(), BRANCH_MAX),
            ));
        }
        self.branches.try_reserve(specs.len())?;
        self.facts.try_reserve(specs.len())?;
        let start = self.branches.len();
        for (i, spec) in specs.iter().enumerate() {
            let idx = base.saturating_add(i);
            let mut path = Vec::new();
            add_path(&mut path, &spec.path)?;
            let placed = self.branches.get(start..).unwrap_or(&[]);
            let mut others = placed
                .iter()
                .enumerate()
                .map(|(j, b)| (base.saturating_add(j), b.path.as_slice()));
            let nb = NewBranch { spec, idx, perm_index: i, mount_rdonly, ignore_dup: false };
            match check_new(r, &nb, &mut others)? {
                Checked::Keep(perm, facts) => {
                    let id = self.alloc_id();
                    if !facts.abs_path.is_empty() {
                        path.clear();
                        add_path(&mut path, &facts.abs_path)?;
                    }
                    self.branches.push(Branch { path, perm, id });
                    self.facts.push(facts);
                }
                Checked::Duplicate => {}
            }
        }
        Ok(())
    }

    /// A copy, with fallible allocations.
    pub fn try_clone(&self) -> Result<BranchTable, OptError> {
        let mut branches = Vec::new();
        branches.try_reserve(self.branches.len())?;
        for b in self.branches.iter() {
            let mut path = Vec::new();
            add_path(&mut path, &b.path)?;
            branches.push(Branch { path, perm: b.perm.clone(), id: b.id });
        }
        let mut facts = Vec::new();
        facts.try_reserve(self.facts.len())?;
        for f in self.facts.iter() {
            let mut fs_type = Vec::new();
            add_path(&mut fs_type, &f.fs_type)?;
            let mut abs_path = Vec::new();
            add_path(&mut abs_path, &f.abs_path)?;
            facts.push(BranchFacts { fs_type, abs_path, ..*f });
        }
        Ok(BranchTable { branches, facts, next_id: self.next_id })
    }

    pub fn len(&self) -> usize {
        self.branches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&Branch> {
        self.branches.get(i)
    }

    /// What the resolver said about branch `i`.
    pub fn facts(&self, i: usize) -> Option<&BranchFacts> {
        self.facts.get(i)
    }

    pub fn iter(&self) -> core::slice::Iter<'_, Branch> {
        self.branches.iter()
    }

    /// The id the next added branch will get (if not in use).
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Index of the branch with this id.
    pub fn index_of_id(&self, id: u32) -> Option<usize> {
        self.branches.iter().position(|b| b.id == id)
    }

    /// Index of the branch with this path (compared as by
    /// [`crate::opts::same_path`]).
    pub fn index_of_path(&self, path: &[u8]) -> Option<usize> {
        self.branches.iter().position(|b| same_path(&b.path, path))
    }

    /// The topmost writable branch.
    pub fn first_writable(&self) -> Option<usize> {
        self.branches.iter().position(|b| b.perm.writable())
    }

    /// The content of sysfs `br<i>` as bytes: `<escaped path>=<perm>\n`.
    pub fn br_bytes(&self, i: usize) -> Option<Vec<u8>> {
        let b = self.branches.get(i)?;
        let mut out = Vec::new();
        escape_into(&mut out, &b.path);
        out.push(b'=');
        out.extend_from_slice(b.perm.display().as_bytes());
        out.push(b'\n');
        Some(out)
    }

    /// [`BranchTable::br_bytes`] as a String (bytes >= 0x80 of a non-UTF-8
    /// path as `\ooo`).
    pub fn br_text(&self, i: usize) -> Option<String> {
        self.br_bytes(i).map(to_string_lossless)
    }

    /// The content of sysfs `brid<i>`: `<id>\n`.
    pub fn brid_text(&self, i: usize) -> Option<String> {
        self.branches.get(i).map(|b| format!("{}\n", b.id))
    }

    /// The xino file: `xino=PATH` as given; empty with `noxino`; by default
    /// `<first rw branch>/.aufs.xino`, or `/tmp/.aufs.xino` without an rw
    /// branch.
    pub fn xino_path(&self, o: &MountOpts) -> Vec<u8> {
        match &o.xino {
            Xino::Path(p) => p.clone(),
            Xino::Off => Vec::new(),
            Xino::Default => {
                let dir = self
                    .first_writable()
                    .and_then(|i| self.branches.get(i))
                    .map_or(XINO_FALLBACK_DIR, |b| b.path.as_slice());
                let mut out = Vec::with_capacity(dir.len().saturating_add(XINO_NAME.len()).saturating_add(1));
                out.extend_from_slice(dir);
                if !out.ends_with(b"/") {
                    out.push(b'/');
                }
                out.extend_from_slice(XINO_NAME);
                out
            }
        }
    }

    /// The content of sysfs `xi_path` as bytes: the xino path and `\n`
    /// (just `\n` with noxino).  Not escaped, as in aufs.
    pub fn xi_path_bytes(&self, o: &MountOpts) -> Vec<u8> {
        let mut v = self.xino_path(o);
        v.push(b'\n');
        v
    }

    /// [`BranchTable::xi_path_bytes`] as a String.
    pub fn xi_path_text(&self, o: &MountOpts) -> String {
        to_string_lossless(self.xi_path_bytes(o))
    }

    /// Apply one remount operation.  On error the table is unchanged.
    ///
    /// * add/append/prepend: EDOM for an index past the end; a branch that
    ///   is already there (same path string, or [`Relation::Same`]) is
    ///   silently ignored, as in aufs; ENOSPC past [`BRANCH_MAX`]; otherwise
    ///   the checks of [`BranchTable::build`].  A branch without a permission
    ///   gets [`default_perm`] of its new index (append counts as index >= 1,
    ///   so it is `ro` or `rr`).
    /// * del: ENOENT if no branch has the path; EBUSY for the last branch.
    ///   (Busy branches with open files are the kernel side's business.)
    /// * mod: ENOENT if no branch has the path; EINVAL for rw on a read-only
    ///   filesystem.
    /// * replace (`br=` at remount): the new list is resolved and checked as
    ///   at mount (resolver positions `0..n`, before the old branches, which
    ///   are then removed with `removed(n)` each).  New ids are given.
    pub fn apply(
        &mut self,
        op: &BranchOp,
        mount_rdonly: bool,
        r: &mut dyn Resolver,
    ) -> core::result::Result<(), OptError> {
        match op {
            BranchOp::Add { index, spec } => self.add(*index, spec, *index, mount_rdonly, r),
            BranchOp::Append(spec) => {
                let n = self.len();
                self.add(n, spec, n.max(1), mount_rdonly, r)
            }
            BranchOp::Prepend(spec) => self.add(0, spec, 0, mount_rdonly, r),
            BranchOp::Del(path) => self.del(path, r),
            BranchOp::Mod(path, perm) => self.modify(path, perm),
            BranchOp::Replace(specs) => self.replace(specs, mount_rdonly, r),
        }
    }

    fn add(
        &mut self,
        index: usize,
        spec: &BranchSpec,
        perm_index: usize,
        mount_rdonly: bool,
        r: &mut dyn Resolver,
    ) -> Result<(), OptError> {
        if index > self.len() {
            return Err(OptError::new(
                Errno::EDOM,
                format!("branch index {} out of range (0..{})", index, self.len()),
            ));
        }
        if self.index_of_path(&spec.path).is_some() {
            return Ok(());
        }
        let n = self.len().saturating_add(1);
        if n > BRANCH_MAX {
            return Err(OptError::new(
                Errno::ENOSPC,
                format!("too many branches ({} > {})", n, BRANCH_MAX),
            ));
        }
        self.branches.try_reserve(1)?;
        self.facts.try_reserve(1)?;
        let mut path = Vec::new();
        add_path(&mut path, &spec.path)?;
        // The others, numbered as after the insertion.
        let mut others = self
            .branches
            .iter()
            .enumerate()
            .map(|(j, b)| (if j < index { j } else { j.saturating_add(1) }, b.path.as_slice()));
        let nb = NewBranch { spec, idx: index, perm_index, mount_rdonly, ignore_dup: true };
        match check_new(r, &nb, &mut others)? {
            Checked::Keep(perm, facts) => {
                let id = self.alloc_id();
                if !facts.abs_path.is_empty() {
                    path.clear();
                    add_path(&mut path, &facts.abs_path)?;
                }
                self.branches.insert(index, Branch { path, perm, id });
                self.facts.insert(index, facts);
            }
            Checked::Duplicate => {}
        }
        Ok(())
    }

    fn del(&mut self, path: &[u8], r: &mut dyn Resolver) -> Result<(), OptError> {
        let i = self.index_of_path(path).ok_or_else(|| {
            OptError::new(Errno::ENOENT, format!("no such branch {}", show(path)))
        })?;
        if self.len() <= 1 {
            return Err(OptError::new(
                Errno::EBUSY,
                format!("cannot delete the last branch {}", show(path)),
            ));
        }
        self.branches.remove(i);
        if i < self.facts.len() {
            self.facts.remove(i);
        }
        r.removed(i);
        Ok(())
    }

    fn modify(&mut self, path: &[u8], perm: &BrPerm) -> Result<(), OptError> {
        let i = self.index_of_path(path).ok_or_else(|| {
            OptError::new(Errno::ENOENT, format!("no such branch {}", show(path)))
        })?;
        let rdonly = self.facts.get(i).is_some_and(|f| f.sb_rdonly);
        if perm.writable() && rdonly {
            return Err(inval(format!(
                "branch {}: read-only filesystem cannot be rw",
                show(path)
            )));
        }
        if let Some(b) = self.branches.get_mut(i) {
            b.perm = perm.clone();
        }
        Ok(())
    }

    fn replace(
        &mut self,
        specs: &[BranchSpec],
        mount_rdonly: bool,
        r: &mut dyn Resolver,
    ) -> Result<(), OptError> {
        let mut fresh = BranchTable {
            branches: Vec::new(),
            facts: Vec::new(),
            next_id: self.next_id,
        };
        if let Err(e) = fresh.fill(specs, mount_rdonly, r, 0) {
            // Drop the new ones placed before the failure (fill already
            // forgot the failing one).
            for idx in (0..fresh.len()).rev() {
                r.forget(idx);
            }
            return Err(e);
        }
        let n = fresh.len();
        for _ in 0..self.len() {
            r.removed(n);
        }
        // Ids keep growing from where the old table was.
        *self = fresh;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::{parse, parse_remount, Perm};
    use std::collections::HashMap;
    use std::string::ToString;

    /// In-memory resolver: facts by path; per-position state kept by the
    /// protocol, relations by path prefix on the kept paths.
    #[derive(Default)]
    struct Fake {
        facts: HashMap<Vec<u8>, crate::Result<BranchFacts>>,
        slots: Vec<Vec<u8>>,
        log: Vec<String>,
    }

    fn dir(fs: &str) -> BranchFacts {
        BranchFacts {
            is_dir: true,
            sb_rdonly: false,
            fs_type: fs.as_bytes().to_vec(),
            is_aufs: false,
            under_mountpoint: false,
            idmapped: false,
            inexact_names: false,
            abs_path: Vec::new(),
        }
    }

    fn norm(p: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in p.split(|c| *c == b'/').filter(|c| !c.is_empty() && *c != b".") {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        out.push(b'/');
        out
    }

    impl Fake {
        fn new(paths: &[&str]) -> Fake {
            let mut f = Fake::default();
            for p in paths {
                f.facts.insert(p.as_bytes().to_vec(), Ok(dir("ext4")));
            }
            f
        }
        fn set(&mut self, p: &str, facts: crate::Result<BranchFacts>) {
            self.facts.insert(p.as_bytes().to_vec(), facts);
        }
    }

    impl Resolver for Fake {
        fn resolve(&mut self, idx: usize, path: &[u8]) -> crate::Result<BranchFacts> {
            self.log.push(format!("resolve {} {}", idx, String::from_utf8_lossy(path)));
            let key = norm(path);
            let f = self
                .facts
                .iter()
                .find(|(k, _)| norm(k) == key)
                .map(|(_, v)| v.clone())
                .unwrap_or(Err(Errno::ENOENT))?;
            assert!(idx <= self.slots.len(), "resolve idx {} > {}", idx, self.slots.len());
            self.slots.insert(idx, path.to_vec());
            Ok(f)
        }
        fn relation(&mut self, a: usize, b: usize) -> Relation {
            let (pa, pb) = (norm(&self.slots[a]), norm(&self.slots[b]));
            assert_ne!(a, b);
            if pa == pb {
                Relation::Same
            } else if pa.starts_with(&pb) {
                Relation::Inside
            } else if pb.starts_with(&pa) {
                Relation::Contains
            } else {
                Relation::Distinct
            }
        }
        fn forget(&mut self, idx: usize) {
            self.log.push(format!("forget {}", idx));
            self.slots.remove(idx);
        }
        fn removed(&mut self, idx: usize) {
            self.log.push(format!("removed {}", idx));
            self.slots.remove(idx);
        }
    }

    fn table(data: &str, f: &mut Fake) -> BranchTable {
        let o = parse(data.as_bytes()).unwrap();
        BranchTable::build(&o, false, f).unwrap()
    }

    fn texts(t: &BranchTable) -> Vec<String> {
        (0..t.len()).map(|i| t.br_text(i).unwrap()).collect()
    }

    /// The table and the resolver's slots agree.
    fn consistent(t: &BranchTable, f: &Fake) {
        assert_eq!(t.len(), f.slots.len());
        for (b, s) in t.iter().zip(&f.slots) {
            assert_eq!(norm(&b.path), norm(s));
        }
    }

    #[test]
    fn default_perms() {
        assert_eq!(default_perm(0, b"ext4", false), BrPerm::RW);
        assert_eq!(default_perm(0, b"ext4", true), BrPerm::RO);
        assert_eq!(default_perm(1, b"ext4", false), BrPerm::RO);
        assert_eq!(default_perm(5, b"tmpfs", true), BrPerm::RO);
        for fs in ["squashfs", "iso9660", "cramfs", "romfs"] {
            assert_eq!(default_perm(0, fs.as_bytes(), false), BrPerm::RR);
            assert_eq!(default_perm(3, fs.as_bytes(), true), BrPerm::RR);
        }
        assert_eq!(default_perm(0, b"squashfs2", false), BrPerm::RW);
    }

    #[test]
    fn build_basic() {
        let mut f = Fake::new(&["/rw", "/ro", "/img", "/t/a b", "/x"]);
        f.set("/img", Ok(dir("squashfs")));
        let t = table("br=/rw:/ro:/img:/t/a b=ro+wh:/x=rw+nolwh", &mut f);
        assert_eq!(t.len(), 5);
        assert!(!t.is_empty());
        assert_eq!(
            texts(&t),
            vec!["/rw=rw\n", "/ro=ro\n", "/img=rr\n", "/t/a\\040b=ro+wh\n", "/x=rw+nolwh\n"]
        );
        let ids: Vec<String> = (0..5).map(|i| t.brid_text(i).unwrap()).collect();
        assert_eq!(ids, vec!["64\n", "65\n", "66\n", "67\n", "68\n"]);
        assert_eq!(t.next_id(), 69);
        assert_eq!(t.first_writable(), Some(0));
        assert_eq!(t.get(2).unwrap().perm.perm, Perm::Rr);
        assert_eq!(t.facts(2).unwrap().fs_type, b"squashfs".to_vec());
        assert!(t.get(5).is_none() && t.br_text(5).is_none() && t.brid_text(5).is_none());
        assert_eq!(t.index_of_id(66), Some(2));
        assert_eq!(t.index_of_path(b"/t/a b/"), Some(3));
        assert_eq!(t.iter().count(), 5);
        consistent(&t, &f);
        assert_eq!(f.log[0], "resolve 0 /rw");
        assert_eq!(f.log[4], "resolve 4 /x");
    }

    #[test]
    fn build_rdonly_mount_and_escapes() {
        let mut f = Fake::new(&["/a", "/tmp/a b", "/t\\n", "/nl\nx"]);
        let o = parse(b"br=/a:/tmp/a b:/t\\n:/nl\nx").unwrap();
        let t = BranchTable::build(&o, true, &mut f).unwrap();
        assert_eq!(
            texts(&t),
            vec!["/a=ro\n", "/tmp/a\\040b=ro\n", "/t\\134n=ro\n", "/nl\\012x=ro\n"]
        );
        assert_eq!(t.first_writable(), None);
        let mut f = Fake::new(&["/tmp/a b"]);
        let t = table("br=/tmp/a b", &mut f);
        assert_eq!(t.br_text(0).unwrap(), "/tmp/a\\040b=rw\n");
        let mut f = Fake::new(&["/\u{e9}", "/\x7f"]);
        let o = MountOpts {
            branches: vec![
                BranchSpec { path: b"/\xe9".to_vec(), perm: None },
            ],
            ..MountOpts::default()
        };
        f.set("/\u{e9}", Ok(dir("ext4")));
        f.facts.insert(b"/\xe9".to_vec(), Ok(dir("ext4")));
        let t = BranchTable::build(&o, false, &mut f).unwrap();
        assert_eq!(t.br_bytes(0).unwrap(), b"/\xe9=rw\n".to_vec());
        assert_eq!(t.br_text(0).unwrap(), "/\\351=rw\n");
    }

    #[test]
    fn build_errors() {
        let base = ["/a", "/a/b", "/c", "/file", "/proc", "/sys", "/au", "/mp", "/roext", "/sq", "/eacc", "/idm", "/eio"];
        let make = || {
            let mut f = Fake::new(&base);
            f.set("/file", Ok(BranchFacts { is_dir: false, ..dir("ext4") }));
            f.set("/proc", Ok(dir("proc")));
            f.set("/sys", Ok(dir("sysfs")));
            f.set("/au", Ok(BranchFacts { is_aufs: true, ..dir("aufs") }));
            f.set("/mp", Ok(BranchFacts { under_mountpoint: true, ..dir("ext4") }));
            f.set("/idm", Ok(BranchFacts { idmapped: true, ..dir("ext4") }));
            f.set("/eio", Err(Errno::EIO));
            f.set("/roext", Ok(BranchFacts { sb_rdonly: true, ..dir("ext4") }));
            f.set("/sq", Ok(BranchFacts { sb_rdonly: true, ..dir("squashfs") }));
            f.set("/eacc", Err(Errno::EACCES));
            f.set("/oom", Err(Errno::ENOMEM));
            f
        };
        let cases: &[(&str, Errno, &str)] = &[
            ("br=/nope", Errno::EINVAL, "branch /nope: not found (ENOENT)"),
            ("br=/c:/mp", Errno::EINVAL, "branch /mp is inside the mount point"),
            ("br=/c:/eacc", Errno::EINVAL, "branch /eacc: not found (EACCES)"),
            ("br=/c:/eio", Errno::EINVAL, "branch /eio: cannot be resolved (EIO)"),
            ("br=/c:/idm", Errno::EINVAL, "branch /idm: an idmapped mount cannot be a branch"),
            ("br=/oom", Errno::ENOMEM, "branch /oom: out of memory"),
            ("br=/file", Errno::EINVAL, "branch /file: not a directory"),
            ("br=/c:/a:/a/b", Errno::EINVAL, "branch /a/b overlaps /a"),
            ("br=/a/b:/a", Errno::EINVAL, "branch /a overlaps /a/b"),
            ("br=/a:/c:/a/", Errno::EINVAL, "duplicate branch /a"),
            ("br=/au", Errno::EINVAL, "branch /au is on aufs"),
            ("br=/c:/proc", Errno::EINVAL, "branch /proc: filesystem proc cannot be a branch"),
            ("br=/sys=ro", Errno::EINVAL, "filesystem sysfs cannot be a branch"),
            ("br=/roext", Errno::EINVAL, "branch /roext: read-only filesystem cannot be rw"),
            ("br=/c:/roext=rw", Errno::EINVAL, "read-only filesystem cannot be rw"),
        ];
        for (data, errno, msg) in cases {
            let mut f = make();
            // bypass the parser's own duplicate check to reach the resolver's
            let specs: Vec<BranchSpec> = data
                .strip_prefix("br=")
                .unwrap()
                .split(':')
                .map(|s| {
                    let (p, perm) = match s.split_once('=') {
                        Some((p, perm)) => (p, Some(BrPerm::parse(perm.as_bytes()).unwrap())),
                        None => (s, None),
                    };
                    BranchSpec { path: p.as_bytes().to_vec(), perm }
                })
                .collect();
            let o = MountOpts { branches: specs, ..MountOpts::default() };
            let e = BranchTable::build(&o, false, &mut f).unwrap_err();
            assert_eq!(e.errno, *errno, "{}: {:?}", data, e);
            assert!(e.msg.contains(msg), "{}: {:?}", data, e.msg);
            assert!(!e.msg.contains('\n'));
        }
        // all forbidden types
        for fs in FORBIDDEN_FS {
            let mut f = Fake::new(&["/x"]);
            f.set("/x", Ok(BranchFacts { fs_type: fs.to_vec(), ..dir("") }));
            let e = BranchTable::build(&parse(b"br=/x").unwrap(), false, &mut f).unwrap_err();
            assert_eq!(e.errno, Errno::EINVAL);
            assert!(e.msg.contains("cannot be a branch"));
        }
        // read-only squashfs is fine: rr by default, also ro explicitly
        let mut f = make();
        let t = table("br=/c:/sq:/roext=ro", &mut f);
        assert_eq!(texts(&t), vec!["/c=rw\n", "/sq=rr\n", "/roext=ro\n"]);
        // no branch / too many
        let mut f = make();
        let e = BranchTable::build(&MountOpts::default(), false, &mut f).unwrap_err();
        assert_eq!((e.errno, e.msg.as_str()), (Errno::EINVAL, "no branch specified"));
        let o = MountOpts {
            branches: (0..128)
                .map(|i| BranchSpec { path: format!("/m{}", i).into_bytes(), perm: None })
                .collect(),
            ..MountOpts::default()
        };
        let e = BranchTable::build(&o, false, &mut f).unwrap_err();
        assert_eq!(e.errno, Errno::ENOSPC);
        assert_eq!(e.msg, "too many branches (128 > 127)");
    }

    #[test]
    fn build_127() {
        let names: Vec<String> = (0..127).map(|i| format!("/l{}", i)).collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let mut f = Fake::new(&refs);
        let t = table(&format!("br={}", names.join(":")), &mut f);
        assert_eq!(t.len(), 127);
        assert_eq!(t.brid_text(126).unwrap(), "190\n");
        consistent(&t, &f);
        // one more at remount is ENOSPC, the table is unchanged
        f.set("/more", Ok(dir("ext4")));
        let mut t2 = t.clone();
        let e = t2
            .apply(&BranchOp::Append(BranchSpec { path: b"/more".to_vec(), perm: None }), false, &mut f)
            .unwrap_err();
        assert_eq!(e.errno, Errno::ENOSPC);
        assert_eq!(t2, t);
    }

    #[test]
    fn xino_paths() {
        let mut f = Fake::new(&["/rw/", "/ro", "/ro2"]);
        let o = parse(b"br=/ro=ro:/rw/=rw").unwrap();
        let t = BranchTable::build(&o, false, &mut f).unwrap();
        assert_eq!(t.first_writable(), Some(1));
        assert_eq!(t.xino_path(&o), b"/rw/.aufs.xino".to_vec());
        assert_eq!(t.xi_path_text(&o), "/rw/.aufs.xino\n");
        let o2 = parse(b"br=/ro=ro:/ro2").unwrap();
        let t2 = BranchTable::build(&o2, false, &mut f).unwrap();
        assert_eq!(t2.xino_path(&o2), b"/tmp/.aufs.xino".to_vec());
        let o3 = parse(b"br=/ro,noxino").unwrap();
        assert_eq!(t.xino_path(&o3), b"".to_vec());
        assert_eq!(t.xi_path_text(&o3), "\n");
        let o4 = parse(b"br=/ro,xino=/dev/shm/aufs.xino").unwrap();
        assert_eq!(t.xi_path_text(&o4), "/dev/shm/aufs.xino\n");
        assert_eq!(t.xi_path_bytes(&o4), b"/dev/shm/aufs.xino\n".to_vec());
        let mut f = Fake::new(&["/", "rel"]);
        let o5 = parse(b"br=/").unwrap();
        let t5 = BranchTable::build(&o5, false, &mut f).unwrap();
        assert_eq!(t5.xino_path(&o5), b"/.aufs.xino".to_vec());
        let o6 = parse(b"br=rel").unwrap();
        let t6 = BranchTable::build(&o6, false, &mut f).unwrap();
        assert_eq!(t6.xino_path(&o6), b"rel/.aufs.xino".to_vec());
    }

    fn apply_all(t: &mut BranchTable, data: &str, f: &mut Fake) -> Result<(), OptError> {
        let (_, ops) = parse_remount(data.as_bytes(), &MountOpts::default())?;
        for op in &ops {
            t.apply(op, false, f)?;
            consistent(t, f);
        }
        Ok(())
    }

    #[test]
    fn remount_ops() {
        let mut f = Fake::new(&["/rw", "/l1", "/l2", "/l3", "/p", "/q", "/img", "/rw/sub", "/file", "/roext"]);
        f.set("/img", Ok(dir("squashfs")));
        f.set("/file", Ok(BranchFacts { is_dir: false, ..dir("ext4") }));
        f.set("/roext", Ok(BranchFacts { sb_rdonly: true, ..dir("ext4") }));
        let mut t = table("br=/rw:/l1=ro+wh", &mut f);
        consistent(&t, &f);

        // Docker-style appends, trailing comma
        apply_all(&mut t, "append:/l2=ro+wh,append:/l3,", &mut f).unwrap();
        assert_eq!(texts(&t), vec!["/rw=rw\n", "/l1=ro+wh\n", "/l2=ro+wh\n", "/l3=ro\n"]);
        assert_eq!(t.brid_text(3).unwrap(), "67\n");

        // prepend without perm is rw (index 0), add in the middle
        apply_all(&mut t, "prepend:/p,add:2:/q,append:/img", &mut f).unwrap();
        assert_eq!(
            texts(&t),
            vec!["/p=rw\n", "/rw=rw\n", "/q=ro\n", "/l1=ro+wh\n", "/l2=ro+wh\n", "/l3=ro\n", "/img=rr\n"]
        );
        let ids: Vec<u32> = t.iter().map(|b| b.id).collect();
        assert_eq!(ids, vec![68, 64, 69, 65, 66, 67, 70]);

        // duplicates are ignored silently: same string, or Relation::Same
        let before = t.clone();
        apply_all(&mut t, "append:/l2,add:0:/rw/,prepend://q", &mut f).unwrap();
        assert_eq!(t, before);
        f.set("/alias-of-l3", Ok(dir("ext4")));
        // make the resolver report the alias as the same place
        struct Alias<'a>(&'a mut Fake);
        impl Resolver for Alias<'_> {
            fn resolve(&mut self, idx: usize, path: &[u8]) -> crate::Result<BranchFacts> {
                let p = if path == b"/alias-of-l3" { &b"/l3"[..] } else { path };
                self.0.resolve(idx, p)
            }
            fn relation(&mut self, a: usize, b: usize) -> Relation {
                self.0.relation(a, b)
            }
            fn forget(&mut self, idx: usize) {
                self.0.forget(idx)
            }
            fn removed(&mut self, idx: usize) {
                self.0.removed(idx)
            }
        }
        let op = BranchOp::Append(BranchSpec { path: b"/alias-of-l3".to_vec(), perm: None });
        t.apply(&op, false, &mut Alias(&mut f)).unwrap();
        assert_eq!(t, before);
        consistent(&t, &f);
        assert_eq!(f.log.last().unwrap(), "forget 7");

        // errors leave the table and the resolver as they were
        let cases: &[(&str, Errno, &str)] = &[
            ("add:9:/x", Errno::EDOM, "branch index 9 out of range"),
            ("append:/nope", Errno::EINVAL, "branch /nope: not found (ENOENT)"),
            ("append:/rw/sub", Errno::EINVAL, "branch /rw/sub overlaps /rw"),
            ("append:/file", Errno::EINVAL, "not a directory"),
            ("prepend:/roext", Errno::EINVAL, "read-only filesystem cannot be rw"),
            ("del:/nope", Errno::ENOENT, "no such branch /nope"),
            ("mod:/nope=ro", Errno::ENOENT, "no such branch /nope"),
        ];
        for (data, errno, msg) in cases {
            let e = apply_all(&mut t, data, &mut f).unwrap_err();
            assert_eq!(e.errno, *errno, "{}: {:?}", data, e);
            assert!(e.msg.contains(msg), "{}: {:?}", data, e.msg);
            assert_eq!(t, before, "{}", data);
            consistent(&t, &f);
        }
        // append on a ro fs defaults to ro, fine
        apply_all(&mut t, "append:/roext", &mut f).unwrap();
        assert_eq!(t.br_text(7).unwrap(), "/roext=ro\n");
        let e = apply_all(&mut t, "mod:/roext=rw", &mut f).unwrap_err();
        assert_eq!(e.errno, Errno::EINVAL);
        assert!(e.msg.contains("read-only filesystem cannot be rw"));

        // mod and del
        apply_all(&mut t, "mod:/l1=rr+wh,mod:/p=ro,del:/roext,del:/q/", &mut f).unwrap();
        assert_eq!(
            texts(&t),
            vec!["/p=ro\n", "/rw=rw\n", "/l1=rr+wh\n", "/l2=ro+wh\n", "/l3=ro\n", "/img=rr\n"]
        );
        assert_eq!(t.first_writable(), Some(1));
        assert!(f.log.contains(&"removed 2".to_string()));
        // ids stay with their branches
        assert_eq!(t.index_of_id(65), Some(2));
        apply_all(&mut t, "del:/p,del:/l1,del:/l2,del:/l3,del:/img", &mut f).unwrap();
        assert_eq!(texts(&t), vec!["/rw=rw\n"]);
        let e = apply_all(&mut t, "del:/rw", &mut f).unwrap_err();
        assert_eq!(e.errno, Errno::EBUSY);
        assert!(e.msg.contains("last branch"));
        assert_eq!(t.len(), 1);
        // new ids keep growing
        apply_all(&mut t, "append:/l1", &mut f).unwrap();
        assert_eq!(t.get(1).unwrap().id, 72);
    }

    #[test]
    fn remount_replace() {
        let mut f = Fake::new(&["/a", "/b", "/c", "/d", "/a/in"]);
        let mut t = table("br=/a:/b", &mut f);
        apply_all(&mut t, "br=/c:/a=ro", &mut f).unwrap();
        assert_eq!(texts(&t), vec!["/c=rw\n", "/a=ro\n"]);
        assert_eq!(t.get(0).unwrap().id, 66);
        consistent(&t, &f);
        let before = t.clone();
        for (data, errno) in [
            ("br=/d:/nope", Errno::EINVAL),
            ("br=/a:/a/in", Errno::EINVAL),
            ("br=", Errno::EINVAL),
        ] {
            let e = apply_all(&mut t, data, &mut f).unwrap_err();
            assert_eq!(e.errno, errno, "{}", data);
            assert_eq!(t, before);
            consistent(&t, &f);
        }
    }

    #[test]
    fn ids_wrap_and_stay_unique() {
        let mut f = Fake::new(&["/a", "/b", "/c"]);
        let mut t = table("br=/a:/b", &mut f);
        t.next_id = u32::MAX;
        apply_all(&mut t, "append:/c", &mut f).unwrap();
        assert_eq!(t.get(2).unwrap().id, u32::MAX);
        apply_all(&mut t, "del:/c,append:/c", &mut f).unwrap();
        // 64 and 65 are taken by /a and /b
        assert_eq!(t.get(2).unwrap().id, 66);
    }

    #[test]
    fn random_remounts_keep_invariants() {
        let paths: Vec<String> = (0..20).map(|i| format!("/r{}", i)).collect();
        let refs: Vec<&str> = paths.iter().map(|s| s.as_str()).collect();
        let mut f = Fake::new(&refs);
        f.set("/r3/in", Ok(dir("ext4")));
        f.set("/img", Ok(dir("squashfs")));
        let mut t = table("br=/r0:/r1", &mut f);
        let mut seed = 0x5eed_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let perms = ["", "=rw", "=ro", "=ro+wh", "=rr", "=x"];
        for _ in 0..3000 {
            let p = if next() % 10 == 0 { "/r3/in".to_string() } else { format!("/r{}", next() % 22) };
            let perm = perms[(next() % perms.len() as u64) as usize];
            let data = match next() % 6 {
                0 => format!("append:{}{}", p, perm),
                1 => format!("prepend:{}{}", p, perm),
                2 => format!("add:{}:{}{}", next() % 8, p, perm),
                3 => format!("del:{}", p),
                4 => format!("mod:{}{}", p, if perm.is_empty() { "=ro" } else { perm }),
                _ => format!("br={}:/r{}", p, next() % 20),
            };
            let before = t.clone();
            match apply_all(&mut t, &data, &mut f) {
                Ok(()) => {}
                Err(e) => {
                    assert!(!e.msg.is_empty() && !e.msg.contains('\n'));
                    assert_eq!(t, before, "{}", data);
                }
            }
            consistent(&t, &f);
            assert!(!t.is_empty() && t.len() <= BRANCH_MAX);
            let mut ids: Vec<u32> = t.iter().map(|b| b.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), t.len());
            for (i, b) in t.iter().enumerate() {
                for c in t.iter().skip(i + 1) {
                    assert!(!same_path(&b.path, &c.path));
                }
            }
        }
    }
}
