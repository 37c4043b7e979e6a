//! Pseudo-links (aufs's `plink`, on by default).
//!
//! A regular file with several names on a read-only branch is one file.
//! Copy-up copies one *name*; without pseudo-links that name becomes
//! another file and the hard link is broken (`noplink`).  With them, the
//! first copy-up of any name also links the copy into the writable
//! branch's `.wh..wh.plnk` directory under a name made of the lower
//! inode's identity, and from then on:
//! - every name of the lower file shows the copy (its data, attributes and
//!   union inode: one `st_ino`, one link count), also after the caches are
//!   dropped and after a remount (the pseudo-link is on the branch);
//! - a copy-up of another name *links* the pseudo-link to that name on the
//!   writable branch instead of copying the data again.
//!
//! The identity is the lower inode's device, number and generation, so a
//! lower file deleted and replaced by another with a reused number (the
//! generation differs on tmpfs, ext4 and xfs) never picks up a stale
//! pseudo-link.  Pseudo-links stay on the branch when names go (as in
//! aufs, whose `auplink` tool flushes them); they are in the `.wh..wh.`
//! namespace, never shown through the union and never made by users.

use crate::backend::{Cred, FileType, Lower, NewEntry, Stat, WriteBackend};
use crate::name::{push_hex, WH_META_PREFIX};
use crate::union::Branches;
use crate::{Errno, Result};
use alloc::vec::Vec;

/// The directory of pseudo-links in a writable branch's root.
pub const PLINK_DIR: &[u8] = b".wh..wh.plnk";

/// Does `st`, the topmost entry of a union object on branch `br`, stand
/// for a file whose names must stay one file (`plink` on)?  A regular file
/// with more than one link on a branch that is not written in place.
pub fn applies(brs: &dyn Branches, plink: bool, br: u32, st: &Stat) -> bool {
    plink && st.file_type() == FileType::Reg && st.nlink > 1 && !brs.writable(br)
}

/// Name of the pseudo-link of the lower inode `st`: `<dev>.<ino>.<gen>`,
/// in hex.
pub fn name(st: &Stat) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(3 * 16 + 2)?;
    push_hex(&mut v, u64::from(st.dev));
    v.push(b'.');
    push_hex(&mut v, st.ino);
    v.push(b'.');
    push_hex(&mut v, u64::from(st.gen));
    debug_assert!(!v.starts_with(WH_META_PREFIX));
    Ok(v)
}

/// The pseudo-link of lower inode `st` on writable branch `t`, if there is
/// one (a regular file).
pub fn find_on<B: WriteBackend>(b: &B, t: u32, st: &Stat) -> Result<Option<B::Node>> {
    let root = b.root(t)?;
    let dir = b.lookup(t, &root, PLINK_DIR)?;
    match b.stat(t, &dir)? {
        Some(d) if d.is_dir() => {}
        _ => return Ok(None),
    }
    let n = b.lookup(t, &dir, &name(st)?)?;
    match b.stat(t, &n)? {
        Some(s) if s.file_type() == FileType::Reg => Ok(Some(n)),
        _ => Ok(None),
    }
}

/// The pseudo-link of the union object `obj`, if it is a plinked file
/// (see [`applies`]) and one exists on a writable branch above its
/// topmost entry: the branch and the node.
pub fn find<B: WriteBackend>(b: &B, brs: &dyn Branches, plink: bool, obj: &[Lower<B::Node>]) -> Result<Option<(u32, B::Node)>> {
    let Some(top) = obj.first() else {
        return Ok(None);
    };
    let Some(st) = b.stat(top.br, &top.node)? else {
        return Ok(None);
    };
    if !applies(brs, plink, top.br, &st) {
        return Ok(None);
    }
    find_above(b, brs, top.br, &st)
}

/// The pseudo-link of lower inode `st` (found on branch `br`) on a
/// writable branch above `br`, searched top-down.
pub fn find_above<B: WriteBackend>(b: &B, brs: &dyn Branches, br: u32, st: &Stat) -> Result<Option<(u32, B::Node)>> {
    for t in (0..br).filter(|t| brs.writable(*t)) {
        if let Some(n) = find_on(b, t, st)? {
            return Ok(Some((t, n)));
        }
    }
    Ok(None)
}

