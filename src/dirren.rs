//! Directory rename records (`dirren`).
//!
//! Without `dirren`, a directory whose contents live on a lower branch
//! cannot be renamed (EXDEV, as aufs's default `nodirren`): the lower
//! branches are read-only, and their contents merge by name.  With it, the
//! rename is done on the writable branch alone and leaves a *record* on the
//! renamed directory there: the path, from the branch root, under which its
//! lower contents are found on the branches below.  Lookup follows it:
//! below a directory entry that carries a record, the branches are asked
//! for the record's path instead of the directory's own name.
//!
//! The record is the xattr [`DIRREN_XATTR`] (`trusted.aufs.dirren`) on the
//! directory on the writable branch.  Its value is the path relative to the
//! branch root: components joined by `/`, no leading or trailing `/`, each
//! component a name a user could give (not empty, not `.` or `..`, no
//! `.wh.` prefix, at most 242 bytes), at most [`RECORD_MAX`] bytes in all.
//! It moves with the directory (a second rename keeps it: the lower
//! contents have not moved), survives `drop_caches`, umount and remounts
//! that add or delete other branches (a path, not a branch index), and is
//! hidden like every `trusted.aufs.` xattr (never listed, set or copied
//! up).
//!
//! Records come from branches, and a branch may have been written by
//! anyone (an image layer extracted with its xattrs, a read-only branch
//! that was once a writable one): a record is checked before it is
//! followed, and one that is not a well-formed path is refused (the lookup
//! fails with EIO, [`crate::union::LookupError::BadRecord`]), never
//! followed in part.  A record only ever redirects the branches *below*
//! the one that holds it, within each branch, and only names that branch's
//! own directories: it cannot escape a branch nor make a loop, and the
//! work of following records is bounded by the number of branches times
//! the number of components of a record.  Records are followed only on a
//! mount with `dirren`.

use crate::backend::{Backend, FileType, Lower};
use crate::name;
use crate::union::Branches;
use crate::{Errno, Result};
use alloc::vec::Vec;

/// The xattr that holds a directory's rename record.
pub const DIRREN_XATTR: &[u8] = b"trusted.aufs.dirren";

/// Longest record: PATH_MAX less the terminating NUL.
pub const RECORD_MAX: usize = 4095;

/// Check a record read from a branch (or about to be written).
pub fn check(rec: &[u8]) -> Result<()> {
    if rec.is_empty() || rec.len() > RECORD_MAX {
        return Err(Errno::EINVAL);
    }
    for c in rec.split(|&x| x == b'/') {
        if c.is_empty() || c == b"." || c == b".." || c.contains(&0) {
            return Err(Errno::EINVAL);
        }
        name::check_user_name(c).map_err(|_| Errno::EINVAL)?;
    }
    Ok(())
}

/// What the walk of a record's path found on one branch.
pub enum Walk<N> {
    /// The path is whited out on this branch: nothing below shows.
    Stop,
    /// A directory on the way carries a malformed record.
    Bad,
    /// No directory at the path on this branch: look further down.
    Absent,
    /// The directory at the path.  `below`: the path to ask the branches
    /// below for (another than the walked one where a directory on the way
    /// carries a record of its own); `opaque_above`: a directory on the way
    /// is opaque on this branch, so nothing below shows.
    Found { node: N, below: Vec<u8>, opaque_above: bool },
}

fn push_comp(v: &mut Vec<u8>, c: &[u8]) -> Result<()> {
    let extra = c.len().checked_add(usize::from(!v.is_empty())).ok_or(Errno::ENAMETOOLONG)?;
    if v.len().saturating_add(extra) > RECORD_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    v.try_reserve(extra)?;
    if !v.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(c);
    Ok(())
}

/// A directory's rename record, as read from its branch.
pub enum Record {
    None,
    Good(Vec<u8>),
    /// Present but not a well-formed path: refused.
    Bad,
}

/// The record of directory `node` on branch `br`, checked.
pub fn record_of<B: Backend>(b: &B, br: u32, node: &B::Node) -> Result<Record> {
    Ok(match b.dirren_record(br, node)? {
        None => Record::None,
        Some(r) if check(&r).is_ok() => Record::Good(r),
        Some(_) => Record::Bad,
    })
}

