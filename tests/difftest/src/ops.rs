//! Filesystem operations as concrete values, their outcomes, and the executor
//! that applies one operation to one side (the union or the reference).

use crate::flatten::WH_PREFIX;
use crate::sys::{self, Errno};
use crate::tree::describe_bytes;
use std::fmt;
use std::path::PathBuf;

/// Every open uses O_NONBLOCK: operations may hit fifos, whose open would
/// otherwise block forever (O_WRONLY without a reader gives ENXIO instead, and
/// reading one without a writer gives EOF).  Regular files ignore the flag.
const NONBLOCK: libc::c_int = libc::O_NONBLOCK;

/// A timestamp (seconds, nanoseconds).
pub type Time = (i64, i64);

/// One operation.  Paths are relative to the side's root ("" is the root),
/// components separated by '/'.  All data is stored so a subsequence can be
/// replayed exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// open(O_CREAT|O_WRONLY [|O_EXCL] [|O_TRUNC], mode) + write(data).
    Create {
        path: String,
        excl: bool,
        trunc: bool,
        mode: u32,
        data: Vec<u8>,
    },
    /// open(O_WRONLY) + pwrite(data, offset).
    Pwrite {
        path: String,
        offset: u64,
        data: Vec<u8>,
    },
    /// open(O_WRONLY|O_APPEND) + write(data); outcome is the new size.
    Append {
        path: String,
        data: Vec<u8>,
    },
    Truncate {
        path: String,
        len: u64,
    },
    /// open(O_RDONLY) + read to EOF.
    Read {
        path: String,
    },
    Stat {
        path: String,
        follow: bool,
    },
    /// renameat2 with flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
    Rename {
        from: String,
        to: String,
        flags: u32,
    },
    Link {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Rmdir {
        path: String,
    },
    Symlink {
        target: String,
        path: String,
    },
    Readlink {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    /// utimensat with explicit times (`atime` None = UTIME_OMIT), then stat;
    /// the outcome holds the times that were set.
    Utimens {
        path: String,
        atime: Option<Time>,
        mtime: Time,
        nofollow: bool,
    },
    SetXattr {
        path: String,
        name: String,
        value: Vec<u8>,
        flags: i32,
    },
    GetXattr {
        path: String,
        name: String,
    },
    /// The sorted user.*/trusted.* names.
    ListXattr {
        path: String,
    },
    RemoveXattr {
        path: String,
        name: String,
    },
    /// Sorted (name, d_type) of every entry, "." and ".." included.
    Readdir {
        path: String,
    },
    Mkfifo {
        path: String,
        mode: u32,
    },
}

impl Op {
    /// Short name of the operation kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::Pwrite { .. } => "pwrite",
            Op::Append { .. } => "append",
            Op::Truncate { .. } => "truncate",
            Op::Read { .. } => "read",
            Op::Stat { .. } => "stat",
            Op::Rename { .. } => "rename",
            Op::Link { .. } => "link",
            Op::Unlink { .. } => "unlink",
            Op::Mkdir { .. } => "mkdir",
            Op::Rmdir { .. } => "rmdir",
            Op::Symlink { .. } => "symlink",
            Op::Readlink { .. } => "readlink",
            Op::Chmod { .. } => "chmod",
            Op::Utimens { .. } => "utimensat",
            Op::SetXattr { .. } => "setxattr",
            Op::GetXattr { .. } => "getxattr",
            Op::ListXattr { .. } => "listxattr",
            Op::RemoveXattr { .. } => "removexattr",
            Op::Readdir { .. } => "readdir",
            Op::Mkfifo { .. } => "mkfifo",
        }
    }

    /// May this operation change the tree (names, types or sizes)?
    pub fn mutates_tree(&self) -> bool {
        !matches!(
            self,
            Op::Read { .. }
                | Op::Stat { .. }
                | Op::Readlink { .. }
                | Op::GetXattr { .. }
                | Op::ListXattr { .. }
                | Op::Readdir { .. }
        )
    }
}

fn show_path(p: &str) -> String {
    if p.is_empty() {
        "\".\"".to_string()
    } else {
        format!("{p:?}")
    }
}

fn show_time(t: &Time) -> String {
    format!("{}.{:09}", t.0, t.1)
}

