//! Random branch contents, derived from the seed alone: files (small data,
//! sparse files with holes), directories, symlinks, fifos, whiteouts
//! (`.wh.<name>`), opaque markers (`.wh..wh..opq`), the same names on several
//! branches with the same or different types, foreign owners and xattrs.  Whiteouts and opaque markers also appear, rarely, on plain `ro`
//! branches, where aufs must ignore them.  Also: hard links inside a branch
//! (several names of one file, possibly in different directories), inode
//! flags (append-only, immutable: what `chattr +a`/`+i` on the branch does),
//! a directory chain 200+ levels deep on the lowest branch (its first
//! levels sometimes on b0 too) and, for unprivileged seeds, entries owned
//! by the test user.

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
    /// Running as root: foreign owners and inode flags can be set.
    pub root: bool,
    /// The xattr namespaces fixtures may use ("user.", "trusted."); empty
    /// when the filesystem supports neither.
    pub xattr_prefixes: Vec<String>,
    /// Unprivileged seed: the (uid, gid) the operations run as; many
    /// entries and the branch roots are given to it.
    pub user: Option<(u32, u32)>,
}

/// Names only the dedicated hard-link group of a seed uses (at the branch
/// root: no other branch has them, so they are visible).
pub const LINK_NAMES: &[&str] = &["k", "m", "n"];

