//! Walking a directory tree: a light scan (paths and types, used to pick
//! operation arguments) and a full snapshot (data, attributes, xattrs) used
//! for the final comparison of the union against the reference.

use crate::sys::{self, Errno};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One entry of a light scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanEntry {
    /// Path relative to the root, components joined by '/'.
    pub path: String,
    pub kind: char,
    pub size: u64,
    pub nlink: u64,
}

/// Directories deeper than this are listed but not descended into by
/// [`scan`] (the deep chain is walked on demand by the generator).
pub const SCAN_DEPTH: usize = 8;

/// Paths (excluding the root itself) below `root`, sorted, with their
/// types, down to [`SCAN_DEPTH`] components.  Unreadable directories are
/// simply not descended into.
pub fn scan(root: &Path) -> Vec<ScanEntry> {
    let mut out = Vec::new();
    if let Ok(fd) = open_dir(root) {
        scan_dir(&fd, "", 1, &mut out);
    }
    out
}

fn scan_dir(dir: &sys::Fd, rel: &str, depth: usize, out: &mut Vec<ScanEntry>) {
    let names = match sys::list_names_fd(dir) {
        Ok(n) => n,
        Err(_) => return,
    };
    for n in names {
        let path = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let st = match sys::lstat_at(dir, &n) {
            Ok(st) => st,
            Err(_) => continue,
        };
        let kind = sys::kind_char(st.st_mode);
        #[allow(clippy::useless_conversion)]
        out.push(ScanEntry {
            path: path.clone(),
            kind,
            size: st.st_size as u64,
            nlink: u64::from(st.st_nlink),
        });
        if kind == 'd' && depth < SCAN_DEPTH {
            if let Ok(fd) = sys::open_at(dir, &n, OPEN_ENTRY | libc::O_DIRECTORY) {
                scan_dir(&fd, &path, depth + 1, out);
            }
        }
    }
}

/// Everything compared about one entry at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    /// Permission bits incl. setuid/setgid/sticky (type bits are in `kind`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size; `None` for directories (their st_size is not comparable).
    pub size: Option<u64>,
    /// Regular files: the data (or the errno reading it).
    pub content: Option<Result<Vec<u8>, Errno>>,
    /// Symlinks: the target.
    pub target: Option<String>,
    /// Sorted user.*/trusted.* xattrs (or the errno listing them).
    pub xattrs: Result<Vec<(String, Vec<u8>)>, Errno>,
}

/// A full snapshot: entries by relative path ("." is the root) plus the
/// directories that could not be listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
    pub unlistable: BTreeMap<String, Errno>,
    /// Non-directories: (st_ino, st_nlink), compared by [`compare_links`].
    pub inodes: BTreeMap<String, (u64, u64)>,
    /// Regular files and directories: inode flags (masked to the compared
    /// ones) where FS_IOC_GETFLAGS answers; compared by [`compare_flags`].
    pub flags: BTreeMap<String, u32>,
}

/// xattrs as compared: EOPNOTSUPP counts as none.
fn xattrs_of(r: Result<Vec<(String, Vec<u8>)>, Errno>) -> Result<Vec<(String, Vec<u8>)>, Errno> {
    match r {
        Err(libc::EOPNOTSUPP) => Ok(Vec::new()),
        other => other,
    }
}

fn entry(
    st: &libc::stat,
    content: Option<Result<Vec<u8>, Errno>>,
    target: Option<String>,
    xattrs: Result<Vec<(String, Vec<u8>)>, Errno>,
) -> Entry {
    let kind = sys::kind_char(st.st_mode);
    Entry {
        kind,
        perm: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: if kind == 'd' {
            None
        } else {
            Some(st.st_size as u64)
        },
        content,
        target,
        xattrs,
    }
}