fn rename_flags(f: u32) -> &'static str {
    match f {
        0 => "0",
        sys::RENAME_NOREPLACE => "RENAME_NOREPLACE",
        sys::RENAME_EXCHANGE => "RENAME_EXCHANGE",
        _ => "?",
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create {
                path,
                excl,
                trunc,
                mode,
                data,
            } => write!(
                f,
                "create {} O_CREAT|O_WRONLY{}{} mode={:04o} write({})",
                show_path(path),
                if *excl { "|O_EXCL" } else { "" },
                if *trunc { "|O_TRUNC" } else { "" },
                mode,
                describe_bytes(data)
            ),
            Op::Pwrite { path, offset, data } => {
                write!(
                    f,
                    "pwrite {} offset={} ({})",
                    show_path(path),
                    offset,
                    describe_bytes(data)
                )
            }
            Op::Append { path, data } => {
                write!(f, "append {} ({})", show_path(path), describe_bytes(data))
            }
            Op::Truncate { path, len } => write!(f, "truncate {} len={}", show_path(path), len),
            Op::Read { path } => write!(f, "read {}", show_path(path)),
            Op::Stat { path, follow } => {
                write!(
                    f,
                    "{} {}",
                    if *follow { "stat" } else { "lstat" },
                    show_path(path)
                )
            }
            Op::Rename { from, to, flags } => {
                write!(
                    f,
                    "renameat2 {} -> {} flags={}",
                    show_path(from),
                    show_path(to),
                    rename_flags(*flags)
                )
            }
            Op::Link { from, to } => write!(f, "link {} -> {}", show_path(from), show_path(to)),
            Op::Unlink { path } => write!(f, "unlink {}", show_path(path)),
            Op::Mkdir { path, mode } => write!(f, "mkdir {} mode={:04o}", show_path(path), mode),
            Op::Rmdir { path } => write!(f, "rmdir {}", show_path(path)),
            Op::Symlink { target, path } => {
                write!(f, "symlink {} -> target {:?}", show_path(path), target)
            }
            Op::Readlink { path } => write!(f, "readlink {}", show_path(path)),
            Op::Chmod { path, mode } => write!(f, "chmod {} mode={:04o}", show_path(path), mode),
            Op::Utimens {
                path,
                atime,
                mtime,
                nofollow,
            } => write!(
                f,
                "utimensat {} atime={} mtime={}{}",
                show_path(path),
                atime
                    .as_ref()
                    .map(show_time)
                    .unwrap_or_else(|| "UTIME_OMIT".into()),
                show_time(mtime),
                if *nofollow {
                    " AT_SYMLINK_NOFOLLOW"
                } else {
                    ""
                }
            ),
            Op::SetXattr {
                path,
                name,
                value,
                flags,
            } => write!(
                f,
                "lsetxattr {} {} ({}) flags={}",
                show_path(path),
                name,
                describe_bytes(value),
                match *flags {
                    sys::XATTR_CREATE => "XATTR_CREATE",
                    sys::XATTR_REPLACE => "XATTR_REPLACE",
                    _ => "0",
                }
            ),
            Op::GetXattr { path, name } => write!(f, "lgetxattr {} {}", show_path(path), name),
            Op::ListXattr { path } => write!(f, "llistxattr {}", show_path(path)),
            Op::RemoveXattr { path, name } => {
                write!(f, "lremovexattr {} {}", show_path(path), name)
            }
            Op::Readdir { path } => write!(f, "readdir {}", show_path(path)),
            Op::Mkfifo { path, mode } => write!(f, "mkfifo {} mode={:04o}", show_path(path), mode),
        }
    }
}

/// The comparable part of a stat result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatInfo {
    /// Full st_mode (type and permission bits).
    pub mode: u32,
    /// st_size; `None` for directories.
    pub size: Option<u64>,
    /// st_nlink; `None` for directories.
    pub nlink: Option<u64>,
    pub uid: u32,
    pub gid: u32,
}