/// Name of the deep directory chain at the branch root, and of its levels.
pub const DEEP_TOP: &str = "deep";
pub const DEEP_LEVEL: &str = "d";
/// Depth of the deep chain: DEEP_MIN..=DEEP_MAX directories.
pub const DEEP_MIN: u64 = 200;
pub const DEEP_MAX: u64 = 230;

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
    /// Regular files (relative paths) made in the current branch.
    files: Vec<String>,
    /// Directories (relative paths, "" = root) made in the current branch.
    dirs: Vec<String>,
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
        let mine = self.rng.chance(60);
        if foreign && self.caps.root {
            sys::lchown(p, uid, gid)?;
        } else if let (true, true, Some((u, g))) = (mine, self.caps.root, self.caps.user) {
            sys::lchown(p, u, g)?;
        }
        let nx = if self.rng.chance(15) {
            self.rng.range(1, 2)
        } else {
            0
        };
        for _ in 0..nx {
            let suffix = *self.rng.pick(XATTR_SUFFIXES);
            let ns = self.rng.below(2) as usize;
            let len = self.rng.below(40) as usize;
            let value = self.rng.bytes(len);
            let prefixes = &self.caps.xattr_prefixes;
            if !prefixes.is_empty() && matches!(kind, Kind::File | Kind::Dir) {
                let prefix = &prefixes[ns % prefixes.len()];
                sys::lsetxattr(p, &format!("{prefix}{suffix}"), &value, 0)?;
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
                    self.files.push(crel.clone());
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
                    self.dirs.push(crel.clone());
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

impl Populator {
    /// Extra names for some regular files of the branch: hard links in the
    /// same or another directory, under a name that is free there (no
    /// entry, no whiteout).
    fn hard_links(&mut self, br: &Branch) -> SysResult<()> {
        if !self.rng.chance(60) || self.files.is_empty() {
            return Ok(());
        }
        for _ in 0..self.rng.range(1, 3) {
            let src = self.rng.pick(&self.files).clone();
            for _ in 0..self.rng.range(1, 2) {
                let dir = self.rng.pick(&self.dirs).clone();
                let name = *self.rng.pick(NAMES);
                let d = br.path.join(&dir);
                let taken = |n: &str| sys::lstat(&d.join(n)).is_ok();
                if taken(name) || taken(&format!("{WH_PREFIX}{name}")) {
                    continue;
                }
                let rel = if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                };
                sys::link(&br.path.join(&src), &br.path.join(&rel))?;
                self.files.push(rel);
            }
        }
        Ok(())
    }

    /// The seed's dedicated hard-link group, on branch `b` only: a file `k`
    /// at the root with a second name `m` there and sometimes a third, `n`,
    /// in a directory of the branch.
    fn link_group(&mut self, br: &Branch) -> SysResult<()> {
        let k = br.path.join(LINK_NAMES[0]);
        self.file(&k)?;
        let mode = *self.rng.pick(FILE_MODES);
        self.attrs(&k, Kind::File, mode)?;
        sys::link(&k, &br.path.join(LINK_NAMES[1]))?;
        self.files.push(LINK_NAMES[0].to_string());
        self.files.push(LINK_NAMES[1].to_string());
        if self.rng.chance(50) {
            let dir = self.rng.pick(&self.dirs).clone();
            let rel = if dir.is_empty() {
                LINK_NAMES[2].to_string()
            } else {
                format!("{dir}/{}", LINK_NAMES[2])
            };
            if sys::lstat(
                &br.path
                    .join(&dir)
                    .join(format!("{WH_PREFIX}{}", LINK_NAMES[2])),
            )
            .is_err()
            {
                sys::link(&k, &br.path.join(&rel))?;
                self.files.push(rel);
            }
        }
        Ok(())
    }

    /// chattr +a / +i on a few regular files of the branch (after the hard
    /// links: such files cannot get new names).
    fn inode_flags(&mut self, br: &Branch) -> SysResult<()> {
        let files = self.files.clone();
        for f in files {
            if !self.rng.chance(5) {
                continue;
            }
            let flag = if self.rng.chance(60) {
                sys::FS_APPEND_FL
            } else {
                sys::FS_IMMUTABLE_FL
            };
            if self.caps.root {
                let p = br.path.join(&f);
                let old = sys::get_flags_at(&p)?;
                sys::set_flags_at(&p, old | flag)?;
            }
        }
        Ok(())
    }

    /// The deep chain `deep/d/d/...` (DEEP_MIN..=DEEP_MAX directories) on
    /// the lowest branch, with a file `f` at the bottom and at a few levels
    /// on the way; sometimes its first levels exist on b0 too (so the
    /// union merges them).
    fn deep_chain(&mut self, branches: &[Branch]) -> SysResult<Option<usize>> {
        if !self.rng.chance(25) {
            return Ok(None);
        }
        let n = self.rng.range(DEEP_MIN, DEEP_MAX) as usize;
        let on_top = if branches.len() > 1 && self.rng.chance(40) {
            self.rng.range(1, n as u64 / 2) as usize
        } else {
            0
        };
        let len = self.rng.range(1, 300) as usize;
        let data = self.rng.bytes(len);
        let file_every = self.rng.range(40, 90) as usize;
        let bottom = branches.len() - 1;
        let user = self.caps.user.filter(|_| self.caps.root);
        for (b, levels) in [(bottom, n), (0, on_top)] {
            if levels == 0 || (b == 0 && bottom == 0) {
                continue;
            }
            let mut p = branches[b].path.join(DEEP_TOP);
            for level in 1..=levels {
                if level > 1 {
                    p.push(DEEP_LEVEL);
                }
                sys::mkdir(&p, 0o755)?;
                if let Some((u, g)) = user {
                    sys::lchown(&p, u, g)?;
                }
                if b == bottom && (level == n || level % file_every == 0) {
                    let f = p.join("f");
                    let fd = sys::open(&f, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o644)?;
                    sys::write_all(&fd, &data)?;
                    if let Some((u, g)) = user {
                        sys::lchown(&f, u, g)?;
                    }
                }
            }
        }
        Ok(Some(n))
    }
}

/// Fills the (existing, empty) branch directories for `seed`; returns the
/// depth of the deep chain, if there is one.
pub fn populate(seed: u64, branches: &[Branch], caps: Caps) -> SysResult<Option<usize>> {
    let mut p = Populator {
        rng: Rng::new(seed, 1),
        seed,
        caps,
        files: Vec::new(),
        dirs: Vec::new(),
    };
    // The branch with the dedicated hard-link group (mostly a read-only
    // one: that is where copy-up breaks links), or none.
    let group_on = match p.rng.below(100) {
        0..=64 if branches.len() > 1 => Some(p.rng.range(1, branches.len() as u64 - 1) as usize),
        65..=79 => Some(0),
        _ => None,
    };
    for (b, br) in branches.iter().enumerate() {
        if let (true, Some((u, g))) = (p.caps.root, p.caps.user) {
            sys::lchown(&br.path, u, g)?;
        }
        p.files.clear();
        p.dirs = vec![String::new()];
        p.dir(br, "")?;
        p.hard_links(br)?;
        if group_on == Some(b) {
            p.link_group(br)?;
        }
        p.inode_flags(br)?;
    }
    p.deep_chain(branches)
}