/// Record `copy` (on `t`, just copied up from the lower inode `st`) as its
/// pseudo-link, making the directory (0700, the union's own) if needed.
/// A pseudo-link that is already there stays (ours, or a leftover of the
/// same lower inode: either is this file's).
pub fn record<B: WriteBackend>(b: &B, t: u32, st: &Stat, copy: &B::Node) -> Result<()> {
    let root = b.root(t)?;
    let mut dir = b.lookup(t, &root, PLINK_DIR)?;
    match b.stat(t, &dir)? {
        Some(d) if d.is_dir() => {}
        Some(_) => return Err(Errno::EEXIST),
        None => {
            let e = NewEntry { mode: 0o40000 | 0o700, rdev: 0, target: &[] };
            dir = match b.create(t, &root, PLINK_DIR, &e, Cred::Internal) {
                Ok(d) => d,
                Err(Errno::EEXIST) => b.lookup(t, &root, PLINK_DIR)?, // made meanwhile
                Err(e) => return Err(e),
            };
        }
    }
    match b.link(t, copy, &dir, &name(st)?, Cred::Internal) {
        Ok(_) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::mem::MemBackend;
    use crate::union::lookup;

    fn st(ino: u64, nlink: u32) -> Stat {
        Stat { mode: 0o100644, nlink, ino, size: 0, rdev: 0, dev: 0x803, gen: 0xdead, protected: false }
    }

    #[test]
    fn names_identify_the_lower_inode() {
        assert_eq!(name(&st(0x1234, 2)).unwrap(), b"803.1234.dead".to_vec());
        let mut other = st(0x1234, 2);
        other.gen = 1;
        assert_ne!(name(&other).unwrap(), name(&st(0x1234, 2)).unwrap(), "a reused number is another file");
    }

    #[test]
    fn only_lower_hard_links_with_plink_on() {
        let m = MemBackend::new(&[("rw", &[]), ("ro", &[])]);
        assert!(applies(&m, true, 1, &st(5, 2)));
        assert!(!applies(&m, false, 1, &st(5, 2)), "noplink");
        assert!(!applies(&m, true, 1, &st(5, 1)), "one name");
        assert!(!applies(&m, true, 0, &st(5, 2)), "changed in place");
        let mut d = st(5, 3);
        d.mode = 0o40755;
        assert!(!applies(&m, true, 1, &d), "a directory");
    }

    #[test]
    fn record_then_find() {
        let m = MemBackend::new(&[("rw", &["d/"]), ("ro", &["d/", "d/a=x", "d/b=x"])]);
        let root = m.roots();
        // mem's stat counts one link per entry: make the lower look linked.
        let a = lookup(&m, &m, &root, b"d", None).unwrap();
        let fa = lookup(&m, &m, &a.lowers, b"a", None).unwrap().lowers;
        let s = m.stat(1, &fa[0].node).unwrap().unwrap();
        let linked = Stat { nlink: 2, ..s };
        assert!(find_on(&m, 0, &linked).unwrap().is_none());
        let copy = b"d/a".to_vec();
        m.create(0, &b"d".to_vec(), b"a", &NewEntry { mode: 0o100644, rdev: 0, target: &[] }, Cred::Internal).unwrap();
        record(&m, 0, &linked, &copy).unwrap();
        let p = m.get(0, ".wh..wh.plnk").unwrap();
        assert_eq!(p.mode & 0o777, 0o700);
        let key = String::from_utf8(name(&linked).unwrap()).unwrap();
        assert!(m.get(0, &format!(".wh..wh.plnk/{key}")).is_some());
        assert_eq!(find_on(&m, 0, &linked).unwrap(), Some(format!(".wh..wh.plnk/{key}").into_bytes()));
        // Recording again (a second copy-up racing, a leftover) is fine.
        record(&m, 0, &linked, &copy).unwrap();
    }
}
