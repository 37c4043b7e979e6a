//! Random operation generation.  Each operation is drawn from the PRNG and
//! the current state of the reference tree (so most operations hit existing
//! names); the result is a concrete [`Op`] that can be replayed later.

use crate::fixture::DEEP_TOP;
use crate::ops::Op;
use crate::rng::Rng;
use crate::sys;
use crate::tree::{self, ScanEntry};
use std::path::Path;

/// Names used in branch fixtures; shared with operations so that operations
/// collide with hidden, whited-out and lower-branch names.
pub const NAMES: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h"];
/// Extra names only operations use (never present in the branches).
const EXTRA_NAMES: &[&str] = &["x", "y", "z"];
/// Maximum number of components of a newly created path.
pub const MAX_DEPTH: usize = 4;
/// xattr names, after the namespace prefix ("user." or "trusted.").
pub const XATTR_SUFFIXES: &[&str] = &["a", "b", "c"];
pub const FILE_MODES: &[u32] = &[0o644, 0o600, 0o755, 0o444, 0o640, 0o666, 0o400, 0o700];
pub const DIR_MODES: &[u32] = &[0o755, 0o700, 0o775, 0o555, 0o750, 0o2775];
/// Modes for chmod: also setuid/setgid/sticky and no permission at all.
const CHMOD_MODES: &[u32] = &[
    0o644, 0o600, 0o755, 0o444, 0o000, 0o777, 0o4755, 0o2755, 0o1777, 0o700, 0o555,
];

/// Number of path components ("" = root = 0).
pub fn depth(p: &str) -> usize {
    if p.is_empty() {
        0
    } else {
        p.split('/').count()
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Operation kinds with their weights.
const WEIGHTS: &[(&str, u32)] = &[
    ("create", 12),
    ("pwrite", 8),
    ("append", 5),
    ("truncate", 5),
    ("read", 10),
    ("stat", 9),
    ("rename", 9),
    ("link", 3),
    ("unlink", 7),
    ("mkdir", 6),
    ("rmdir", 4),
    ("symlink", 3),
    ("readlink", 2),
    ("chmod", 3),
    ("utimensat", 3),
    ("setxattr", 3),
    ("getxattr", 2),
    ("listxattr", 2),
    ("removexattr", 2),
    ("readdir", 6),
    ("mkfifo", 2),
    ("getflags", 1),
    ("setflags", 2),
    // Targeted: the deep chain, names of hard-linked files, files with
    // inode flags (weight 0 when there are none).
    ("deep", 2),
    ("hardlink", 4),
    ("flagged", 3),
];

/// chattr changes of the setflags operation: (set, clear, weight).
const FLAG_CHANGES: &[(u32, u32, u32)] = &[
    (sys::FS_APPEND_FL, 0, 3),
    (sys::FS_IMMUTABLE_FL, 0, 2),
    (0, sys::FS_APPEND_FL, 2),
    (0, sys::FS_IMMUTABLE_FL, 2),
    (sys::FS_NODUMP_FL, 0, 1),
    (0, sys::FS_NODUMP_FL, 1),
    (sys::FS_NOATIME_FL, 0, 1),
];

/// The operation generator of one run.
pub struct Generator {
    rng: Rng,
    /// "user." or "trusted.".
    xattr_prefix: String,
    /// The other namespace, for some operations.
    xattr_alt: Option<String>,
    /// Paths that were given inode flags (by the fixture or by a setflags
    /// operation); they may have moved or gone since.
    flagged: Vec<String>,
}

/// The current tree as seen by the generator.
struct View<'a> {
    all: &'a [ScanEntry],
}

impl<'a> View<'a> {
    fn of_kind(&self, k: char) -> Vec<&'a ScanEntry> {
        self.all.iter().filter(|e| e.kind == k).collect()
    }
    fn non_dirs(&self) -> Vec<&'a ScanEntry> {
        self.all.iter().filter(|e| e.kind != 'd').collect()
    }
    /// Directories (root included) where a new name may be created.
    fn parent_dirs(&self) -> Vec<String> {
        let mut v = vec![String::new()];
        v.extend(
            self.all
                .iter()
                .filter(|e| e.kind == 'd' && depth(&e.path) < MAX_DEPTH)
                .map(|e| e.path.clone()),
        );
        v
    }
}

impl Generator {
    pub fn new(seed: u64, xattr_prefix: &str, xattr_alt: Option<&str>) -> Generator {
        Generator {
            rng: Rng::new(seed, 2),
            xattr_prefix: xattr_prefix.to_string(),
            xattr_alt: xattr_alt.map(str::to_string),
            flagged: Vec::new(),
        }
    }