impl StatInfo {
    // st_nlink is u64 on x86_64 but u32 on some other architectures.
    #[allow(clippy::useless_conversion)]
    pub fn from_stat(st: &libc::stat) -> StatInfo {
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        StatInfo {
            mode: st.st_mode,
            size: if is_dir {
                None
            } else {
                Some(st.st_size as u64)
            },
            nlink: if is_dir {
                None
            } else {
                Some(u64::from(st.st_nlink))
            },
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
}

/// The successful result of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Unit,
    Count(u64),
    Bytes(Vec<u8>),
    Text(String),
    Stat(StatInfo),
    Times { atime: Option<Time>, mtime: Time },
    Names(Vec<String>),
    Dirents(Vec<(String, u8)>),
}

/// Normalised result of one operation: a value or an errno.
pub type Outcome = Result<Val, Errno>;

pub fn show_outcome(o: &Outcome) -> String {
    match o {
        Err(e) => format!("Err({})", sys::errno_name(*e)),
        Ok(Val::Unit) => "Ok".to_string(),
        Ok(Val::Count(n)) => format!("Ok({n})"),
        Ok(Val::Bytes(b)) => format!("Ok({})", describe_bytes(b)),
        Ok(Val::Text(t)) => format!("Ok({t:?})"),
        Ok(Val::Stat(s)) => format!(
            "Ok({} mode={:06o} size={} nlink={} uid={} gid={})",
            sys::kind_char(s.mode),
            s.mode,
            s.size.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.nlink.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.uid,
            s.gid
        ),
        Ok(Val::Times { atime, mtime }) => format!(
            "Ok(atime={} mtime={})",
            atime.as_ref().map(show_time).unwrap_or_else(|| "-".into()),
            show_time(mtime)
        ),
        Ok(Val::Names(n)) => format!("Ok({n:?})"),
        Ok(Val::Dirents(d)) => {
            let parts: Vec<String> = d.iter().map(|(n, t)| format!("{n}:{t}")).collect();
            format!("Ok([{}])", parts.join(" "))
        }
    }
}

/// A deliberate bug for testing the tester (hidden `--inject-bug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// unlink of an existing regular file named `c` fails with EBUSY
    /// (a real mismatch: tests failure reporting and minimisation).
    UnlinkC,
    /// Every directory rename that would succeed fails with EXDEV instead,
    /// like aufs for directories with lower children (a deliberate
    /// difference: tests the reference's undo path; the run must pass).
    DirRenameExdev,
}

impl Bug {
    pub fn parse(s: &str) -> Option<Bug> {
        match s {
            "unlink-c" => Some(Bug::UnlinkC),
            "dir-exdev" => Some(Bug::DirRenameExdev),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Bug::UnlinkC => "unlink-c",
            Bug::DirRenameExdev => "dir-exdev",
        }
    }
}

/// One side of the comparison: a directory tree the operations run on.
#[derive(Clone, Debug)]
pub struct Side {
    pub root: PathBuf,
    /// Emulate aufs's reserved names: any path component starting with
    /// `.wh.` gets EPERM (aufs-reference.md, "Reserved names").  Set on the
    /// reference and on the simulated union of `selfcheck`; never on a real
    /// aufs mount.
    pub aufs_names: bool,
    pub bug: Option<Bug>,
}

impl Side {
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// What the kernel + aufs would answer for a path with a `.wh.` component:
    /// the walk reaches that component (EPERM) unless an earlier component is
    /// missing or not a directory, in which case the real syscall on the plain
    /// directory gives the same error as aufs would.
    fn reserved_name_errno(&self, rel: &str) -> Option<Errno> {
        if !self.aufs_names || rel.is_empty() {
            return None;
        }
        let comps: Vec<&str> = rel.split('/').collect();
        for (i, c) in comps.iter().enumerate() {
            if c.starts_with(WH_PREFIX) {
                return Some(libc::EPERM);
            }
            if i + 1 < comps.len() {
                let prefix = comps[..=i].join("/");
                match sys::stat(&self.abs(&prefix)) {
                    Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                    _ => return None,
                }
            }
        }
        None
    }

    fn paths_of(op: &Op) -> Vec<&str> {
        match op {
            Op::Rename { from, to, .. } | Op::Link { from, to } => vec![from, to],
            Op::Create { path, .. }
            | Op::Pwrite { path, .. }
            | Op::Append { path, .. }
            | Op::Truncate { path, .. }
            | Op::Read { path }
            | Op::Stat { path, .. }
            | Op::Unlink { path }
            | Op::Mkdir { path, .. }
            | Op::Rmdir { path }
            | Op::Symlink { path, .. }
            | Op::Readlink { path }
            | Op::Chmod { path, .. }
            | Op::Utimens { path, .. }
            | Op::SetXattr { path, .. }
            | Op::GetXattr { path, .. }
            | Op::ListXattr { path }
            | Op::RemoveXattr { path, .. }
            | Op::Readdir { path }
            | Op::Mkfifo { path, .. } => vec![path],
        }
    }