/// Full snapshot of the tree below `root`.
///
/// The walk goes through directory descriptors (fstatat, openat, ...,
/// and `/proc/self/fd/N/name` where there is no *at call): a path walk from
/// `/` for every entry would cost O(depth) lookups each, through the
/// union's lookups for its side; for a 230-level chain in the emulated test
/// VM that is minutes.
pub fn snapshot(root: &Path) -> Tree {
    let mut t = Tree::default();
    let st = match sys::lstat(root) {
        Ok(st) => st,
        Err(e) => {
            t.unlistable.insert(".".to_string(), e);
            return t;
        }
    };
    match open_dir(root) {
        Ok(fd) => {
            let x = xattrs_of(sys::compared_xattrs_fd(&fd));
            if let Ok(f) = sys::get_flags(&fd) {
                t.flags.insert(".".to_string(), f & sys::FS_COMPARED_FL);
            }
            t.entries.insert(".".to_string(), entry(&st, None, None, x));
            snap_dir(&fd, "", &mut t);
        }
        Err(e) => {
            let x = xattrs_of(sys::compared_xattrs(root));
            t.entries.insert(".".to_string(), entry(&st, None, None, x));
            t.unlistable.insert(".".to_string(), e);
        }
    }
    t
}

/// A short name for the directory open at `fd` (for the calls that have
/// no *at form).
pub fn fd_path(fd: &sys::Fd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.raw()))
}

/// Opens the directory `p` for [`fd_path`] / the *at calls.
pub fn open_dir(p: &Path) -> Result<sys::Fd, Errno> {
    sys::open(p, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK, 0)
}

const OPEN_ENTRY: libc::c_int = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW;

/// The entries below the directory open at `dir` (whose path is `rel`).
fn snap_dir(dir: &sys::Fd, rel: &str, t: &mut Tree) {
    let names = match sys::list_names_fd(dir) {
        Ok(n) => n,
        Err(e) => {
            let key = if rel.is_empty() { "." } else { rel };
            t.unlistable.insert(key.to_string(), e);
            return;
        }
    };
    for n in names {
        let path = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let st = match sys::lstat_at(dir, &n) {
            Ok(st) => st,
            Err(e) => {
                t.unlistable.insert(path, e);
                continue;
            }
        };
        let kind = sys::kind_char(st.st_mode);
        if kind != 'd' {
            #[allow(clippy::useless_conversion)]
            t.inodes
                .insert(path.clone(), (st.st_ino as u64, u64::from(st.st_nlink)));
        }
        let by_path = || xattrs_of(sys::compared_xattrs(&fd_path(dir).join(&n)));
        match kind {
            'f' => {
                let (content, x) = match sys::open_at(dir, &n, OPEN_ENTRY) {
                    Ok(fd) => {
                        if let Ok(f) = sys::get_flags(&fd) {
                            t.flags.insert(path.clone(), f & sys::FS_COMPARED_FL);
                        }
                        (
                            sys::read_to_end(&fd),
                            xattrs_of(sys::compared_xattrs_fd(&fd)),
                        )
                    }
                    Err(e) => (Err(e), by_path()),
                };
                t.entries.insert(path, entry(&st, Some(content), None, x));
            }
            'd' => match sys::open_at(dir, &n, OPEN_ENTRY | libc::O_DIRECTORY) {
                Ok(fd) => {
                    if let Ok(f) = sys::get_flags(&fd) {
                        t.flags.insert(path.clone(), f & sys::FS_COMPARED_FL);
                    }
                    let x = xattrs_of(sys::compared_xattrs_fd(&fd));
                    t.entries.insert(path.clone(), entry(&st, None, None, x));
                    snap_dir(&fd, &path, t);
                }
                Err(e) => {
                    t.entries
                        .insert(path.clone(), entry(&st, None, None, by_path()));
                    t.unlistable.insert(path, e);
                }
            },
            'l' => {
                let target = sys::readlink_at(dir, &n)
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_else(|e| format!("<readlink: {}>", sys::errno_name(e)));
                t.entries
                    .insert(path, entry(&st, None, Some(target), by_path()));
            }
            _ => {
                t.entries.insert(path, entry(&st, None, None, by_path()));
            }
        }
    }
}

