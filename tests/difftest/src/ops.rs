//! Filesystem operations as concrete values, their outcomes, and the executor
//! that applies one operation to one side (the union or the reference).

use crate::flatten::WH_PREFIX;
use crate::model::{parents_unlocked, DirPerms, LinkModel, Pending, Walk};
use crate::privs;
use crate::sys::{self, Errno};
use crate::tree::describe_bytes;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// renameat2 with flags 0, RENAME_NOREPLACE, RENAME_EXCHANGE or
    /// RENAME_WHITEOUT.
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
    /// open(O_RDONLY|O_NONBLOCK|O_NOFOLLOW) + FS_IOC_GETFLAGS (lsattr).
    GetFlags {
        path: String,
    },
    /// open as for GetFlags + FS_IOC_GETFLAGS + FS_IOC_SETFLAGS with
    /// `(old | set) & !clear` (chattr +x / -x).
    SetFlags {
        path: String,
        set: u32,
        clear: u32,
    },
}

/// Every operation kind, as returned by [`Op::kind`].
pub const KINDS: &[&str] = &[
    "create",
    "pwrite",
    "append",
    "truncate",
    "read",
    "stat",
    "rename",
    "link",
    "unlink",
    "mkdir",
    "rmdir",
    "symlink",
    "readlink",
    "chmod",
    "utimensat",
    "setxattr",
    "getxattr",
    "listxattr",
    "removexattr",
    "readdir",
    "mkfifo",
    "getflags",
    "setflags",
];

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
            Op::GetFlags { .. } => "getflags",
            Op::SetFlags { .. } => "setflags",
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
                | Op::GetFlags { .. }
        )
    }

    /// Every path the operation names.
    pub fn paths(&self) -> Vec<&str> {
        match self {
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
            | Op::Mkfifo { path, .. }
            | Op::GetFlags { path }
            | Op::SetFlags { path, .. } => vec![path],
        }
    }

    /// The paths through which a successful operation copies a file up
    /// (changes its data or attributes), with whether the final component
    /// is followed if it is a symlink.
    pub fn copy_up_paths(&self) -> Vec<(&str, bool)> {
        match self {
            // The module copies up when a file is opened for writing.
            Op::Create { path, .. } => vec![(path, true)],
            Op::Pwrite { path, .. }
            | Op::Append { path, .. }
            | Op::Truncate { path, .. }
            | Op::Chmod { path, .. } => vec![(path, true)],
            Op::Utimens { path, nofollow, .. } => vec![(path, !*nofollow)],
            Op::SetXattr { path, .. }
            | Op::RemoveXattr { path, .. }
            | Op::SetFlags { path, .. } => {
                vec![(path, false)]
            }
            Op::Link { from, .. } => vec![(from, false)],
            Op::Rename { from, to, flags } => match *flags {
                sys::RENAME_WHITEOUT => vec![],
                sys::RENAME_EXCHANGE => vec![(from, false), (to, false)],
                _ => vec![(from, false)],
            },
            _ => vec![],
        }
    }
}

