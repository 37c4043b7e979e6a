//! Reading the branch information of aufs mounts.
//!
//! The aufs module publishes every mounted union under
//! `/sys/fs/aufs/si_<id>/`, where `<id>` is the `si=` value in the mount's
//! super options as shown by `/proc/self/mountinfo`. That directory holds one
//! `br<N>` file per branch (`<escaped path>=<perm>`), the branch ids in
//! `brid<N>`, and the xino file's path in `xi_path`.
//!
//! This library finds the aufs mounts, reads and parses those files and
//! models the result; the `aubr` binary only handles arguments and printing.
//! Every file is read below a *root* directory (normally `/`) so that tests
//! can point the code at a fixture tree.
//!
//! Paths are handled as UTF-8 strings: bytes that are not valid UTF-8 are
//! replaced by U+FFFD.

use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The mount table, relative to the root.
pub const MOUNTINFO: &str = "proc/self/mountinfo";
/// The list of registered filesystem types, relative to the root.
pub const FILESYSTEMS: &str = "proc/filesystems";
/// The aufs sysfs directory, relative to the root.
pub const SYSFS_AUFS: &str = "sys/fs/aufs";

/// Branch permissions aufs knows (the part of a `br<N>` value before `+`).
pub const PERMS: [&str; 3] = ["rw", "ro", "rr"];

// ---------------------------------------------------------------------------
// Escaping

/// Decodes the octal escapes (`\NNN`) the kernel writes in `/proc/mounts`,
/// mountinfo and aufs sysfs files, e.g. `\040` for a space.
///
/// A backslash not followed by three octal digits of value at most `\377`
/// is kept as it is.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(byte) = octal_byte(&bytes[i + 1..]) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The byte encoded by the three octal digits at the start of `s`, if any.
fn octal_byte(s: &[u8]) -> Option<u8> {
    let digits = s.get(..3)?;
    let mut value: u32 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        value = value * 8 + u32::from(d - b'0');
    }
    u8::try_from(value).ok()
}