/// FNV-1a 64, to summarise data in messages.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Short human-readable summary of some bytes.
pub fn describe_bytes(data: &[u8]) -> String {
    let head: String = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "{} bytes fnv={:016x} head={}{}",
        data.len(),
        fnv(data),
        head,
        if data.len() > 8 { ".." } else { "" }
    )
}

fn describe_xattrs(x: &Result<Vec<(String, Vec<u8>)>, Errno>) -> String {
    match x {
        Err(e) => format!("<{}>", sys::errno_name(*e)),
        Ok(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|(n, val)| format!("{n}={}", describe_bytes(val)))
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// One line describing an entry (for diffs and listings).
pub fn describe(e: &Entry) -> String {
    let mut s = format!("{} {:04o} {}:{}", e.kind, e.perm, e.uid, e.gid);
    if let Some(sz) = e.size {
        let _ = write!(s, " size={sz}");
    }
    match &e.content {
        Some(Ok(d)) => {
            let _ = write!(s, " data=({})", describe_bytes(d));
        }
        Some(Err(er)) => {
            let _ = write!(s, " data=<{}>", sys::errno_name(*er));
        }
        None => {}
    }
    if let Some(t) = &e.target {
        let _ = write!(s, " -> {t:?}");
    }
    if !matches!(&e.xattrs, Ok(v) if v.is_empty()) {
        let _ = write!(s, " xattrs={}", describe_xattrs(&e.xattrs));
    }
    s
}

/// Differences between two snapshots, as readable lines (empty: identical).
pub fn compare(union: &Tree, reference: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = union
        .entries
        .keys()
        .chain(reference.entries.keys())
        .collect();
    for k in keys {
        match (union.entries.get(k), reference.entries.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                out.push(format!("{k}: differs"));
                out.push(format!("    union:     {}", describe(a)));
                out.push(format!("    reference: {}", describe(b)));
            }
            (Some(a), None) => out.push(format!("{k}: only in union: {}", describe(a))),
            (None, Some(b)) => out.push(format!("{k}: only in reference: {}", describe(b))),
            (None, None) => {}
        }
    }
    if union.unlistable != reference.unlistable {
        out.push(format!(
            "unreadable entries differ: union {:?} reference {:?}",
            union.unlistable, reference.unlistable
        ));
    }
    out
}

/// Differences in link counts and inode identity between two snapshots,
/// leaving out the names whose inode on the reference side is in `skip`
/// (tainted lower hard links, see model.rs): for every other name that is
/// a non-directory on both sides, st_nlink must be equal, and two such
/// names must share an st_ino in the union exactly when they do in the
/// reference.
pub fn compare_links(union: &Tree, reference: &Tree, skip: &HashSet<u64>) -> Vec<String> {
    let mut out = Vec::new();
    // The names considered, with (union ino, nlink) and (reference ino, nlink).
    type InoNlink = (u64, u64);
    let mut both: Vec<(&String, InoNlink, InoNlink)> = Vec::new();
    for (k, r) in &reference.inodes {
        if skip.contains(&r.0) {
            continue;
        }
        if let Some(u) = union.inodes.get(k) {
            both.push((k, *u, *r));
        }
    }
    for (k, u, r) in &both {
        if u.1 != r.1 {
            out.push(format!(
                "{k}: st_nlink differs: union {} reference {}",
                u.1, r.1
            ));
        }
    }
    let mut by_u: BTreeMap<u64, BTreeSet<&String>> = BTreeMap::new();
    let mut by_r: BTreeMap<u64, BTreeSet<&String>> = BTreeMap::new();
    for (k, u, r) in &both {
        by_u.entry(u.0).or_default().insert(k);
        by_r.entry(r.0).or_default().insert(k);
    }
    let mut reported = BTreeSet::new();
    for (k, u, r) in &both {
        let (gu, gr) = (&by_u[&u.0], &by_r[&r.0]);
        if gu != gr && reported.insert(gr.clone()) {
            out.push(format!(
                "{k}: names of the same file differ: union {:?} reference {:?}",
                gu, gr
            ));
        }
    }
    out
}

/// Differences in inode flags, for the names where both sides could report
/// them (the union may not support the flag ioctls: a known difference).
pub fn compare_flags(union: &Tree, reference: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (k, r) in &reference.flags {
        if let Some(u) = union.flags.get(k) {
            if u != r {
                out.push(format!(
                    "{k}: inode flags differ: union {} reference {}",
                    crate::ops::show_flags(*u),
                    crate::ops::show_flags(*r)
                ));
            }
        }
    }
    out
}

/// Canonical text listing of a snapshot: one line per entry, `path: kind
/// perm [size] [data] [-> target]`, omitting owners, for fixtures in tests.
pub fn listing(t: &Tree) -> String {
    let mut s = String::new();
    for (k, e) in &t.entries {
        let _ = write!(s, "{k}: {} {:04o}", e.kind, e.perm);
        if let Some(Ok(d)) = &e.content {
            let _ = write!(s, " {:?}", String::from_utf8_lossy(d));
        }
        if let Some(t) = &e.target {
            let _ = write!(s, " -> {t}");
        }
        if let Ok(x) = &e.xattrs {
            for (n, v) in x {
                let _ = write!(s, " {n}={:?}", String::from_utf8_lossy(v));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(inodes: &[(&str, u64, u64)]) -> Tree {
        let mut t = Tree::default();
        for (p, ino, nlink) in inodes {
            t.inodes.insert(p.to_string(), (*ino, *nlink));
        }
        t
    }

    #[test]
    fn link_structure_is_compared_outside_tainted_inodes() {
        // Same structure, other inode numbers: equal.
        let r = tree(&[("a", 10, 2), ("b", 10, 2), ("c", 11, 1)]);
        let u = tree(&[("a", 500, 2), ("b", 500, 2), ("c", 7, 1)]);
        assert!(compare_links(&u, &r, &HashSet::new()).is_empty());
        // Two names of one file in the reference, two files in the union.
        let u2 = tree(&[("a", 500, 2), ("b", 501, 2), ("c", 7, 1)]);
        let d = compare_links(&u2, &r, &HashSet::new());
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("names of the same file differ"), "{d:?}");
        // Two files in the reference sharing an inode number in the union.
        let u3 = tree(&[("a", 500, 2), ("b", 500, 2), ("c", 500, 1)]);
        assert!(!compare_links(&u3, &r, &HashSet::new()).is_empty());
        // Link counts.
        let u4 = tree(&[("a", 500, 3), ("b", 500, 3), ("c", 7, 1)]);
        let d = compare_links(&u4, &r, &HashSet::new());
        assert_eq!(d.len(), 2, "{d:?}");
        // Tainted inodes (reference numbers) are left out entirely.
        let skip: HashSet<u64> = [10].into_iter().collect();
        assert!(compare_links(&u2, &r, &skip).is_empty());
        assert!(compare_links(&u4, &r, &skip).is_empty());
        // A name sharing its union inode number with a tainted one is not
        // reported (a copied-up name keeps the lower file's number).
        assert!(compare_links(&u3, &r, &skip).is_empty());
    }

    #[test]
    fn flags_are_compared_where_both_sides_have_them() {
        let mut r = Tree::default();
        r.flags.insert("a".into(), sys::FS_APPEND_FL);
        r.flags.insert("b".into(), 0);
        let mut u = Tree::default();
        assert!(compare_flags(&u, &r).is_empty()); // union: no flag ioctls
        u.flags.insert("a".into(), 0);
        assert_eq!(compare_flags(&u, &r).len(), 1);
        u.flags.insert("a".into(), sys::FS_APPEND_FL);
        u.flags.insert("b".into(), 0);
        assert!(compare_flags(&u, &r).is_empty());
    }
}