    /// Paths holding append-only/immutable files at the start.
    pub fn set_flagged(&mut self, paths: Vec<String>) {
        self.flagged = paths;
    }

    fn xattr_name(&mut self) -> String {
        let alt = self.rng.chance(20);
        let suffix = self.rng.pick(XATTR_SUFFIXES);
        match (&self.xattr_alt, alt) {
            (Some(a), true) => format!("{a}{suffix}"),
            _ => format!("{}{suffix}", self.xattr_prefix),
        }
    }

    fn rename_flags(&mut self) -> u32 {
        match self.rng.below(100) {
            0..=54 => 0,
            55..=69 => sys::RENAME_NOREPLACE,
            70..=89 => sys::RENAME_EXCHANGE,
            _ => sys::RENAME_WHITEOUT,
        }
    }

    fn create(&mut self, path: String) -> Op {
        let data = if self.rng.chance(10) {
            Vec::new()
        } else {
            self.data(1, 4096)
        };
        Op::Create {
            path,
            excl: self.rng.chance(30),
            trunc: self.rng.chance(40),
            mode: *self.rng.pick(FILE_MODES),
            data,
        }
    }

    fn pwrite(&mut self, path: String, size: u64) -> Op {
        let offset = match self.rng.below(100) {
            0..=59 => self.rng.range(0, size),
            60..=84 => size + self.rng.below(8192),
            _ => self.rng.below(1 << 20),
        };
        Op::Pwrite {
            path,
            offset,
            data: self.data(1, 4096),
        }
    }

    fn truncate(&mut self, path: String, size: u64) -> Op {
        let len = match self.rng.below(100) {
            0..=9 => 0,
            10..=49 => self.rng.range(0, size),
            50..=84 => size + self.rng.range(1, 65536),
            _ => self.rng.below(1 << 20),
        };
        Op::Truncate { path, len }
    }

    fn setxattr(&mut self, path: String) -> Op {
        let name = self.xattr_name();
        let value = self.data(0, 64);
        let flags = match self.rng.below(100) {
            0..=69 => 0,
            70..=84 => sys::XATTR_CREATE,
            _ => sys::XATTR_REPLACE,
        };
        Op::SetXattr {
            path,
            name,
            value,
            flags,
        }
    }

    fn utimens(&mut self, path: String) -> Op {
        let atime = if self.rng.chance(15) {
            None
        } else {
            Some(self.time())
        };
        Op::Utimens {
            path,
            atime,
            mtime: self.time(),
            nofollow: self.rng.chance(50),
        }
    }

    /// chattr on `path`.  Append-only and immutable are set on
    /// non-directories only: on a directory they would forbid the copy-up
    /// of anything below it into the writable branch, a limit of every
    /// union (aufs's too), not something to compare.
    fn setflags(&mut self, path: String, is_dir: bool) -> Op {
        let special = sys::FS_APPEND_FL | sys::FS_IMMUTABLE_FL;
        let w: Vec<u32> = FLAG_CHANGES
            .iter()
            .map(|c| if is_dir && c.0 & special != 0 { 0 } else { c.2 })
            .collect();
        let (set, clear, _) = FLAG_CHANGES[self.rng.weighted(&w)];
        if set & special != 0 && !path.is_empty() {
            self.flagged.push(path.clone());
        }
        Op::SetFlags { path, set, clear }
    }

    /// A directory of the deep chain: walks down from `deep` in the tree
    /// at `root`, to the bottom (half of the time) or to a random level
    /// (at least 100 deep when the chain is that deep).
    fn deep_dir(&mut self, root: &Path) -> Vec<String> {
        let mut levels = vec![DEEP_TOP.to_string()];
        // Walk with directory descriptors (tree::fd_path): O(depth).
        let Ok(mut fd) = tree::open_dir(&root.join(DEEP_TOP)) else {
            return levels;
        };
        loop {
            let base = tree::fd_path(&fd);
            let Ok(names) = sys::list_names(&base) else {
                break;
            };
            let subdirs: Vec<String> = names
                .into_iter()
                .filter(|n| {
                    sys::lstat(&base.join(n))
                        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                })
                .collect();
            if subdirs.is_empty() {
                break;
            }
            let n = self.rng.pick(&subdirs).clone();
            let Ok(next) = tree::open_dir(&base.join(&n)) else {
                break;
            };
            fd = next;
            let cur = levels.last().unwrap().clone();
            levels.push(format!("{cur}/{n}"));
        }
        levels
    }

