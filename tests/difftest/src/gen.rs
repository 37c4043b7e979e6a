//! Random operation generation.  Each operation is drawn from the PRNG and
//! the current state of the reference tree (so most operations hit existing
//! names); the result is a concrete [`Op`] that can be replayed later.

use crate::ops::Op;
use crate::rng::Rng;
use crate::sys;
use crate::tree::ScanEntry;

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
];

/// The operation generator of one run.
pub struct Generator {
    rng: Rng,
    /// "user." or "trusted.".
    xattr_prefix: String,
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
    pub fn new(seed: u64, xattr_prefix: &str) -> Generator {
        Generator {
            rng: Rng::new(seed, 2),
            xattr_prefix: xattr_prefix.to_string(),
        }
    }

    fn xattr_name(&mut self) -> String {
        format!("{}{}", self.xattr_prefix, self.rng.pick(XATTR_SUFFIXES))
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

    /// The next operation, given the current reference tree.
    pub fn next(&mut self, scan: &[ScanEntry]) -> Op {
        let v = View { all: scan };
        let weights: Vec<u32> = WEIGHTS.iter().map(|w| w.1).collect();
        let files = v.of_kind('f');
        let dirs = v.of_kind('d');
        let links = v.of_kind('l');
        match WEIGHTS[self.rng.weighted(&weights)].0 {
            "create" => {
                let path = if self.rng.chance(55) {
                    self.fresh(&v, true)
                } else {
                    self.prefer(&v, &files, 80, false)
                };
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
            "pwrite" => {
                let path = self.prefer(&v, &files, 90, false);
                let size = Self::size_of(&v, &path);
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
                let len = match self.rng.below(100) {
                    0..=9 => 0,
                    10..=49 => self.rng.range(0, size),
                    50..=84 => size + self.rng.range(1, 65536),
                    _ => self.rng.below(1 << 20),
                };
                Op::Truncate { path, len }
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
                let flags = match self.rng.below(100) {
                    0..=69 => 0,
                    70..=84 => sys::RENAME_NOREPLACE,
                    _ => sys::RENAME_EXCHANGE,
                };
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
            "setxattr" => {
                let path = self.xattr_path(&v);
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
            other => unreachable!("unknown op kind {other}"),
        }
    }
}
