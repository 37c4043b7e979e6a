//! Lookup through whiteouts and opaque directories, and the merged readdir.
//!
//! Both walk a directory's entries on each branch from the top (index 0)
//! down.  The rules, as aufs has them:
//! - on a branch that may hold whiteouts (rw, or ro/rr with `+wh`),
//!   `.wh.<name>` hides `<name>` on that branch and every lower one;
//! - the first positive entry fixes the type of the union object; a
//!   non-directory ends the search; directories merge down to (and
//!   including) the first one that holds the opaque marker `.wh..wh..opq`;
//! - a lower entry of another type than the first is ignored;
//! - a regular file marked as a metacopy shows its attributes over the data
//!   of the next regular file of the name below: the result then has two
//!   entries, the metacopy and the data (the only non-directory that has
//!   more than one).  Only on a mount with the `metacopy` option: without
//!   it a marked file is refused ([`LookupError::Refused`]), as overlayfs
//!   refuses one with `metacopy=off`;
//! - `.wh.*` names are never shown, except with `shwh` (show whiteouts, a
//!   read-only mount only): then every `.wh.*` entry of the directory's
//!   branches is listed under its own name (once, from the topmost branch
//!   holding it) and can be looked up like any file, as aufs's `shwh` has
//!   it; a whiteout still hides the name it whites out.

use crate::backend::{Backend, DirSink, FileType, Lower};
use crate::dirren;
use crate::name::{self, Kind};
use crate::{Errno, Result};
use alloc::vec::Vec;

/// What the union needs to know of the branch table.
pub trait Branches {
    /// Whiteouts and opaque markers on branch `br` count.
    fn may_whiteout(&self, br: u32) -> bool;
    /// Branch `br` takes changes.
    fn writable(&self, br: u32) -> bool;
    /// Whiteouts on branch `br` are plain files, not hard links (`nolwh`).
    fn nolwh(&self, _br: u32) -> bool {
        false
    }
    /// Metacopy markers are followed (the `metacopy` option).
    fn follow_metacopy(&self) -> bool;
    /// Branch `br` compares names byte for byte (not casefolded, no
    /// filesystem hash and compare of its own, as vfat has).
    fn exact_names(&self, _br: u32) -> bool {
        true
    }
    /// Whiteouts are shown (the `shwh` option, only on a read-only mount):
    /// `.wh.*` names are listed and can be looked up as the files they are.
    fn shwh(&self) -> bool {
        false
    }
    /// A new or renamed directory is always made opaque (`diropq=a`).
    fn diropq_always(&self) -> bool {
        false
    }
    /// Directory rename records are followed and written (`dirren`).
    fn follow_dirren(&self) -> bool {
        false
    }
    /// How many branches there are (a record is followed on each branch
    /// below the one that holds it, whether the parent is there or not).
    fn count(&self) -> u32;
}

/// Why [`lookup`] found no object where the branches hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// A branch (or the name itself) said so.
    Errno(Errno),
    /// A metacopy whose data is gone (removed, whited out or replaced on
    /// its branch directly): never a hole shown as its data.
    NoData,
    /// A metacopy marker on branch `br` of a mount that does not follow
    /// them (no `metacopy` option).  A marker is a `trusted.` xattr, and
    /// an image layer is extracted with its xattrs: followed, a marked
    /// file of one layer would show the data of the same name in another,
    /// which no scanner of the first layer's archive sees.
    Refused { br: u32 },
    /// A directory on branch `br` carries a rename record that is not a
    /// well-formed path (see [`crate::dirren`]): refused, never followed.
    BadRecord { br: u32 },
}

impl LookupError {
    /// What the caller is told: EIO for a metacopy without data, EPERM for
    /// a refused one (as overlayfs).
    pub fn errno(self) -> Errno {
        match self {
            LookupError::Errno(e) => e,
            LookupError::NoData => Errno::EIO,
            LookupError::Refused { .. } => Errno::EPERM,
            LookupError::BadRecord { .. } => Errno::EIO,
        }
    }
}

impl From<Errno> for LookupError {
    fn from(e: Errno) -> LookupError {
        LookupError::Errno(e)
    }
}

impl From<alloc::collections::TryReserveError> for LookupError {
    fn from(e: alloc::collections::TryReserveError) -> LookupError {
        LookupError::Errno(e.into())
    }
}

