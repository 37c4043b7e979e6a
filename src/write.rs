//! The writable union: where a change goes, copy-up, whiteouts, opaque
//! directories, and the rules of create, remove, rename and link.
//!
//! Every operation here acts on one writable branch `t`, chosen by
//! [`cpup_target`] / [`create_target`].  The shim first makes sure the
//! parent directory exists on `t` (calling [`copy_up`] for each missing
//! ancestor, top-down), then calls the operation with the parent's entries.

use crate::backend::{At, Cred, FileType, Lower, NewEntry, Stat, WriteBackend, RENAME_EXCHANGE};
use crate::dirren;
use crate::name::{self, OPQ_NAME, WH_BASE};
use crate::opts::Cpup;
use crate::union::{self, Branches};
use crate::{Errno, Result};
use alloc::vec::Vec;

/// Temporary name of the union's own work in progress (`what`: a copy-up,
/// a directory being removed or replaced), made unique by `id`, which the
/// shim takes from a per-mount counter.  In the `.wh..wh.` namespace, so it
/// is never visible through the union and no user can make or open it.
pub fn tmp_name(what: &[u8], id: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(name::WH_META_PREFIX.len() + what.len() + 1 + 16)?;
    v.extend_from_slice(name::WH_META_PREFIX);
    v.extend_from_slice(what);
    v.push(b'.');
    name::push_hex(&mut v, id);
    Ok(v)
}

/// Branch that takes a change of an object whose topmost entry is on
/// branch `top`, in the union directory `parent` (empty for the root),
/// under the copy-up policy `cpup`.  A file on a writable branch is changed
/// in place.  Otherwise, as aufs has them:
/// - `tdp` (the default): top-down from the parent's topmost entry to just
///   above the file, the first writable branch on which the parent exists;
/// - `bup`: bottom-up from the file to the parent's topmost entry, the
///   first writable branch on which the parent exists;
/// - `bu`: the nearest writable branch above the file.
///
/// Failing that, the nearest writable branch above the parent's topmost
/// entry (the parent is copied up too).  aufs's `bu` (and its fallback)
/// may choose a branch between the parent's topmost entry and the file on
/// which the parent does not exist, and then copies the parent *down*
/// there; this union never copies down: such branches are skipped (so
/// `bu` chooses as `bup` does where the parent is missing).
pub fn cpup_target<N>(brs: &dyn Branches, parent: &[Lower<N>], top: u32, cpup: Cpup) -> Result<u32> {
    if brs.writable(top) {
        return Ok(top);
    }
    let ptop = parent.first().map_or(top, |l| l.br).min(top);
    let parent_on = |b: u32| parent.is_empty() || parent.iter().any(|l| l.br == b);
    let ok = |b: &u32| brs.writable(*b) && parent_on(*b);
    let found = match cpup {
        Cpup::Tdp => (ptop..top).find(ok),
        Cpup::Bup | Cpup::Bu => (ptop..top).rev().find(ok),
    };
    if let Some(b) = found {
        return Ok(b);
    }
    (0..ptop).rev().find(|b| brs.writable(*b)).ok_or(Errno::EROFS)
}

/// Branch that takes a new entry in the union directory `parent`
/// (create=tdp): the topmost writable branch on which the parent exists;
/// failing that, the nearest writable branch above the parent's topmost
/// one.
pub fn create_target<N>(brs: &dyn Branches, parent: &[Lower<N>]) -> Result<u32> {
    if let Some(l) = parent.iter().find(|l| brs.writable(l.br)) {
        return Ok(l.br);
    }
    let ptop = parent.first().map(|l| l.br).ok_or(Errno::ENOENT)?;
    (0..ptop).rev().find(|b| brs.writable(*b)).ok_or(Errno::EROFS)
}

fn entry_on<N>(lowers: &[Lower<N>], br: u32) -> Result<&N> {
    lowers.iter().find(|l| l.br == br).map(|l| &l.node).ok_or(Errno::EIO)
}

fn top<N>(lowers: &[Lower<N>]) -> Result<&Lower<N>> {
    lowers.first().ok_or(Errno::ENOENT)
}

/// Is `name` visible in the part of the union directory `parent` below
/// branch `t`?  (Then removing it on `t` needs a whiteout.)
fn exists_below<B: WriteBackend>(b: &B, brs: &dyn Branches, parent: &[Lower<B::Node>], t: u32, name: &[u8]) -> Result<Option<FileType>> {
    let Some(start) = parent.iter().position(|l| l.br > t) else {
        return Ok(None);
    };
    let below = parent.get(start..).unwrap_or(&[]);
    match union::lookup(b, brs, below, name, None) {
        Ok(l) => Ok(l.ftype),
        // a metacopy there, refused or without its data: still a name
        Err(union::LookupError::Refused { .. } | union::LookupError::NoData) => Ok(Some(FileType::Reg)),
        Err(union::LookupError::Errno(e)) => Err(e),
        Err(e @ union::LookupError::BadRecord { .. }) => Err(e.errno()),
    }
}

fn positive<B: WriteBackend>(b: &B, br: u32, n: &B::Node) -> Result<bool> {
    Ok(b.stat(br, n)?.is_some())
}

/// Create the whiteout `.wh.<name>` in `dir` on branch `t`: a hard link to
/// the branch's whiteout base, or a plain file with `nolwh` or when the link
/// cannot be made.
pub fn whiteout<B: WriteBackend>(b: &B, brs: &dyn Branches, t: u32, dir: &B::Node, name: &[u8]) -> Result<()> {
    let wh = name::whiteout_name(name)?;
    let plain = NewEntry { mode: 0o100000, rdev: 0, target: &[] };
    if !brs.nolwh(t) {
        let root = b.root(t)?;
        let mut base = b.lookup(t, &root, WH_BASE)?;
        if !positive(b, t, &base)? {
            base = b.create(t, &root, WH_BASE, &plain, Cred::Internal)?;
        }
        match b.link(t, &base, dir, &wh, Cred::Internal) {
            Ok(_) => return Ok(()),
            // Too many links, a filesystem without hard links, or a link the
            // filesystem refuses across directories (EXDEV: ext4/xfs project
            // quotas): a plain file.
            Err(e) if e == Errno::EMLINK || e == Errno::EPERM || e == Errno::EOPNOTSUPP || e == Errno::EXDEV => {}
            Err(e) => return Err(e),
        }
    }
    b.create(t, dir, &wh, &plain, Cred::Internal).map(|_| ())
}

/// Remove `.wh.<name>` from `dir` on `t` if it is there; whether it was.
fn remove_whiteout<B: WriteBackend>(b: &B, t: u32, dir: &B::Node, name: &[u8]) -> Result<bool> {
    let wh = name::whiteout_name(name)?;
    let w = b.lookup(t, dir, &wh)?;
    if !positive(b, t, &w)? {
        return Ok(false);
    }
    b.remove(t, dir, &wh, false, Cred::Internal)?;
    Ok(true)
}

/// A union object's two sources: the entry whose attributes it shows (its
/// topmost) and the one whose data it shows: for a metacopy (a regular
/// file with more than one entry) its last, else the topmost too.
type Sources<'a, N> = (&'a Lower<N>, &'a Lower<N>, Stat);

fn sources<'a, B: WriteBackend>(b: &B, obj: &'a [Lower<B::Node>]) -> Result<Sources<'a, B::Node>> {
    let src = top(obj)?;
    let st = b.stat(src.br, &src.node)?.ok_or(Errno::ENOENT)?;
    let data = match obj.last() {
        Some(d) if metacopy_of(obj, &st) => d,
        _ => src,
    };
    Ok((src, data, st))
}

/// Is the union object `obj`, whose topmost entry has the attributes
/// `st`, a metacopy (its data on another entry)?
fn metacopy_of<N>(obj: &[Lower<N>], st: &Stat) -> bool {
    obj.len() > 1 && st.file_type() == FileType::Reg
}

/// Is the union object `obj` a metacopy (its data on another entry)?
pub fn is_metacopy<B: WriteBackend>(b: &B, obj: &[Lower<B::Node>]) -> Result<bool> {
    let (src, data, _) = sources(b, obj)?;
    Ok(src.br != data.br)
}

/// What a copy-up asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyHow {
    /// Pseudo-links (`plink`).
    pub plink: bool,
    /// The `metacopy` option.
    pub metacopy: bool,
    /// The change that needs the copy needs no data (chmod, chown, utimes,
    /// an xattr): with `metacopy`, only the attributes may be copied.
    pub meta_only: bool,
}

