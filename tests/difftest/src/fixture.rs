//! Random branch contents, derived from the seed alone: files (small data,
//! sparse files with holes), directories, symlinks, fifos, whiteouts
//! (`.wh.<name>`), opaque markers (`.wh..wh..opq`), the same names on several
//! branches with the same or different types, foreign owners and xattrs.  Whiteouts and opaque markers also appear, rarely, on plain `ro`
//! branches, where aufs must ignore them.

use crate::flatten::{Branch, Perm, OPAQUE, WH_PREFIX};
use crate::gen::{DIR_MODES, FILE_MODES, NAMES, XATTR_SUFFIXES};
use crate::rng::Rng;
use crate::sys::{self, SysResult};
use crate::tree::fnv;
use std::path::Path;

/// What the environment allows; the random draws are the same either way,
/// so a seed describes the same layout everywhere.
#[derive(Clone, Debug)]
pub struct Caps {
    /// Running as root: foreign owners can be set.
    pub root: bool,
    /// The xattr namespace to use ("user." or "trusted."), `None` when the
    /// filesystem supports neither (xattr operations then only compare
    /// errors).
    pub xattr_prefix: Option<String>,
}

/// Branch permissions for `seed`: b0 is `rw`, the others mostly `ro+wh`,
/// sometimes plain `ro`.  `count` overrides the random 2..=5.
pub fn choose_perms(seed: u64, count: Option<usize>) -> Vec<Perm> {
    let mut rng = Rng::new(seed, 0);
    let n = count.unwrap_or_else(|| rng.range(2, 5) as usize).max(1);
    let mut v = vec![Perm::Rw];
    for _ in 1..n {
        v.push(if rng.chance(75) { Perm::RoWh } else { Perm::Ro });
    }
    v
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Whiteout,
}

/// Maximum depth of a directory created in a branch.
const MAX_DIR_DEPTH: usize = 3;

struct Populator {
    rng: Rng,
    seed: u64,
    caps: Caps,
}

impl Populator {
    /// The type a path "prefers" across branches, so that the same path is
    /// often the same type on several branches (dirs merge) and sometimes not.
    fn preferred(&self, rel: &str) -> Kind {
        match fnv(format!("{}:{}", self.seed, rel).as_bytes()) % 100 {
            0..=44 => Kind::File,
            45..=79 => Kind::Dir,
            80..=91 => Kind::Symlink,
            _ => Kind::Fifo,
        }
    }

    fn random_kind(&mut self) -> Kind {
        [Kind::File, Kind::Dir, Kind::Symlink, Kind::Fifo][self.rng.weighted(&[45, 30, 15, 10])]
    }

    /// Owner, xattrs and times (and the mode, for non-symlinks).
    fn attrs(&mut self, p: &Path, kind: Kind, mode: u32) -> SysResult<()> {
        let foreign = self.rng.chance(20);
        let uid = 1000 + self.rng.below(4) as u32;
        let gid = 1000 + self.rng.below(4) as u32;
        if foreign && self.caps.root {
            sys::lchown(p, uid, gid)?;
        }
        let nx = if self.rng.chance(15) {
            self.rng.range(1, 2)
        } else {
            0
        };
        for _ in 0..nx {
            let suffix = *self.rng.pick(XATTR_SUFFIXES);
            let len = self.rng.below(40) as usize;
            let value = self.rng.bytes(len);
            if let Some(prefix) = &self.caps.xattr_prefix {
                if matches!(kind, Kind::File | Kind::Dir) {
                    sys::lsetxattr(p, &format!("{prefix}{suffix}"), &value, 0)?;
                }
            }
        }
        if kind != Kind::Symlink {
            sys::chmod(p, mode)?;
        }
        let at = (
            self.rng.below(2_000_000_000) as i64,
            self.rng.below(1_000_000_000) as i64,
        );
        let mt = (
            self.rng.below(2_000_000_000) as i64,
            self.rng.below(1_000_000_000) as i64,
        );
        sys::utimensat(p, Some(at), Some(mt), true)
    }