/// Result of [`lookup`].
#[derive(Debug)]
pub struct Lookup<N> {
    /// Positive entries, top first; empty for a negative result.
    pub lowers: Vec<Lower<N>>,
    /// Type of the union object (`None` if negative).
    pub ftype: Option<FileType>,
    /// Branch whose directory holds the opaque marker.
    pub bopaque: Option<u32>,
    /// Branch on which a whiteout hides the name.
    pub bwh: Option<u32>,
    /// Topmost branch (above any positive entry) on which the name is absent.
    pub bneg: Option<u32>,
}

impl<N> Lookup<N> {
    fn negative() -> Self {
        Lookup { lowers: Vec::new(), ftype: None, bopaque: None, bwh: None, bneg: None }
    }
}

fn is_positive<B: Backend>(b: &B, br: u32, n: &B::Node) -> Result<bool> {
    Ok(b.stat(br, n)?.is_some())
}

/// Look `name` up in the union directory whose entries are `parent`
/// (top first, as a previous lookup returned them).
///
/// `listing`, if given, is the merged listing of that directory (made by
/// [`read_dir`] from the same entries, and still current: the caller
/// knows).  It says where the name is without asking every branch: absent
/// (negative, no branch looked at), or shown from branch `br`, where the
/// lookup starts: the branches above hold neither the name nor a whiteout
/// of it, or the listing would show it from there or not at all.  Not
/// where a branch of the directory compares names inexactly (casefolding,
/// vfat): its lookup may find a name the listing spells otherwise.
pub fn lookup<B: Backend>(
    b: &B,
    brs: &dyn Branches,
    parent: &[Lower<B::Node>],
    name: &[u8],
    listing: Option<&MergedDir>,
) -> core::result::Result<Lookup<B::Node>, LookupError> {
    if brs.shwh() {
        name::check_name_len(name)?;
    } else {
        name::check_user_name(name)?;
    }
    let wh = name::whiteout_name(name)?;
    let mut res = Lookup::negative();
    let listing = listing.filter(|_| parent.iter().all(|p| brs.exact_names(p.br)));
    let start = match listing {
        None => 0,
        Some(m) => match m.find(name) {
            None => return Ok(res),
            Some(e) => e.br,
        },
    };
    // The top entry is a metacopy: its data is the next regular file of
    // the name below (a metacopy there too: further down).
    let mut need_data = false;
    for p in parent.iter().filter(|p| p.br >= start) {
        let whable = brs.may_whiteout(p.br);
        if whable {
            let w = b.lookup(p.br, &p.node, &wh)?;
            if is_positive(b, p.br, &w)? {
                if !need_data {
                    res.bwh = Some(p.br);
                }
                break;
            }
        }
        let n = b.lookup(p.br, &p.node, name)?;
        let st = match b.stat(p.br, &n)? {
            None => {
                if res.ftype.is_none() && res.bneg.is_none() {
                    res.bneg = Some(p.br);
                }
                continue;
            }
            Some(st) => st,
        };
        let t = st.file_type();
        if need_data {
            if t != FileType::Reg {
                break;
            }
            if b.is_metacopy(p.br, &n)? {
                continue;
            }
            res.lowers.try_reserve(1)?;
            res.lowers.push(Lower::new(p.br, n));
            need_data = false;
            break;
        }
        if res.ftype.is_none() && t == FileType::Reg && b.is_metacopy(p.br, &n)? {
            if !brs.follow_metacopy() {
                return Err(LookupError::Refused { br: p.br });
            }
            res.ftype = Some(t);
            res.lowers.try_reserve(1)?;
            res.lowers.push(Lower::new(p.br, n));
            need_data = true;
            continue;
        }
        match res.ftype {
            None => res.ftype = Some(t),
            // Only directories merge; a lower entry of another type is ignored.
            Some(first) if first == FileType::Dir && t == FileType::Dir => {}
            Some(_) => continue,
        }
        res.lowers.try_reserve(1)?;
        res.lowers.push(Lower::new(p.br, n));
        if t != FileType::Dir {
            break;
        }
        if whable {
            if let Some(last) = res.lowers.last() {
                let o = b.lookup(p.br, &last.node, name::OPQ_NAME)?;
                if is_positive(b, p.br, &o)? {
                    res.bopaque = Some(p.br);
                    break;
                }
            }
        }
        if brs.follow_dirren() {
            if let Some(last) = res.lowers.last() {
                match dirren::record_of(b, p.br, &last.node)? {
                    dirren::Record::None => {}
                    dirren::Record::Bad => return Err(LookupError::BadRecord { br: p.br }),
                    dirren::Record::Good(rec) => {
                        follow_records(b, brs, &mut res, p.br, rec)?;
                        break;
                    }
                }
            }
        }
    }
    if need_data {
        return Err(LookupError::NoData);
    }
    Ok(res)
}