/// Where a copy-up puts its copy: in directory `dir` on branch `t`, under
/// `name`; `len` limits the data copied (copy-up for a truncate); `id`
/// (unique per mount) names the temporary entries.
#[derive(Debug)]
pub struct CopyTo<'a, N> {
    pub t: u32,
    pub dir: &'a N,
    pub name: &'a [u8],
    pub len: Option<i64>,
    pub id: u64,
}

/// Copy the union object `obj` (its topmost entry) into directory `to.dir`
/// on branch `to.t` under `to.name`.  Directories are made with their attributes
/// (not their contents); files are copied under a temporary name (see
/// [`tmp_name`], unique by `id`) and renamed into place, so no half-copied
/// file is ever visible; on failure nothing is left behind.  The times of
/// `dir` are restored.  Returns the new entry, and whether it is a metacopy.
///
/// A metacopy (see [`crate::policy::metacopy`]) is made like a copy, but
/// gets the source's size as a hole and the marker instead of the data;
/// the object's data entry stays where it is.  A metacopy already on `t`
/// is "copied up" when its data is needed: a whole copy (data from the data
/// entry, attributes from the metacopy) replaces it in the same way.
///
/// With pseudo-links (`plink`, see [`crate::plink`]), a file whose lower
/// inode has several names stays one file: if it was copied up already
/// through another name, the name is linked to that copy (on `t`), or the
/// copy is copied again (from another writable branch); a first copy is
/// recorded as the pseudo-link.
pub fn copy_up<B: WriteBackend>(
    b: &B,
    brs: &dyn Branches,
    how: CopyHow,
    obj: &[Lower<B::Node>],
    to: &CopyTo<'_, B::Node>,
) -> Result<(B::Node, bool)> {
    let &CopyTo { t, dir: dst_dir, name, len, id } = to;
    let (src, data, st) = sources(b, obj)?;
    if src.br < t || (src.br == t && (data.br == t || how.meta_only)) {
        return Err(Errno::EINVAL); // already there (or above): nothing to copy
    }
    let ftype = st.file_type();
    let pl = src.br != t && crate::plink::applies(brs, how.plink, src.br, &st);
    let up = if pl { crate::plink::find_above(b, brs, src.br, &st)? } else { None };
    let meta = src.br != t && crate::policy::metacopy(how.metacopy, how.meta_only, ftype, st.nlink, st.size, st.protected, len);
    let dir_times = b.times(t, dst_dir)?;
    let res = if let Some((pb, p)) = up {
        if pb == t {
            // Copied up through another name: this name joins that copy.
            b.link(t, &p, dst_dir, name, Cred::Internal).map(|n| (n, false))
        } else {
            // The current data is the copy on another writable branch.
            let from = Lower::new(pb, p);
            let fst = b.stat(pb, &from.node)?.ok_or(Errno::ENOENT)?;
            copy_up_nondir(b, Source { src: &from, data: &from, st: &fst }, &Dest { t, dir: dst_dir, name: Some(name), len, id }, Some(&st), false)
        }
    } else if ftype == FileType::Dir {
        let e = NewEntry { mode: 0o40000 | 0o700, rdev: 0, target: &[] };
        let n = b.create(t, dst_dir, name, &e, Cred::Internal)?;
        match b.copy_meta(src.br, &src.node, t, &n) {
            Ok(()) => Ok((n, false)),
            Err(e) => {
                let _ = b.remove(t, dst_dir, name, true, Cred::Internal);
                Err(e)
            }
        }
    } else {
        let from = Source { src, data, st: &st };
        copy_up_nondir(b, from, &Dest { t, dir: dst_dir, name: Some(name), len, id }, pl.then_some(&st), meta)
    };
    let restored = b.set_times(t, dst_dir, &dir_times);
    let n = res?;
    restored?;
    Ok(n)
}

/// Copy-up of a file that was unlinked while open: the copy is made under
/// a temporary name in the root of `t` (its old directory may be gone too)
/// and that name is removed at once: the returned entry, which the shim
/// opens, is then the only thing that keeps the data.  (A metacopy on `t`
/// gets its data this way too.)
///
/// With pseudo-links, the file's other names must see the change: the copy
/// is recorded as the pseudo-link (or is the pseudo-link already there).
pub fn copy_up_orphan<B: WriteBackend>(
    b: &B,
    brs: &dyn Branches,
    plink: bool,
    obj: &[Lower<B::Node>],
    t: u32,
    id: u64,
) -> Result<B::Node> {
    let (src, data, st) = sources(b, obj)?;
    if src.br < t || (src.br == t && data.br == t) {
        return Err(Errno::EINVAL);
    }
    if st.file_type() != FileType::Reg {
        return Err(Errno::EINVAL);
    }
    let pl = src.br != t && crate::plink::applies(brs, plink, src.br, &st);
    if pl {
        if let Some((pb, p)) = crate::plink::find_above(b, brs, src.br, &st)? {
            if pb == t {
                return Ok(p); // copied up through another name: that copy
            }
        }
    }
    let root = b.root(t)?;
    let dir_times = b.times(t, &root)?;
    let r = copy_up_nondir(b, Source { src, data, st: &st }, &Dest { t, dir: &root, name: None, len: None, id }, None, false);
    let n = match r {
        Ok((n, _)) => n,
        Err(e) => {
            let _ = b.set_times(t, &root, &dir_times);
            return Err(e);
        }
    };
    let tmp = tmp_name(b"cpup", id)?;
    let recorded = if pl { crate::plink::record(b, t, &st, &n) } else { Ok(()) };
    let removed = b.remove(t, &root, &tmp, false, Cred::Internal);
    let restored = b.set_times(t, &root, &dir_times);
    recorded?;
    removed?;
    restored?;
    b.copy_flags(src.br, &src.node, t, &n)?;
    Ok(n)
}

/// What a copy of a non-directory is made from: the attributes come from
/// `src` (`st`: its own), the data from `data`.
struct Source<'a, N> {
    src: &'a Lower<N>,
    data: &'a Lower<N>,
    st: &'a Stat,
}

/// Where it goes: as [`CopyTo`], but `name` `None` leaves it under its
/// temporary name (an orphan's copy).
struct Dest<'a, N> {
    t: u32,
    dir: &'a N,
    name: Option<&'a [u8]>,
    len: Option<i64>,
    id: u64,
}

/// Copy a non-directory under its temporary name, then rename it to `name`
/// (`None`: leave it under the temporary name, without flags), record it
/// as the pseudo-link of the lower inode `plink_of` if given, and give it
/// the source's inode flags (append-only, immutable...: they would forbid the rename
/// and the link, so they come last; a copy that cannot keep them is removed again).
/// With `meta` only a hole of the data's size and the metacopy marker,
/// unless the branch cannot hold the marker (then the data after all).
/// Returns the new entry and whether it is a metacopy.
fn copy_up_nondir<B: WriteBackend>(
    b: &B,
    from: Source<'_, B::Node>,
    to: &Dest<'_, B::Node>,
    plink_of: Option<&Stat>,
    meta: bool,
) -> Result<(B::Node, bool)> {
    let Source { src, data, st } = from;
    let &Dest { t, dir: dst_dir, name, len, id } = to;
    let ftype = st.file_type();
    let tmpn = tmp_name(b"cpup", id)?;
    let stale = b.lookup(t, dst_dir, &tmpn)?;
    if let Some(s) = b.stat(t, &stale)? {
        b.remove(t, dst_dir, &tmpn, s.is_dir(), Cred::Internal)?;
    }
    drop(stale);
    let target = if ftype == FileType::Lnk { b.readlink(src.br, &src.node)? } else { Vec::new() };
    let mode = if ftype == FileType::Lnk { 0o120777 } else { (st.mode & 0o170000) | 0o600 };
    let e = NewEntry { mode, rdev: st.rdev, target: &target };
    let tmp = b.create(t, dst_dir, &tmpn, &e, Cred::Internal)?;
    let mut meta = meta && ftype == FileType::Reg;
    let filled = (|| {
        if ftype == FileType::Reg {
            let size = if data.br == src.br { st.size } else { b.stat(data.br, &data.node)?.ok_or(Errno::ENODATA)?.size };
            if meta {
                match b.mark_metacopy(t, &tmp) {
                    Ok(()) => {}
                    Err(e) if e == Errno::EOPNOTSUPP => meta = false,
                    Err(e) => return Err(e),
                }
            }
            if meta {
                b.set_size(t, &tmp, size)?;
            } else {
                let n = len.map_or(size, |l| l.min(size).max(0));
                b.copy_data(data.br, &data.node, t, &tmp, n)?;
            }
        }
        b.copy_meta(src.br, &src.node, t, &tmp)?;
        match name {
            Some(name) => b.rename(t, At::new(dst_dir, &tmpn), At::new(dst_dir, name), 0, Cred::Internal),
            None => Ok(()),
        }
    })();
    if let Err(e) = filled {
        let _ = b.remove(t, dst_dir, &tmpn, false, Cred::Internal);
        return Err(e);
    }
    let Some(name) = name else {
        return Ok((tmp, false)); // an orphan: its flags come after the name is gone
    };
    drop(tmp);
    let n = b.lookup(t, dst_dir, name)?;
    if !positive(b, t, &n)? {
        return Err(Errno::ENOENT); // removed on the branch directly, just now
    }
    if let Some(lst) = plink_of {
        if let Err(e) = crate::plink::record(b, t, lst, &n) {
            drop(n);
            let _ = b.remove(t, dst_dir, name, false, Cred::Internal);
            return Err(e);
        }
    }
    if let Err(e) = b.copy_flags(src.br, &src.node, t, &n) {
        drop(n);
        let _ = b.remove(t, dst_dir, name, false, Cred::Internal);
        return Err(e);
    }
    Ok((n, meta))
}