    /// Applies `op` and returns its normalised outcome.
    pub fn apply(&self, op: &Op) -> Outcome {
        for p in Self::paths_of(op) {
            if let Some(e) = self.reserved_name_errno(p) {
                return Err(e);
            }
        }
        match op {
            Op::Create {
                path,
                excl,
                trunc,
                mode,
                data,
            } => {
                let mut flags = libc::O_CREAT | libc::O_WRONLY | NONBLOCK;
                if *excl {
                    flags |= libc::O_EXCL;
                }
                if *trunc {
                    flags |= libc::O_TRUNC;
                }
                let fd = sys::open(&self.abs(path), flags, *mode)?;
                Ok(Val::Count(sys::write_all(&fd, data)?))
            }
            Op::Pwrite { path, offset, data } => {
                let fd = sys::open(&self.abs(path), libc::O_WRONLY | NONBLOCK, 0)?;
                Ok(Val::Count(sys::pwrite_all(&fd, data, *offset)?))
            }
            Op::Append { path, data } => {
                let fd = sys::open(
                    &self.abs(path),
                    libc::O_WRONLY | libc::O_APPEND | NONBLOCK,
                    0,
                )?;
                sys::write_all(&fd, data)?;
                Ok(Val::Count(sys::fstat(&fd)?.st_size as u64))
            }
            Op::Truncate { path, len } => sys::truncate(&self.abs(path), *len).map(|_| Val::Unit),
            Op::Read { path } => {
                let fd = sys::open(&self.abs(path), libc::O_RDONLY | NONBLOCK, 0)?;
                Ok(Val::Bytes(sys::read_to_end(&fd)?))
            }
            Op::Stat { path, follow } => {
                let p = self.abs(path);
                let st = if *follow {
                    sys::stat(&p)?
                } else {
                    sys::lstat(&p)?
                };
                Ok(Val::Stat(StatInfo::from_stat(&st)))
            }
            Op::Rename { from, to, flags } => {
                let undo = if self.bug == Some(Bug::DirRenameExdev) {
                    rename_undo_info(self, op)
                } else {
                    None
                };
                sys::renameat2(&self.abs(from), &self.abs(to), *flags)?;
                if let Some(u) = undo {
                    // Injected bug: report EXDEV after putting things back.
                    return match undo_rename(&u) {
                        Ok(()) => Err(libc::EXDEV),
                        Err(_) => Err(libc::EIO),
                    };
                }
                Ok(Val::Unit)
            }
            Op::Link { from, to } => sys::link(&self.abs(from), &self.abs(to)).map(|_| Val::Unit),
            Op::Unlink { path } => {
                let p = self.abs(path);
                if self.bug == Some(Bug::UnlinkC) && path.rsplit('/').next() == Some("c") {
                    if let Ok(st) = sys::lstat(&p) {
                        if st.st_mode & libc::S_IFMT == libc::S_IFREG {
                            return Err(libc::EBUSY);
                        }
                    }
                }
                sys::unlink(&p).map(|_| Val::Unit)
            }
            Op::Mkdir { path, mode } => sys::mkdir(&self.abs(path), *mode).map(|_| Val::Unit),
            Op::Rmdir { path } => sys::rmdir(&self.abs(path)).map(|_| Val::Unit),
            Op::Symlink { target, path } => {
                sys::symlink(target, &self.abs(path)).map(|_| Val::Unit)
            }
            Op::Readlink { path } => sys::readlink(&self.abs(path))
                .map(|t| Val::Text(String::from_utf8_lossy(&t).into_owned())),
            Op::Chmod { path, mode } => sys::chmod(&self.abs(path), *mode).map(|_| Val::Unit),
            Op::Utimens {
                path,
                atime,
                mtime,
                nofollow,
            } => {
                let p = self.abs(path);
                sys::utimensat(&p, *atime, Some(*mtime), *nofollow)?;
                let st = if *nofollow {
                    sys::lstat(&p)?
                } else {
                    sys::stat(&p)?
                };
                Ok(Val::Times {
                    atime: atime.map(|_| (st.st_atime, st.st_atime_nsec)),
                    mtime: (st.st_mtime, st.st_mtime_nsec),
                })
            }
            Op::SetXattr {
                path,
                name,
                value,
                flags,
            } => sys::lsetxattr(&self.abs(path), name, value, *flags).map(|_| Val::Unit),
            Op::GetXattr { path, name } => sys::lgetxattr(&self.abs(path), name).map(Val::Bytes),
            Op::ListXattr { path } => {
                let mut names: Vec<String> = sys::llistxattr(&self.abs(path))?
                    .into_iter()
                    .filter(|n| sys::compared_xattr(n))
                    .collect();
                names.sort();
                Ok(Val::Names(names))
            }
            Op::RemoveXattr { path, name } => {
                sys::lremovexattr(&self.abs(path), name).map(|_| Val::Unit)
            }
            Op::Readdir { path } => {
                let mut ents = sys::read_dir(&self.abs(path))?;
                ents.sort();
                Ok(Val::Dirents(ents))
            }
            Op::Mkfifo { path, mode } => {
                sys::mknod(&self.abs(path), libc::S_IFIFO | (*mode & 0o7777), 0).map(|_| Val::Unit)
            }
        }
    }
}