/// The directory found on branch `from` carries the rename record `rec`:
/// its entries below `from` are at that path (from each branch's root),
/// not at its name.  Each branch below is asked once, top-down, with the
/// rules of [`lookup`] (whiteouts, opaque directories, other types
/// ignored); a directory found there with a record of its own, or reached
/// through one, changes the path for the branches below it.
fn follow_records<B: Backend>(
    b: &B,
    brs: &dyn Branches,
    res: &mut Lookup<B::Node>,
    from: u32,
    rec: Vec<u8>,
) -> core::result::Result<(), LookupError> {
    let mut path = rec;
    let mut q = from;
    loop {
        q = match q.checked_add(1) {
            Some(q) if q < brs.count() => q,
            _ => return Ok(()),
        };
        let (node, below, opaque_above) = match dirren::walk(b, brs, q, &path) {
            Ok(dirren::Walk::Stop) => return Ok(()),
            Ok(dirren::Walk::Absent) => continue,
            Ok(dirren::Walk::Bad) => return Err(LookupError::BadRecord { br: q }),
            Ok(dirren::Walk::Found { node, below, opaque_above }) => (node, below, opaque_above),
            Err(e) => return Err(e.into()),
        };
        res.lowers.try_reserve(1)?;
        res.lowers.push(Lower::new(q, node));
        let Some(last) = res.lowers.last() else { return Ok(()) };
        if brs.may_whiteout(q) && is_positive(b, q, &b.lookup(q, &last.node, name::OPQ_NAME)?)? {
            res.bopaque = Some(q);
            return Ok(());
        }
        if opaque_above {
            return Ok(());
        }
        path = match dirren::record_of(b, q, &last.node)? {
            dirren::Record::Good(r) => r,
            dirren::Record::None => below,
            dirren::Record::Bad => return Err(LookupError::BadRecord { br: q }),
        };
    }
}

/// One entry of a merged directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry {
    off: u32,
    len: u32,
    pub ftype: FileType,
    pub br: u32,
    pub ino: u64,
}

/// A merged directory listing: every visible name once, `.` and `..`
/// excluded (the filesystem adds its own), sorted by name.
#[derive(Debug, Default)]
pub struct MergedDir {
    names: Vec<u8>,
    entries: Vec<DirEntry>,
}

impl MergedDir {
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Entry `i`: its name and details.
    pub fn get(&self, i: usize) -> Option<(&[u8], &DirEntry)> {
        let e = self.entries.get(i)?;
        let start = e.off as usize;
        let name = self.names.get(start..start.checked_add(e.len as usize)?)?;
        Some((name, e))
    }
    /// The entry of `name`, if it is shown.
    pub fn find(&self, name: &[u8]) -> Option<&DirEntry> {
        let i = self.entries.binary_search_by(|e| self.name_of(e).cmp(name)).ok()?;
        self.entries.get(i)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &DirEntry)> + '_ {
        (0..self.entries.len()).filter_map(move |i| self.get(i))
    }
    fn name_of(&self, e: &DirEntry) -> &[u8] {
        let start = e.off as usize;
        self.names.get(start..start.saturating_add(e.len as usize)).unwrap_or(&[])
    }
}

/// Collects the entries of one branch into the arena.  While merging, an
/// entry's `br` holds its rank: stack position << 1, bit 0 clear for a
/// whiteout (the name it hides is stored), set for a plain entry.
struct Collector<'a> {
    dir: &'a mut MergedDir,
    rank: u32,
    whable: bool,
    shwh: bool,
}