    /// An operation deep inside the deep chain.
    fn deep(&mut self, root: &Path) -> Op {
        let levels = self.deep_dir(root);
        let pick_level = |g: &mut Generator| -> String {
            if g.rng.chance(50) || levels.len() < 100 {
                levels[levels.len() - 1 - g.rng.below(levels.len().min(3) as u64) as usize].clone()
            } else {
                levels[g.rng.range(99, levels.len() as u64 - 1) as usize].clone()
            }
        };
        let dir = pick_level(self);
        let name = *self.rng.pick(NAMES);
        let file = if self.rng.chance(60) {
            format!("{dir}/f")
        } else {
            format!("{dir}/{name}")
        };
        let size = sys::lstat(&root.join(&file)).map_or(0, |st| st.st_size as u64);
        match self.rng.below(100) {
            0..=29 => self.create(format!("{dir}/{name}")),
            30..=49 => self.pwrite(file, size),
            50..=57 => Op::Append {
                path: file,
                data: self.data(1, 2048),
            },
            58..=64 => self.truncate(file, size),
            65..=74 => Op::Mkdir {
                path: format!("{dir}/{name}"),
                mode: *self.rng.pick(DIR_MODES),
            },
            75..=86 => {
                let other = pick_level(self);
                let to = if self.rng.chance(70) {
                    format!("{other}/{}", self.rng.pick(NAMES))
                } else {
                    self.rng.pick(NAMES).to_string()
                };
                Op::Rename {
                    from: file,
                    to,
                    flags: self.rename_flags(),
                }
            }
            87..=92 => Op::Unlink { path: file },
            93..=96 => Op::Read { path: file },
            _ => Op::Stat {
                path: file,
                follow: false,
            },
        }
    }

    /// An operation on a name of a hard-linked file.
    fn hardlink(&mut self, v: &View, linked: &[&ScanEntry]) -> Op {
        let e = *self.rng.pick(linked);
        let path = e.path.clone();
        match self.rng.below(100) {
            0..=17 => self.pwrite(path, e.size),
            18..=27 => Op::Append {
                path,
                data: self.data(1, 2048),
            },
            28..=34 => self.truncate(path, e.size),
            35..=41 => Op::Chmod {
                path,
                mode: *self.rng.pick(CHMOD_MODES),
            },
            42..=47 => self.setxattr(path),
            48..=62 => {
                let to = if self.rng.chance(50) {
                    self.rng.pick(linked).path.clone()
                } else {
                    self.any(v, false)
                };
                Op::Rename {
                    from: path,
                    to,
                    flags: self.rename_flags(),
                }
            }
            63..=72 => Op::Unlink { path },
            73..=82 => Op::Link {
                from: path,
                to: self.fresh(v, false),
            },
            83..=87 => self.create(path),
            88..=91 => self.utimens(path),
            92..=95 => Op::Read { path },
            _ => Op::Stat {
                path,
                follow: false,
            },
        }
    }

    /// An operation on a file that was given inode flags.
    fn flagged_op(&mut self, v: &View) -> Op {
        let path = self.rng.pick(&self.flagged).clone();
        let size = Self::size_of(v, &path);
        match self.rng.below(100) {
            0..=19 => Op::Append {
                path,
                data: self.data(1, 512),
            },
            20..=29 => self.pwrite(path, size),
            30..=39 => self.truncate(path, size),
            40..=47 => self.create(path),
            48..=57 => Op::Unlink { path },
            58..=65 => Op::Rename {
                from: path,
                to: self.fresh(v, false),
                flags: self.rename_flags(),
            },
            66..=71 => Op::Chmod {
                path,
                mode: *self.rng.pick(CHMOD_MODES),
            },
            72..=76 => self.setxattr(path),
            77..=81 => Op::Link {
                from: path,
                to: self.fresh(v, false),
            },
            82..=85 => self.utimens(path),
            86..=93 => {
                let is_dir = v.all.iter().any(|e| e.path == path && e.kind == 'd');
                self.setflags(path, is_dir)
            }
            _ => Op::GetFlags { path },
        }
    }

