//! An in-memory branch backend for the host tests: each branch is a map from
//! path to entry, so fixtures read like the trees they describe.
#![cfg(test)]

use crate::backend::{
    xattr_is_private, At, Backend, Cred, DirSink, FileType, Lower, NewEntry, Stat, Times, WriteBackend, METACOPY_XATTR, RENAME_EXCHANGE,
    RENAME_NOREPLACE,
};

/// chattr flags (linux/fs.h).
pub const FS_IMMUTABLE_FL: u32 = 0x10;
pub const FS_APPEND_FL: u32 = 0x20;
use std::cell::Cell;
use crate::dirren::DIRREN_XATTR;
use crate::union::Branches;
use crate::{Errno, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct MemEntry {
    pub mode: u32,
    pub ino: u64,
    pub data: Vec<u8>,
    pub rdev: u32,
    pub times: Times,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// chattr flags (FS_*_FL).
    pub flags: u32,
}

/// One branch: `path` (no leading slash, "" is the root) -> entry.
#[derive(Default, Debug)]
pub struct MemBranch {
    pub entries: BTreeMap<Vec<u8>, MemEntry>,
    pub whable: bool,
    pub writable: bool,
    pub nolwh: bool,
    /// The branch holds no xattrs (EOPNOTSUPP).
    pub no_xattrs: bool,
    /// Names compare without regard to ASCII case (as a casefolded ext4
    /// directory): a lookup finds an entry however the name is spelt.
    pub casefold: bool,
    /// What free_space() reports (the create policies).
    pub free: u64,
    /// free_space() fails with this errno.
    pub statfs_err: Option<Errno>,
}

#[derive(Default, Debug)]
pub struct MemBackend {
    pub branches: RefCell<Vec<MemBranch>>,
    next_ino: RefCell<u64>,
    /// Fault injection: copy_data fails with this errno.
    pub fail_copy: Cell<Option<Errno>>,
    /// Every write primitive called, in order, with its credentials.
    pub log: RefCell<Vec<String>>,
    /// Fault injection: a write primitive whose log line starts with one of
    /// these prefixes fails with the errno (once: the entry is consumed).
    pub fail_on: RefCell<Vec<(String, Errno)>>,
    /// Fault injection: the branch cannot hold chattr flags.
    pub no_flags: Cell<bool>,
    /// A mount without the `metacopy` option: markers are refused.
    pub no_metacopy: Cell<bool>,
    /// The `shwh` option: whiteouts are shown.
    pub shwh: Cell<bool>,
    /// `diropq=a`: new and renamed directories are always opaque.
    pub diropq_always: Cell<bool>,
    /// A mount with `dirren`: rename records are written and followed.
    pub dirren: Cell<bool>,
}

/// A node is the full path of an entry in its branch.
pub type MemNode = Vec<u8>;

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

impl MemBackend {
    /// Branches from specs: ("rw" | "ro" | "ro+wh", entries).  An entry is a
    /// path; a trailing `/` makes a directory, `->target` a symlink, and
    /// `=content` a file with that content.
    pub fn new(specs: &[(&str, &[&str])]) -> MemBackend {
        let m = MemBackend::default();
        for (perm, entries) in specs {
            let mut br = MemBranch {
                whable: perm.starts_with("rw") || perm.ends_with("+wh"),
                writable: perm.starts_with("rw"),
                nolwh: perm.ends_with("+nolwh"),
                ..Default::default()
            };
            br.entries.insert(Vec::new(), m.entry(0o40755, b""));
            for e in entries.iter() {
                let (path, mode, data) = if let Some(p) = e.strip_suffix('/') {
                    (p, 0o40755, "")
                } else if let Some((p, t)) = e.split_once("->") {
                    (p, 0o120777, t)
                } else if let Some((p, c)) = e.split_once('=') {
                    (p, 0o100644, c)
                } else {
                    (*e, 0o100644, "")
                };
                // Create missing parents as directories.
                let parts: Vec<&str> = path.split('/').collect();
                for i in 1..parts.len() {
                    let parent = parts[..i].join("/").into_bytes();
                    br.entries.entry(parent).or_insert_with(|| m.entry(0o40755, b""));
                }
                br.entries.insert(path.as_bytes().to_vec(), m.entry(mode, data.as_bytes()));
            }
            m.branches.borrow_mut().push(br);
        }
        m
    }

    fn entry(&self, mode: u32, data: &[u8]) -> MemEntry {
        let mut n = self.next_ino.borrow_mut();
        *n += 1;
        MemEntry { mode, ino: 1000 + *n, data: data.to_vec(), rdev: 0, times: Times::default(), xattrs: BTreeMap::new(), flags: 0 }
    }

    /// Entry at `path` on branch `br`, if any.
    pub fn get(&self, br: usize, path: &str) -> Option<MemEntry> {
        self.branches.borrow()[br].entries.get(path.as_bytes()).cloned()
    }

    /// Every path on branch `br`, sorted.
    pub fn paths(&self, br: usize) -> Vec<String> {
        self.branches.borrow()[br]
            .entries
            .keys()
            .filter(|k| !k.is_empty())
            .map(|k| String::from_utf8(k.clone()).unwrap())
            .collect()
    }

    fn with_branch<R>(&self, br: u32, f: impl FnOnce(&mut MemBranch) -> Result<R>) -> Result<R> {
        let mut brs = self.branches.borrow_mut();
        let b = brs.get_mut(br as usize).ok_or(Errno::EINVAL)?;
        f(b)
    }

    fn note(&self, what: String) -> Result<()> {
        let hit = {
            let mut f = self.fail_on.borrow_mut();
            let i = f.iter().position(|(p, _)| what.starts_with(p.as_str()));
            i.map(|i| f.remove(i).1)
        };
        self.log.borrow_mut().push(what);
        match hit {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The root directory of every branch, as the root lookup gives it.
    pub fn roots(&self) -> Vec<Lower<MemNode>> {
        (0..self.branches.borrow().len()).map(|i| Lower::new(i as u32, Vec::new())).collect()
    }
}

fn is_dir(e: &MemEntry) -> bool {
    FileType::from_mode(e.mode) == FileType::Dir
}

fn has_children(b: &MemBranch, path: &[u8]) -> bool {
    let prefix = if path.is_empty() { Vec::new() } else { [path, b"/"].concat() };
    b.entries.keys().any(|k| !k.is_empty() && k.starts_with(&prefix) && k.as_slice() != path)
}

fn parent_ok(b: &MemBranch, dir: &[u8]) -> Result<()> {
    match b.entries.get(dir) {
        Some(e) if is_dir(e) => Ok(()),
        Some(_) => Err(Errno::ENOTDIR),
        None => Err(Errno::ENOENT),
    }
}

impl WriteBackend for MemBackend {
    fn root(&self, _br: u32) -> Result<MemNode> {
        Ok(Vec::new())
    }

    fn create(&self, br: u32, dir: &MemNode, name: &[u8], e: &NewEntry<'_>, cred: Cred) -> Result<MemNode> {
        let entry = self.entry(e.mode, if e.mode & 0o170000 == 0o120000 { e.target } else { b"" });
        self.note(format!("create {br} {} {cred:?}", String::from_utf8_lossy(&join(dir, name))))?;
        self.with_branch(br, |b| {
            parent_ok(b, dir)?;
            let p = join(dir, name);
            if b.entries.contains_key(&p) {
                return Err(Errno::EEXIST);
            }
            b.entries.insert(p.clone(), MemEntry { rdev: e.rdev, ..entry });
            Ok(p)
        })
    }

    fn link(&self, br: u32, src: &MemNode, dir: &MemNode, name: &[u8], cred: Cred) -> Result<MemNode> {
        self.note(format!("link {br} {} {cred:?}", String::from_utf8_lossy(&join(dir, name))))?;
        self.with_branch(br, |b| {
            parent_ok(b, dir)?;
            let e = b.entries.get(src).cloned().ok_or(Errno::ENOENT)?;
            if is_dir(&e) {
                return Err(Errno::EPERM);
            }
            let p = join(dir, name);
            if b.entries.contains_key(&p) {
                return Err(Errno::EEXIST);
            }
            b.entries.insert(p.clone(), e);
            Ok(p)
        })
    }

    fn remove(&self, br: u32, dir: &MemNode, name: &[u8], want_dir: bool, cred: Cred) -> Result<()> {
        self.note(format!("remove {br} {} {cred:?}", String::from_utf8_lossy(&join(dir, name))))?;
        self.with_branch(br, |b| {
            let p = join(dir, name);
            let e = b.entries.get(&p).ok_or(Errno::ENOENT)?;
            match (want_dir, is_dir(e)) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if has_children(b, &p) => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            b.entries.remove(&p);
            Ok(())
        })
    }

    fn rename(&self, br: u32, from: At<'_, MemNode>, to: At<'_, MemNode>, flags: u32, cred: Cred) -> Result<()> {
        let ndir = to.dir;
        let (op, np) = (join(from.dir, from.name), join(to.dir, to.name));
        self.note(format!("rename {br} {} {} {cred:?}", String::from_utf8_lossy(&op), String::from_utf8_lossy(&np)))?;
        self.with_branch(br, |b| {
            parent_ok(b, ndir)?;
            let src = b.entries.get(&op).cloned().ok_or(Errno::ENOENT)?;
            let dst = b.entries.get(&np).cloned();
            let move_tree = |b: &mut MemBranch, from: &[u8], to: &[u8]| {
                let fp = [from, b"/"].concat();
                let moved: Vec<(Vec<u8>, MemEntry)> = b
                    .entries
                    .iter()
                    .filter(|(k, _)| k.as_slice() == from || k.starts_with(&fp))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, _) in &moved {
                    b.entries.remove(k);
                }
                for (k, v) in moved {
                    let nk = [to, &k[from.len()..]].concat();
                    b.entries.insert(nk, v);
                }
            };
            if flags & RENAME_EXCHANGE != 0 {
                dst.ok_or(Errno::ENOENT)?;
                move_tree(b, &op, b"\0tmp");
                move_tree(b, &np, &op);
                move_tree(b, b"\0tmp", &np);
                return Ok(());
            }
            if let Some(d) = dst {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                match (is_dir(&src), is_dir(&d)) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if has_children(b, &np) => return Err(Errno::ENOTEMPTY),
                    _ => {}
                }
                b.entries.remove(&np);
            }
            move_tree(b, &op, &np);
            Ok(())
        })
    }

    fn copy_data(&self, sbr: u32, src: &MemNode, dbr: u32, dst: &MemNode, len: i64) -> Result<()> {
        if let Some(e) = self.fail_copy.get() {
            return Err(e);
        }
        let data = self.with_branch(sbr, |b| Ok(b.entries.get(src).ok_or(Errno::ENOENT)?.data.clone()))?;
        self.with_branch(dbr, |b| {
            let e = b.entries.get_mut(dst).ok_or(Errno::ENOENT)?;
            e.data = data[..(len as usize).min(data.len())].to_vec();
            Ok(())
        })
    }

    fn copy_meta(&self, sbr: u32, src: &MemNode, dbr: u32, dst: &MemNode) -> Result<()> {
        let s = self.with_branch(sbr, |b| b.entries.get(src).cloned().ok_or(Errno::ENOENT))?;
        self.with_branch(dbr, |b| {
            let e = b.entries.get_mut(dst).ok_or(Errno::ENOENT)?;
            e.mode = (e.mode & 0o170000) | (s.mode & 0o7777);
            e.times = s.times;
            // The union's own xattrs stay as they are (as the shim's copy).
            e.xattrs.retain(|k, _| xattr_is_private(k));
            e.xattrs.extend(s.xattrs.iter().filter(|(k, _)| !xattr_is_private(k)).map(|(k, v)| (k.clone(), v.clone())));
            Ok(())
        })
    }

    fn copy_flags(&self, sbr: u32, src: &MemNode, dbr: u32, dst: &MemNode) -> Result<()> {
        let f = self.with_branch(sbr, |b| Ok(b.entries.get(src).ok_or(Errno::ENOENT)?.flags))?;
        if f == 0 {
            return Ok(());
        }
        if self.no_flags.get() {
            return Err(Errno::EPERM);
        }
        self.with_branch(dbr, |b| {
            b.entries.get_mut(dst).ok_or(Errno::ENOENT)?.flags = f;
            Ok(())
        })
    }

    fn set_size(&self, br: u32, node: &MemNode, size: i64) -> Result<()> {
        self.note(format!("set_size {br} {} {size}", String::from_utf8_lossy(node)))?;
        self.with_branch(br, |b| {
            let e = b.entries.get_mut(node).ok_or(Errno::ENOENT)?;
            e.data.resize(usize::try_from(size).map_err(|_| Errno::EINVAL)?, 0);
            Ok(())
        })
    }

    fn mark_metacopy(&self, br: u32, node: &MemNode) -> Result<()> {
        self.note(format!("mark_metacopy {br} {}", String::from_utf8_lossy(node)))?;
        self.with_branch(br, |b| {
            if b.no_xattrs {
                return Err(Errno::EOPNOTSUPP);
            }
            let e = b.entries.get_mut(node).ok_or(Errno::ENOENT)?;
            e.xattrs.insert(METACOPY_XATTR.to_vec(), Vec::new());
            Ok(())
        })
    }

    fn readlink(&self, br: u32, node: &MemNode) -> Result<Vec<u8>> {
        self.with_branch(br, |b| Ok(b.entries.get(node).ok_or(Errno::ENOENT)?.data.clone()))
    }

    fn times(&self, br: u32, node: &MemNode) -> Result<Times> {
        self.with_branch(br, |b| Ok(b.entries.get(node).ok_or(Errno::ENOENT)?.times))
    }

    fn set_dirren_record(&self, br: u32, node: &MemNode, rec: Option<&[u8]>) -> Result<()> {
        self.note(format!("dirren {br} {} {:?}", String::from_utf8_lossy(node), rec.map(String::from_utf8_lossy)))?;
        self.with_branch(br, |b| {
            if b.no_xattrs {
                return Err(Errno::EOPNOTSUPP);
            }
            let e = b.entries.get_mut(node).ok_or(Errno::ENOENT)?;
            match rec {
                Some(r) => e.xattrs.insert(DIRREN_XATTR.to_vec(), r.to_vec()),
                None => e.xattrs.remove(DIRREN_XATTR),
            };
            Ok(())
        })
    }

    fn path_of(&self, _br: u32, node: &MemNode) -> Result<Vec<u8>> {
        Ok(node.clone())
    }

    fn set_times(&self, br: u32, node: &MemNode, t: &Times) -> Result<()> {
        self.with_branch(br, |b| {
            b.entries.get_mut(node).ok_or(Errno::ENOENT)?.times = *t;
            Ok(())
        })
    }
}

impl Branches for MemBackend {
    fn may_whiteout(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_some_and(|b| b.whable)
    }
    fn writable(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_some_and(|b| b.writable)
    }
    fn nolwh(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_some_and(|b| b.nolwh)
    }
    fn follow_metacopy(&self) -> bool {
        !self.no_metacopy.get()
    }
    fn shwh(&self) -> bool {
        self.shwh.get()
    }
    fn diropq_always(&self) -> bool {
        self.diropq_always.get()
    }
    fn exact_names(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_none_or(|b| !b.casefold)
    }
    fn follow_dirren(&self) -> bool {
        self.dirren.get()
    }
    fn count(&self) -> u32 {
        self.branches.borrow().len() as u32
    }
}

impl Backend for MemBackend {
    type Node = MemNode;

    fn lookup(&self, br: u32, dir: &MemNode, name: &[u8]) -> Result<MemNode> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        match b.entries.get(dir) {
            Some(e) if FileType::from_mode(e.mode) == FileType::Dir => {
                let n = join(dir, name);
                if b.casefold && !b.entries.contains_key(&n) {
                    let spelt = |k: &&Vec<u8>| {
                        k.len() == n.len() && k.starts_with(&n[..n.len() - name.len()]) &&
                            k[n.len() - name.len()..].eq_ignore_ascii_case(name)
                    };
                    if let Some(k) = b.entries.keys().find(spelt) {
                        return Ok(k.clone());
                    }
                }
                Ok(n)
            }
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn stat(&self, br: u32, node: &MemNode) -> Result<Option<Stat>> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        // A hard link is an entry with the same number (link() clones it).
        let links = |e: &MemEntry| {
            if is_dir(e) {
                1
            } else {
                b.entries.values().filter(|o| o.ino == e.ino).count() as u32
            }
        };
        Ok(b.entries.get(node).map(|e| Stat {
            mode: e.mode,
            nlink: links(e),
            ino: e.ino,
            size: e.data.len() as i64,
            rdev: e.rdev,
            dev: br,
            gen: 0,
            protected: e.flags & (FS_APPEND_FL | FS_IMMUTABLE_FL) != 0,
        }))
    }

    fn branch_root(&self, _br: u32) -> Result<MemNode> {
        Ok(Vec::new())
    }

    fn dirren_record(&self, br: u32, node: &MemNode) -> Result<Option<Vec<u8>>> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        Ok(b.entries.get(node).and_then(|e| e.xattrs.get(DIRREN_XATTR).cloned()))
    }

    fn is_metacopy(&self, br: u32, node: &MemNode) -> Result<bool> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        Ok(b.entries.get(node).is_some_and(|e| e.xattrs.contains_key(METACOPY_XATTR)))
    }

    fn free_space(&self, br: u32) -> Result<u64> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        match b.statfs_err {
            Some(e) => Err(e),
            None => Ok(b.free),
        }
    }

    fn read_dir(&self, br: u32, dir: &MemNode, sink: &mut dyn DirSink) -> Result<()> {
        let children: Vec<(Vec<u8>, FileType, u64)> = {
            let brs = self.branches.borrow();
            let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
            let prefix = if dir.is_empty() { Vec::new() } else { [dir.as_slice(), b"/"].concat() };
            b.entries
                .iter()
                .filter_map(|(p, e)| {
                    let rest = p.strip_prefix(prefix.as_slice())?;
                    if rest.is_empty() || rest.contains(&b'/') || p.is_empty() {
                        return None;
                    }
                    Some((rest.to_vec(), FileType::from_mode(e.mode), e.ino))
                })
                .collect()
        };
        sink.add(b".", FileType::Dir, 1)?;
        sink.add(b"..", FileType::Dir, 1)?;
        for (n, t, i) in children {
            sink.add(&n, t, i)?;
        }
        Ok(())
    }
}
