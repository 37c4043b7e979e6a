//! What the reference (a plain tmpfs directory) must do by hand to behave
//! like the union where a plain directory differs on its own:
//!
//! * **Hard links of a read-only branch.**  aufs without pseudo-links (and
//!   this module) breaks a lower hard link on copy-up: after a change
//!   through one name of a lower file with several names, that name is a
//!   separate file (on the writable branch) and the other names still show
//!   the lower file.  The reference holds such names as real hard links
//!   (so that, until then, data and identity are shared as in the union);
//!   before an operation that copies up one name, [`LinkModel::prepare`]
//!   gives that name a copy of its own (data, owner, mode, xattrs, times,
//!   inode flags), which is kept if the operation succeeds and undone if it
//!   fails.
//! * **Which link counts are comparable.**  The union reports the lower
//!   inode's own st_nlink for a lower file, which counts its names on the
//!   branch, visible or not.  While every name of a lower hard link is
//!   visible and none was changed (an *intact* group), that equals the
//!   reference's count; once a name is copied up, removed, renamed or
//!   replaced, or when a name of the lower file is hidden from the start,
//!   it does not, and these inodes are *tainted*: their st_nlink and their
//!   inode identity (which names share an st_ino) are not compared.  Data,
//!   size, mode, owner and xattrs of every name always are.

use crate::flatten;
use crate::privs;
use crate::sys::{self, FS_APPEND_FL, FS_COMPARED_FL, FS_IMMUTABLE_FL};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const SPECIAL_FL: u32 = FS_APPEND_FL | FS_IMMUTABLE_FL;

/// The hard-link bookkeeping of one modelled side.
#[derive(Clone, Debug, Default)]
pub struct LinkModel {
    /// Inode numbers (on this side) that still stand for a hard-linked
    /// file of a read-only branch.
    pub lower: HashSet<u64>,
    /// Inodes whose st_nlink and identity are not compared.
    pub tainted: HashSet<u64>,
    /// A directory on the same filesystem, outside the compared tree, for
    /// temporary names (set by the environment; empty = no model).
    pub stash: PathBuf,
    counter: u64,
    /// Statistics: lower links at the start (intact ones), names given a
    /// copy of their own by a copy-up that succeeded.
    pub initial: (usize, usize),
    pub broken: usize,
    /// Copies made by [`LinkModel::prepare`] (kept or not): each changes
    /// link counts.
    pub breaks: usize,
}

/// A change made by [`LinkModel::prepare`], to keep or undo.
#[derive(Debug)]
pub enum Pending {
    /// `path` got a copy of its own; the original inode is held at `stash`.
    Broken { path: PathBuf, stash: PathBuf },
    /// `ino` had a single name left: it just stops being a lower link.
    Relabel { ino: u64 },
}

fn msg(what: &str, p: &Path, e: sys::Errno) -> String {
    format!("link model: {what} {}: {}", p.display(), sys::errno_name(e))
}

/// Runs `f` with the append-only/immutable flags of the open regular file
/// `fd` cleared, then puts them back.
fn flags_cleared<T>(fd: &sys::Fd, f: impl FnOnce() -> T) -> T {
    let flags = sys::get_flags(fd).unwrap_or(0);
    if flags & SPECIAL_FL == 0 {
        return f();
    }
    let _ = sys::set_flags(fd, flags & !SPECIAL_FL);
    let r = f();
    let _ = sys::set_flags(fd, flags);
    r
}

/// Runs `f` with the append-only/immutable flags of the directories
/// holding `paths` cleared (an append-only directory forbids removing or
/// replacing entries, which the model's fix-ups do), then restores them.
/// Needs root.
pub fn parents_unlocked<T>(paths: &[&Path], f: impl FnOnce() -> T) -> T {
    let mut saved = Vec::new();
    for p in paths {
        let Some(dir) = p.parent() else { continue };
        if let Ok(fd) = sys::open_for_flags(dir) {
            if let Ok(flags) = sys::get_flags(&fd) {
                if flags & SPECIAL_FL != 0 && sys::set_flags(&fd, flags & !SPECIAL_FL).is_ok() {
                    saved.push((fd, flags));
                }
            }
        }
    }
    let r = f();
    while let Some((fd, flags)) = saved.pop() {
        let _ = sys::set_flags(&fd, flags);
    }
    r
}

impl LinkModel {
    pub fn new(stash: PathBuf) -> LinkModel {
        LinkModel {
            stash,
            ..LinkModel::default()
        }
    }

    fn fresh_name(&mut self, tag: &str) -> PathBuf {
        self.counter += 1;
        self.stash.join(format!("{tag}{}", self.counter))
    }