    /// A path for an xattr operation: mostly a file or directory (user.*
    /// xattrs are not allowed on symlinks and fifos), sometimes anything.
    fn xattr_path(&mut self, v: &View) -> String {
        let pool: Vec<&ScanEntry> = v
            .all
            .iter()
            .filter(|e| e.kind == 'f' || e.kind == 'd')
            .collect();
        if self.rng.chance(75) && !pool.is_empty() {
            self.rng.pick(&pool).path.clone()
        } else {
            self.any_or_root(v)
        }
    }

    /// A path that usually does not exist yet.  Rarely its parent is a
    /// non-directory or missing (ENOTDIR/ENOENT), and, when `reserved_ok`,
    /// the name is an aufs reserved `.wh.` name (EPERM).
    fn fresh(&mut self, v: &View, reserved_ok: bool) -> String {
        let r = self.rng.below(100);
        let parent = if r < 2 && !v.non_dirs().is_empty() {
            self.rng.pick(&v.non_dirs()).path.clone()
        } else if r < 4 {
            join(&self.rng.pick(&v.parent_dirs()).clone(), "nodir")
        } else {
            self.rng.pick(&v.parent_dirs()).clone()
        };
        let name = if self.rng.chance(75) {
            *self.rng.pick(NAMES)
        } else {
            *self.rng.pick(EXTRA_NAMES)
        };
        if reserved_ok && self.rng.chance(2) {
            let special = if self.rng.chance(20) {
                ".wh..wh..opq".to_string()
            } else {
                format!(".wh.{name}")
            };
            return join(&parent, &special);
        }
        join(&parent, name)
    }

    /// An existing entry from `pool` (falls back to any entry, then to a
    /// fresh path when the tree is empty).
    fn existing(&mut self, v: &View, pool: &[&ScanEntry]) -> String {
        if !pool.is_empty() {
            self.rng.pick(pool).path.clone()
        } else if !v.all.is_empty() {
            self.rng.pick(v.all).path.clone()
        } else {
            self.fresh(v, false)
        }
    }

    /// Prefers an entry of `pool` with probability `pct`, else any path
    /// (existing or fresh).
    fn prefer(&mut self, v: &View, pool: &[&ScanEntry], pct: u32, reserved_ok: bool) -> String {
        if self.rng.chance(pct) && !pool.is_empty() {
            self.existing(v, pool)
        } else {
            self.any(v, reserved_ok)
        }
    }

    fn any(&mut self, v: &View, reserved_ok: bool) -> String {
        if self.rng.chance(70) && !v.all.is_empty() {
            self.rng.pick(v.all).path.clone()
        } else {
            self.fresh(v, reserved_ok)
        }
    }

    /// Any path including the root.
    fn any_or_root(&mut self, v: &View) -> String {
        if self.rng.chance(5) {
            String::new()
        } else {
            self.any(v, true)
        }
    }

    fn data(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let n = self.rng.range(lo as u64, hi as u64) as usize;
        // Mostly compressible text-like data with some runs of zeroes.
        if self.rng.chance(20) {
            vec![0u8; n]
        } else {
            self.rng.bytes(n)
        }
    }

    fn time(&mut self) -> (i64, i64) {
        (
            self.rng.below(2_000_000_000) as i64,
            self.rng.below(1_000_000_000) as i64,
        )
    }