    fn file(&mut self, p: &Path) -> SysResult<()> {
        let fd = sys::open(p, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)?;
        match self.rng.below(100) {
            0..=9 => {}
            10..=39 => {
                let n = self.rng.range(1, 64) as usize;
                sys::write_all(&fd, &self.rng.bytes(n))?;
            }
            40..=84 => {
                let n = self.rng.range(64, 4096) as usize;
                sys::write_all(&fd, &self.rng.bytes(n))?;
            }
            _ => {
                // Sparse: a few chunks at offsets with holes between, maybe
                // a hole at the end too.
                for _ in 0..self.rng.range(1, 3) {
                    let off = self.rng.below(256 * 1024);
                    let n = self.rng.range(1, 512) as usize;
                    sys::pwrite_all(&fd, &self.rng.bytes(n), off)?;
                }
                if self.rng.chance(50) {
                    let st = sys::fstat(&fd)?;
                    sys::ftruncate(&fd, st.st_size as u64 + self.rng.range(1, 100_000))?;
                }
            }
        }
        Ok(())
    }

    fn dir(&mut self, br: &Branch, rel: &str) -> SysResult<()> {
        let depth = if rel.is_empty() {
            0
        } else {
            rel.split('/').count()
        };
        let count = if depth == 0 {
            self.rng.range(3, 8)
        } else {
            self.rng.range(0, 5)
        };
        let mut used: Vec<&str> = Vec::new();
        for _ in 0..count {
            let name = *self.rng.pick(NAMES);
            if used.contains(&name) {
                continue;
            }
            used.push(name);
            let crel = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let wh_pct = if br.perm.whable() { 12 } else { 4 };
            let mut kind = if self.rng.chance(wh_pct) {
                Kind::Whiteout
            } else if self.rng.chance(70) {
                self.preferred(&crel)
            } else {
                self.random_kind()
            };
            if kind == Kind::Dir && depth + 1 > MAX_DIR_DEPTH {
                kind = Kind::File;
            }
            let p = br.path.join(&crel);
            match kind {
                Kind::Whiteout => {
                    let w = br.path.join(rel).join(format!("{WH_PREFIX}{name}"));
                    sys::open(&w, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o444)?;
                }
                Kind::File => {
                    self.file(&p)?;
                    let mode = *self.rng.pick(FILE_MODES);
                    self.attrs(&p, kind, mode)?;
                }
                Kind::Symlink => {
                    let target = match self.rng.below(10) {
                        0 => "nowhere".to_string(),
                        1..=6 => self.rng.pick(NAMES).to_string(),
                        _ => format!("{}/{}", self.rng.pick(NAMES), self.rng.pick(NAMES)),
                    };
                    sys::symlink(&target, &p)?;
                    self.attrs(&p, kind, 0)?;
                }
                Kind::Fifo => {
                    sys::mknod(&p, libc::S_IFIFO | 0o600, 0)?;
                    let mode = *self.rng.pick(FILE_MODES);
                    self.attrs(&p, kind, mode)?;
                }
                Kind::Dir => {
                    sys::mkdir(&p, 0o700)?;
                    self.dir(br, &crel)?;
                    let opq_pct = if br.perm.whable() { 15 } else { 5 };
                    if self.rng.chance(opq_pct) {
                        sys::open(
                            &p.join(OPAQUE),
                            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                            0o444,
                        )?;
                    }
                    let mode = *self.rng.pick(DIR_MODES);
                    self.attrs(&p, kind, mode)?;
                }
            }
        }
        Ok(())
    }
}

/// Fills the (existing, empty) branch directories for `seed`.
pub fn populate(seed: u64, branches: &[Branch], caps: Caps) -> SysResult<()> {
    let mut p = Populator {
        rng: Rng::new(seed, 1),
        seed,
        caps,
    };
    for br in branches {
        p.dir(br, "")?;
    }
    Ok(())
}