/// Create `name` in the union directory `parent` on branch `t` (the parent
/// exists there).  A whiteout of the name on `t` goes away; a new directory
/// that would merge with a lower one is made opaque.
pub fn create<B: WriteBackend>(b: &B, brs: &dyn Branches, parent: &[Lower<B::Node>], t: u32, name: &[u8], e: &NewEntry<'_>) -> Result<B::Node> {
    name::check_user_name(name)?;
    let dir = entry_on(parent, t)?;
    let n = b.create(t, dir, name, e, Cred::Caller)?;
    // From here the name exists on t: a whiteout next to it hides only
    // what is below, so the lower entry never shows through in between.
    let finish = (|| {
        if FileType::from_mode(e.mode) == FileType::Dir {
            let wh = name::whiteout_name(name)?;
            let had_wh = positive(b, t, &b.lookup(t, dir, &wh)?)?;
            if had_wh || brs.diropq_always() || exists_below(b, brs, parent, t, name)? == Some(FileType::Dir) {
                let opq = NewEntry { mode: 0o100000, rdev: 0, target: &[] };
                b.create(t, &n, OPQ_NAME, &opq, Cred::Internal)?;
            }
        }
        remove_whiteout(b, t, dir, name)
    })();
    if let Err(err) = finish {
        let _ = b.remove(t, dir, name, FileType::from_mode(e.mode) == FileType::Dir, Cred::Internal);
        return Err(err);
    }
    Ok(n)
}

/// Hard link the union object `src` (already copied up to `t`) as `name` in
/// `parent` (present on `t`).
pub fn link<B: WriteBackend>(b: &B, parent: &[Lower<B::Node>], src: &[Lower<B::Node>], t: u32, name: &[u8]) -> Result<B::Node> {
    name::check_user_name(name)?;
    let dir = entry_on(parent, t)?;
    let s = top(src)?;
    if s.br != t {
        return Err(Errno::EXDEV);
    }
    if is_metacopy(b, src)? {
        return Err(Errno::EINVAL); // the new name would not find its data: copy it first
    }
    let n = b.link(t, &s.node, dir, name, Cred::Caller)?;
    if let Err(e) = remove_whiteout(b, t, dir, name) {
        let _ = b.remove(t, dir, name, false, Cred::Internal);
        return Err(e);
    }
    Ok(n)
}

/// Is the union directory `obj` logically empty?
pub fn dir_is_empty<B: WriteBackend>(b: &B, brs: &dyn Branches, obj: &[Lower<B::Node>]) -> Result<bool> {
    Ok(union::read_dir(b, brs, obj)?.is_empty())
}

/// Remove the union object `obj` (named `name` in `parent`) by acting on
/// branch `t`: remove its entry there if it has one, and leave a whiteout
/// if the name would still show from a lower branch.  A directory must be
/// logically empty (ENOTEMPTY); its own whiteouts and opaque marker on `t`
/// go with it.
///
/// All or nothing: the whiteout is made first (from then on the name is
/// hidden), then the entry goes; if that fails, the whiteout goes again.
/// A directory that holds whiteouts is first renamed to a temporary name
/// (one step that either happens or not), and only then emptied and
/// removed: a failure there leaves a hidden leftover, never a directory
/// whose lower contents came back.  `id` makes the temporary name unique.
pub fn remove<B: WriteBackend>(
    b: &B,
    brs: &dyn Branches,
    parent: &[Lower<B::Node>],
    obj: &[Lower<B::Node>],
    t: u32,
    name: &[u8],
    id: u64,
) -> Result<()> {
    let dir = entry_on(parent, t)?;
    let o = top(obj)?;
    let st = b.stat(o.br, &o.node)?.ok_or(Errno::ENOENT)?;
    let is_dir = st.is_dir();
    if is_dir && !dir_is_empty(b, brs, obj)? {
        return Err(Errno::ENOTEMPTY);
    }
    if o.br < t {
        return Err(Errno::EINVAL);
    }
    let wh = exists_below(b, brs, parent, t, name)?.is_some();
    if wh {
        whiteout(b, brs, t, dir, name)?;
    }
    if o.br != t {
        return Ok(());
    }
    let undo_wh = |e: Errno| {
        if wh {
            let _ = remove_whiteout(b, t, dir, name);
        }
        Err(e)
    };
    if !is_dir || !has_meta(b, t, &o.node)? {
        return match b.remove(t, dir, name, is_dir, Cred::Caller) {
            Ok(()) => Ok(()),
            Err(e) => undo_wh(e),
        };
    }
    let tmp = tmp_name(b"rmdir", id)?;
    if let Err(e) = b.rename(t, At::new(dir, name), At::new(dir, &tmp), crate::backend::RENAME_NOREPLACE, Cred::Caller) {
        return undo_wh(e);
    }
    // The directory is gone from the union; what is left is housekeeping.
    discard_dir(b, t, dir, &tmp);
    Ok(())
}

/// Does directory `d` on `t` hold `.wh.*` entries?
fn has_meta<B: WriteBackend>(b: &B, t: u32, d: &B::Node) -> Result<bool> {
    struct Any(bool);
    impl crate::backend::DirSink for Any {
        fn add(&mut self, name: &[u8], _t: FileType, _ino: u64) -> Result<()> {
            self.0 |= name.starts_with(name::WH_PREFIX);
            Ok(())
        }
    }
    let mut any = Any(false);
    b.read_dir(t, d, &mut any)?;
    Ok(any.0)
}

/// Empty and remove the hidden directory `dir`/`tmp` on `t` (the union's
/// own leftover).  Best effort: what cannot go stays hidden.
fn discard_dir<B: WriteBackend>(b: &B, t: u32, dir: &B::Node, tmp: &[u8]) {
    let Ok(node) = b.lookup(t, dir, tmp) else { return };
    if clear_dir(b, t, &node).is_ok() {
        drop(node);
        let _ = b.remove(t, dir, tmp, true, Cred::Internal);
    }
}

/// Remove the `.wh.*` entries (whiteouts, opaque marker) of a logically
/// empty directory on `t`, so rmdir can take it.
fn clear_dir<B: WriteBackend>(b: &B, t: u32, dir: &B::Node) -> Result<()> {
    struct Names(Vec<Vec<u8>>, Result<()>);
    impl crate::backend::DirSink for Names {
        fn add(&mut self, name: &[u8], _t: FileType, _ino: u64) -> Result<()> {
            if name.starts_with(name::WH_PREFIX) {
                let mut v = Vec::new();
                v.try_reserve_exact(name.len())?;
                v.extend_from_slice(name);
                self.0.try_reserve(1)?;
                self.0.push(v);
            } else if name != b"." && name != b".." {
                self.1 = Err(Errno::ENOTEMPTY);
            }
            Ok(())
        }
    }
    let mut names = Names(Vec::new(), Ok(()));
    b.read_dir(t, dir, &mut names)?;
    names.1?;
    for n in names.0.iter() {
        let node = b.lookup(t, dir, n)?;
        let d = b.stat(t, &node)?.is_some_and(|s| s.is_dir());
        drop(node);
        b.remove(t, dir, n, d, Cred::Internal)?;
    }
    Ok(())
}