/// "+a-i" for chattr-style flag changes.
pub fn show_flag_change(set: u32, clear: u32) -> String {
    let letters = [
        (sys::FS_APPEND_FL, 'a'),
        (sys::FS_IMMUTABLE_FL, 'i'),
        (sys::FS_NODUMP_FL, 'd'),
        (sys::FS_NOATIME_FL, 'A'),
    ];
    let mut s = String::new();
    for (bit, c) in letters {
        if set & bit != 0 {
            s.push('+');
            s.push(c);
        }
        if clear & bit != 0 {
            s.push('-');
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("(none)");
    }
    s
}

/// lsattr-style letters of a flags word ("-" when none).
pub fn show_flags(f: u32) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (sys::FS_APPEND_FL, 'a'),
        (sys::FS_IMMUTABLE_FL, 'i'),
        (sys::FS_NODUMP_FL, 'd'),
        (sys::FS_NOATIME_FL, 'A'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if f & !sys::FS_COMPARED_FL != 0 {
        s.push_str(&format!("+{:#x}", f & !sys::FS_COMPARED_FL));
    }
    if s.is_empty() {
        s.push('-');
    }
    s
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
        sys::RENAME_WHITEOUT => "RENAME_WHITEOUT",
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
            Op::GetFlags { path } => write!(f, "lsattr (FS_IOC_GETFLAGS) {}", show_path(path)),
            Op::SetFlags { path, set, clear } => write!(
                f,
                "chattr {} (FS_IOC_SETFLAGS) {}",
                show_flag_change(*set, *clear),
                show_path(path)
            ),
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
    Times {
        atime: Option<Time>,
        mtime: Time,
    },
    Names(Vec<String>),
    Dirents(Vec<(String, u8)>),
    /// The flag ioctls: the file could be opened; the ioctl's own result
    /// (the flags after the call, masked to FS_COMPARED_FL).
    Flags(Result<u32, Errno>),
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
        Ok(Val::Flags(Ok(f))) => format!("Ok(open; ioctl Ok({}))", show_flags(*f)),
        Ok(Val::Flags(Err(e))) => format!("Ok(open; ioctl Err({}))", sys::errno_name(*e)),
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
#[derive(Debug)]
pub struct Side {
    pub root: PathBuf,
    /// This side is a plain directory that models aufs (the reference, and
    /// the simulated union of `selfcheck`; never a real aufs mount):
    /// * reserved names: any path component starting with `.wh.` gets
    ///   EPERM (aufs-reference.md, "Reserved names");
    /// * hard links of read-only branches break on copy-up (`links`);
    /// * RENAME_WHITEOUT is refused with EINVAL (after the VFS's own
    ///   checks), see [`Side::rename_whiteout`].
    pub model: bool,
    pub bug: Option<Bug>,
    /// Hard-link model (empty unless `model`).
    pub links: LinkModel,
    /// Directory permission model (empty unless `model`).
    pub dirperms: DirPerms,
    /// Link-model changes of the last operation, kept or undone by
    /// [`Side::settle`].
    pending: Vec<Pending>,
}

impl Side {
    pub fn new(root: PathBuf, model: bool, bug: Option<Bug>, stash: PathBuf) -> Side {
        Side {
            root,
            model,
            bug,
            links: LinkModel::new(stash),
            dirperms: DirPerms::default(),
            pending: Vec::new(),
        }
    }

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
        if !self.model || rel.is_empty() {
            return None;
        }
        let comps: Vec<&str> = rel.split('/').collect();
        for (i, c) in comps.iter().enumerate() {
            if c.starts_with(WH_PREFIX) {
                // The lookup of the name needs search permission on its
                // directory first (else EACCES, from the real syscall).
                let parent = self.abs(&comps[..i].join("/"));
                if !sys::can_search(&parent) {
                    return None;
                }
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

    /// Applies `op` and returns its normalised outcome; `Err` is a failure
    /// of the tester's own model (not an outcome).
    pub fn apply(&mut self, op: &Op) -> Result<Outcome, String> {
        self.settle(true)?;
        if let Some(e) = self.dir_permission_errno(op) {
            return Ok(Err(e));
        }
        for p in op.paths() {
            if let Some(e) = self.reserved_name_errno(p) {
                return Ok(Err(e));
            }
        }
        if !self.model {
            return Ok(self.apply_raw(op));
        }
        if let Op::Rename {
            from,
            to,
            flags: sys::RENAME_WHITEOUT,
        } = op
        {
            return self.rename_whiteout(from, to);
        }
        if op.mutates_tree() {
            for p in op.paths() {
                let p = self.abs(p);
                self.links.touch(&p);
            }
        }
        // Copy-up through a name of a lower hard link: that name becomes a
        // file of its own (kept only if the operation succeeds).
        let same_file = match op {
            Op::Rename { from, to, .. } => {
                let st = |p: &str| privs::as_root(|| sys::lstat(&self.abs(p)));
                matches!((st(from), st(to)), (Ok(a), Ok(b)) if a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            }
            _ => false,
        };
        if !same_file && !self.links.lower.is_empty() {
            for (p, follow) in op.copy_up_paths() {
                let mut p = self.abs(p);
                if follow {
                    match privs::as_root(|| sys::realpath(&p)) {
                        Ok(r) if r.starts_with(&self.root) => p = r,
                        _ => continue,
                    }
                }
                if let Some(pend) = self.links.prepare(&p)? {
                    self.pending.push(pend);
                }
            }
        }
        let out = self.apply_raw(op);
        if out.is_err() {
            self.settle(false)?;
        }
        Ok(out)
    }

    /// EACCES where the union's directory permission rule refuses what
    /// this directory's own permissions allow (see [`DirPerms`]): search
    /// on every directory walked through, in the order the VFS walks the
    /// paths, and read on a directory the operation opens for reading or
    /// whose user.* xattr it reads.  `None`: the real call decides.
    fn dir_permission_errno(&self, op: &Op) -> Option<Errno> {
        if !self.model || self.dirperms.lower.is_empty() || sys::geteuid() == 0 {
            return None;
        }
        let mut last_dirs = Vec::new();
        for p in op.paths() {
            match self.dirperms.walk(&self.root, p) {
                Walk::Denied => return Some(libc::EACCES),
                Walk::Undecided => return None,
                Walk::Allowed(d) => last_dirs.push(d),
            }
        }
        let reads_dir = match op {
            Op::Readdir { .. } | Op::Read { .. } | Op::GetFlags { .. } | Op::SetFlags { .. } => {
                true
            }
            Op::GetXattr { name, .. } => name.starts_with("user."),
            _ => false,
        };
        if let (true, Some(Some(ino))) = (reads_dir, last_dirs.first()) {
            let (uid, gid) = (sys::geteuid(), sys::getegid());
            if !self.dirperms.allows(*ino, uid, gid, libc::R_OK as u32) {
                return Some(libc::EACCES);
            }
        }
        None
    }

    /// Keeps (`keep`) or undoes the link-model changes of the last
    /// operation.  [`Side::apply`] keeps them at the start of the next
    /// operation; the runner undoes them when the union legitimately did
    /// nothing (known differences).
    pub fn settle(&mut self, keep: bool) -> Result<(), String> {
        // Undo in reverse order (an exchange may have broken both names).
        while let Some(p) = self.pending.pop() {
            if keep {
                self.links.commit(p)?;
            } else {
                self.links.undo(p)?;
            }
        }
        Ok(())
    }

    /// RENAME_WHITEOUT as the union answers it: the VFS's checks before
    /// the filesystem's rename (missing source, permissions, types, ...) as
    /// for any rename, then EINVAL from aufs and nothing changed.  tmpfs
    /// would make a whiteout device instead; so the rename is done for real
    /// on this side (that gives the VFS's answers) and undone if it
    /// succeeded.  Two names of one inode: the VFS succeeds without calling
    /// the filesystem.  ENOTEMPTY from tmpfs (a non-empty target directory)
    /// comes from the filesystem's rename, where aufs answers EINVAL first;
    /// from the VFS it means the target is an ancestor of the source.
    fn rename_whiteout(&mut self, from: &str, to: &str) -> Result<Outcome, String> {
        let (f, t) = (self.abs(from), self.abs(to));
        let fst = privs::as_root(|| sys::lstat(&f));
        let tst = privs::as_root(|| sys::lstat(&t));
        let same =
            matches!((&fst, &tst), (Ok(a), Ok(b)) if a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        let e = |what: &str, p: &Path, e: Errno| {
            format!(
                "RENAME_WHITEOUT model: {what} {}: {}",
                p.display(),
                sys::errno_name(e)
            )
        };
        // What a successful rename would replace, to put it back.
        let mut stash: Option<PathBuf> = None;
        let mut replaced_dir: Option<ReplacedDir> = None;
        if let (Ok(_), Ok(st)) = (&fst, &tst) {
            if !same && from != to {
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    replaced_dir = privs::as_root(|| ReplacedDir::of(&t, st));
                } else {
                    let s = self
                        .links
                        .stash
                        .join(format!("wh-target.{}", sys::getpid()));
                    // Fails for an append-only/immutable target, which the
                    // rename cannot replace either.
                    if privs::as_root(|| sys::link(&t, &s)).is_ok() {
                        stash = Some(s);
                    }
                }
            }
        }
        let r = sys::renameat2(&f, &t, sys::RENAME_WHITEOUT);
        let out = match r {
            Ok(()) if same => Ok(Val::Unit),
            Ok(()) => {
                privs::as_root(|| {
                    parents_unlocked(&[&f, &t], || -> Result<(), String> {
                        sys::unlink(&f).map_err(|x| e("remove whiteout", &f, x))?;
                        sys::renameat2(&t, &f, 0).map_err(|x| e("rename back", &f, x))?;
                        if let Some(s) = stash.take() {
                            sys::renameat2(&s, &t, 0).map_err(|x| e("restore target", &t, x))?;
                        } else if let Some(d) = &replaced_dir {
                            d.recreate(&t)
                                .map_err(|x| e("re-create target dir", &t, x))?;
                        } else if tst.is_ok() {
                            return Err(format!(
                                "RENAME_WHITEOUT model: {} was replaced and cannot be restored",
                                t.display()
                            ));
                        }
                        Ok(())
                    })
                })?;
                Err(libc::EINVAL)
            }
            // xfs says EEXIST for a non-empty target directory (see apply_raw).
            Err(libc::ENOTEMPTY) | Err(libc::EEXIST) => {
                let fparent = f.parent().map(|p| privs::as_root(|| sys::realpath(p)));
                let tdir = privs::as_root(|| sys::realpath(&t));
                match (fparent, tdir) {
                    (Some(Ok(fp)), Ok(td)) if fp.starts_with(&td) => Err(libc::ENOTEMPTY),
                    _ => Err(libc::EINVAL),
                }
            }
            Err(x) => Err(x),
        };
        if let Some(s) = stash {
            privs::as_root(|| sys::unlink(&s)).map_err(|x| e("unlink", &s, x))?;
        }
        Ok(out)
    }

    /// Applies `op` to this side's tree as it is.
    fn apply_raw(&self, op: &Op) -> Outcome {
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
                let (fa, ta) = (self.abs(from), self.abs(to));
                match sys::renameat2(&fa, &ta, *flags) {
                    // A non-empty target directory: POSIX allows EEXIST or
                    // ENOTEMPTY; xfs says EEXIST, tmpfs, ext4 and aufs
                    // ENOTEMPTY.  Both sides are told the same.
                    Err(libc::EEXIST)
                        if *flags & sys::RENAME_NOREPLACE == 0 && is_dir(&sys::lstat(&ta)) =>
                    {
                        return Err(libc::ENOTEMPTY)
                    }
                    r => r?,
                }
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
            Op::GetFlags { path } => {
                let fd = sys::open_for_flags(&self.abs(path))?;
                Ok(Val::Flags(
                    sys::get_flags(&fd).map(|f| f & sys::FS_COMPARED_FL),
                ))
            }
            Op::SetFlags { path, set, clear } => {
                let fd = sys::open_for_flags(&self.abs(path))?;
                let r = sys::get_flags(&fd).and_then(|old| {
                    let new = (old | set) & !clear;
                    sys::set_flags(&fd, new)?;
                    Ok(new & sys::FS_COMPARED_FL)
                });
                Ok(Val::Flags(r))
            }
        }
    }
}

/// Attributes of an empty directory that a rename replaced.
pub struct ReplacedDir {
    pub st: libc::stat,
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub flags: Option<u32>,
}

impl ReplacedDir {
    fn of(p: &Path, st: &libc::stat) -> Option<ReplacedDir> {
        Some(ReplacedDir {
            st: *st,
            xattrs: sys::compared_xattrs(p).unwrap_or_default(),
            flags: sys::get_flags_at(p)
                .ok()
                .map(|f| f & sys::FS_COMPARED_FL)
                .filter(|f| *f != 0),
        })
    }

    /// Creates the directory again at `p` with the recorded attributes.
    fn recreate(&self, p: &Path) -> sys::SysResult<()> {
        sys::mkdir(p, 0o700)?;
        if sys::geteuid() == 0 {
            sys::lchown(p, self.st.st_uid, self.st.st_gid)?;
        }
        for (n, v) in &self.xattrs {
            sys::lsetxattr(p, n, v, 0)?;
        }
        sys::chmod(p, self.st.st_mode & 0o7777)?;
        if let Some(f) = self.flags {
            sys::set_compared_flags_at(p, f)?;
        }
        Ok(())
    }
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
        ReplacedDir::of(&t, &st)
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

/// Undoes a rename (see [`RenameUndo`]); needs root.
pub fn undo_rename(u: &RenameUndo) -> Result<(), String> {
    parents_unlocked(&[&u.from, &u.to], || undo_rename_inner(u))
}

fn undo_rename_inner(u: &RenameUndo) -> Result<(), String> {
    let e = |what: &str, e: sys::Errno| format!("undoing rename: {what}: {}", sys::errno_name(e));
    if u.flags == sys::RENAME_EXCHANGE {
        return sys::renameat2(&u.from, &u.to, sys::RENAME_EXCHANGE)
            .map_err(|x| e("exchange back", x));
    }
    if u.from == u.to {
        return Ok(());
    }
    sys::renameat2(&u.to, &u.from, 0).map_err(|x| e("rename back", x))?;
    if let Some(d) = &u.replaced_dir {
        d.recreate(&u.to)
            .map_err(|x| e("re-create replaced dir", x))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_whiteout_is_einval_after_the_vfs_checks() {
        let dir =
            std::env::temp_dir().join(format!("aufs-difftest-whiteout.{}", std::process::id()));
        let _ = sys::remove_tree(&dir);
        sys::mkdir(&dir, 0o755).unwrap();
        let root = dir.join("t");
        sys::mkdir(&root, 0o755).unwrap();
        sys::mkdir(&dir.join("stash"), 0o700).unwrap();
        let mut side = Side::new(root.clone(), true, None, dir.join("stash"));
        let put = |p: &str, data: &str| {
            let fd = sys::open(&root.join(p), libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
            sys::write_all(&fd, data.as_bytes()).unwrap();
        };
        put("a", "A");
        put("b", "B");
        sys::link(&root.join("a"), &root.join("a2")).unwrap();
        sys::mkdir(&root.join("d"), 0o755).unwrap();
        sys::mkdir(&root.join("d/sub"), 0o755).unwrap();
        sys::mkdir(&root.join("e"), 0o755).unwrap();
        put("e/x", "X");
        sys::mkdir(&root.join("empty"), 0o750).unwrap();
        let before = crate::tree::snapshot(&root);
        let mut rw = |from: &str, to: &str| {
            side.apply(&Op::Rename {
                from: from.into(),
                to: to.into(),
                flags: sys::RENAME_WHITEOUT,
            })
            .unwrap()
        };
        assert_eq!(rw("a", "b"), Err(libc::EINVAL));
        assert_eq!(rw("a", "new"), Err(libc::EINVAL));
        assert_eq!(rw("d", "empty"), Err(libc::EINVAL));
        assert_eq!(rw("b", "empty"), Err(libc::EISDIR));
        assert_eq!(rw("missing", "x"), Err(libc::ENOENT));
        assert_eq!(rw("d", "e"), Err(libc::EINVAL)); // tmpfs: ENOTEMPTY
        assert_eq!(rw("d/sub", "d"), Err(libc::ENOTEMPTY)); // the VFS's
        assert_eq!(rw("a", "a2"), Ok(Val::Unit)); // one inode: no-op
        assert_eq!(rw("a", "a"), Ok(Val::Unit));
        let after = crate::tree::snapshot(&root);
        assert_eq!(crate::tree::compare(&after, &before), Vec::<String>::new());
        assert_eq!(after.inodes, before.inodes);
        assert!(sys::list_names(&dir.join("stash")).unwrap().is_empty());
        let _ = sys::remove_tree(&dir);
    }
}
