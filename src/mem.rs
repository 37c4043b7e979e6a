//! An in-memory branch backend for the host tests: each branch is a map from
//! path to entry, so fixtures read like the trees they describe.
#![cfg(test)]

use crate::backend::{Backend, DirSink, FileType, Lower, Stat};
use crate::union::Branches;
use crate::{Errno, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct MemEntry {
    pub mode: u32,
    pub ino: u64,
    pub data: Vec<u8>,
}

/// One branch: `path` (no leading slash, "" is the root) -> entry.
#[derive(Default, Debug)]
pub struct MemBranch {
    pub entries: BTreeMap<Vec<u8>, MemEntry>,
    pub whable: bool,
    pub writable: bool,
}

#[derive(Default, Debug)]
pub struct MemBackend {
    pub branches: RefCell<Vec<MemBranch>>,
    next_ino: RefCell<u64>,
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
                whable: *perm == "rw" || perm.ends_with("+wh"),
                writable: perm.starts_with("rw"),
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
        MemEntry { mode, ino: 1000 + *n, data: data.to_vec() }
    }

    /// The root directory of every branch, as the root lookup gives it.
    pub fn roots(&self) -> Vec<Lower<MemNode>> {
        (0..self.branches.borrow().len()).map(|i| Lower::new(i as u32, Vec::new())).collect()
    }
}

impl Branches for MemBackend {
    fn may_whiteout(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_some_and(|b| b.whable)
    }
    fn writable(&self, br: u32) -> bool {
        self.branches.borrow().get(br as usize).is_some_and(|b| b.writable)
    }
}

impl Backend for MemBackend {
    type Node = MemNode;

    fn lookup(&self, br: u32, dir: &MemNode, name: &[u8]) -> Result<MemNode> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        match b.entries.get(dir) {
            Some(e) if FileType::from_mode(e.mode) == FileType::Dir => Ok(join(dir, name)),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn stat(&self, br: u32, node: &MemNode) -> Result<Option<Stat>> {
        let brs = self.branches.borrow();
        let b = brs.get(br as usize).ok_or(Errno::EINVAL)?;
        Ok(b.entries.get(node).map(|e| Stat {
            mode: e.mode,
            nlink: 1,
            ino: e.ino,
            size: e.data.len() as i64,
        }))
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