/// What the shim must check before a rename, before any copy-up: a
/// directory target must be logically empty (ENOTEMPTY), and a directory
/// with children on branches other than `t` cannot move (EXDEV, as aufs
/// does) — for RENAME_EXCHANGE that holds for both sides.  `dst` is empty
/// when the target does not exist.
///
/// `Ok(true)`: there is nothing to do.  Source and target are two names of
/// one file (hard links on the same branch, which the union shows as two
/// objects): rename(2) then succeeds and changes nothing, as the VFS does
/// for one inode, with no copy-up (the file may be immutable).
pub fn rename_check<B: WriteBackend>(
    b: &B,
    brs: &dyn Branches,
    src: &[Lower<B::Node>],
    dst: &[Lower<B::Node>],
    t: u32,
    flags: u32,
) -> Result<bool> {
    let exchange = flags & RENAME_EXCHANGE != 0;
    if let (Some(s), Some(d)) = (src.first(), dst.first()) {
        if s.br == d.br {
            let ss = b.stat(s.br, &s.node)?.ok_or(Errno::ENOENT)?;
            let ds = b.stat(d.br, &d.node)?.ok_or(Errno::ENOENT)?;
            if ss.ino == ds.ino && !ss.is_dir() && !ds.is_dir() {
                return Ok(true);
            }
        }
    }
    if let Some(d) = dst.first() {
        let is_dir = b.stat(d.br, &d.node)?.is_some_and(|s| s.is_dir());
        if is_dir && !exchange && !dir_is_empty(b, brs, dst)? {
            return Err(Errno::ENOTEMPTY);
        }
    }
    // With `dirren` a directory moves whatever is below it (its record
    // says where); RENAME_EXCHANGE writes no records.
    if exchange || !brs.follow_dirren() {
        movable(b, brs, src, t)?;
    }
    if exchange {
        movable(b, brs, dst, t)?;
    }
    Ok(false)
}

/// A directory cannot be moved when anything of it lives on a branch other
/// than `t`: a visible child there, or a child on `t` that merges with a
/// lower one of the same name (its lower contents would stay behind).  As
/// aufs without `dirren`: EXDEV, and `mv` falls back to copying.
fn movable<B: WriteBackend>(b: &B, brs: &dyn Branches, src: &[Lower<B::Node>], t: u32) -> Result<()> {
    let s = top(src)?;
    let st = b.stat(s.br, &s.node)?.ok_or(Errno::ENOENT)?;
    if !st.is_dir() {
        return Ok(());
    }
    let start = src.iter().position(|l| l.br != t).unwrap_or(src.len());
    let Some(lower) = src.get(start..).filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let below = union::read_dir(b, brs, lower)?;
    if below.is_empty() {
        return Ok(());
    }
    if start == 0 {
        return Err(Errno::EXDEV); // nothing on t yet: all of it is below
    }
    // Names below that the whole union still shows (not whited out on t).
    let all = union::read_dir(b, brs, src)?;
    if below.iter().any(|(n, _)| all.iter().any(|(m, _)| m == n)) {
        return Err(Errno::EXDEV);
    }
    Ok(())
}

/// Undo steps of a rename, run in reverse order when a later step fails.
enum Undo<'a, N> {
    /// Remove the whiteout of this name in this directory.
    Whiteout(&'a N, &'a [u8]),
    /// Make the whiteout of this name in this directory again.
    Rewhiteout(&'a N, &'a [u8]),
    /// Remove the opaque marker made in the directory `dir`/`name`.
    Opaque(&'a N, &'a [u8]),
    /// Rename the hidden `tmp` back to `name` in `dir`.
    Restore(&'a N, &'a [u8], &'a [u8]),
    /// Remove the rename record written on this directory.
    Unrecord(&'a N),
}

fn undo<B: WriteBackend>(b: &B, brs: &dyn Branches, t: u32, steps: &[Undo<'_, B::Node>]) {
    for s in steps.iter().rev() {
        let _ = match s {
            Undo::Whiteout(dir, name) => remove_whiteout(b, t, dir, name).map(|_| ()),
            Undo::Rewhiteout(dir, name) => whiteout(b, brs, t, dir, name),
            Undo::Opaque(dir, name) => b.lookup(t, dir, name).and_then(|d| b.remove(t, &d, OPQ_NAME, false, Cred::Internal)),
            Undo::Restore(dir, tmp, name) => b.rename(t, At::new(dir, tmp), At::new(dir, name), 0, Cred::Internal),
            Undo::Unrecord(node) => b.set_dirren_record(t, node, None),
        };
    }
}

/// Make directory `dir`/`name` on `t` opaque unless it is; whether it was made.
fn make_opaque<B: WriteBackend>(b: &B, t: u32, dir: &B::Node, name: &[u8]) -> Result<bool> {
    let d = b.lookup(t, dir, name)?;
    if positive(b, t, &b.lookup(t, &d, OPQ_NAME)?)? {
        return Ok(false);
    }
    let e = NewEntry { mode: 0o100000, rdev: 0, target: &[] };
    b.create(t, &d, OPQ_NAME, &e, Cred::Internal)?;
    Ok(true)
}

/// One side of a rename: the entries of the parent, of the object (the
/// target's: empty if there is none) and the name.
#[derive(Debug)]
pub struct Side<'a, N> {
    pub parent: &'a [Lower<N>],
    pub obj: &'a [Lower<N>],
    pub name: &'a [u8],
}

/// A rename(2) in the union: from `src` to `dst`; `flags` are RENAME_*
/// values; `id` (unique per mount) names the temporary entries.
#[derive(Debug)]
pub struct Rename<'a, N> {
    pub src: Side<'a, N>,
    pub dst: Side<'a, N>,
    pub flags: u32,
    pub id: u64,
}