/// Attributes of an empty directory that a rename replaced.
pub struct ReplacedDir {
    pub st: libc::stat,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// What is needed to undo a directory rename on a plain directory: used on
/// the reference when the union refused the rename with EXDEV, and by the
/// injected `dir-exdev` bug.
pub struct RenameUndo {
    from: PathBuf,
    to: PathBuf,
    flags: u32,
    /// A plain rename over an (empty) directory replaced it: its attributes.
    replaced_dir: Option<ReplacedDir>,
}

fn is_dir(st: &Result<libc::stat, sys::Errno>) -> bool {
    matches!(st, Ok(s) if s.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// For a rename involving a directory (the source, or either side of an
/// exchange), what is needed to undo it; `None` for other operations.
pub fn rename_undo_info(side: &Side, op: &Op) -> Option<RenameUndo> {
    let Op::Rename { from, to, flags } = op else {
        return None;
    };
    let (f, t) = (side.abs(from), side.abs(to));
    let (fst, tst) = (sys::lstat(&f), sys::lstat(&t));
    let dir_involved = is_dir(&fst) || (*flags == sys::RENAME_EXCHANGE && is_dir(&tst));
    if !dir_involved {
        return None;
    }
    let replaced_dir = if *flags == 0 && is_dir(&tst) && from != to {
        let st = tst.ok()?;
        Some(ReplacedDir {
            st,
            xattrs: sys::compared_xattrs(&t).unwrap_or_default(),
        })
    } else {
        None
    };
    Some(RenameUndo {
        from: f,
        to: t,
        flags: *flags,
        replaced_dir,
    })
}

pub fn undo_rename(u: &RenameUndo) -> Result<(), String> {
    let e = |what: &str, e: sys::Errno| format!("undoing rename: {what}: {}", sys::errno_name(e));
    if u.flags == sys::RENAME_EXCHANGE {
        return sys::renameat2(&u.from, &u.to, sys::RENAME_EXCHANGE)
            .map_err(|x| e("exchange back", x));
    }
    if u.from == u.to {
        return Ok(());
    }
    sys::renameat2(&u.to, &u.from, 0).map_err(|x| e("rename back", x))?;
    if let Some(ReplacedDir { st, xattrs }) = &u.replaced_dir {
        sys::mkdir(&u.to, 0o700).map_err(|x| e("re-create replaced dir", x))?;
        if sys::geteuid() == 0 {
            sys::lchown(&u.to, st.st_uid, st.st_gid).map_err(|x| e("chown", x))?;
        }
        for (n, v) in xattrs {
            sys::lsetxattr(&u.to, n, v, 0).map_err(|x| e("setxattr", x))?;
        }
        sys::chmod(&u.to, st.st_mode & 0o7777).map_err(|x| e("chmod", x))?;
    }
    Ok(())
}