/// Walk the (checked) path `rec` on branch `br` from its root, with the
/// union's rules on that branch: a whiteout of a component there hides
/// the path, an opaque directory on the way hides what is below.
pub fn walk<B: Backend>(b: &B, brs: &dyn Branches, br: u32, rec: &[u8]) -> Result<Walk<B::Node>> {
    let whable = brs.may_whiteout(br);
    let mut node = b.branch_root(br)?;
    let mut below = Vec::new();
    let mut opaque_above = false;
    let mut comps = rec.split(|&x| x == b'/').peekable();
    while let Some(c) = comps.next() {
        let last = comps.peek().is_none();
        if whable {
            let wh = name::whiteout_name(c)?;
            if b.stat(br, &b.lookup(br, &node, &wh)?)?.is_some() {
                return Ok(Walk::Stop);
            }
        }
        let n = b.lookup(br, &node, c)?;
        match b.stat(br, &n)? {
            Some(st) if st.file_type() == FileType::Dir => {}
            _ => return Ok(Walk::Absent),
        }
        node = n;
        if last {
            push_comp(&mut below, c)?;
            break;
        }
        // A directory on the way that was itself renamed: its contents
        // below this branch are under its record.
        match record_of(b, br, &node)? {
            Record::Good(r) if brs.follow_dirren() => below = r,
            Record::Bad if brs.follow_dirren() => return Ok(Walk::Bad),
            _ => push_comp(&mut below, c)?,
        }
        if whable && b.stat(br, &b.lookup(br, &node, name::OPQ_NAME)?)?.is_some() {
            opaque_above = true;
        }
    }
    Ok(Walk::Found { node, below, opaque_above })
}