/// rename(2) in the union, acted out on branch `t`, where both parents
/// exist and the source (and, for RENAME_EXCHANGE, the target) already
/// has its topmost entry.
///
/// All or nothing: every step that prepares the rename (opaque markers on
/// moving directories, the whiteout that will hide a lower entry of the old
/// name, moving a target directory's whiteouts out of the way) is undone if
/// the rename itself fails.  A directory replaced by the rename is renamed
/// to a hidden temporary name first (unique by `id`) and removed
/// afterwards.  Every step that makes a marker only adds what hides lower
/// contents that the checks before (see [`rename_check`]) found invisible.
///
/// `Ok(true)`: the moved directory keeps its entries below `t` (a
/// `dirren` record leads to them); `Ok(false)`: it has only its entry on
/// `t` now.
pub fn rename<B: WriteBackend>(b: &B, brs: &dyn Branches, req: &Rename<'_, B::Node>, t: u32) -> Result<bool> {
    let Rename { src: Side { parent: sparent, obj: src, name: sname }, dst: Side { parent: dparent, obj: dst, name: dname }, flags, id } =
        *req;
    name::check_user_name(dname)?;
    let sdir = entry_on(sparent, t)?;
    let ddir = entry_on(dparent, t)?;
    let s = top(src)?;
    if s.br != t {
        return Err(Errno::EXDEV);
    }
    let src_st = b.stat(t, &s.node)?.ok_or(Errno::ENOENT)?;
    // A metacopy at another name would not find its data: copied first.
    if metacopy_of(src, &src_st) {
        return Err(Errno::EINVAL);
    }
    let src_is_dir = src_st.is_dir();
    let tmp = tmp_name(b"rmdir", id)?;
    let mut steps: Vec<Undo<'_, B::Node>> = Vec::new();
    steps.try_reserve(5)?;
    let r = (|| {
        if flags & RENAME_EXCHANGE != 0 {
            let d = top(dst)?;
            if d.br != t {
                return Err(Errno::EXDEV);
            }
            let dst_st = b.stat(t, &d.node)?.ok_or(Errno::ENOENT)?;
            if metacopy_of(dst, &dst_st) {
                return Err(Errno::EINVAL);
            }
            let dst_is_dir = dst_st.is_dir();
            // Each directory must not merge with a lower one at its new name.
            if src_is_dir && exists_below(b, brs, dparent, t, dname)?.is_some() && make_opaque(b, t, sdir, sname)? {
                steps.push(Undo::Opaque(sdir, sname));
            }
            if dst_is_dir && exists_below(b, brs, sparent, t, sname)?.is_some() && make_opaque(b, t, ddir, dname)? {
                steps.push(Undo::Opaque(ddir, dname));
            }
            return b.rename(t, At::new(sdir, sname), At::new(ddir, dname), flags, Cred::Caller).map(|()| false);
        }
        let mut dst_on_t_dir = false;
        if let Some(d) = dst.first() {
            let dst_st = b.stat(d.br, &d.node)?.ok_or(Errno::ENOENT)?;
            if dst_st.is_dir() && !dir_is_empty(b, brs, dst)? {
                return Err(Errno::ENOTEMPTY);
            }
            dst_on_t_dir = d.br == t && dst_st.is_dir();
        }
        // dirren: a directory with entries below t gets a record of where
        // they are (see crate::dirren); they are found by it, not by name,
        // so it needs no opaque marker at its new name.
        let record = if src_is_dir && brs.follow_dirren() { dirren::record_for(b, src, t)? } else { None };
        if let Some(rec) = record.as_deref() {
            if !matches!(dirren::record_of(b, t, &s.node)?, dirren::Record::Good(ref r) if r.as_slice() == rec) {
                b.set_dirren_record(t, &s.node, Some(rec)).map_err(|e| if e == Errno::EOPNOTSUPP { Errno::EXDEV } else { e })?;
                steps.push(Undo::Unrecord(&s.node));
            }
        }
        let below_dst = exists_below(b, brs, dparent, t, dname)?;
        if src_is_dir && record.is_none() && (brs.diropq_always() || below_dst == Some(FileType::Dir)) && make_opaque(b, t, sdir, sname)? {
            // Undone by name after a failed rename: it is still at sname.
            steps.push(Undo::Opaque(sdir, sname));
        }
        if exists_below(b, brs, sparent, t, sname)?.is_some() {
            whiteout(b, brs, t, sdir, sname)?;
            steps.push(Undo::Whiteout(sdir, sname));
        }
        if remove_whiteout(b, t, ddir, dname)? {
            steps.push(Undo::Rewhiteout(ddir, dname));
        }
        let replaced = dst_on_t_dir && has_meta(b, t, &top(dst)?.node)?;
        if replaced {
            // The target directory holds whiteouts: out of the way first.
            b.rename(t, At::new(ddir, dname), At::new(ddir, &tmp), crate::backend::RENAME_NOREPLACE, Cred::Internal)?;
            steps.push(Undo::Restore(ddir, &tmp, dname));
        }
        b.rename(t, At::new(sdir, sname), At::new(ddir, dname), flags, Cred::Caller)?;
        if replaced {
            discard_dir(b, t, ddir, &tmp);
        }
        Ok(record.is_some())
    })();
    if r.is_err() {
        undo(b, brs, t, &steps);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Times;
    use crate::mem::{MemBackend, MemNode};
    use crate::union::lookup;

    fn walk(m: &MemBackend, path: &str) -> Vec<Lower<MemNode>> {
        let mut cur = m.roots();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur = lookup(m, m, &cur, comp.as_bytes(), None).unwrap().lowers;
        }
        cur
    }

    fn side<'a>(parent: &'a [Lower<MemNode>], obj: &'a [Lower<MemNode>], name: &'a [u8]) -> Side<'a, MemNode> {
        Side { parent, obj, name }
    }

    fn how(plink: bool) -> CopyHow {
        CopyHow { plink, metacopy: false, meta_only: false }
    }

    fn reg(mode: u32) -> NewEntry<'static> {
        NewEntry { mode: 0o100000 | mode, rdev: 0, target: b"" }
    }

    fn names(m: &MemBackend, path: &str) -> Vec<String> {
        let md = union::read_dir(m, m, &walk(m, path)).unwrap();
        md.iter().map(|(n, _)| String::from_utf8(n.to_vec()).unwrap()).collect()
    }

    #[test]
    fn targets() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/"]), ("rw", &[]), ("ro", &["d/f"])]);
        let root = m.roots();
        let none: &[Lower<MemNode>] = &[];
        assert_eq!(cpup_target(&m, none, 0, Cpup::Tdp), Ok(0));
        assert_eq!(cpup_target(&m, &root, 1, Cpup::Tdp), Ok(0));
        assert_eq!(cpup_target(&m, &root, 2, Cpup::Tdp), Ok(2), "a writable branch is changed in place");
        assert_eq!(cpup_target(&m, &root, 3, Cpup::Tdp), Ok(0), "tdp: topmost writable where the parent is");
        assert_eq!(cpup_target(&m, &root, 3, Cpup::Bup), Ok(2), "bup: nearest writable above, parent there");
        assert_eq!(cpup_target(&m, &root, 3, Cpup::Bu), Ok(2), "bu: nearest writable above");
        // d exists on 0, 1 and 3: branch 2 is writable but has no d, so a
        // change of d/f goes to 0.
        let d = walk(&m, "d");
        assert_eq!(cpup_target(&m, &d, 3, Cpup::Tdp), Ok(0));
        assert_eq!(cpup_target(&m, &d, 3, Cpup::Bup), Ok(0), "d is not on 2");
        assert_eq!(cpup_target(&m, &d, 3, Cpup::Bu), Ok(0), "never a copy-down of d onto 2");
        assert_eq!(create_target(&m, &d), Ok(0));
        assert_eq!(create_target(&m, &root), Ok(0));
        let ro = MemBackend::new(&[("ro", &[]), ("ro", &[])]);
        assert_eq!(cpup_target(&ro, &ro.roots(), 1, Cpup::Tdp), Err(Errno::EROFS));
        assert_eq!(create_target(&ro, &ro.roots()), Err(Errno::EROFS));
        // The parent only on a read-only branch below a writable one.
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["p/"]), ("rw", &[])]);
        assert_eq!(create_target(&m, &walk(&m, "p")), Ok(0));
        let m = MemBackend::new(&[("ro", &["p/"]), ("rw", &["p/"])]);
        assert_eq!(create_target(&m, &walk(&m, "p")), Ok(1), "parent exists on the rw branch");
    }

    #[test]
    fn copy_up_file_is_atomic_and_keeps_attributes() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/f=lower data"])]);
        m.branches.borrow_mut()[1].entries.get_mut(&b"d/f"[..]).unwrap().mode = 0o100640;
        m.branches.borrow_mut()[1].entries.get_mut(&b"d/f"[..]).unwrap().xattrs.insert(b"user.k".to_vec(), b"v".to_vec());
        let dir_times = Times { atime: (5, 0), mtime: (7, 0) };
        m.set_times(0, &b"d".to_vec(), &dir_times).unwrap();
        let obj = walk(&m, "d/f");
        let (n, _) = copy_up(&m, &m, how(false), &obj, &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"f", len: None, id: 1 }).unwrap();
        assert_eq!(n, b"d/f".to_vec());
        let up = m.get(0, "d/f").unwrap();
        assert_eq!(up.data, b"lower data");
        assert_eq!(up.mode, 0o100640);
        assert_eq!(up.xattrs.get(&b"user.k"[..]).map(|v| v.as_slice()), Some(&b"v"[..]));
        assert_eq!(m.paths(0), ["d", "d/f"], "no temporary left");
        assert_eq!(m.get(0, "d").unwrap().times, dir_times, "parent times restored");
        assert_eq!(walk(&m, "d/f")[0].br, 0);
        // The copy was made under the temporary name, then renamed.
        let log = m.log.borrow().join("\n");
        assert!(log.contains("create 0 d/.wh..wh.cpup.1 Internal"), "{log}");
        assert!(log.contains("rename 0 d/.wh..wh.cpup.1 d/f Internal"), "{log}");
    }

    fn meta_how() -> CopyHow {
        CopyHow { plink: true, metacopy: true, meta_only: true }
    }

    fn is_marked(m: &MemBackend, br: usize, path: &str) -> bool {
        m.get(br, path).unwrap().xattrs.contains_key(crate::backend::METACOPY_XATTR)
    }

    #[test]
    fn metacopy_copies_the_attributes_and_leaves_the_data() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/f=lower data"])]);
        m.branches.borrow_mut()[1].entries.get_mut(&b"d/f"[..]).unwrap().mode = 0o100640;
        m.branches.borrow_mut()[1].entries.get_mut(&b"d/f"[..]).unwrap().xattrs.insert(b"user.k".to_vec(), b"v".to_vec());
        m.fail_copy.set(Some(Errno::EIO)); // any data copy fails the test
        let (n, meta) = copy_up(&m, &m, meta_how(), &walk(&m, "d/f"), &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"f", len: None, id: 1 }).unwrap();
        assert!(meta);
        assert_eq!(n, b"d/f".to_vec());
        let up = m.get(0, "d/f").unwrap();
        assert!(is_marked(&m, 0, "d/f"));
        assert_eq!(up.data, vec![0u8; 10], "a hole of the data's size");
        assert_eq!(up.mode, 0o100640);
        assert_eq!(up.xattrs.get(&b"user.k"[..]).map(|v| v.as_slice()), Some(&b"v"[..]));
        assert_eq!(m.paths(0), ["d", "d/f"], "no temporary left");
        // The union shows the metacopy over the data below it.
        let obj = walk(&m, "d/f");
        assert_eq!(obj.iter().map(|l| l.br).collect::<Vec<_>>(), [0, 1]);
        assert!(is_metacopy(&m, &obj).unwrap());
        assert_eq!(m.get(1, "d/f").unwrap().data, b"lower data", "the lower file is untouched");
        // Copied up again: the metacopy stays where it is.
        assert_eq!(copy_up(&m, &m, meta_how(), &obj, &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"f", len: None, id: 2 }), Err(Errno::EINVAL));
    }

    #[test]
    fn metacopy_gets_its_data_when_it_is_needed() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=lower data"])]);
        copy_up(&m, &m, meta_how(), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }).unwrap();
        // A change through the union after the metacopy: on the upper file.
        m.branches.borrow_mut()[0].entries.get_mut(&b"f"[..]).unwrap().mode = 0o104711;
        m.branches.borrow_mut()[0].entries.get_mut(&b"f"[..]).unwrap().times = Times { atime: (3, 0), mtime: (4, 0) };
        let want_data = CopyHow { meta_only: false, ..meta_how() };
        let (n, meta) = copy_up(&m, &m, want_data, &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 2 }).unwrap();
        assert!(!meta);
        assert_eq!(n, b"f".to_vec());
        let up = m.get(0, "f").unwrap();
        assert_eq!(up.data, b"lower data");
        assert!(!is_marked(&m, 0, "f"), "a whole copy carries no marker");
        assert_eq!(up.mode, 0o104711, "the attributes are the metacopy's");
        assert_eq!(up.times, Times { atime: (3, 0), mtime: (4, 0) });
        assert_eq!(m.paths(0), ["f"], "replaced through a temporary");
        assert_eq!(walk(&m, "f").len(), 1);
        // For a truncate: only what stays.
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=0123456789"])]);
        copy_up(&m, &m, meta_how(), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }).unwrap();
        copy_up(&m, &m, want_data, &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: Some(4), id: 2 }).unwrap();
        assert_eq!(m.get(0, "f").unwrap().data, b"0123");
        // A failed data copy leaves the metacopy as it was.
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        copy_up(&m, &m, meta_how(), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }).unwrap();
        m.fail_copy.set(Some(Errno::ENOSPC));
        assert_eq!(copy_up(&m, &m, want_data, &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 2 }), Err(Errno::ENOSPC));
        assert!(is_marked(&m, 0, "f"));
        assert_eq!(m.paths(0), ["f"]);
        assert_eq!(walk(&m, "f").len(), 2);
        // Unlinked while open: an orphan copy with the data.
        m.fail_copy.set(None);
        let o = copy_up_orphan(&m, &m, true, &walk(&m, "f"), 0, 3).unwrap();
        assert!(o.starts_with(b".wh..wh.cpup."));
    }

    #[test]
    fn metacopy_only_where_it_can_be() {
        let copied = |m: &MemBackend, how: CopyHow| {
            let (_, meta) = copy_up(m, m, how, &walk(m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }).unwrap();
            assert!(!meta);
            assert!(!is_marked(m, 0, "f"));
            assert_eq!(m.get(0, "f").unwrap().data, b"data");
        };
        copied(&MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]), CopyHow { metacopy: false, ..meta_how() });
        copied(&MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]), CopyHow { meta_only: false, ..meta_how() });
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.branches.borrow_mut()[0].no_xattrs = true;
        copied(&m, meta_how());
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.branches.borrow_mut()[1].entries.get_mut(&b"f"[..]).unwrap().flags = 0x20; // append-only
        copied(&m, meta_how());
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.link(1, &b"f".to_vec(), &Vec::new(), b"g", Cred::Internal).unwrap();
        copied(&m, CopyHow { plink: false, ..meta_how() });
    }

    #[test]
    fn a_metacopy_never_moves_or_links_without_its_data() {
        let m = MemBackend::new(&[("rw", &["d/", "u=up"]), ("ro", &["d/f=data"])]);
        copy_up(&m, &m, meta_how(), &walk(&m, "d/f"), &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"f", len: None, id: 1 }).unwrap();
        let (root, d, f, u) = (walk(&m, ""), walk(&m, "d"), walk(&m, "d/f"), walk(&m, "u"));
        assert_eq!(rename(&m, &m, &Rename { src: side(&d, &f, b"f"), dst: side(&root, &[], b"g"), flags: 0, id: 2 }, 0), Err(Errno::EINVAL));
        assert_eq!(rename(&m, &m, &Rename { src: side(&root, &u, b"u"), dst: side(&d, &f, b"f"), flags: RENAME_EXCHANGE, id: 2 }, 0), Err(Errno::EINVAL));
        assert_eq!(link(&m, &root, &f, 0, b"g"), Err(Errno::EINVAL));
        assert_eq!(m.paths(0), ["d", "d/f", "u"]);
        // Removed: the upper file goes, a whiteout hides the data.
        remove(&m, &m, &d, &f, 0, b"f", 3).unwrap();
        assert_eq!(m.paths(0), [".wh..wh.aufs", "d", "d/.wh.f", "u"]);
        assert!(walk(&m, "d/f").is_empty());
        assert_eq!(m.get(1, "d/f").unwrap().data, b"data");
    }

    #[test]
    fn copy_up_for_truncate_copies_only_what_stays() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=0123456789"])]);
        copy_up(&m, &m, how(false), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: Some(4), id: 1 }).unwrap();
        assert_eq!(m.get(0, "f").unwrap().data, b"0123");
    }

    #[test]
    fn failed_copy_up_leaves_nothing() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.fail_copy.set(Some(Errno::ENOSPC));
        assert_eq!(copy_up(&m, &m, how(false), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }), Err(Errno::ENOSPC));
        assert!(m.paths(0).is_empty(), "{:?}", m.paths(0));
        assert_eq!(walk(&m, "f")[0].br, 1, "the lower file still shows");
        assert_eq!(m.get(1, "f").unwrap().data, b"data");
    }

    #[test]
    fn orphan_copy_up_leaves_no_name() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        let log_before = m.log.borrow().len();
        copy_up_orphan(&m, &m, false, &walk(&m, "f"), 0, 0x2a).unwrap();
        assert!(m.get(0, "f").is_none(), "the name is not brought back");
        assert!(m.paths(0).is_empty(), "the temporary name went at once: {:?}", m.paths(0));
        let log = m.log.borrow()[log_before..].join("\n");
        assert!(log.contains("create 0 .wh..wh.cpup.2a Internal"), "{log}");
        assert!(log.contains("remove 0 .wh..wh.cpup.2a Internal"), "{log}");
    }

    #[test]
    fn copy_up_symlink_and_dir() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["l->target", "d/x"])]);
        copy_up(&m, &m, how(false), &walk(&m, "l"), &CopyTo { t: 0, dir: &Vec::new(), name: b"l", len: None, id: 1 }).unwrap();
        let l = m.get(0, "l").unwrap();
        assert_eq!(FileType::from_mode(l.mode), FileType::Lnk);
        assert_eq!(l.data, b"target");
        copy_up(&m, &m, how(false), &walk(&m, "d"), &CopyTo { t: 0, dir: &Vec::new(), name: b"d", len: None, id: 1 }).unwrap();
        assert_eq!(m.paths(0), ["d", "l"], "a directory is copied without its contents");
        assert_eq!(names(&m, "d"), ["x"], "and still merges with the lower one");
    }

    #[test]
    fn remove_leaves_whiteout_only_when_needed() {
        let m = MemBackend::new(&[("rw", &["top", "both"]), ("ro", &["low", "both"])]);
        let root = m.roots();
        remove(&m, &m, &root, &walk(&m, "top"), 0, b"top", 7).unwrap();
        assert!(m.get(0, ".wh.top").is_none(), "nothing below: no whiteout");
        remove(&m, &m, &root, &walk(&m, "both"), 0, b"both", 7).unwrap();
        assert!(m.get(0, "both").is_none());
        assert!(m.get(0, ".wh.both").is_some());
        remove(&m, &m, &root, &walk(&m, "low"), 0, b"low", 7).unwrap();
        assert!(m.get(0, ".wh.low").is_some());
        assert_eq!(m.get(1, "low").unwrap().data, b"", "lower branch untouched");
        assert!(names(&m, "").is_empty());
        // Whiteouts are hard links to the branch's whiteout base.
        assert_eq!(m.get(0, ".wh.low").unwrap().ino, m.get(0, ".wh..wh.aufs").unwrap().ino);
    }

    #[test]
    fn nolwh_whiteouts_are_plain_files() {
        let m = MemBackend::new(&[("rw+nolwh", &[]), ("ro", &["x"])]);
        remove(&m, &m, &m.roots(), &walk(&m, "x"), 0, b"x", 7).unwrap();
        assert!(m.get(0, ".wh.x").is_some());
        assert!(m.get(0, ".wh..wh.aufs").is_none());
    }

    #[test]
    fn rmdir_rules() {
        let m = MemBackend::new(&[("rw", &["d/.wh.a"]), ("ro", &["d/a", "e/b"])]);
        let root = m.roots();
        assert_eq!(remove(&m, &m, &root, &walk(&m, "e"), 0, b"e", 7), Err(Errno::ENOTEMPTY));
        // d is logically empty: its only lower child is whited out.
        remove(&m, &m, &root, &walk(&m, "d"), 0, b"d", 7).unwrap();
        assert_eq!(m.paths(0), [".wh..wh.aufs", ".wh.d"]);
        assert!(lookup(&m, &m, &root, b"d", None).unwrap().lowers.is_empty());
    }

    #[test]
    fn create_over_whiteout() {
        let m = MemBackend::new(&[("rw", &[".wh.f", ".wh.d"]), ("ro", &["f=old", "d/inner"])]);
        let root = m.roots();
        create(&m, &m, &root, 0, b"f", &reg(0o644)).unwrap();
        assert!(m.get(0, ".wh.f").is_none(), "whiteout removed");
        assert_eq!(walk(&m, "f")[0].br, 0);
        let dir = NewEntry { mode: 0o40755, rdev: 0, target: b"" };
        create(&m, &m, &root, 0, b"d", &dir).unwrap();
        assert!(m.get(0, "d/.wh..wh..opq").is_some(), "mkdir over a whiteout is opaque");
        assert!(names(&m, "d").is_empty(), "lower contents stay hidden");
        // A plain mkdir with nothing below is not opaque.
        create(&m, &m, &root, 0, b"new", &dir).unwrap();
        assert!(m.get(0, "new/.wh..wh..opq").is_none());
        assert_eq!(create(&m, &m, &root, 0, b".wh.x", &reg(0o644)), Err(Errno::EPERM));
        let log = m.log.borrow().join("\n");
        assert!(log.contains("create 0 f Caller"), "{log}");
    }

    /// `diropq=a`: mkdir and a directory rename always make the opaque
    /// marker (aufs's manual); the default `w` only over a whiteout.
    #[test]
    fn diropq_always() {
        let m = MemBackend::new(&[("rw", &["a/"]), ("ro", &["x"])]);
        m.diropq_always.set(true);
        let root = m.roots();
        let dir = NewEntry { mode: 0o40755, rdev: 0, target: b"" };
        create(&m, &m, &root, 0, b"d", &dir).unwrap();
        assert!(m.get(0, "d/.wh..wh..opq").is_some(), "mkdir makes it opaque");
        let a = walk(&m, "a");
        rename(&m, &m, &Rename { src: side(&root, &a, b"a"), dst: side(&root, &[], b"b"), flags: 0, id: 3 }, 0).unwrap();
        assert!(m.get(0, "b/.wh..wh..opq").is_some(), "a renamed directory too");
        m.diropq_always.set(false);
        create(&m, &m, &root, 0, b"e", &dir).unwrap();
        assert!(m.get(0, "e/.wh..wh..opq").is_none());
    }

    #[test]
    fn rename_file_from_lower() {
        let m = MemBackend::new(&[("rw", &["a/", "b/"]), ("ro", &["a/f=x"])]);
        let root = m.roots();
        let a = walk(&m, "a");
        let t = cpup_target(&m, &a, walk(&m, "a/f")[0].br, Cpup::Tdp).unwrap();
        copy_up(&m, &m, how(false), &walk(&m, "a/f"), &CopyTo { t, dir: &b"a".to_vec(), name: b"f", len: None, id: 1 }).unwrap();
        rename(&m, &m, &Rename { src: side(&a, &walk(&m, "a/f"), b"f"), dst: side(&walk(&m, "b"), &[], b"g"), flags: 0, id: 9 }, t).unwrap();
        assert_eq!(m.get(0, "b/g").unwrap().data, b"x");
        assert!(m.get(0, "a/.wh.f").is_some(), "old name whited out");
        assert!(lookup(&m, &m, &walk(&m, "a"), b"f", None).unwrap().lowers.is_empty());
        let _ = root;
    }

    #[test]
    fn plink_copies_a_lower_hard_link_once() {
        for plink in [true, false] {
            let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/", "d/a=x"])]);
            let d = walk(&m, "d");
            m.link(1, &walk(&m, "d/a")[0].node, &d[1].node, b"b", Cred::Internal).unwrap();
            copy_up(&m, &m, how(plink), &walk(&m, "d/a"), &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"a", len: None, id: 1 }).unwrap();
            let recorded = m.branches.borrow()[0].entries.keys().any(|k| k.starts_with(b".wh..wh.plnk/"));
            assert_eq!(recorded, plink, "pseudo-link recorded only with plink");
            m.log.borrow_mut().clear();
            // The other name: linked to the copy, not copied again.
            let b_obj: Vec<_> = walk(&m, "d/b").into_iter().filter(|l| l.br == 1).collect();
            copy_up(&m, &m, how(plink), &b_obj, &CopyTo { t: 0, dir: &b"d".to_vec(), name: b"b", len: None, id: 2 }).unwrap();
            let log = m.log.borrow().join("\n");
            assert_eq!(log.contains("link 0 d/b Internal"), plink, "{log}");
            assert_eq!(log.contains("cpup"), !plink, "{log}");
            let (a, b) = (m.get(0, "d/a").unwrap(), m.get(0, "d/b").unwrap());
            assert_eq!(a.ino == b.ino, plink, "one file with plink, two without");
        }
    }

    #[test]
    fn rename_between_two_names_of_one_file_does_nothing() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/f=x"])]);
        let d = walk(&m, "d");
        let f = walk(&m, "d/f");
        m.link(1, &f[0].node, &d[1].node, b"g", Cred::Internal).unwrap();
        let g = walk(&m, "d/g");
        assert_eq!(rename_check(&m, &m, &f, &g, 0, 0), Ok(true));
        assert_eq!(rename_check(&m, &m, &f, &g, 0, RENAME_EXCHANGE), Ok(true));
        // Another file with the same content is another file.
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/f=x", "d/g=x"])]);
        assert_eq!(rename_check(&m, &m, &walk(&m, "d/f"), &walk(&m, "d/g"), 0, 0), Ok(false));
    }

    #[test]
    fn rename_dir_rules() {
        let m = MemBackend::new(&[("rw", &["up/x", "e/"]), ("ro", &["low/y", "e/"])]);
        assert_eq!(rename_check(&m, &m, &walk(&m, "low"), &[], 0, 0), Err(Errno::EXDEV));
        assert_eq!(rename_check(&m, &m, &walk(&m, "up"), &[], 0, 0), Ok(false));
        assert_eq!(rename_check(&m, &m, &walk(&m, "e"), &[], 0, 0), Ok(false), "lower part has no children");
        // A non-empty target comes first: ENOTEMPTY, not EXDEV.
        assert_eq!(rename_check(&m, &m, &walk(&m, "low"), &walk(&m, "up"), 0, 0), Err(Errno::ENOTEMPTY));
        // RENAME_EXCHANGE moves both sides: either one with lower children is EXDEV.
        assert_eq!(rename_check(&m, &m, &walk(&m, "up"), &walk(&m, "low"), 0, RENAME_EXCHANGE), Err(Errno::EXDEV));
        assert_eq!(rename_check(&m, &m, &walk(&m, "up"), &walk(&m, "e"), 0, RENAME_EXCHANGE), Ok(false));
        let root = m.roots();
        rename(&m, &m, &Rename { src: side(&root, &walk(&m, "e"), b"e"), dst: side(&root, &[], b"e2"), flags: 0, id: 9 }, 0).unwrap();
        assert!(m.get(0, ".wh.e").is_some(), "the empty lower dir is whited out");
        assert_eq!(names(&m, ""), ["e2", "low", "up"]);
    }

    #[test]
    fn rename_over_lower_dir_is_opaque() {
        let m = MemBackend::new(&[("rw", &["src/a"]), ("ro", &["dst/", "dst/.wh..wh..opq"])]);
        let root = m.roots();
        // dst is an empty directory on the lower branch only.
        rename(&m, &m, &Rename { src: side(&root, &walk(&m, "src"), b"src"), dst: side(&root, &walk(&m, "dst"), b"dst"), flags: 0, id: 9 }, 0).unwrap();
        assert!(m.get(0, "dst/.wh..wh..opq").is_some());
        assert_eq!(names(&m, "dst"), ["a"]);
    }

    /// Everything on branch `br`: (path, data) pairs, but the whiteout
    /// base (made once, when first needed, and never visible).
    fn snapshot(m: &MemBackend, br: usize) -> Vec<(String, Vec<u8>)> {
        m.branches.borrow()[br]
            .entries
            .iter()
            .map(|(k, v)| (String::from_utf8(k.clone()).unwrap(), v.data.clone()))
            .filter(|(k, _)| k != ".wh..wh.aufs")
            .collect()
    }

    fn fail(m: &MemBackend, prefix: &str, e: Errno) {
        m.fail_on.borrow_mut().push((prefix.to_string(), e));
    }

    #[test]
    fn unlink_failure_leaves_the_union_as_it_was() {
        let m = MemBackend::new(&[("rw", &["f=up"]), ("ro", &["f=low"])]);
        let before = snapshot(&m, 0);
        fail(&m, "remove 0 f Caller", Errno::EIO);
        let root = m.roots();
        assert_eq!(remove(&m, &m, &root, &walk(&m, "f"), 0, b"f", 1), Err(Errno::EIO));
        assert_eq!(m.get(0, "f").unwrap().data, b"up");
        assert!(m.get(0, ".wh.f").is_none(), "the whiteout was taken back");
        assert_eq!(walk(&m, "f")[0].br, 0);
        assert_eq!(snapshot(&m, 0), before);
        // And when it works, the whiteout came first.
        remove(&m, &m, &root, &walk(&m, "f"), 0, b"f", 1).unwrap();
        let log = m.log.borrow().join("\n");
        let wh = log.rfind("link 0 .wh.f").unwrap();
        let rm = log.rfind("remove 0 f Caller").unwrap();
        assert!(wh < rm, "{log}");
    }

    #[test]
    fn rmdir_with_whiteouts_is_all_or_nothing() {
        // d on top hides lower d/a with a whiteout: logically empty.
        let m = MemBackend::new(&[("rw", &["d/.wh.a"]), ("ro", &["d/a=lower"])]);
        let root = m.roots();
        fail(&m, "rename 0 d .wh..wh.rmdir.5 Caller", Errno::EXDEV);
        assert_eq!(remove(&m, &m, &root, &walk(&m, "d"), 0, b"d", 5), Err(Errno::EXDEV));
        assert!(m.get(0, "d/.wh.a").is_some(), "the directory's whiteouts are still there");
        assert!(m.get(0, ".wh.d").is_none());
        assert!(names(&m, "d").is_empty(), "d/a did not come back");
        remove(&m, &m, &root, &walk(&m, "d"), 0, b"d", 5).unwrap();
        assert_eq!(m.paths(0), [".wh..wh.aufs", ".wh.d"], "no leftover");
        assert!(lookup(&m, &m, &root, b"d", None).unwrap().lowers.is_empty());
        assert_eq!(m.get(1, "d/a").unwrap().data, b"lower");
    }

    #[test]
    fn rename_failure_undoes_every_preparation() {
        let m = MemBackend::new(&[("rw", &["s/x", ".wh.t", "dd/.wh.q"]), ("ro", &["s/", "t/", "dd/q"])]);
        let root = m.roots();
        let before = snapshot(&m, 0);
        // s moves over a whited-out lower dir t: opaque marker + whiteout of s first.
        fail(&m, "rename 0 s t Caller", Errno::EIO);
        let s = walk(&m, "s");
        assert_eq!(rename(&m, &m, &Rename { src: side(&root, &s, b"s"), dst: side(&root, &[], b"t"), flags: 0, id: 3 }, 0), Err(Errno::EIO));
        assert_eq!(snapshot(&m, 0), before, "branch as it was");
        assert_eq!(names(&m, ""), ["dd", "s"]);
        // A target directory with whiteouts goes out of the way and comes back.
        let m = MemBackend::new(&[("rw", &["s/x", "dd/.wh.q"]), ("ro", &["dd/q"])]);
        let before = snapshot(&m, 0);
        fail(&m, "rename 0 s dd Caller", Errno::EIO);
        assert_eq!(rename(&m, &m, &Rename { src: side(&root, &walk(&m, "s"), b"s"), dst: side(&root, &walk(&m, "dd"), b"dd"), flags: 0, id: 3 }, 0), Err(Errno::EIO));
        assert_eq!(snapshot(&m, 0), before);
        assert!(names(&m, "dd").is_empty(), "dd/q stays hidden");
        rename(&m, &m, &Rename { src: side(&root, &walk(&m, "s"), b"s"), dst: side(&root, &walk(&m, "dd"), b"dd"), flags: 0, id: 3 }, 0).unwrap();
        assert_eq!(names(&m, "dd"), ["x"]);
        assert!(m.paths(0).iter().all(|p| !p.contains("rmdir")), "{:?}", m.paths(0));
    }

    #[test]
    fn exchange_of_dirs_keeps_hidden_contents_hidden() {
        // a: only on top.  b: on top over a lower b whose child is whited out.
        let m = MemBackend::new(&[("rw", &["a/x", "b/.wh.gone", "b/y"]), ("ro", &["b/gone"])]);
        let root = m.roots();
        rename(&m, &m, &Rename { src: side(&root, &walk(&m, "a"), b"a"), dst: side(&root, &walk(&m, "b"), b"b"), flags: RENAME_EXCHANGE, id: 4 }, 0).unwrap();
        assert_eq!(names(&m, "a"), ["y"]);
        assert_eq!(names(&m, "b"), ["x"], "the lower b/gone does not come back under b");
    }

    #[test]
    fn dir_with_lower_contents_anywhere_below_is_exdev() {
        // d/c is on top, but the lower d/c has a child: moving d would lose it.
        let m = MemBackend::new(&[("rw", &["d/c/mine"]), ("ro", &["d/c/theirs"])]);
        assert_eq!(rename_check(&m, &m, &walk(&m, "d"), &[], 0, 0), Err(Errno::EXDEV));
        // Lower children that are all whited out do not count.
        let m = MemBackend::new(&[("rw", &["d/.wh.c", "d/mine"]), ("ro", &["d/c/theirs"])]);
        assert_eq!(rename_check(&m, &m, &walk(&m, "d"), &[], 0, 0), Ok(false));
    }

    #[test]
    fn copy_up_keeps_protective_flags_or_fails() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.branches.borrow_mut()[1].entries.get_mut(&b"f"[..]).unwrap().flags = 0x20; // append-only
        copy_up(&m, &m, how(false), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }).unwrap();
        assert_eq!(m.get(0, "f").unwrap().flags, 0x20);
        let log = m.log.borrow().join("\n");
        assert!(log.find("rename 0 .wh..wh.cpup.1 f").is_some(), "{log}");
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["f=data"])]);
        m.branches.borrow_mut()[1].entries.get_mut(&b"f"[..]).unwrap().flags = 0x10; // immutable
        m.no_flags.set(true);
        assert_eq!(copy_up(&m, &m, how(false), &walk(&m, "f"), &CopyTo { t: 0, dir: &Vec::new(), name: b"f", len: None, id: 1 }), Err(Errno::EPERM));
        assert!(m.paths(0).is_empty(), "no weaker copy left: {:?}", m.paths(0));
    }

    #[test]
    fn tmp_names_are_unique_and_hidden() {
        assert_eq!(tmp_name(b"cpup", 0).unwrap(), b".wh..wh.cpup.0");
        assert_eq!(tmp_name(b"cpup", 0xbeef).unwrap(), b".wh..wh.cpup.beef");
        assert_eq!(tmp_name(b"rmdir", u64::MAX).unwrap(), b".wh..wh.rmdir.ffffffffffffffff");
        assert_eq!(name::check_user_name(&tmp_name(b"cpup", 1).unwrap()), Err(Errno::EPERM));
    }

    #[test]
    fn whiteout_is_a_plain_file_where_a_link_is_refused() {
        for e in [Errno::EXDEV, Errno::EMLINK] {
            let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/f"])]);
            fail(&m, "link 0 d/.wh.f", e);
            remove(&m, &m, &walk(&m, "d"), &walk(&m, "d/f"), 0, b"f", 1).unwrap();
            assert!(m.get(0, "d/.wh.f").is_some(), "{e:?}");
            assert!(names(&m, "d").is_empty());
        }
    }
}