    fn size_of(v: &View, path: &str) -> u64 {
        v.all
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.size)
            .unwrap_or(0)
    }

    /// The next operation, given the current reference tree (`scan`, and
    /// its root for the deep chain).
    pub fn next(&mut self, scan: &[ScanEntry], root: &Path) -> Op {
        let v = View { all: scan };
        let files = v.of_kind('f');
        let dirs = v.of_kind('d');
        let links = v.of_kind('l');
        let linked: Vec<&ScanEntry> = files.iter().copied().filter(|e| e.nlink > 1).collect();
        let has_deep = scan.iter().any(|e| e.path == DEEP_TOP && e.kind == 'd');
        let weights: Vec<u32> = WEIGHTS
            .iter()
            .map(|&(k, w)| match k {
                "deep" if !has_deep => 0,
                "hardlink" if linked.is_empty() => 0,
                "flagged" if self.flagged.is_empty() => 0,
                _ => w,
            })
            .collect();
        match WEIGHTS[self.rng.weighted(&weights)].0 {
            "create" => {
                let path = if self.rng.chance(55) {
                    self.fresh(&v, true)
                } else {
                    self.prefer(&v, &files, 80, false)
                };
                self.create(path)
            }
            "pwrite" => {
                let path = self.prefer(&v, &files, 90, false);
                let size = Self::size_of(&v, &path);
                self.pwrite(path, size)
            }
            "append" => {
                let path = self.prefer(&v, &files, 90, false);
                Op::Append {
                    path,
                    data: self.data(1, 2048),
                }
            }
            "truncate" => {
                let path = self.prefer(&v, &files, 90, false);
                let size = Self::size_of(&v, &path);
                self.truncate(path, size)
            }
            "read" => Op::Read {
                path: self.prefer(&v, &files, 85, true),
            },
            "stat" => {
                let path = self.any_or_root(&v);
                Op::Stat {
                    path,
                    follow: self.rng.chance(30),
                }
            }
            "rename" => {
                let from = if self.rng.chance(90) {
                    self.existing(&v, &[])
                } else {
                    self.fresh(&v, false)
                };
                let is_dir = dirs.iter().any(|d| d.path == from);
                let to = match self.rng.below(100) {
                    0..=44 => self.fresh(&v, false),
                    45..=84 => self.existing(&v, &[]),
                    _ if is_dir => {
                        let n = *self.rng.pick(NAMES);
                        join(&from, n)
                    }
                    _ => self.fresh(&v, false),
                };
                let flags = self.rename_flags();
                Op::Rename { from, to, flags }
            }
            "link" => {
                let from = self.prefer(&v, &v.non_dirs(), 85, false);
                let to = if self.rng.chance(80) {
                    self.fresh(&v, false)
                } else {
                    self.existing(&v, &[])
                };
                Op::Link { from, to }
            }
            "unlink" => Op::Unlink {
                path: self.prefer(&v, &v.non_dirs(), 80, true),
            },
            "mkdir" => {
                let path = if self.rng.chance(85) {
                    self.fresh(&v, true)
                } else {
                    self.existing(&v, &[])
                };
                Op::Mkdir {
                    path,
                    mode: *self.rng.pick(DIR_MODES),
                }
            }
            "rmdir" => Op::Rmdir {
                path: self.prefer(&v, &dirs, 75, true),
            },
            "symlink" => {
                let path = if self.rng.chance(85) {
                    self.fresh(&v, true)
                } else {
                    self.existing(&v, &[])
                };
                // Relative targets without "..": they always resolve inside
                // the tree on both sides.
                let target = match self.rng.below(10) {
                    0 => "nowhere".to_string(),
                    1..=5 => self.rng.pick(NAMES).to_string(),
                    _ => format!("{}/{}", self.rng.pick(NAMES), self.rng.pick(NAMES)),
                };
                Op::Symlink { target, path }
            }
            "readlink" => Op::Readlink {
                path: self.prefer(&v, &links, 80, true),
            },
            "chmod" => Op::Chmod {
                path: self.any(&v, true),
                mode: *self.rng.pick(CHMOD_MODES),
            },
            "utimensat" => {
                let path = self.any_or_root(&v);
                self.utimens(path)
            }
            "setxattr" => {
                let path = self.xattr_path(&v);
                self.setxattr(path)
            }
            "getxattr" => {
                let path = self.xattr_path(&v);
                Op::GetXattr {
                    path,
                    name: self.xattr_name(),
                }
            }
            "listxattr" => Op::ListXattr {
                path: self.xattr_path(&v),
            },
            "removexattr" => {
                let path = self.xattr_path(&v);
                Op::RemoveXattr {
                    path,
                    name: self.xattr_name(),
                }
            }
            "readdir" => {
                let path = if self.rng.chance(15) {
                    String::new()
                } else {
                    self.prefer(&v, &dirs, 85, true)
                };
                Op::Readdir { path }
            }
            "mkfifo" => {
                let path = if self.rng.chance(85) {
                    self.fresh(&v, true)
                } else {
                    self.existing(&v, &[])
                };
                Op::Mkfifo {
                    path,
                    mode: *self.rng.pick(FILE_MODES),
                }
            }
            "getflags" => Op::GetFlags {
                path: self.xattr_path(&v),
            },
            "setflags" => {
                let (path, is_dir) = if self.rng.chance(80) && !files.is_empty() {
                    (self.rng.pick(&files).path.clone(), false)
                } else if !dirs.is_empty() {
                    (self.rng.pick(&dirs).path.clone(), true)
                } else {
                    (self.fresh(&v, false), false)
                };
                self.setflags(path, is_dir)
            }
            "deep" => self.deep(root),
            "hardlink" => self.hardlink(&v, &linked),
            "flagged" => self.flagged_op(&v),
            other => unreachable!("unknown op kind {other}"),
        }
    }
}