impl Collector<'_> {
    fn push(&mut self, stored: &[u8], ftype: FileType, rank: u32, ino: u64) -> Result<()> {
        let off = u32::try_from(self.dir.names.len()).map_err(|_| Errno::ENOMEM)?;
        let len = u32::try_from(stored.len()).map_err(|_| Errno::ENAMETOOLONG)?;
        self.dir.names.try_reserve(stored.len())?;
        self.dir.entries.try_reserve(1)?;
        self.dir.names.extend_from_slice(stored);
        self.dir.entries.push(DirEntry { off, len, ftype, br: rank, ino });
        Ok(())
    }
}

impl DirSink for Collector<'_> {
    fn add(&mut self, name: &[u8], ftype: FileType, ino: u64) -> Result<()> {
        if name == b"." || name == b".." || name.is_empty() {
            return Ok(());
        }
        let kind = name::classify(name);
        // shwh: every `.wh.*` entry is also listed as itself.  No whiteout
        // can hide it (a whiteout of `.wh.x` is `.wh..wh.x`, aufs's own
        // namespace), so only a higher branch's entry of the name does.
        if self.shwh && kind != Kind::Plain {
            self.push(name, ftype, self.rank | 1, ino)?;
        }
        match kind {
            Kind::Plain => self.push(name, ftype, self.rank | 1, ino),
            Kind::Whiteout(target) if self.whable => self.push(target, ftype, self.rank, ino),
            // Whiteouts on branches that may not hold them, and aufs's own
            // files, are invisible and hide nothing.
            Kind::Whiteout(_) | Kind::Meta => Ok(()),
        }
    }
}

