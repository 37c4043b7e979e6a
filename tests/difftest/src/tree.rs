//! Walking a directory tree: a light scan (paths and types, used to pick
//! operation arguments) and a full snapshot (data, attributes, xattrs) used
//! for the final comparison of the union against the reference.

use crate::sys::{self, Errno};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One entry of a light scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanEntry {
    /// Path relative to the root, components joined by '/'.
    pub path: String,
    pub kind: char,
    pub size: u64,
}

/// Paths (excluding the root itself) below `root`, sorted, with their types.
/// Unreadable directories are simply not descended into.
pub fn scan(root: &Path) -> Vec<ScanEntry> {
    let mut out = Vec::new();
    scan_rec(root, "", &mut out);
    out
}

fn scan_rec(root: &Path, rel: &str, out: &mut Vec<ScanEntry>) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let names = match sys::list_names(&dir) {
        Ok(n) => n,
        Err(_) => return,
    };
    for n in names {
        let path = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let st = match sys::lstat(&root.join(&path)) {
            Ok(st) => st,
            Err(_) => continue,
        };
        let kind = sys::kind_char(st.st_mode);
        out.push(ScanEntry {
            path: path.clone(),
            kind,
            size: st.st_size as u64,
        });
        if kind == 'd' {
            scan_rec(root, &path, out);
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
}

fn entry_of(p: &Path) -> Result<Entry, Errno> {
    let st = sys::lstat(p)?;
    let kind = sys::kind_char(st.st_mode);
    let content = if kind == 'f' {
        Some(sys::open(p, libc::O_RDONLY, 0).and_then(|fd| sys::read_to_end(&fd)))
    } else {
        None
    };
    let target = if kind == 'l' {
        Some(
            sys::readlink(p)
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_else(|e| format!("<readlink: {}>", sys::errno_name(e))),
        )
    } else {
        None
    };
    let xattrs = match sys::compared_xattrs(p) {
        Err(libc::EOPNOTSUPP) => Ok(Vec::new()),
        other => other,
    };
    Ok(Entry {
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
    })
}

/// Full snapshot of the tree below `root`.
pub fn snapshot(root: &Path) -> Tree {
    let mut t = Tree::default();
    match entry_of(root) {
        Ok(e) => {
            t.entries.insert(".".to_string(), e);
        }
        Err(e) => {
            t.unlistable.insert(".".to_string(), e);
            return t;
        }
    }
    snap_rec(root, "", &mut t);
    t
}

fn snap_rec(root: &Path, rel: &str, t: &mut Tree) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let names = match sys::list_names(&dir) {
        Ok(n) => n,
        Err(e) => {
            t.unlistable.insert(
                if rel.is_empty() {
                    ".".into()
                } else {
                    rel.into()
                },
                e,
            );
            return;
        }
    };
    for n in names {
        let path = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        match entry_of(&root.join(&path)) {
            Ok(e) => {
                let is_dir = e.kind == 'd';
                t.entries.insert(path.clone(), e);
                if is_dir {
                    snap_rec(root, &path, t);
                }
            }
            Err(e) => {
                t.unlistable.insert(path, e);
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