/// The record a directory renamed on branch `t` gets: the one it carries
/// already (its lower contents have not moved), else the path of its
/// topmost entry below `t`.  `None`: nothing of it is below `t`, no record
/// is needed.
pub fn record_for<B: crate::backend::WriteBackend>(b: &B, obj: &[Lower<B::Node>], t: u32) -> Result<Option<Vec<u8>>> {
    let Some(low) = obj.iter().find(|l| l.br != t) else {
        return Ok(None);
    };
    if let Some(top) = obj.first().filter(|l| l.br == t) {
        match record_of(b, t, &top.node)? {
            Record::Good(r) => return Ok(Some(r)),
            Record::Bad => return Err(Errno::EIO),
            Record::None => {}
        }
    }
    let r = b.path_of(low.br, &low.node)?;
    check(&r).map_err(|_| Errno::EXDEV)?;
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RENAME_EXCHANGE;
    use crate::mem::{MemBackend, MemBranch, MemNode};
    use crate::union::{self, LookupError};
    use crate::write::{self, CopyHow, CopyTo, Rename, Side};

    fn lookup(m: &MemBackend, path: &str) -> core::result::Result<Vec<Lower<MemNode>>, LookupError> {
        let mut cur = m.roots();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur = union::lookup(m, m, &cur, comp.as_bytes(), None)?.lowers;
        }
        Ok(cur)
    }

    fn walk(m: &MemBackend, path: &str) -> Vec<Lower<MemNode>> {
        lookup(m, path).unwrap()
    }

    /// Where the union object at `path` is, branch and branch path, top first.
    fn whereis(m: &MemBackend, path: &str) -> Vec<(u32, String)> {
        walk(m, path).into_iter().map(|l| (l.br, String::from_utf8(l.node).unwrap())).collect()
    }

    fn names(m: &MemBackend, path: &str) -> Vec<String> {
        let md = union::read_dir(m, m, &walk(m, path)).unwrap();
        md.iter().map(|(n, _)| String::from_utf8(n.to_vec()).unwrap()).collect()
    }

    fn split(path: &str) -> (&str, &str) {
        path.rsplit_once('/').unwrap_or(("", path))
    }

    /// rename(2) as the shim does it, on the top branch `t`: the checks,
    /// the copy-up of the source's parents and of the directory itself
    /// (not its contents), then the rename.
    fn mv(m: &MemBackend, t: u32, from: &str, to: &str) -> Result<()> {
        let (sp, sn) = split(from);
        let (dp, dn) = split(to);
        let src = walk(m, from);
        let dst = walk(m, to);
        if write::rename_check(m, m, &src, &dst, t, 0)? {
            return Ok(());
        }
        // The source's parents and the directory itself on t, and the
        // target's parents (as the shim's copy-up does).
        up(m, t, from)?;
        up(m, t, dp)?;
        let (sparent, dparent, src) = (walk(m, sp), walk(m, dp), walk(m, from));
        let req = Rename {
            src: Side { parent: &sparent, obj: &src, name: sn.as_bytes() },
            dst: Side { parent: &dparent, obj: &dst, name: dn.as_bytes() },
            flags: 0,
            id: 7,
        };
        let keeps = write::rename(m, m, &req, t)?;
        assert_eq!(keeps, m.dirren.get() && walk(m, to).len() > 1, "the shim keeps the entries below exactly when they are there");
        Ok(())
    }

    /// Copy up each directory on `path` (not the contents) to `t`.
    fn up(m: &MemBackend, t: u32, path: &str) -> Result<()> {
        let mut done = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let here = if done.is_empty() { comp.to_string() } else { format!("{done}/{comp}") };
            let obj = walk(m, &here);
            if obj.first().is_some_and(|l| l.br != t) {
                let how = CopyHow { plink: false, metacopy: false, meta_only: false };
                write::copy_up(m, m, how, &obj, &CopyTo { t, dir: &done.clone().into_bytes(), name: comp.as_bytes(), len: None, id: 1 })?;
            }
            done = here;
        }
        Ok(())
    }

    fn rm(m: &MemBackend, t: u32, path: &str) -> Result<()> {
        let (p, n) = split(path);
        up(m, t, p)?;
        write::remove(m, m, &walk(m, p), &walk(m, path), t, n.as_bytes(), 9)
    }

    fn rec(m: &MemBackend, br: usize, path: &str) -> Option<String> {
        m.get(br, path).and_then(|e| e.xattrs.get(DIRREN_XATTR).map(|v| String::from_utf8(v.clone()).unwrap()))
    }

    fn lower_tree() -> MemBackend {
        let m = MemBackend::new(&[("rw", &["top=1"]), ("ro", &["a/f=1", "a/sub/g=2", "x/"]), ("ro", &["a/h=3", "a/sub/i=4"])]);
        m.dirren.set(true);
        m
    }

    /// Without dirren: EXDEV, as ever; with it the rename is done on the
    /// top branch alone, nothing of the tree is copied, and the union shows
    /// every branch's contents under the new name and nothing at the old.
    #[test]
    fn a_renamed_directory_shows_its_lower_contents() {
        let m = lower_tree();
        m.dirren.set(false);
        assert_eq!(mv(&m, 0, "a", "b"), Err(Errno::EXDEV), "nodirren");
        m.dirren.set(true);
        mv(&m, 0, "a", "b").unwrap();
        assert_eq!(m.paths(0), [".wh..wh.aufs", ".wh.a", "b", "top"], "only the directory itself is on the top branch");
        assert_eq!(rec(&m, 0, "b").as_deref(), Some("a"));
        assert_eq!(names(&m, ""), ["b", "top", "x"]);
        assert_eq!(names(&m, "b"), ["f", "h", "sub"]);
        assert_eq!(names(&m, "b/sub"), ["g", "i"]);
        assert_eq!(whereis(&m, "b"), [(0, "b".into()), (1, "a".into()), (2, "a".into())]);
        assert_eq!(whereis(&m, "b/sub/i"), [(2, "a/sub/i".into())]);
        assert!(walk(&m, "a").is_empty(), "nothing under the old name");
        // The record is the union's own: hidden like every trusted.aufs. xattr.
        assert!(crate::backend::xattr_is_private(DIRREN_XATTR));
        // A mount without dirren does not follow it.
        m.dirren.set(false);
        assert_eq!(whereis(&m, "b"), [(0, "b".into())]);
    }

    #[test]
    fn rename_twice_back_and_into_another_directory() {
        let m = lower_tree();
        mv(&m, 0, "a", "b").unwrap();
        mv(&m, 0, "b", "c").unwrap();
        assert_eq!(rec(&m, 0, "c").as_deref(), Some("a"), "the record moves with it");
        assert_eq!(names(&m, ""), ["c", "top", "x"]);
        assert_eq!(names(&m, "c"), ["f", "h", "sub"]);
        // Into a directory that is only below: its parent is copied up.
        mv(&m, 0, "c", "x/y").unwrap();
        assert_eq!(names(&m, ""), ["top", "x"]);
        assert_eq!(names(&m, "x/y/sub"), ["g", "i"]);
        // A subdirectory of the renamed one: its record is its lower path.
        mv(&m, 0, "x/y/sub", "s").unwrap();
        assert_eq!(rec(&m, 0, "s").as_deref(), Some("a/sub"));
        assert_eq!(names(&m, "s"), ["g", "i"]);
        assert_eq!(names(&m, "x/y"), ["f", "h"]);
        // And back where they came from.
        mv(&m, 0, "s", "x/y/sub").unwrap();
        mv(&m, 0, "x/y", "a").unwrap();
        assert_eq!(names(&m, ""), ["a", "top", "x"]);
        assert_eq!(names(&m, "a"), ["f", "h", "sub"]);
        assert_eq!(names(&m, "a/sub"), ["g", "i"]);
        assert!(names(&m, "x").is_empty());
        assert!(!m.paths(0).contains(&".wh.a".to_string()), "the old name's whiteout went");
    }

    /// A branch added above and an unrelated one deleted (remount): the
    /// record is a path, not a branch index, and still leads there.
    #[test]
    fn records_survive_a_change_of_branches() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &["a/f=1"]), ("ro", &["other/"]), ("ro", &["a/h=3"])]);
        m.dirren.set(true);
        mv(&m, 0, "a", "b").unwrap();
        let root = m.get(0, "").unwrap();
        {
            let mut brs = m.branches.borrow_mut();
            brs.remove(2);
            let mut top = MemBranch { whable: true, writable: true, ..Default::default() };
            top.entries.insert(Vec::new(), root);
            brs.insert(0, top);
        }
        assert_eq!(names(&m, ""), ["b"]);
        assert_eq!(whereis(&m, "b"), [(1, "b".into()), (2, "a".into()), (3, "a".into())]);
        // Renamed again from the new top: the new record leads through the old one.
        mv(&m, 0, "b", "c").unwrap();
        assert_eq!(rec(&m, 0, "c").as_deref(), Some("b"));
        assert_eq!(names(&m, "c"), ["f", "h"]);
        assert_eq!(names(&m, ""), ["c"]);
    }

    /// rmdir keeps its rules: ENOTEMPTY while anything shows, and once
    /// emptied the directory goes without the lower contents coming back
    /// under either name.
    #[test]
    fn rmdir_of_a_renamed_directory() {
        let m = lower_tree();
        mv(&m, 0, "a", "b").unwrap();
        assert_eq!(rm(&m, 0, "b"), Err(Errno::ENOTEMPTY));
        for p in ["b/f", "b/h", "b/sub/g", "b/sub/i", "b/sub"] {
            rm(&m, 0, p).unwrap();
        }
        assert!(names(&m, "b").is_empty());
        rm(&m, 0, "b").unwrap();
        assert_eq!(names(&m, ""), ["top", "x"]);
        assert!(walk(&m, "a").is_empty() && walk(&m, "b").is_empty());
        // A new directory at either name is a new, empty one.
        let e = crate::backend::NewEntry { mode: 0o40755, rdev: 0, target: b"" };
        write::create(&m, &m, &m.roots(), 0, b"b", &e).unwrap();
        write::create(&m, &m, &m.roots(), 0, b"a", &e).unwrap();
        assert!(names(&m, "b").is_empty() && names(&m, "a").is_empty());
    }

    /// Whiteouts and opaque markers below keep their meaning on the
    /// record's path; a directory of another type there is ignored.
    #[test]
    fn whiteouts_and_opaque_directories_on_the_path() {
        let m = MemBackend::new(&[("rw", &[]), ("ro+wh", &["a/f", "a/.wh.g"]), ("ro", &["a/g", "a/k"])]);
        m.dirren.set(true);
        mv(&m, 0, "a", "b").unwrap();
        assert_eq!(names(&m, "b"), ["f", "k"]);
        let m = MemBackend::new(&[("rw", &[]), ("ro+wh", &["a/f", "a/.wh..wh..opq"]), ("ro", &["a/g"])]);
        m.dirren.set(true);
        mv(&m, 0, "a", "b").unwrap();
        assert_eq!(names(&m, "b"), ["f"]);
        // Whited out on a branch in between: the record stops there.
        let m = MemBackend::new(&[("rw", &["b/"]), ("ro+wh", &[".wh.a"]), ("ro", &["a/g"]), ("ro", &["a=file"])]);
        m.dirren.set(true);
        m.branches.borrow_mut()[0].entries.get_mut(b"b".as_slice()).unwrap().xattrs.insert(DIRREN_XATTR.to_vec(), b"a".to_vec());
        assert_eq!(whereis(&m, "b"), [(0, "b".into())]);
        m.branches.borrow_mut()[1].entries.remove(b".wh.a".as_slice());
        assert_eq!(whereis(&m, "b"), [(0, "b".into()), (2, "a".into())], "a file there is ignored");
    }

    /// A failed rename leaves the union as it was: no record, no whiteout.
    #[test]
    fn a_failed_rename_takes_its_record_back() {
        let m = lower_tree();
        write::copy_up(&m, &m, CopyHow { plink: false, metacopy: false, meta_only: false }, &walk(&m, "a"), &CopyTo { t: 0, dir: &Vec::new(), name: b"a", len: None, id: 1 }).unwrap();
        m.fail_on.borrow_mut().push(("rename 0 a b".into(), Errno::EIO));
        assert_eq!(mv(&m, 0, "a", "b"), Err(Errno::EIO));
        assert_eq!(rec(&m, 0, "a"), None);
        assert_eq!(names(&m, ""), ["a", "top", "x"]);
        assert_eq!(names(&m, "a"), ["f", "h", "sub"]);
        // A branch that cannot hold the record: EXDEV, so mv copies.
        m.branches.borrow_mut()[0].no_xattrs = true;
        assert_eq!(mv(&m, 0, "a", "b"), Err(Errno::EXDEV));
        assert_eq!(names(&m, ""), ["a", "top", "x"]);
        // RENAME_EXCHANGE writes no record: EXDEV as without dirren.
        let m = lower_tree();
        assert_eq!(write::rename_check(&m, &m, &walk(&m, "a"), &walk(&m, "x"), 0, RENAME_EXCHANGE), Err(Errno::EXDEV));
    }

    /// Records found on branches are untrusted: a malformed one is
    /// refused (EIO), on the top branch or on one below, and never
    /// followed in part; a well-formed one cannot leave its branch.
    #[test]
    fn bogus_records_are_refused() {
        let set = |m: &MemBackend, br: usize, p: &str, r: &[u8]| {
            m.branches.borrow_mut()[br].entries.get_mut(p.as_bytes()).unwrap().xattrs.insert(DIRREN_XATTR.to_vec(), r.to_vec());
        };
        for bad in [&b"../etc"[..], b"/a", b"", b"a//b", b".wh..wh.plnk", b"a/\0", b"a/./b", &[b'x'; 5000][..]] {
            let bad = if bad == b"a/\\0" { &b"a/\0"[..] } else { bad };
            let m = MemBackend::new(&[("rw", &["b/"]), ("ro", &["a/f", "c/"]), ("ro", &["a/g"])]);
            m.dirren.set(true);
            set(&m, 0, "b", bad);
            assert_eq!(lookup(&m, "b").unwrap_err(), LookupError::BadRecord { br: 0 }, "{bad:?}");
            assert_eq!(LookupError::BadRecord { br: 0 }.errno(), Errno::EIO);
            assert!(names(&m, "").contains(&"b".to_string()), "the name is listed");
            // Not followed without dirren: the directory is its own.
            m.dirren.set(false);
            assert_eq!(whereis(&m, "b"), [(0, "b".into())]);
            // On a lower branch, reached through a good record.
            m.dirren.set(true);
            set(&m, 0, "b", b"c");
            set(&m, 1, "c", bad);
            assert_eq!(lookup(&m, "b").unwrap_err(), LookupError::BadRecord { br: 1 }, "{bad:?}");
        }
        // A record naming a directory that is not there: nothing below.
        let m = MemBackend::new(&[("rw", &["b/"]), ("ro", &["a/f"])]);
        m.dirren.set(true);
        set(&m, 0, "b", b"nope/deeper");
        assert_eq!(whereis(&m, "b"), [(0, "b".into())]);
        // A record that names its own directory's ancestor: only the
        // branches below are asked, once each; no loop.
        let m = MemBackend::new(&[("rw", &["a/b/"]), ("ro", &["a/x", "a/b/y"])]);
        m.dirren.set(true);
        set(&m, 0, "a/b", b"a");
        assert_eq!(names(&m, "a/b"), ["b", "x"]);
        assert_eq!(names(&m, "a/b/b"), ["y"]);
        assert!(lookup(&m, "a/b/b/b").unwrap().is_empty());
    }

    /// `dirren`/`nodirren` at mount and remount, shown in /proc/mounts
    /// when on (the default is aufs's `nodirren`).
    #[test]
    fn the_option() {
        use crate::opts::{parse, show_options};
        assert!(!parse(b"br=/a").unwrap().dirren);
        let o = parse(b"br=/a,dirren").unwrap();
        assert!(o.dirren);
        assert_eq!(show_options(&o), ",dirren");
        assert!(!parse(b"br=/a,dirren,nodirren").unwrap().dirren);
        assert_eq!(show_options(&parse(b"br=/a,nodirren").unwrap()), "");
    }

    #[test]
    fn records_are_checked() {
        for ok in ["a", "a/b", "dir with space/x", &"n".repeat(242)] {
            assert_eq!(check(ok.as_bytes()), Ok(()), "{ok}");
        }
        let long = ["x"; 2100].join("/");
        for bad in ["", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", ".wh.a", "a/.wh..wh.plnk", "a\0b", &"n".repeat(243), &long] {
            assert_eq!(check(bad.as_bytes()), Err(Errno::EINVAL), "{bad:?}");
        }
    }
}