    /// The inode of `p` (not following a final symlink) if it is a lower
    /// link.
    pub fn lower_ino(&self, p: &Path) -> Option<u64> {
        if self.lower.is_empty() {
            return None;
        }
        let st = privs::as_root(|| sys::lstat(p)).ok()?;
        // Inode numbers are reused (ext4, xfs): a directory made later can
        // carry a lower link's old number, but is never a lower link.
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return None;
        }
        self.lower.contains(&st.st_ino).then_some(st.st_ino)
    }

    /// Marks the inode of `p` tainted if it is a lower link.
    pub fn touch(&mut self, p: &Path) {
        if let Some(ino) = self.lower_ino(p) {
            self.tainted.insert(ino);
        }
    }

    pub fn is_tainted(&self, ino: u64) -> bool {
        self.tainted.contains(&ino)
    }

    /// Before an operation that copies up the file at `p` (not following
    /// a final symlink): if it is a lower link, give `p` a copy of its own.
    pub fn prepare(&mut self, p: &Path) -> Result<Option<Pending>, String> {
        let Some(ino) = self.lower_ino(p) else {
            return Ok(None);
        };
        self.tainted.insert(ino);
        let st = privs::as_root(|| sys::lstat(p)).map_err(|e| msg("lstat", p, e))?;
        if st.st_nlink <= 1 {
            return Ok(Some(Pending::Relabel { ino }));
        }
        self.breaks += 1;
        let keep = self.fresh_name("keep");
        let copy = self.fresh_name("copy");
        let new_ino = privs::as_root(|| -> Result<u64, String> {
            let fd = sys::open_for_flags(p).map_err(|e| msg("open", p, e))?;
            let flags = sys::get_flags(&fd).unwrap_or(0) & FS_COMPARED_FL;
            flags_cleared(&fd, || {
                parents_unlocked(&[p], || -> Result<(), String> {
                    sys::link(p, &keep).map_err(|e| msg("link", p, e))?;
                    flatten::copy_leaf(p, &copy).map_err(|e| msg("copy", p, e))?;
                    sys::renameat2(&copy, p, 0).map_err(|e| msg("rename copy over", p, e))
                })
            })?;
            if flags != 0 {
                sys::set_compared_flags_at(p, flags).map_err(|e| msg("set flags", p, e))?;
            }
            Ok(sys::lstat(p).map_err(|e| msg("lstat", p, e))?.st_ino)
        })?;
        self.tainted.insert(new_ino);
        Ok(Some(Pending::Broken {
            path: p.to_path_buf(),
            stash: keep,
        }))
    }

    /// The operation succeeded: make the change final.
    pub fn commit(&mut self, p: Pending) -> Result<(), String> {
        match p {
            Pending::Relabel { ino } => {
                self.lower.remove(&ino);
                Ok(())
            }
            Pending::Broken { stash, .. } => {
                self.broken += 1;
                privs::as_root(|| {
                    let fd = sys::open_for_flags(&stash).map_err(|e| msg("open", &stash, e))?;
                    flags_cleared(&fd, || sys::unlink(&stash)).map_err(|e| msg("unlink", &stash, e))
                })
            }
        }
    }

    /// The operation failed: put the original inode back at its name.
    pub fn undo(&mut self, p: Pending) -> Result<(), String> {
        match p {
            Pending::Relabel { .. } => Ok(()),
            Pending::Broken { path, stash } => privs::as_root(|| {
                // The copy is about to be replaced: drop its flags.
                if let Ok(f) = sys::get_flags_at(&path) {
                    let _ = sys::set_flags_at(&path, f & !SPECIAL_FL);
                }
                let fd = sys::open_for_flags(&stash).map_err(|e| msg("open", &stash, e))?;
                flags_cleared(&fd, || {
                    parents_unlocked(&[&path], || sys::renameat2(&stash, &path, 0))
                })
                .map_err(|e| msg("rename back", &path, e))
            }),
        }
    }
}

/// A hard-link group of the flattened view: visible names of one
/// non-directory of one branch whose st_nlink is above 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkGroup {
    pub branch: usize,
    /// The file's st_nlink on its branch.
    pub branch_nlink: u64,
    /// Its visible names (relative paths), sorted.
    pub names: Vec<String>,
}

impl LinkGroup {
    /// Are all of the file's names on the branch visible in the union?
    pub fn intact(&self) -> bool {
        self.names.len() as u64 == self.branch_nlink
    }
}