/// Build the merged listing of the union directory whose entries are `dir`
/// (top first, down to the opaque one, as [`lookup`] returned them).
pub fn read_dir<B: Backend>(b: &B, brs: &dyn Branches, dir: &[Lower<B::Node>]) -> Result<MergedDir> {
    let mut m = MergedDir::default();
    let mut branch_of = Vec::new();
    branch_of.try_reserve(dir.len())?;
    for (i, d) in dir.iter().enumerate() {
        // rank: position in the stack, shifted to leave bit 0 for
        // "whiteout (0) sorts before plain entry (1)" on the same branch.
        let rank = u32::try_from(i).ok().filter(|r| *r < 1 << 30).ok_or(Errno::EINVAL)? << 1;
        branch_of.push(d.br);
        let mut c = Collector { dir: &mut m, rank, whable: brs.may_whiteout(d.br), shwh: brs.shwh() };
        b.read_dir(d.br, &d.node, &mut c)?;
    }
    // Sort by (name, rank): the first of each name decides.  A whiteout
    // first means the name is hidden; a plain entry first is the one shown.
    let mut ents = core::mem::take(&mut m.entries);
    crate::sort::merge_sort_by(&mut ents, |x, y| m.name_of(x).cmp(m.name_of(y)).then(x.br.cmp(&y.br)))?;
    let mut out: Vec<DirEntry> = Vec::new();
    out.try_reserve(ents.len())?;
    let mut prev: Option<&DirEntry> = None;
    for e in ents.iter() {
        if let Some(p) = prev {
            if m.name_of(p) == m.name_of(e) {
                continue;
            }
        }
        prev = Some(e);
        if e.br & 1 == 0 {
            continue; // whited out
        }
        let pos = (e.br >> 1) as usize;
        let br = branch_of.get(pos).copied().ok_or(Errno::EIO)?;
        out.push(DirEntry { br, ..*e });
    }
    m.entries = out;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{MemBackend, MemNode};

    /// Look a path up from the union root, component by component.
    fn walk(m: &MemBackend, path: &str) -> core::result::Result<Lookup<MemNode>, LookupError> {
        let mut cur = m.roots();
        let mut last = None;
        for comp in path.split('/') {
            let l = lookup(m, m, &cur, comp.as_bytes(), None)?;
            cur = l.lowers.iter().map(|x| Lower::new(x.br, x.node.clone())).collect();
            last = Some(l);
        }
        Ok(last.unwrap())
    }

    fn listing(m: &MemBackend, path: &str) -> Vec<(String, u32)> {
        let dir = if path.is_empty() { m.roots() } else { walk(m, path).unwrap().lowers };
        let md = read_dir(m, m, &dir).unwrap();
        md.iter().map(|(n, e)| (String::from_utf8(n.to_vec()).unwrap(), e.br)).collect()
    }

    fn names(m: &MemBackend, path: &str) -> Vec<String> {
        listing(m, path).into_iter().map(|(n, _)| n).collect()
    }

    /// The seed article's experiment:
    /// ```text
    /// top/  common.txt(top) foo.txt
    /// base/ common.txt(base) hello.txt
    /// ```
    fn seed() -> MemBackend {
        MemBackend::new(&[
            ("rw", &["common.txt=top", "foo.txt=foo"]),
            ("ro", &["common.txt=base", "hello.txt=hello"]),
        ])
    }

    #[test]
    fn metacopy_shows_the_data_of_the_name_below() {
        let mark = |m: &MemBackend, br: usize, p: &str| {
            m.branches.borrow_mut()[br].entries.get_mut(p.as_bytes()).unwrap().xattrs.insert(crate::backend::METACOPY_XATTR.to_vec(), Vec::new());
        };
        let brs = |l: &Lookup<MemNode>| l.lowers.iter().map(|l| l.br).collect::<Vec<_>>();
        // A chain: the topmost metacopy's data is the first whole file below.
        let m = MemBackend::new(&[("rw", &["f=\0\0"]), ("ro", &["f=\0\0"]), ("ro", &[]), ("ro", &["f=da"])]);
        mark(&m, 0, "f");
        mark(&m, 1, "f");
        let l = walk(&m, "f").unwrap();
        assert_eq!(brs(&l), [0, 3]);
        assert_eq!(l.ftype, Some(FileType::Reg));
        // Not marked: a file hides the one below, as ever.
        let m = MemBackend::new(&[("rw", &["f=up"]), ("ro", &["f=da"])]);
        assert_eq!(brs(&walk(&m, "f").unwrap()), [0]);
        // Data gone, whited out, or another type: no data, never a hole.
        for below in [&[][..], &[".wh.f"][..], &["f/"][..]] {
            let m = MemBackend::new(&[("rw", &["f=\0"]), ("ro+wh", below), ("ro", &["f=da"])]);
            mark(&m, 0, "f");
            let r = walk(&m, "f");
            if below.is_empty() {
                assert_eq!(brs(&r.unwrap()), [0, 2]);
            } else {
                assert_eq!(r.unwrap_err(), LookupError::NoData, "{below:?}");
                assert_eq!(LookupError::NoData.errno(), Errno::EIO);
            }
        }
        // Only a regular file can be a metacopy: a marked directory merges.
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/"])]);
        mark(&m, 0, "d");
        assert_eq!(brs(&walk(&m, "d").unwrap()), [0, 1]);
        // The listing's answer is the same.
        let m = MemBackend::new(&[("rw", &["f=\0\0"]), ("ro", &["f=da"])]);
        mark(&m, 0, "f");
        let root = m.roots();
        let listing = read_dir(&m, &m, &root).unwrap();
        assert_eq!(brs(&lookup(&m, &m, &root, b"f", Some(&listing)).unwrap()), [0, 1]);
    }

    /// A directory with a branch that compares names inexactly (casefolded
    /// ext4, vfat): the listing cannot tell that a name is absent, so the
    /// lookup asks the branches, and finds what the branch finds.
    #[test]
    fn a_listing_is_not_trusted_over_a_casefolded_branch() {
        let m = MemBackend::new(&[("rw", &["top"]), ("ro", &["Readme=lower"])]);
        m.branches.borrow_mut()[1].casefold = true;
        let root = m.roots();
        let listing = read_dir(&m, &m, &root).unwrap();
        assert!(listing.find(b"README").is_none(), "the listing spells it Readme");
        let told = lookup(&m, &m, &root, b"README", Some(&listing)).unwrap();
        assert_eq!(told.lowers.iter().map(|l| l.br).collect::<Vec<_>>(), [1]);
        assert_eq!(told.lowers[0].node, b"Readme");
        // exact branches: the listing's answer stands (no branch asked)
        m.branches.borrow_mut()[1].casefold = false;
        assert!(lookup(&m, &m, &root, b"README", Some(&listing)).unwrap().lowers.is_empty());
    }

    /// Without the `metacopy` option a marker is never followed: a marked
    /// file on any layer is refused (EPERM), whatever is below it, and the
    /// listing's answer is the same; unmarked files and marked directories
    /// are as ever.
    #[test]
    fn metacopy_markers_are_refused_without_the_option() {
        let mark = |m: &MemBackend, br: usize, p: &str| {
            m.branches.borrow_mut()[br].entries.get_mut(p.as_bytes()).unwrap().xattrs.insert(crate::backend::METACOPY_XATTR.to_vec(), Vec::new());
        };
        let brs = |l: &Lookup<MemNode>| l.lowers.iter().map(|l| l.br).collect::<Vec<_>>();
        // (marked branch, layers, what the option would show)
        for (br, stack, followed) in [
            (0, &[("rw", &["f="][..]), ("ro", &["f=secret"][..])][..], Ok(vec![0, 1])),
            (1, &[("rw", &[][..]), ("ro", &["f="][..]), ("ro", &["f=secret"][..])][..], Ok(vec![1, 2])),
            (0, &[("rw", &["f="][..]), ("ro", &[][..])][..], Err(LookupError::NoData)),
        ] {
            let m = MemBackend::new(stack);
            m.no_metacopy.set(true);
            mark(&m, br, "f");
            assert_eq!(walk(&m, "f").unwrap_err(), LookupError::Refused { br: br as u32 }, "{stack:?}");
            assert_eq!(LookupError::Refused { br: 0 }.errno(), Errno::EPERM);
            let root = m.roots();
            let listing = read_dir(&m, &m, &root).unwrap();
            assert!(listing.find(b"f").is_some(), "the name is listed");
            assert_eq!(lookup(&m, &m, &root, b"f", Some(&listing)).unwrap_err(), LookupError::Refused { br: br as u32 });
            m.no_metacopy.set(false);
            assert_eq!(walk(&m, "f").map(|l| brs(&l)), followed, "with the option: {stack:?}");
        }
        let m = MemBackend::new(&[("rw", &["d/", "g=own"]), ("ro", &["d/", "g=below"])]);
        m.no_metacopy.set(true);
        mark(&m, 0, "d");
        assert_eq!(walk(&m, "d").unwrap().lowers.len(), 2, "a marked directory merges");
        assert_eq!(walk(&m, "g").unwrap().lowers.len(), 1);
    }

    #[test]
    fn seed_experiment() {
        let m = seed();
        assert_eq!(names(&m, ""), ["common.txt", "foo.txt", "hello.txt"]);
        let l = walk(&m, "common.txt").unwrap();
        assert_eq!(l.lowers.len(), 1);
        assert_eq!(l.lowers[0].br, 0, "topmost entry wins");
        assert_eq!(l.ftype, Some(FileType::Reg));
        let h = walk(&m, "hello.txt").unwrap();
        assert_eq!(h.lowers[0].br, 1);
        assert_eq!(h.bneg, Some(0), "absent on top");
        assert_eq!(listing(&m, "")[2], ("hello.txt".into(), 1));
    }

    /// A lookup told by the parent's listing finds exactly what a lookup
    /// asking every branch finds: shown names, hidden ones, absent ones.
    #[test]
    fn lookup_with_the_listing_is_the_same() {
        let stacks: [&[(&str, &[&str])]; 4] = [
            &[("rw", &["common.txt=top", "foo.txt=foo"]), ("ro", &["common.txt=base", "hello.txt=hello"])],
            &[("rw", &[".wh.a", "b/"]), ("ro+wh", &["a", ".wh.b", "c/", ".wh.d"]), ("ro", &["b", "c", "d", "e/"])],
            &[("rw", &["d/", "f"]), ("ro+wh", &["d/", "d/.wh..wh..opq", "f/"]), ("ro", &["d/", "d/x", "f"])],
            &[("rw", &[]), ("ro", &[".wh.a", "x"]), ("ro", &["a", "x/"])],
        ];
        for st in stacks {
            let m = MemBackend::new(st);
            let root = m.roots();
            let md = read_dir(&m, &m, &root).unwrap();
            for name in ["a", "b", "c", "d", "e", "f", "x", "common.txt", "foo.txt", "hello.txt", "zz"] {
                let full = lookup(&m, &m, &root, name.as_bytes(), None).unwrap();
                let told = lookup(&m, &m, &root, name.as_bytes(), Some(&md)).unwrap();
                let brs = |l: &Lookup<MemNode>| l.lowers.iter().map(|x| x.br).collect::<Vec<_>>();
                assert_eq!(brs(&full), brs(&told), "{name} in {st:?}");
                assert_eq!(full.ftype, told.ftype, "{name}");
                assert_eq!(full.bopaque, told.bopaque, "{name}");
                assert_eq!(md.find(name.as_bytes()).is_some(), !full.lowers.is_empty(), "{name}");
            }
        }
    }

    /// `shwh` (aufs's design/08shwh.txt: merging two layers of a live
    /// system into one): every `.wh.*` entry of the merged directory is
    /// listed under its own name, once, and can be looked up as the file it
    /// is; a whiteout still hides the name it whites out; the opaque marker
    /// is shown and still stops the merge.
    #[test]
    fn shwh_shows_whiteouts() {
        let m = MemBackend::new(&[
            ("ro+wh", &[".wh.gone", ".wh.twice", "d/", "d/.wh..wh..opq", "d/new", "kept"]),
            ("rr+wh", &["gone", ".wh.twice", ".wh.old", "d/", "d/below", "old=x"]),
        ]);
        assert_eq!(names(&m, ""), ["d", "kept"]);
        assert_eq!(walk(&m, ".wh.gone").unwrap_err().errno(), Errno::EPERM);
        m.shwh.set(true);
        assert_eq!(
            listing(&m, ""),
            [(".wh.gone".into(), 0), (".wh.old".into(), 1), (".wh.twice".into(), 0), ("d".into(), 0), ("kept".into(), 0)]
        );
        assert_eq!(names(&m, "d"), [".wh..wh..opq", "new"], "the marker is shown, the merge still stops");
        let l = walk(&m, ".wh.gone").unwrap();
        assert_eq!((l.ftype, l.lowers.len(), l.lowers[0].br), (Some(FileType::Reg), 1, 0));
        assert_eq!(walk(&m, ".wh.old").unwrap().lowers[0].br, 1);
        assert_eq!(walk(&m, ".wh.twice").unwrap().lowers[0].br, 0, "the topmost one");
        assert_eq!(walk(&m, "d/.wh..wh..opq").unwrap().lowers[0].br, 0);
        assert!(walk(&m, "gone").unwrap().lowers.is_empty(), "still whited out");
        assert!(walk(&m, "old").unwrap().lowers.is_empty());
        assert!(walk(&m, ".wh.none").unwrap().lowers.is_empty());
        // A whiteout of a 242-byte name is longer than any user name.
        let long = format!(".wh.{}", "n".repeat(NAME_MAX_TEST));
        assert_eq!(walk(&m, &long).unwrap_err().errno(), Errno::ENAMETOOLONG);
        // The listing answers lookups as a full lookup does.
        let root = m.roots();
        let md = read_dir(&m, &m, &root).unwrap();
        for name in [".wh.gone", ".wh.old", ".wh.twice", ".wh.none", "gone", "kept", "d"] {
            let full = lookup(&m, &m, &root, name.as_bytes(), None).unwrap();
            let told = lookup(&m, &m, &root, name.as_bytes(), Some(&md)).unwrap();
            let brs = |l: &Lookup<MemNode>| l.lowers.iter().map(|x| x.br).collect::<Vec<_>>();
            assert_eq!(brs(&full), brs(&told), "{name}");
        }
    }

    const NAME_MAX_TEST: usize = crate::name::NAME_MAX;

    #[test]
    fn whiteout_hides_lower() {
        let m = MemBackend::new(&[("rw", &[".wh.hello.txt"]), ("ro", &["hello.txt", "x"])]);
        let l = walk(&m, "hello.txt").unwrap();
        assert!(l.lowers.is_empty());
        assert_eq!(l.bwh, Some(0));
        assert_eq!(names(&m, ""), ["x"]);
    }

    #[test]
    fn whiteout_only_counts_on_whable_branches() {
        // ro without +wh: its .wh. files hide nothing (and are not shown).
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[".wh.a"]), ("ro", &["a"])]);
        assert_eq!(walk(&m, "a").unwrap().lowers[0].br, 2);
        assert_eq!(names(&m, ""), ["a"]);
        let m = MemBackend::new(&[("rw", &[]), ("ro+wh", &[".wh.a"]), ("ro", &["a"])]);
        assert!(walk(&m, "a").unwrap().lowers.is_empty());
        assert!(names(&m, "").is_empty());
    }

    #[test]
    fn whiteout_hides_same_branch_and_below() {
        let m = MemBackend::new(&[("rw", &["a", ".wh.a"]), ("ro", &["a"])]);
        assert!(walk(&m, "a").unwrap().lowers.is_empty());
        assert!(names(&m, "").is_empty());
    }

    #[test]
    fn whiteout_above_is_not_hidden_by_lower_whiteout() {
        let m = MemBackend::new(&[("rw", &["a"]), ("ro+wh", &[".wh.a"])]);
        assert_eq!(walk(&m, "a").unwrap().lowers.len(), 1);
        assert_eq!(names(&m, ""), ["a"]);
    }

    #[test]
    fn directories_merge_without_duplicates() {
        let m = MemBackend::new(&[
            ("rw", &["d/a", "d/b"]),
            ("ro", &["d/b", "d/c"]),
            ("ro", &["d/c", "d/e/"]),
        ]);
        let l = walk(&m, "d").unwrap();
        assert_eq!(l.lowers.iter().map(|x| x.br).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(listing(&m, "d"), [("a".into(), 0), ("b".into(), 0), ("c".into(), 1), ("e".into(), 2)]);
        assert_eq!(walk(&m, "d/e").unwrap().ftype, Some(FileType::Dir));
    }

    #[test]
    fn opaque_dir_stops_merge() {
        let m = MemBackend::new(&[("rw", &["d/.wh..wh..opq", "d/a"]), ("ro", &["d/b"])]);
        let l = walk(&m, "d").unwrap();
        assert_eq!(l.bopaque, Some(0));
        assert_eq!(l.lowers.len(), 1);
        assert_eq!(names(&m, "d"), ["a"]);
        assert_eq!(walk(&m, "d/b").unwrap().lowers.len(), 0);
    }

    #[test]
    fn opaque_marker_ignored_without_wh() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/.wh..wh..opq", "d/b"]), ("ro", &["d/c"])]);
        assert_eq!(names(&m, "d"), ["b", "c"]);
    }

    #[test]
    fn other_type_below_is_ignored() {
        let m = MemBackend::new(&[("rw", &["x=file"]), ("ro", &["x/", "x/inner"])]);
        let l = walk(&m, "x").unwrap();
        assert_eq!(l.ftype, Some(FileType::Reg));
        assert_eq!(l.lowers.len(), 1);
        // A directory on top, a file in the middle, a directory below: merge skips the file.
        let m = MemBackend::new(&[("rw", &["d/a"]), ("ro", &["d=file"]), ("ro", &["d/b"])]);
        let l = walk(&m, "d").unwrap();
        assert_eq!(l.lowers.iter().map(|x| x.br).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(names(&m, "d"), ["a", "b"]);
    }

    #[test]
    fn file_stops_search() {
        let m = MemBackend::new(&[("ro", &["f=1"]), ("ro", &["f=2"])]);
        assert_eq!(walk(&m, "f").unwrap().lowers.len(), 1);
    }

    #[test]
    fn meta_names_never_listed() {
        let m = MemBackend::new(&[("rw", &[".wh..wh.aufs", ".wh..wh.plnk/", ".wh..wh..opq", "a"])]);
        assert_eq!(names(&m, ""), ["a"]);
    }

    #[test]
    fn bad_names() {
        let m = seed();
        assert_eq!(walk(&m, ".wh.common.txt").unwrap_err().errno(), Errno::EPERM);
        assert_eq!(walk(&m, &"n".repeat(243)).unwrap_err().errno(), Errno::ENAMETOOLONG);
        assert!(walk(&m, &"n".repeat(242)).unwrap().lowers.is_empty());
    }

    #[test]
    fn negative_lookup_records_top_branch() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[])]);
        let l = walk(&m, "nope").unwrap();
        assert!(l.lowers.is_empty());
        assert_eq!(l.bneg, Some(0));
        assert_eq!(l.ftype, None);
    }

    #[test]
    fn lookup_errors_propagate() {
        // A lookup "through" a file on the branch is ENOTDIR from the backend.
        let m = MemBackend::new(&[("rw", &["f"])]);
        let parent = vec![Lower::new(0, b"f".to_vec())];
        assert_eq!(lookup(&m, &m, &parent, b"x", None).unwrap_err(), LookupError::Errno(Errno::ENOTDIR));
    }
}