/// Makes `s` safe to print on one line: backslashes and control characters
/// (newline, tab, ...) become octal escapes the way the kernel writes them.
/// Spaces are kept.
pub fn escape_for_display(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_display_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_display_escape(c) {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('\\');
                for shift in [6, 3, 0] {
                    out.push(char::from(b'0' + ((b >> shift) & 7)));
                }
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_display_escape(c: char) -> bool {
    c == '\\' || c.is_control()
}

/// [`escape_for_display`] for a path.
fn show_path(p: &Path) -> String {
    escape_for_display(&p.to_string_lossy()).into_owned()
}

// ---------------------------------------------------------------------------
// Parsing

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl ParseError {
    fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// One line of `/proc/<pid>/mountinfo`, with paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u64,
    pub parent_id: u64,
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its filesystem.
    pub root: String,
    pub mount_point: String,
    /// Per-mount options, e.g. `rw,noatime`.
    pub mount_options: String,
    /// Optional fields such as `shared:1` or `master:2`.
    pub optional_fields: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options, e.g. `rw,si=6f1b2c3d`.
    pub super_options: String,
}

impl MountInfo {
    /// Whether this is an aufs mount.
    pub fn is_aufs(&self) -> bool {
        self.fstype == "aufs"
    }

    /// The value of the `si=` super option, if present.
    pub fn si(&self) -> Option<&str> {
        self.super_options
            .split(',')
            .find_map(|opt| opt.strip_prefix("si="))
    }
}

/// Whether `si` looks like an aufs superblock id: lowercase hex digits.
pub fn is_valid_si(si: &str) -> bool {
    !si.is_empty() && si.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses one mountinfo line (a trailing newline is allowed).
///
/// Format: `id parent major:minor root mountpoint options [optional...] -
/// fstype source superoptions`, fields separated by single spaces.
pub fn parse_mountinfo_line(line: &str) -> Result<MountInfo, ParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.len() < 10 {
        return Err(ParseError::new(format!(
            "expected at least 10 fields, found {}",
            fields.len()
        )));
    }
    // The separator is the first lone "-" after the six fixed fields.
    let sep = fields[6..]
        .iter()
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or_else(|| ParseError::new("missing \" - \" separator"))?;
    if fields.len() < sep + 4 {
        return Err(ParseError::new(
            "expected fstype, source and super options after \" - \"",
        ));
    }
    let (major, minor) = fields[2]
        .split_once(':')
        .ok_or_else(|| ParseError::new(format!("bad major:minor {:?}", fields[2])))?;
    let (root, mount_point, fstype) = (fields[3], fields[4], fields[sep + 1]);
    if root.is_empty() || mount_point.is_empty() || fstype.is_empty() {
        return Err(ParseError::new("empty root, mount point or fstype"));
    }
    Ok(MountInfo {
        mount_id: parse_number(fields[0], "mount id")?,
        parent_id: parse_number(fields[1], "parent id")?,
        major: parse_number(major, "major")?,
        minor: parse_number(minor, "minor")?,
        root: unescape(root),
        mount_point: unescape(mount_point),
        mount_options: fields[5].to_owned(),
        optional_fields: fields[6..sep].iter().map(|f| (*f).to_owned()).collect(),
        fstype: unescape(fstype),
        source: unescape(fields[sep + 2]),
        super_options: fields[sep + 3..].join(" "),
    })
}

fn parse_number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, ParseError> {
    s.parse()
        .map_err(|_| ParseError::new(format!("bad {what} {s:?}")))
}

/// Whether a `/proc/filesystems` listing (`nodev\taufs`, `\text4`, ...)
/// contains the filesystem type `name`.
pub fn filesystems_has(listing: &str, name: &str) -> bool {
    listing
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

/// The content of an aufs `br<N>` sysfs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrLine {
    /// Branch path, unescaped.
    pub path: String,
    /// `rw`, `ro` or `rr`.
    pub perm: String,
    /// Attributes after the permission, e.g. `["wh"]` for `ro+wh`.
    pub attrs: Vec<String>,
}

/// Parses the content of a `br<N>` file: `<escaped path>=<perm>[+attr...]`
/// and an optional trailing newline. The path may itself contain `=`, so
/// the value is split at the last one.
pub fn parse_br_line(content: &str) -> Result<BrLine, ParseError> {
    let line = content.strip_suffix('\n').unwrap_or(content);
    if line.contains('\n') {
        return Err(ParseError::new("more than one line"));
    }
    let (path, spec) = line
        .rsplit_once('=')
        .ok_or_else(|| ParseError::new(format!("no \"=<perm>\" in {line:?}")))?;
    if path.is_empty() {
        return Err(ParseError::new("empty branch path"));
    }
    let mut words = spec.split('+');
    let perm = words.next().unwrap_or_default();
    if !PERMS.contains(&perm) {
        return Err(ParseError::new(format!(
            "unknown branch permission {spec:?}"
        )));
    }
    let attrs = words
        .map(|w| {
            if is_attr_word(w) {
                Ok(w.to_owned())
            } else {
                Err(ParseError::new(format!("bad branch attribute in {spec:?}")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BrLine {
        path: unescape(path),
        perm: perm.to_owned(),
        attrs,
    })
}

/// Attribute names are like `wh`, `nolwh`, `coo_reg`, `dirperm1`.
fn is_attr_word(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

// ---------------------------------------------------------------------------
// Model

/// One branch of an aufs mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// Position in the branch stack, 0 being the top.
    pub index: usize,
    /// Branch id from `brid<N>`, `None` when that file is missing.
    pub id: Option<u64>,
    pub path: String,
    /// `rw`, `ro` or `rr`, without attributes.
    pub perm: String,
    pub attrs: Vec<String>,
    /// Whether the branch permission is `rw`.
    pub writable: bool,
}

impl Branch {
    /// The permission as aufs writes it, e.g. `ro+wh`.
    pub fn perm_spec(&self) -> String {
        std::iter::once(self.perm.as_str())
            .chain(self.attrs.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// An aufs mount and its branches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AufsMount {
    pub mountpoint: String,
    pub source: String,
    pub si: String,
    /// Path of the xino file, `None` when absent (e.g. `noxino`).
    pub xino_path: Option<String>,
    pub branches: Vec<Branch>,
}

// ---------------------------------------------------------------------------
// Errors

/// Everything that can go wrong while collecting branch information.
/// The `Display` text is one line, without the `aubr: ` prefix.
#[derive(Debug)]
pub enum Error {
    /// `/proc/filesystems` does not list aufs.
    NotLoaded,
    /// A file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// A file's content is malformed; `line` is 1-based when known.
    Parse {
        path: PathBuf,
        line: Option<usize>,
        error: ParseError,
    },
    /// A requested path is not the mount point of an aufs mount.
    NotAufs { path: PathBuf },
    /// An aufs mount without a usable `si=` super option.
    BadSi {
        mountpoint: String,
        si: Option<String>,
    },
    /// The sysfs directory of a mount does not exist.
    MissingSysfs { mountpoint: String, dir: PathBuf },
    /// The sysfs directory of a mount has no `br0`.
    NoBranches { mountpoint: String, dir: PathBuf },
}

impl Error {
    /// Exit status for this error: 2 when aufs is not loaded, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotLoaded => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotLoaded => {
                write!(f, "aufs is not loaded (no \"aufs\" in /proc/filesystems)")
            }
            Error::Read { path, source } => write!(f, "{}: {source}", show_path(path)),
            Error::Parse { path, line, error } => match line {
                Some(n) => write!(f, "{}:{n}: {error}", show_path(path)),
                None => write!(f, "{}: {error}", show_path(path)),
            },
            Error::NotAufs { path } => write!(f, "{}: not an aufs mount", show_path(path)),
            Error::BadSi { mountpoint, si } => {
                let mp = escape_for_display(mountpoint);
                match si {
                    Some(si) => write!(
                        f,
                        "{mp}: bad si={} in the super options",
                        escape_for_display(si)
                    ),
                    None => write!(f, "{mp}: no si= in the super options"),
                }
            }
            Error::MissingSysfs { mountpoint, dir } => write!(
                f,
                "{}: {} does not exist (aufs module and mount do not match, or sysfs is not mounted)",
                escape_for_display(mountpoint),
                show_path(dir)
            ),
            Error::NoBranches { mountpoint, dir } => write!(
                f,
                "{}: no branches in {} (br0 is missing)",
                escape_for_display(mountpoint),
                show_path(dir)
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Parse { error, .. } => Some(error),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Collecting

/// The result of [`collect`]: the mounts that could be read and, in order,
/// the problems met along the way.
#[derive(Debug, Default)]
pub struct Report {
    pub mounts: Vec<AufsMount>,
    pub errors: Vec<Error>,
}

impl Report {
    /// 0 when there were no errors, otherwise the highest error exit code.
    pub fn exit_code(&self) -> u8 {
        self.errors.iter().map(Error::exit_code).max().unwrap_or(0)
    }
}

/// Collects the aufs mounts below `root`: all of them when `targets` is
/// empty, otherwise the one mounted at each target, in argument order.
///
/// Fails as a whole only when aufs is not loaded or `/proc` cannot be read;
/// per-mount problems (a target that is no aufs mount, a missing sysfs
/// directory, a malformed line) land in [`Report::errors`].
pub fn collect(root: &Path, targets: &[PathBuf]) -> Result<Report, Error> {
    let filesystems = read_text(&root.join(FILESYSTEMS))?;
    if !filesystems_has(&filesystems, "aufs") {
        return Err(Error::NotLoaded);
    }

    let mut report = Report::default();
    let mountinfo_path = root.join(MOUNTINFO);
    let mut mounts = Vec::new();
    for (n, line) in read_text(&mountinfo_path)?.lines().enumerate() {
        match parse_mountinfo_line(line) {
            Ok(m) => mounts.push(m),
            Err(error) => report.errors.push(Error::Parse {
                path: mountinfo_path.clone(),
                line: Some(n + 1),
                error,
            }),
        }
    }

    let mut add = |result: Result<AufsMount, Error>| match result {
        Ok(m) => report.mounts.push(m),
        Err(e) => report.errors.push(e),
    };
    if targets.is_empty() {
        for m in mounts.iter().filter(|m| m.is_aufs()) {
            add(read_mount(root, m));
        }
    } else {
        for target in targets {
            let wanted = resolve_target(root, target);
            // When mounts are stacked on one path, the last one is visible.
            match mounts
                .iter()
                .rev()
                .find(|m| Path::new(&m.mount_point) == wanted)
            {
                Some(m) if m.is_aufs() => add(read_mount(root, m)),
                _ => add(Err(Error::NotAufs {
                    path: target.clone(),
                })),
            }
        }
    }
    Ok(report)
}

/// Turns a MOUNTPOINT argument into the path to look for in mountinfo.
///
/// On the real root (`/`) an existing path is canonicalized (relative
/// paths, symlinks, `..`). Under another root the argument is taken
/// literally; `Path` comparison then ignores trailing slashes.
pub fn resolve_target(root: &Path, arg: &Path) -> PathBuf {
    if root == Path::new("/") {
        if let Ok(p) = fs::canonicalize(arg) {
            return p;
        }
    }
    arg.to_path_buf()
}

/// Reads the sysfs directory of one aufs mount.
pub fn read_mount(root: &Path, mount: &MountInfo) -> Result<AufsMount, Error> {
    let bad_si = |si: Option<&str>| Error::BadSi {
        mountpoint: mount.mount_point.clone(),
        si: si.map(str::to_owned),
    };
    let si = mount.si().ok_or_else(|| bad_si(None))?;
    if !is_valid_si(si) {
        return Err(bad_si(Some(si)));
    }

    let dir = root.join(SYSFS_AUFS).join(format!("si_{si}"));
    match fs::metadata(&dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(Error::MissingSysfs {
                mountpoint: mount.mount_point.clone(),
                dir,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::MissingSysfs {
                mountpoint: mount.mount_point.clone(),
                dir,
            })
        }
        Err(source) => return Err(Error::Read { path: dir, source }),
    }

    let mut branches = Vec::new();
    loop {
        let index = branches.len();
        let br_path = dir.join(format!("br{index}"));
        let Some(content) = read_optional(&br_path)? else {
            break;
        };
        let br = parse_br_line(&content).map_err(|error| Error::Parse {
            path: br_path,
            line: None,
            error,
        })?;
        let id_path = dir.join(format!("brid{index}"));
        let id = match read_optional(&id_path)? {
            Some(text) => Some(parse_branch_id(&text).map_err(|error| Error::Parse {
                path: id_path,
                line: None,
                error,
            })?),
            None => None,
        };
        branches.push(Branch {
            index,
            id,
            writable: br.perm == "rw",
            path: br.path,
            perm: br.perm,
            attrs: br.attrs,
        });
    }
    if branches.is_empty() {
        return Err(Error::NoBranches {
            mountpoint: mount.mount_point.clone(),
            dir,
        });
    }

    let xino_path = read_optional(&dir.join("xi_path"))?.and_then(|text| {
        let line = text.strip_suffix('\n').unwrap_or(&text);
        (!line.is_empty()).then(|| unescape(line))
    });

    Ok(AufsMount {
        mountpoint: mount.mount_point.clone(),
        source: mount.source.clone(),
        si: si.to_owned(),
        xino_path,
        branches,
    })
}

/// Parses the content of a `brid<N>` file: a decimal id and a newline.
pub fn parse_branch_id(content: &str) -> Result<u64, ParseError> {
    let text = content.strip_suffix('\n').unwrap_or(content);
    text.parse()
        .map_err(|_| ParseError::new(format!("bad branch id {text:?}")))
}

/// Reads a whole file as text (lossily, see the crate docs).
fn read_text(path: &Path) -> Result<String, Error> {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Like [`read_text`], but a missing file is `None`.
fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match read_text(path) {
        Ok(text) => Ok(Some(text)),
        Err(Error::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// Output

/// Human-readable output: per mount, a `<mountpoint> si=<si>` line, then
/// one aligned `index  id  perm  path` row per branch (`-` for an unknown
/// id). Mounts are separated by a blank line; paths are shown with
/// [`escape_for_display`].
pub struct Table<'a>(pub &'a [AufsMount]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, mount) in self.0.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            writeln!(
                f,
                "{} si={}",
                escape_for_display(&mount.mountpoint),
                mount.si
            )?;
            let rows: Vec<[String; 4]> = mount
                .branches
                .iter()
                .map(|b| {
                    [
                        b.index.to_string(),
                        b.id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
                        b.perm_spec(),
                        escape_for_display(&b.path).into_owned(),
                    ]
                })
                .collect();
            let width = |col: usize| rows.iter().map(|r| r[col].len()).max().unwrap_or(0);
            let (wi, wd, wp) = (width(0), width(1), width(2));
            for [index, id, perm, path] in &rows {
                writeln!(f, "{index:>wi$}  {id:>wd$}  {perm:<wp$}  {path}")?;
            }
        }
        Ok(())
    }
}

/// JSON output: a pretty-printed array of [`AufsMount`] objects.
pub fn to_json(mounts: &[AufsMount]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(mounts)
}

pub mod plink;

#[cfg(test)]
mod tests;