/// For a side just materialized from `groups` under `root`: the lower
/// links (groups of read-only branches, i.e. not `writable`) and the
/// initially tainted inodes (groups with hidden names).
pub fn init_links(
    model: &mut LinkModel,
    root: &Path,
    groups: &[LinkGroup],
    writable: impl Fn(usize) -> bool,
) -> Result<(), String> {
    for g in groups {
        if writable(g.branch) {
            continue;
        }
        let p = root.join(&g.names[0]);
        let st = sys::lstat(&p).map_err(|e| msg("lstat", &p, e))?;
        model.lower.insert(st.st_ino);
        model.initial.0 += 1;
        if g.intact() {
            model.initial.1 += 1;
        } else {
            model.tainted.insert(st.st_ino);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_commit_and_undo() {
        let dir = std::env::temp_dir().join(format!("aufs-difftest-model.{}", std::process::id()));
        let _ = sys::remove_tree(&dir);
        sys::mkdir(&dir, 0o755).unwrap();
        sys::mkdir(&dir.join("stash"), 0o700).unwrap();
        let (a, c, d) = (dir.join("a"), dir.join("c"), dir.join("d"));
        let fd = sys::open(&a, libc::O_CREAT | libc::O_WRONLY, 0o640).unwrap();
        sys::write_all(&fd, b"lower").unwrap();
        drop(fd);
        sys::link(&a, &c).unwrap();
        sys::link(&a, &d).unwrap();
        let mut m = LinkModel::new(dir.join("stash"));
        let groups = vec![LinkGroup {
            branch: 1,
            branch_nlink: 3,
            names: vec!["a".into(), "c".into(), "d".into()],
        }];
        init_links(&mut m, &dir, &groups, |b| b == 0).unwrap();
        let ino = sys::lstat(&a).unwrap().st_ino;
        assert!(m.lower.contains(&ino) && !m.is_tainted(ino));

        // Copy-up through "a" that succeeds: a separate file.
        let p = m.prepare(&a).unwrap().expect("a is a lower link");
        let fd = sys::open(&a, libc::O_WRONLY | libc::O_APPEND, 0).unwrap();
        sys::write_all(&fd, b"+a").unwrap();
        drop(fd);
        m.commit(p).unwrap();
        let read = |p: &Path| sys::read_to_end(&sys::open(p, libc::O_RDONLY, 0).unwrap()).unwrap();
        assert_eq!(read(&a), b"lower+a");
        assert_eq!(read(&c), b"lower");
        assert_eq!(sys::lstat(&a).unwrap().st_mode & 0o7777, 0o640);
        assert_eq!(sys::lstat(&c).unwrap().st_nlink, 2);
        assert!(m.is_tainted(ino) && m.is_tainted(sys::lstat(&a).unwrap().st_ino));
        assert_eq!(
            sys::list_names(&dir.join("stash")).unwrap(),
            Vec::<String>::new()
        );

        // A copy-up through "c" that fails: c is the lower file again.
        let p = m.prepare(&c).unwrap().expect("c is a lower link");
        assert_ne!(sys::lstat(&c).unwrap().st_ino, ino);
        m.undo(p).unwrap();
        assert_eq!(sys::lstat(&c).unwrap().st_ino, ino);
        assert_eq!(sys::lstat(&d).unwrap().st_nlink, 2);

        // "a" is no lower link any more.
        assert!(m.prepare(&a).unwrap().is_none());
        // The last name of a lower file is only relabelled.
        sys::unlink(&d).unwrap();
        let p = m.prepare(&c).unwrap().expect("c");
        assert!(matches!(p, Pending::Relabel { .. }));
        m.commit(p).unwrap();
        assert!(m.lower.is_empty());
        let _ = sys::remove_tree(&dir);
    }
}

/// aufs's directory permission rule (the module's too, without
/// `dirperm1`): read and search permission on a union directory is checked
/// on every branch the directory is on, with the caller's credentials, on
/// the real directories; stat shows the topmost one's attributes.  The
/// reference directory has the topmost attributes, so for an unprivileged
/// caller this side also checks the read-only branches' directories it
/// stands for.  Their attributes never change (read-only branches), and a
/// directory keeps them whatever happens to its topmost copy (chmod copies
/// it up; the lower one still counts).  Directories are keyed by inode
/// (renames keep it; a directory with lower parts cannot be renamed).
#[derive(Clone, Debug, Default)]
pub struct DirPerms {
    /// Reference directory inode -> (mode, uid, gid) of its directories on
    /// read-only branches.
    pub lower: std::collections::HashMap<u64, Vec<(u32, u32, u32)>>,
}

/// The outcome of checking a path walk.
#[derive(Debug, PartialEq, Eq)]
pub enum Walk {
    /// Search permission is refused on a directory of the walk.
    Denied,
    /// The walk stops for another reason (missing or non-directory
    /// component, symlink): the real system call decides.
    Undecided,
    /// Every directory of the walk (the parents of the last component) may
    /// be searched; the last component's state: its directory inode if it
    /// is a directory.
    Allowed(Option<u64>),
}

impl DirPerms {
    /// Records, for a side just materialized under `root` from `plan`, the
    /// directories of read-only branches (`writable(b)` false) behind each
    /// directory.
    pub fn init(
        &mut self,
        branches: &[flatten::Branch],
        plan: &flatten::VNode,
        root: &Path,
        writable: impl Fn(usize) -> bool + Copy,
    ) -> Result<(), String> {
        self.add(branches, plan, root, Path::new(""), writable)
    }

    fn add(
        &mut self,
        branches: &[flatten::Branch],
        node: &flatten::VNode,
        root: &Path,
        rel: &Path,
        writable: impl Fn(usize) -> bool + Copy,
    ) -> Result<(), String> {
        let flatten::VNode::Dir { sources, children } = node else {
            return Ok(());
        };
        let mut v = Vec::new();
        for &b in sources {
            if writable(b) {
                continue;
            }
            let p = branches[b].path.join(rel);
            let st = sys::lstat(&p).map_err(|e| msg("lstat", &p, e))?;
            v.push((st.st_mode & 0o7777, st.st_uid, st.st_gid));
        }
        if !v.is_empty() {
            let p = root.join(rel);
            let st = sys::lstat(&p).map_err(|e| msg("lstat", &p, e))?;
            self.lower.insert(st.st_ino, v);
        }
        for (name, child) in children {
            self.add(branches, child, root, &rel.join(name), writable)?;
        }
        Ok(())
    }

    /// May the caller (effective ids `uid`, `gid`, no supplementary
    /// groups) access directory `ino` with `mask` (a combination of
    /// libc::R_OK and X_OK) on all its read-only branches?
    pub fn allows(&self, ino: u64, uid: u32, gid: u32, mask: u32) -> bool {
        if uid == 0 {
            return true; // CAP_DAC_READ_SEARCH
        }
        let Some(v) = self.lower.get(&ino) else {
            return true;
        };
        v.iter().all(|&(mode, ouid, ogid)| {
            let bits = if uid == ouid {
                mode >> 6
            } else if gid == ogid {
                mode >> 3
            } else {
                mode
            } & 7;
            bits & mask == mask
        })
    }

    /// Checks the walk to the last component of `rel` below `root` (the
    /// search permission of `root` and of every directory on the way) for
    /// the caller's effective ids.
    pub fn walk(&self, root: &Path, rel: &str) -> Walk {
        if self.lower.is_empty() || sys::geteuid() == 0 {
            return Walk::Allowed(None);
        }
        let (uid, gid) = (sys::geteuid(), sys::getegid());
        let ino = |p: &Path| privs::as_root(|| sys::lstat(p));
        let Ok(st) = ino(root) else {
            return Walk::Undecided;
        };
        let mut dir_ino = st.st_ino;
        let comps: Vec<&str> = if rel.is_empty() {
            Vec::new()
        } else {
            rel.split('/').collect()
        };
        let mut cur = root.to_path_buf();
        for (i, c) in comps.iter().enumerate() {
            // Looking up `c` needs search permission on the directory.
            if !self.allows(dir_ino, uid, gid, libc::X_OK as u32) {
                return Walk::Denied;
            }
            cur.push(c);
            let st = match ino(&cur) {
                Ok(st) => st,
                Err(_) if i + 1 == comps.len() => return Walk::Allowed(None),
                Err(_) => return Walk::Undecided,
            };
            let t = st.st_mode & libc::S_IFMT;
            if i + 1 == comps.len() {
                return Walk::Allowed((t == libc::S_IFDIR).then_some(st.st_ino));
            }
            if t != libc::S_IFDIR {
                return Walk::Undecided;
            }
            dir_ino = st.st_ino;
        }
        // rel = "": the root itself.
        Walk::Allowed(Some(dir_ino))
    }
}

#[cfg(test)]
mod dirperm_tests {
    use super::*;

    #[test]
    fn every_read_only_directory_must_allow() {
        let mut d = DirPerms::default();
        d.lower.insert(7, vec![(0o755, 1000, 1000), (0o700, 0, 0)]);
        d.lower.insert(8, vec![(0o750, 1, 65534)]);
        d.lower.insert(9, vec![(0o071, 65534, 1)]);
        let x = libc::X_OK as u32;
        let r = libc::R_OK as u32;
        assert!(d.allows(7, 0, 0, x | r)); // root
        assert!(!d.allows(7, 65534, 65534, x)); // the 0700 root directory
        assert!(d.allows(1, 65534, 65534, x)); // no read-only parts
        assert!(d.allows(8, 65534, 65534, r | x)); // group bits
        assert!(!d.allows(8, 65534, 2, x)); // other bits
        assert!(!d.allows(9, 65534, 65534, x)); // owner bits win: 0
        assert!(d.allows(9, 2, 2, x) && !d.allows(9, 2, 2, r));
    }
}
