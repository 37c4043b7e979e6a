//! Mount option parsing: the data string of mount(2) (at most one page, bytes,
//! NUL-terminated by the kernel) turned into [`MountOpts`], remount data into
//! a list of [`BranchOp`]s, and the option text of /proc/mounts back out.
//!
//! Syntax (see docs of aufs; our deviations are listed here):
//! * Options are separated by `,`; empty items and a trailing comma are fine.
//!   There is no escaping: a path cannot contain `,`.  Parsing stops at the
//!   first NUL byte (the kernel hands us a C string).
//! * `br=` / `br:` / `dirs=` take a `:`-separated branch list, index 0 is the
//!   top.  Empty items (`br=/a::/b`) are skipped (aufs stops at the first
//!   empty item instead).  A later `br=` replaces the whole list.
//! * A branch item is `PATH[=PERM]`.  PERM is split off at the LAST `=` (aufs
//!   uses the first), so `/a=b=rw` is the path `/a=b` with `rw`, and `/a=b`
//!   is the path `/a` with the (bad) permission `b`.  `PATH=` with nothing
//!   after means `ro`, as in aufs.  An unknown PERM is an error (aufs only
//!   warns and uses `ro`).
//! * Paths are taken verbatim (relative ones are resolved by the kernel side);
//!   they must be non-empty and shorter than [`PATH_MAX`].  Duplicates are
//!   detected here by comparing the strings with repeated `/`, trailing `/`
//!   and `.` components ignored; the kernel side also compares inodes.
//! * Branch operations `add:IDX:PATH[=PERM]` (alias `ins:`),
//!   `append:PATH[=PERM]`, `prepend:PATH[=PERM]`, `del:PATH`, `mod:PATH=PERM`
//!   (each also with `=` after the name) are accepted at mount time too, where
//!   they edit the list being built, left to right.
//! * `si=...` and `relatime` are ignored silently, as in aufs, so that the
//!   options shown in /proc/mounts can be passed back.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::text::{escape_into, show, to_string_lossless};
use crate::Errno;

/// Most branches one mount may have.
pub const BRANCH_MAX: usize = 127;
/// Paths must be shorter than this (the kernel's PATH_MAX includes the NUL).
pub const PATH_MAX: usize = 4096;
/// Largest `SEC` of the mfs create policies.
pub const MFS_SEC_MAX: u32 = 3600;
/// `SEC` when not given.
pub const MFS_SEC_DEF: u32 = 30;
/// Default and largest `rdcache` (seconds).
pub const RDCACHE_DEF: u32 = 10;
pub const RDCACHE_MAX: u32 = 3600;
/// Default `dirwh`; its largest value is that of a C int.
pub const DIRWH_DEF: u32 = 3;
pub const DIRWH_MAX: u32 = i32::MAX as u32;
/// Largest `rdblk` (bytes) and `rdhash` (buckets): what one kmalloc can hold.
pub const RDBLK_MAX: u32 = 4 << 20;
pub const RDHASH_MAX: u32 = (4 << 20) / 8;

/// An option error: the errno for mount(2) and one short line for the log
/// (no `aufs: ` prefix, no newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptError {
    pub errno: Errno,
    pub msg: String,
}

impl OptError {
    pub fn new(errno: Errno, msg: String) -> OptError {
        OptError { errno, msg }
    }
    fn inval(msg: String) -> OptError {
        OptError::new(Errno::EINVAL, msg)
    }
}

impl From<alloc::collections::TryReserveError> for OptError {
    fn from(_: alloc::collections::TryReserveError) -> OptError {
        OptError::new(Errno::ENOMEM, String::from("out of memory"))
    }
}

impl core::fmt::Display for OptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Result of this module.
pub type OptResult<T> = core::result::Result<T, OptError>;

// ---------------------------------------------------------------------------
// Branch permissions

/// The base permission of a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Writable.
    Rw,
    /// Read-only (the fs may be writable, aufs does not write it).
    Ro,
    /// Real read-only: the fs can never change (squashfs, iso9660, ...).
    Rr,
}

/// A branch permission with its attributes: `PERM[+ATTR]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrPerm {
    pub perm: Perm,
    /// `ro+wh` / `rr+wh`: whiteouts on this branch hide lower branches.
    pub wh: bool,
    /// `rw+nolwh`: whiteouts are made as plain files, not hard links.
    pub nolwh: bool,
}

/// Why a permission string is bad, for messages.
fn parse_perm(s: &[u8]) -> core::result::Result<BrPerm, &'static str> {
    let mut parts = s.split(|c| *c == b'+');
    let perm = match parts.next() {
        Some(b"rw") => Perm::Rw,
        Some(b"ro") => Perm::Ro,
        Some(b"rr") => Perm::Rr,
        Some(b"") | None => return Err("empty"),
        Some(_) => return Err("unknown permission, use rw, ro or rr"),
    };
    let mut p = BrPerm::new(perm);
    for attr in parts {
        match attr {
            b"wh" if perm == Perm::Rw => return Err("wh needs ro or rr"),
            b"wh" => p.wh = true,
            b"nolwh" if perm != Perm::Rw => return Err("nolwh needs rw"),
            b"nolwh" => p.nolwh = true,
            b"" => return Err("empty attribute"),
            _ => return Err("unknown attribute, use wh or nolwh"),
        }
    }
    Ok(p)
}

impl BrPerm {
    pub const RW: BrPerm = BrPerm::new(Perm::Rw);
    pub const RO: BrPerm = BrPerm::new(Perm::Ro);
    pub const RR: BrPerm = BrPerm::new(Perm::Rr);

    /// A permission without attributes.
    pub const fn new(perm: Perm) -> BrPerm {
        BrPerm {
            perm,
            wh: false,
            nolwh: false,
        }
    }

    /// Parse `PERM[+ATTR]...`: PERM in rw|ro|rr, ATTR `wh` (ro/rr only) or
    /// `nolwh` (rw only).  Anything else, the empty string included, is
    /// EINVAL.
    pub fn parse(s: &[u8]) -> core::result::Result<BrPerm, OptError> {
        parse_perm(s).map_err(|why| {
            OptError::inval(format!("bad branch permission \"{}\" ({})", show(s), why))
        })
    }

    /// `rw`, `ro`, `rr`, `ro+wh`, `rr+wh`, `rw+nolwh`.
    pub fn display(&self) -> String {
        let mut s = String::from(match self.perm {
            Perm::Rw => "rw",
            Perm::Ro => "ro",
            Perm::Rr => "rr",
        });
        if self.wh {
            s.push_str("+wh");
        }
        if self.nolwh {
            s.push_str("+nolwh");
        }
        s
    }

    /// Whether aufs writes to this branch.
    pub fn writable(&self) -> bool {
        self.perm == Perm::Rw
    }

    /// Whether whiteouts on this branch hide lower branches (rw, or ro/rr
    /// with `wh`).
    pub fn may_whiteout(&self) -> bool {
        self.writable() || self.wh
    }
}

// ---------------------------------------------------------------------------
// Option types

/// One branch as given by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSpec {
    pub path: Vec<u8>,
    /// None: not given, the branch table picks the default.
    pub perm: Option<BrPerm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udba {
    None,
    Reval,
    Notify,
}

/// Policy choosing the branch where new entries are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Tdp,
    Rr,
    Mfs { sec: u32 },
    Tdmfs { low: u64, sec: u32 },
    Mfsrr { low: u64, sec: u32 },
    Pmfs { sec: u32 },
    Pmfsrr { low: u64, sec: u32 },
}

/// Policy choosing the branch a file is copied up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpup {
    Tdp,
    Bup,
    Bu,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Xino {
    /// `<first rw branch>/.aufs.xino`, else `/tmp/.aufs.xino`.
    Default,
    Path(Vec<u8>),
    Off,
}

/// `diropq=w` (make the opaque marker only over a whiteout) or `diropq=a`
/// (always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOpq {
    Whiteout,
    All,
}

/// All mount options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOpts {
    pub branches: Vec<BranchSpec>,
    pub udba: Udba,
    pub create: Create,
    pub cpup: Cpup,
    pub xino: Xino,
    pub plink: bool,
    pub dio: bool,
    pub dirperm1: bool,
    /// Extension: a change of attributes copies only them up (see
    /// [`crate::policy::metacopy`]).
    pub metacopy: bool,
    pub shwh: bool,
    /// A directory with lower contents is renamed with a record of where
    /// they are (see [`crate::dirren`]), not refused with EXDEV.
    pub dirren: bool,
    pub diropq: DirOpq,
    pub dirwh: u32,
    pub rdcache: u32,
    pub rdblk: Option<u32>,
    pub rdhash: Option<u32>,
    pub sum: bool,
    pub acl: bool,
}

impl Default for MountOpts {
    fn default() -> MountOpts {
        MountOpts {
            branches: Vec::new(),
            udba: Udba::Reval,
            create: Create::Tdp,
            cpup: Cpup::Tdp,
            xino: Xino::Default,
            plink: true,
            dio: true,
            dirperm1: false,
            metacopy: false,
            shwh: false,
            dirren: false,
            diropq: DirOpq::Whiteout,
            dirwh: DIRWH_DEF,
            rdcache: RDCACHE_DEF,
            rdblk: None,
            rdhash: None,
            sum: false,
            acl: false,
        }
    }
}

/// A change of the branch list, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOp {
    /// `add:IDX:PATH[=PERM]` / `ins:...`: insert so that the new branch has
    /// index IDX (0..=len).
    Add { index: usize, spec: BranchSpec },
    /// `append:PATH[=PERM]`: add at the bottom.
    Append(BranchSpec),
    /// `prepend:PATH[=PERM]`: add at the top.
    Prepend(BranchSpec),
    /// `del:PATH`.
    Del(Vec<u8>),
    /// `mod:PATH=PERM`.
    Mod(Vec<u8>, BrPerm),
    /// `br=...` (remount): replace the whole list.
    Replace(Vec<BranchSpec>),
}

// ---------------------------------------------------------------------------
// Paths

fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|c| *c == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// Whether two branch paths name the same place as strings: repeated `/`,
/// trailing `/` and `.` components do not matter (`/a//b/` == `/a/b`).
pub fn same_path(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b"/") == b.starts_with(b"/") && components(a).eq(components(b))
}

/// A path from the user, copied with a fallible allocation.
fn own_path(p: &[u8], what: &str) -> OptResult<Vec<u8>> {
    if p.is_empty() {
        return Err(OptError::inval(format!("{}: empty path", what)));
    }
    if p.len() >= PATH_MAX {
        return Err(OptError::inval(format!(
            "{}: path too long ({} bytes): {}",
            what,
            p.len(),
            show(p)
        )));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(p.len())?;
    v.extend_from_slice(p);
    Ok(v)
}

/// Split at the last `b`: (before, after).
fn rsplit_at_byte(s: &[u8], b: u8) -> Option<(&[u8], &[u8])> {
    let pos = s.iter().rposition(|c| *c == b)?;
    let (head, tail) = s.split_at_checked(pos)?;
    Some((head, tail.get(1..)?))
}

/// Split at the first `b`: (before, after).
fn split_at_byte(s: &[u8], b: u8) -> Option<(&[u8], &[u8])> {
    let pos = s.iter().position(|c| *c == b)?;
    let (head, tail) = s.split_at_checked(pos)?;
    Some((head, tail.get(1..)?))
}

/// `PATH[=PERM]`.  `what` names the option for messages.
fn parse_branch(item: &[u8], what: &str) -> OptResult<BranchSpec> {
    let (path, perm) = match rsplit_at_byte(item, b'=') {
        Some((p, perm)) => (p, Some(perm)),
        None => (item, None),
    };
    if path.is_empty() && !item.is_empty() {
        return Err(OptError::inval(format!(
            "{}: empty branch path in \"{}\"",
            what,
            show(item)
        )));
    }
    let perm = match perm {
        None => None,
        Some(b"") => Some(BrPerm::RO),
        Some(s) => Some(parse_perm(s).map_err(|why| {
            OptError::inval(format!(
                "bad branch permission \"{}\" for {} ({})",
                show(s),
                show(path),
                why
            ))
        })?),
    };
    Ok(BranchSpec {
        path: own_path(path, what)?,
        perm,
    })
}

fn too_many(n: usize) -> OptError {
    OptError::new(
        Errno::ENOSPC,
        format!("too many branches ({} > {})", n, BRANCH_MAX),
    )
}

fn duplicate(path: &[u8]) -> OptError {
    OptError::inval(format!("duplicate branch {}", show(path)))
}

fn no_such_branch(path: &[u8]) -> OptError {
    OptError::new(Errno::ENOENT, format!("no such branch {}", show(path)))
}

/// The list of `br=`: `:`-separated, empty items skipped.
fn parse_br_list(list: &[u8]) -> OptResult<Vec<BranchSpec>> {
    let items = || list.split(|c| *c == b':').filter(|s| !s.is_empty());
    let n = items().count();
    if n > BRANCH_MAX {
        return Err(too_many(n));
    }
    let mut v: Vec<BranchSpec> = Vec::new();
    v.try_reserve_exact(n)?;
    for item in items() {
        let spec = parse_branch(item, "br")?;
        if v.iter().any(|b| same_path(&b.path, &spec.path)) {
            return Err(duplicate(&spec.path));
        }
        v.push(spec);
    }
    Ok(v)
}

// ---------------------------------------------------------------------------
// Numbers

/// Decimal digits only, at most `max`.
fn parse_u32(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(c.wrapping_sub(b'0')))?;
    }
    (n <= max).then_some(n)
}

fn parse_usize(s: &[u8]) -> Option<usize> {
    if s.is_empty() {
        return None;
    }
    let mut n: usize = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(c.wrapping_sub(b'0')))?;
    }
    Some(n)
}

/// A size: decimal bytes with an optional k/m/g suffix (either case).
fn parse_size(s: &[u8]) -> Option<u64> {
    let (digits, shift) = match s.split_last() {
        Some((b'k' | b'K', d)) => (d, 10),
        Some((b'm' | b'M', d)) => (d, 20),
        Some((b'g' | b'G', d)) => (d, 30),
        _ => (s, 0),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c.wrapping_sub(b'0')))?;
    }
    n.checked_mul(1u64 << shift)
}

fn parse_sec(s: Option<&[u8]>) -> Option<u32> {
    match s {
        None => Some(MFS_SEC_DEF),
        Some(s) => parse_u32(s, MFS_SEC_MAX),
    }
}

fn parse_create(v: &[u8]) -> Option<Create> {
    let mut it = v.splitn(3, |c| *c == b':');
    let name = it.next()?;
    let a = it.next();
    let b = it.next();
    Some(match name {
        b"tdp" | b"top-down-parent" if a.is_none() => Create::Tdp,
        b"rr" | b"round-robin" if a.is_none() => Create::Rr,
        b"mfs" | b"most-free-space" if b.is_none() => Create::Mfs { sec: parse_sec(a)? },
        b"pmfs" if b.is_none() => Create::Pmfs { sec: parse_sec(a)? },
        b"tdmfs" => Create::Tdmfs {
            low: parse_size(a?)?,
            sec: parse_sec(b)?,
        },
        b"mfsrr" => Create::Mfsrr {
            low: parse_size(a?)?,
            sec: parse_sec(b)?,
        },
        b"pmfsrr" => Create::Pmfsrr {
            low: parse_size(a?)?,
            sec: parse_sec(b)?,
        },
        _ => return None,
    })
}

/// An option aufs has that this union does not implement: refused, never
/// accepted and ignored.
fn unsupported(item: &[u8], why: &str) -> OptError {
    OptError::inval(format!("option \"{}\" is not supported ({})", show(item), why))
}

/// Options that need a read-only mount: `shwh` (aufs's manual: "in shwh
/// mode the aufs mount must be ro"; aufs itself only warns).  Checked at
/// mount and at every remount, with the read-only flag the mount will have.
pub fn check_rdonly(o: &MountOpts, rdonly: bool) -> OptResult<()> {
    if o.shwh && !rdonly {
        return Err(OptError::inval(String::from(
            "shwh needs a read-only mount (mount -o ro,shwh)",
        )));
    }
    Ok(())
}

fn bad_value(opt: &str, v: &[u8], hint: &str) -> OptError {
    OptError::inval(format!("bad value \"{}\" for {} ({})", show(v), opt, hint))
}

/// `-N` is a bad index (EDOM), anything else not a number is EINVAL.
fn parse_index(s: &[u8], item: &[u8]) -> OptResult<usize> {
    if let Some(neg) = s.strip_prefix(b"-") {
        if parse_usize(neg).is_some() {
            return Err(OptError::new(
                Errno::EDOM,
                format!("branch index -{} out of range", show(neg)),
            ));
        }
    }
    match parse_usize(s) {
        Some(n) => Ok(n),
        None if !s.is_empty() && s.iter().all(u8::is_ascii_digit) => Err(OptError::new(
            Errno::EDOM,
            format!("branch index {} out of range", show(s)),
        )),
        None => Err(OptError::inval(format!(
            "bad branch index \"{}\" in \"{}\"",
            show(s),
            show(item)
        ))),
    }
}

// ---------------------------------------------------------------------------
// The parser

/// Parse one option, applying non-branch options to `o`; a branch option is
/// returned.
fn parse_item(item: &[u8], o: &mut MountOpts) -> OptResult<Option<BranchOp>> {
    let sep = item.iter().position(|c| *c == b'=' || *c == b':');
    let (name, sep, val) = match sep {
        Some(pos) => {
            let (n, rest) = item.split_at_checked(pos).unwrap_or((item, &[]));
            let (s, v) = rest.split_first().map_or((0, &[][..]), |(s, v)| (*s, v));
            (n, s, v)
        }
        None => (item, 0, &[][..]),
    };
    let unknown = || OptError::inval(format!("unknown option \"{}\"", show(item)));
    match (name, sep) {
        // Branches; `name:` is accepted for `name=`.
        (b"br", b'=' | b':') | (b"dirs", b'=') => {
            return Ok(Some(BranchOp::Replace(parse_br_list(val)?)));
        }
        (b"add" | b"ins", b'=' | b':') => {
            let what = if name == b"add" { "add" } else { "ins" };
            let (idx, spec) = split_at_byte(val, b':').ok_or_else(|| {
                OptError::inval(format!("{}: expected IDX:PATH in \"{}\"", what, show(item)))
            })?;
            let index = parse_index(idx, item)?;
            let spec = parse_branch(spec, what)?;
            return Ok(Some(BranchOp::Add { index, spec }));
        }
        (b"append", b'=' | b':') => {
            return Ok(Some(BranchOp::Append(parse_branch(val, "append")?)));
        }
        (b"prepend", b'=' | b':') => {
            return Ok(Some(BranchOp::Prepend(parse_branch(val, "prepend")?)));
        }
        (b"del", b'=' | b':') => {
            return Ok(Some(BranchOp::Del(own_path(val, "del")?)));
        }
        (b"mod", b'=' | b':') => {
            let spec = parse_branch(val, "mod")?;
            let perm = spec.perm.ok_or_else(|| {
                OptError::inval(format!("mod: no permission in \"{}\"", show(item)))
            })?;
            return Ok(Some(BranchOp::Mod(spec.path, perm)));
        }
        // Ignored so that /proc/mounts can be fed back.
        (b"si", b'=') | (b"relatime", 0) => {}
        (b"xino", b'=') => o.xino = Xino::Path(own_path(val, "xino")?),
        (b"noxino", 0) => o.xino = Xino::Off,
        (b"udba", b'=') => {
            o.udba = match val {
                b"none" => Udba::None,
                b"reval" => Udba::Reval,
                b"notify" => Udba::Notify,
                _ => return Err(bad_value("udba", val, "none, reval or notify")),
            }
        }
        (b"create" | b"create_policy", b'=') => {
            o.create = parse_create(val).ok_or_else(|| {
                bad_value(
                    "create",
                    val,
                    "tdp, rr, mfs[:SEC], pmfs[:SEC], tdmfs|mfsrr|pmfsrr:LOW[:SEC], SEC 0..3600",
                )
            })?
        }
        (b"cpup" | b"copyup" | b"cpup_policy" | b"copyup_policy", b'=') => {
            o.cpup = match val {
                b"tdp" | b"top-down-parent" => Cpup::Tdp,
                b"bup" | b"bottom-up-parent" => Cpup::Bup,
                b"bu" | b"bottom-up" => Cpup::Bu,
                _ => return Err(bad_value("cpup", val, "tdp, bup or bu")),
            }
        }
        (b"diropq", b'=') => {
            o.diropq = match val {
                b"w" | b"whiteouted" => DirOpq::Whiteout,
                b"a" | b"always" => DirOpq::All,
                _ => return Err(bad_value("diropq", val, "w or a")),
            }
        }
        (b"dirwh", b'=') => {
            o.dirwh = parse_u32(val, DIRWH_MAX)
                .ok_or_else(|| bad_value("dirwh", val, "a number"))?
        }
        (b"rdcache", b'=') => {
            o.rdcache = parse_u32(val, RDCACHE_MAX)
                .ok_or_else(|| bad_value("rdcache", val, "seconds, 0..3600"))?
        }
        (b"rdblk", b'=') => {
            o.rdblk = match val {
                b"def" => None,
                _ => Some(
                    parse_u32(val, RDBLK_MAX)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad_value("rdblk", val, "def or bytes, 1..4194304"))?,
                ),
            }
        }
        (b"rdhash", b'=') => {
            o.rdhash = match val {
                b"def" => None,
                _ => Some(
                    parse_u32(val, RDHASH_MAX)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad_value("rdhash", val, "def or a count, 1..524288"))?,
                ),
            }
        }
        (flag, 0) => match flag {
            b"plink" => o.plink = true,
            b"noplink" => o.plink = false,
            b"dio" => o.dio = true,
            b"nodio" => o.dio = false,
            b"dirperm1" => o.dirperm1 = true,
            b"nodirperm1" => o.dirperm1 = false,
            b"metacopy" => o.metacopy = true,
            b"nometacopy" => o.metacopy = false,
            b"shwh" => o.shwh = true,
            b"noshwh" => o.shwh = false,
            b"dirren" => o.dirren = true,
            b"nodirren" => o.dirren = false,
            // What the union always does (no warning about branch root
            // permissions, no extra messages): accepted.  The opposite
            // would promise messages that are never printed: refused.
            b"nowarn_perm" | b"noverbose" | b"quiet" | b"q" | b"silent" => {}
            b"warn_perm" => return Err(unsupported(item, "no warning about branch permissions is made")),
            b"verbose" | b"v" => return Err(unsupported(item, "no extra messages are printed")),
            b"sum" => o.sum = true,
            b"nosum" => o.sum = false,
            b"acl" => o.acl = true,
            b"noacl" => return Err(unsupported(item, "POSIX ACLs are always the branches'")),
            _ => return Err(unknown()),
        },
        _ => return Err(unknown()),
    }
    Ok(None)
}

/// The options of the data string: up to the first NUL, split at `,`.
fn items(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.split(|c| *c == 0).next().unwrap_or(&[]);
    data.split(|c| *c == b',').filter(|s| !s.is_empty())
}

fn insert_spec(list: &mut Vec<BranchSpec>, index: usize, spec: BranchSpec) -> OptResult<()> {
    if index > list.len() {
        return Err(OptError::new(
            Errno::EDOM,
            format!("branch index {} out of range (0..{})", index, list.len()),
        ));
    }
    if list.iter().any(|b| same_path(&b.path, &spec.path)) {
        return Err(duplicate(&spec.path));
    }
    let n = list.len().saturating_add(1);
    if n > BRANCH_MAX {
        return Err(too_many(n));
    }
    list.try_reserve(1)?;
    list.insert(index, spec);
    Ok(())
}

/// A branch op applied to the list being built at mount time.
fn apply_to_specs(list: &mut Vec<BranchSpec>, op: BranchOp) -> OptResult<()> {
    match op {
        BranchOp::Replace(v) => *list = v,
        BranchOp::Add { index, spec } => insert_spec(list, index, spec)?,
        BranchOp::Append(spec) => insert_spec(list, list.len(), spec)?,
        BranchOp::Prepend(spec) => insert_spec(list, 0, spec)?,
        BranchOp::Del(path) => {
            let i = list
                .iter()
                .position(|b| same_path(&b.path, &path))
                .ok_or_else(|| no_such_branch(&path))?;
            list.remove(i);
        }
        BranchOp::Mod(path, perm) => {
            let b = list
                .iter_mut()
                .find(|b| same_path(&b.path, &path))
                .ok_or_else(|| no_such_branch(&path))?;
            b.perm = Some(perm);
        }
    }
    Ok(())
}

/// Parse the data of mount(2).  Branch operations edit the list being built,
/// left to right.  At least one branch is required.
pub fn parse(data: &[u8]) -> core::result::Result<MountOpts, OptError> {
    let mut o = MountOpts::default();
    for item in items(data) {
        if let Some(op) = parse_item(item, &mut o)? {
            apply_to_specs(&mut o.branches, op)?;
        }
    }
    if o.branches.is_empty() {
        return Err(OptError::inval(String::from("no branch specified")));
    }
    Ok(o)
}

/// Parse the data of a remount.  Returns the new non-branch options (starting
/// from `current`; `branches` is left as in `current`) and the branch
/// operations in order, to be applied by `BranchTable::apply`.  A `br=` is
/// [`BranchOp::Replace`].
pub fn parse_remount(
    data: &[u8],
    current: &MountOpts,
) -> core::result::Result<(MountOpts, Vec<BranchOp>), OptError> {
    let mut o = current.clone();
    let mut ops = Vec::new();
    for item in items(data) {
        if let Some(op) = parse_item(item, &mut o)? {
            ops.try_reserve(1)?;
            ops.push(op);
        }
    }
    Ok((o, ops))
}

// ---------------------------------------------------------------------------
// /proc/mounts

fn push_num(out: &mut Vec<u8>, name: &str, n: impl core::fmt::Display) {
    out.extend_from_slice(format!(",{}={}", name, n).as_bytes());
}

/// [`show_options`] as bytes (paths need not be UTF-8): what the C side
/// should print after `si=%lx`.
pub fn show_options_bytes(o: &MountOpts) -> Vec<u8> {
    let d = MountOpts::default();
    let mut out = Vec::new();
    match &o.xino {
        Xino::Path(p) => {
            out.extend_from_slice(b",xino=");
            escape_into(&mut out, p);
        }
        Xino::Off => out.extend_from_slice(b",noxino"),
        Xino::Default => {}
    }
    if !o.plink {
        out.extend_from_slice(b",noplink");
    }
    match o.udba {
        Udba::None => out.extend_from_slice(b",udba=none"),
        Udba::Notify => out.extend_from_slice(b",udba=notify"),
        Udba::Reval => {}
    }
    if !o.dio {
        out.extend_from_slice(b",nodio");
    }
    if o.dirperm1 {
        out.extend_from_slice(b",dirperm1");
    }
    if o.metacopy {
        out.extend_from_slice(b",metacopy");
    }
    if o.shwh {
        out.extend_from_slice(b",shwh");
    }
    if o.dirren {
        out.extend_from_slice(b",dirren");
    }
    if o.diropq == DirOpq::All {
        out.extend_from_slice(b",diropq=a");
    }
    if o.dirwh != d.dirwh {
        push_num(&mut out, "dirwh", o.dirwh);
    }
    if o.rdcache != d.rdcache {
        push_num(&mut out, "rdcache", o.rdcache);
    }
    if let Some(n) = o.rdblk {
        push_num(&mut out, "rdblk", n);
    }
    if let Some(n) = o.rdhash {
        push_num(&mut out, "rdhash", n);
    }
    let create = match o.create {
        Create::Tdp => None,
        Create::Rr => Some(String::from("rr")),
        Create::Mfs { sec } => Some(format!("mfs:{}", sec)),
        Create::Pmfs { sec } => Some(format!("pmfs:{}", sec)),
        Create::Tdmfs { low, sec } => Some(format!("tdmfs:{}:{}", low, sec)),
        Create::Mfsrr { low, sec } => Some(format!("mfsrr:{}:{}", low, sec)),
        Create::Pmfsrr { low, sec } => Some(format!("pmfsrr:{}:{}", low, sec)),
    };
    if let Some(c) = create {
        out.extend_from_slice(b",create=");
        out.extend_from_slice(c.as_bytes());
    }
    match o.cpup {
        Cpup::Bup => out.extend_from_slice(b",cpup=bup"),
        Cpup::Bu => out.extend_from_slice(b",cpup=bu"),
        Cpup::Tdp => {}
    }
    if o.sum {
        out.extend_from_slice(b",sum");
    }
    if o.acl {
        out.extend_from_slice(b",acl");
    }
    out
}

/// The options of /proc/mounts after `si=...`: every option that differs
/// from the default, each prefixed by `,`.  A non-UTF-8 xino path has its
/// bytes >= 0x80 written as `\ooo` here; use [`show_options_bytes`] for the
/// exact bytes.
pub fn show_options(o: &MountOpts) -> String {
    to_string_lossless(show_options_bytes(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn err(data: &str) -> OptError {
        match parse(data.as_bytes()) {
            Ok(o) => panic!("{:?} parsed: {:?}", data, o),
            Err(e) => e,
        }
    }

    fn ok(data: &str) -> MountOpts {
        match parse(data.as_bytes()) {
            Ok(o) => o,
            Err(e) => panic!("{:?}: {:?}", data, e),
        }
    }

    fn spec(p: &str, perm: Option<&str>) -> BranchSpec {
        BranchSpec {
            path: p.as_bytes().to_vec(),
            perm: perm.map(|s| BrPerm::parse(s.as_bytes()).unwrap()),
        }
    }

    fn paths(o: &MountOpts) -> Vec<String> {
        o.branches
            .iter()
            .map(|b| {
                let mut s = String::from_utf8(b.path.clone()).unwrap();
                if let Some(p) = &b.perm {
                    s.push('=');
                    s.push_str(&p.display());
                }
                s
            })
            .collect()
    }

    #[test]
    fn perm_table() {
        let good = [
            ("rw", Perm::Rw, false, false),
            ("ro", Perm::Ro, false, false),
            ("rr", Perm::Rr, false, false),
            ("ro+wh", Perm::Ro, true, false),
            ("rr+wh", Perm::Rr, true, false),
            ("rw+nolwh", Perm::Rw, false, true),
            ("ro+wh+wh", Perm::Ro, true, false),
        ];
        for (s, perm, wh, nolwh) in good {
            let p = BrPerm::parse(s.as_bytes()).unwrap();
            assert_eq!(p, BrPerm { perm, wh, nolwh }, "{}", s);
            // display round trip
            assert_eq!(BrPerm::parse(p.display().as_bytes()).unwrap(), p);
        }
        for s in ["rw", "ro", "rr", "ro+wh", "rr+wh", "rw+nolwh"] {
            assert_eq!(BrPerm::parse(s.as_bytes()).unwrap().display(), s);
        }
        let bad = [
            ("", "empty"),
            ("xx", "unknown permission"),
            ("RW", "unknown permission"),
            ("rw+wh", "wh needs ro or rr"),
            ("ro+nolwh", "nolwh needs rw"),
            ("rr+nolwh", "nolwh needs rw"),
            ("rw+", "empty attribute"),
            ("ro+", "empty attribute"),
            ("ro+foo", "unknown attribute"),
            ("+wh", "empty"),
            ("rw ", "unknown permission"),
            ("ro=ro", "unknown permission"),
        ];
        for (s, why) in bad {
            let e = BrPerm::parse(s.as_bytes()).unwrap_err();
            assert_eq!(e.errno, Errno::EINVAL, "{}", s);
            assert!(e.msg.contains("bad branch permission"), "{}", e.msg);
            assert!(e.msg.contains(why), "{:?}: {}", s, e.msg);
        }
    }

    #[test]
    fn perm_predicates() {
        let p = |s: &str| BrPerm::parse(s.as_bytes()).unwrap();
        assert!(p("rw").writable());
        assert!(p("rw+nolwh").writable());
        assert!(!p("ro").writable());
        assert!(!p("rr+wh").writable());
        assert!(p("rw").may_whiteout());
        assert!(p("rw+nolwh").may_whiteout());
        assert!(p("ro+wh").may_whiteout());
        assert!(p("rr+wh").may_whiteout());
        assert!(!p("ro").may_whiteout());
        assert!(!p("rr").may_whiteout());
        assert_eq!(BrPerm::RW, p("rw"));
        assert_eq!(BrPerm::RO, p("ro"));
        assert_eq!(BrPerm::RR, p("rr"));
    }

    #[test]
    fn defaults() {
        let o = ok("br=/a");
        let d = MountOpts {
            branches: vec![spec("/a", None)],
            ..MountOpts::default()
        };
        assert_eq!(o, d);
        assert_eq!(d.udba, Udba::Reval);
        assert_eq!(d.create, Create::Tdp);
        assert_eq!(d.cpup, Cpup::Tdp);
        assert_eq!(d.xino, Xino::Default);
        assert!(d.plink);
        assert!(d.dio, "aufs 6.1: dio is a default");
        assert!(!d.dirperm1 && !d.shwh && !d.sum && !d.acl);
        assert_eq!((d.dirwh, d.rdcache), (3, 10));
        assert_eq!((d.rdblk, d.rdhash), (None, None));
        assert_eq!(d.diropq, DirOpq::Whiteout);
        assert_eq!(show_options(&o), "");
    }

    #[test]
    fn branch_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("br=/rw:/ro", &["/rw", "/ro"]),
            ("br:/rw=rw:/ro=ro+wh", &["/rw=rw", "/ro=ro+wh"]),
            ("dirs=/a:/b=rr", &["/a", "/b=rr"]),
            ("br=/a::/b", &["/a", "/b"]),
            ("br=:/a:", &["/a"]),
            ("br=/a=", &["/a=ro"]),
            ("br=/a=b=rw", &["/a=b=rw"]),
            ("br=rel/dir", &["rel/dir"]),
            ("br=/a,br=/b:/c", &["/b", "/c"]),
            ("br=/a,", &["/a"]),
            (",,br=/a,,", &["/a"]),
            ("br=/a\0,garbage", &["/a"]),
            ("br=/a b", &["/a b"]),
            ("br=/x,append:/y", &["/x", "/y"]),
            ("br=/x,append=/y=ro+wh", &["/x", "/y=ro+wh"]),
            ("br=/x,prepend:/y=rw", &["/y=rw", "/x"]),
            ("br=/x:/z,add:1:/y", &["/x", "/y", "/z"]),
            ("br=/x:/z,ins=2:/y=rr", &["/x", "/z", "/y=rr"]),
            ("br=/x:/z,add=0:/y", &["/y", "/x", "/z"]),
            ("br=/x:/z,del:/x", &["/z"]),
            ("br=/x:/z,del=/z/", &["/x"]),
            ("br=/x:/z,mod:/z=ro+wh", &["/x", "/z=ro+wh"]),
            ("br=/x:/z,mod=/x=", &["/x=ro", "/z"]),
            ("append:/a,append:/b", &["/a", "/b"]),
            ("br=/a,del:/a,br=/b", &["/b"]),
            ("br=/a,si=deadbeef,relatime", &["/a"]),
        ];
        for (data, want) in cases {
            let o = ok(data);
            assert_eq!(paths(&o), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{}", data);
        }
    }

    #[test]
    fn options_table() {
        let o = ok("br=/a,udba=none,create=mfs,cpup=bup,xino=/x/y,noplink,dio,dirperm1,shwh,diropq=a,dirwh=7,rdcache=0,rdblk=4096,rdhash=32,nowarn_perm,quiet,sum,acl");
        assert_eq!(o.udba, Udba::None);
        assert_eq!(o.create, Create::Mfs { sec: 30 });
        assert_eq!(o.cpup, Cpup::Bup);
        assert_eq!(o.xino, Xino::Path(b"/x/y".to_vec()));
        assert!(!o.plink && o.dio && o.dirperm1 && o.shwh && o.sum && o.acl);
        assert_eq!(o.diropq, DirOpq::All);
        assert_eq!((o.dirwh, o.rdcache, o.rdblk, o.rdhash), (7, 0, Some(4096), Some(32)));
        assert_eq!(
            show_options(&o),
            ",xino=/x/y,noplink,udba=none,dirperm1,shwh,diropq=a,dirwh=7,rdcache=0,rdblk=4096,rdhash=32,create=mfs:30,cpup=bup,sum,acl"
        );
        // negative forms undo
        let o = ok("br=/a,noplink,plink,nodio,dio,dirperm1,nodirperm1,shwh,noshwh,nowarn_perm,noverbose,sum,nosum,xino=/q,noxino,rdblk=5,rdblk=def,rdhash=5,rdhash=def,diropq=a,diropq=w");
        let want = MountOpts {
            branches: vec![spec("/a", None)],
            xino: Xino::Off,
            ..MountOpts::default()
        };
        assert_eq!(o, want);
        assert_eq!(show_options(&o), ",noxino");
        for q in ["quiet", "q", "silent", "noverbose", "nowarn_perm"] {
            assert_eq!(show_options(&ok(&format!("br=/a,{}", q))), "");
        }
        // Options whose promise this union does not keep: refused, each
        // with a message naming it, never accepted and ignored.
        for bad in ["noacl", "warn_perm", "verbose", "v"] {
            let e = err(&format!("br=/a,{}", bad));
            assert_eq!(e.errno, Errno::EINVAL, "{}", bad);
            assert!(e.msg.contains(&format!("\"{}\"", bad)), "{}: {}", bad, e.msg);
            let e = parse_remount(bad.as_bytes(), &ok("br=/a")).unwrap_err();
            assert_eq!(e.errno, Errno::EINVAL, "remount {}", bad);
        }
        assert_eq!(ok("br=/a,udba=notify").udba, Udba::Notify);
        assert_eq!(ok("br=/a,udba=none,udba=reval").udba, Udba::Reval);
        assert_eq!(ok("br=/a,cpup=bu").cpup, Cpup::Bu);
        assert_eq!(ok("br=/a,copyup=bottom-up-parent").cpup, Cpup::Bup);
        assert_eq!(ok("br=/a,cpup=tdp").cpup, Cpup::Tdp);
        assert_eq!(ok("br=/a,diropq=always").diropq, DirOpq::All);
        assert_eq!(ok("br=/a,diropq=whiteouted").diropq, DirOpq::Whiteout);
        assert_eq!(ok("br=/a,xino=/a:b=c").xino, Xino::Path(b"/a:b=c".to_vec()));
    }

    #[test]
    fn create_table() {
        let cases: &[(&str, Create)] = &[
            ("tdp", Create::Tdp),
            ("top-down-parent", Create::Tdp),
            ("rr", Create::Rr),
            ("round-robin", Create::Rr),
            ("mfs", Create::Mfs { sec: 30 }),
            ("mfs:0", Create::Mfs { sec: 0 }),
            ("mfs:3600", Create::Mfs { sec: 3600 }),
            ("most-free-space:5", Create::Mfs { sec: 5 }),
            ("pmfs", Create::Pmfs { sec: 30 }),
            ("pmfs:7", Create::Pmfs { sec: 7 }),
            ("tdmfs:100", Create::Tdmfs { low: 100, sec: 30 }),
            ("tdmfs:1k:5", Create::Tdmfs { low: 1024, sec: 5 }),
            ("mfsrr:2M", Create::Mfsrr { low: 2 << 20, sec: 30 }),
            ("mfsrr:3g:9", Create::Mfsrr { low: 3 << 30, sec: 9 }),
            ("pmfsrr:0:0", Create::Pmfsrr { low: 0, sec: 0 }),
            ("pmfsrr:18446744073709551615", Create::Pmfsrr { low: u64::MAX, sec: 30 }),
        ];
        for (v, c) in cases {
            let o = ok(&format!("br=/a,create={}", v));
            assert_eq!(o.create, *c, "{}", v);
            let o2 = ok(&format!("br=/a,create_policy={}", v));
            assert_eq!(o2.create, *c);
        }
        let bad = [
            "", "foo", "mfs:", "mfs:3601", "mfs:9999", "mfs:-1", "mfs:1:2", "tdp:1", "rr:3",
            "tdmfs", "tdmfs:", "tdmfs:x", "tdmfs:1:3601", "tdmfs:1:2:3", "mfsrr:1t",
            "pmfsrr:18446744073709551616", "pmfsrr:17179869184g", "pmfs:x", "MFS", "mfs:99999999999",
        ];
        for v in bad {
            let e = err(&format!("br=/a,create={}", v));
            assert_eq!(e.errno, Errno::EINVAL, "{}", v);
            assert!(e.msg.contains("create"), "{}", e.msg);
            assert!(e.msg.contains(&format!("\"{}\"", v)), "{}", e.msg);
        }
    }

    #[test]
    fn invalid_table() {
        let long = "x".repeat(5000);
        let long_br = format!("br=/{}", long);
        let many: Vec<String> = (0..128).map(|i| format!("/b{}", i)).collect();
        let many_br = format!("br={}", many.join(":"));
        let many200: Vec<String> = (0..200).map(|i| format!("/b{}", i)).collect();
        let many200_br = format!("br={}", many200.join(":"));
        let ok127: Vec<String> = (0..127).map(|i| format!("/b{}", i)).collect();
        let full_append = format!("br={},append:/z", ok127.join(":"));
        let cases: Vec<(&str, Errno, &str)> = vec![
            ("", Errno::EINVAL, "no branch specified"),
            (",,,", Errno::EINVAL, "no branch specified"),
            ("dio", Errno::EINVAL, "no branch specified"),
            ("br=", Errno::EINVAL, "no branch specified"),
            ("br=/a,del:/a", Errno::EINVAL, "no branch specified"),
            ("br=/a,foo", Errno::EINVAL, "unknown option \"foo\""),
            ("br=/a,foo=bar", Errno::EINVAL, "unknown option \"foo=bar\""),
            ("br=/a,dio=1", Errno::EINVAL, "unknown option \"dio=1\""),
            ("br=/a,xino:/x", Errno::EINVAL, "unknown option \"xino:/x\""),
            ("br=/a,dirs:/b", Errno::EINVAL, "unknown option"),
            ("br=/a,BR=/b", Errno::EINVAL, "unknown option"),
            ("br=/a, dio", Errno::EINVAL, "unknown option \" dio\""),
            ("br=/a,si", Errno::EINVAL, "unknown option \"si\""),
            ("br=/a,relatime=1", Errno::EINVAL, "unknown option"),
            ("br=/a,rw", Errno::EINVAL, "unknown option \"rw\""),
            ("br=/a,trunc_xino", Errno::EINVAL, "unknown option"),
            ("br=/a\nb,foo\n", Errno::EINVAL, "unknown option \"foo\\012\""),
            ("br=/base=xx", Errno::EINVAL, "bad branch permission \"xx\" for /base"),
            ("br=/base=rw+wh", Errno::EINVAL, "wh needs ro or rr"),
            ("br=/base=ro+nolwh", Errno::EINVAL, "nolwh needs rw"),
            ("br=/a=b/c", Errno::EINVAL, "bad branch permission \"b/c\" for /a"),
            ("br==ro", Errno::EINVAL, "empty branch path"),
            ("br=/a:=rw", Errno::EINVAL, "empty branch path"),
            ("br=/a:/a", Errno::EINVAL, "duplicate branch /a"),
            ("br=/a/:/a", Errno::EINVAL, "duplicate branch /a"),
            ("br=/a//b:/a/b/", Errno::EINVAL, "duplicate branch /a/b/"),
            ("br=/a/./b:/a/b", Errno::EINVAL, "duplicate branch"),
            ("br=/a=rw:/a=ro", Errno::EINVAL, "duplicate branch /a"),
            ("br=/a,append:/a", Errno::EINVAL, "duplicate branch /a"),
            ("br=/a,prepend:/a/", Errno::EINVAL, "duplicate branch"),
            ("br=/a,add:0:/a", Errno::EINVAL, "duplicate branch"),
            (&many_br, Errno::ENOSPC, "too many branches (128 > 127)"),
            (&many200_br, Errno::ENOSPC, "too many branches (200 > 127)"),
            (&full_append, Errno::ENOSPC, "too many branches (128 > 127)"),
            (&long_br, Errno::EINVAL, "path too long (5001 bytes)"),
            ("br=/a,udba=foo", Errno::EINVAL, "bad value \"foo\" for udba"),
            ("br=/a,udba=", Errno::EINVAL, "bad value \"\" for udba"),
            ("br=/a,udba=NONE", Errno::EINVAL, "udba"),
            ("br=/a,cpup=x", Errno::EINVAL, "bad value \"x\" for cpup"),
            ("br=/a,diropq=x", Errno::EINVAL, "bad value \"x\" for diropq"),
            ("br=/a,dirwh=abc", Errno::EINVAL, "bad value \"abc\" for dirwh"),
            ("br=/a,dirwh=-1", Errno::EINVAL, "dirwh"),
            ("br=/a,dirwh=", Errno::EINVAL, "dirwh"),
            ("br=/a,dirwh=2147483648", Errno::EINVAL, "dirwh"),
            ("br=/a,dirwh=99999999999999999999", Errno::EINVAL, "dirwh"),
            ("br=/a,rdcache=-1", Errno::EINVAL, "bad value \"-1\" for rdcache"),
            ("br=/a,rdcache=3601", Errno::EINVAL, "rdcache"),
            ("br=/a,rdcache=1x", Errno::EINVAL, "rdcache"),
            ("br=/a,rdblk=0", Errno::EINVAL, "rdblk"),
            ("br=/a,rdblk=foo", Errno::EINVAL, "rdblk"),
            ("br=/a,rdblk=4194305", Errno::EINVAL, "rdblk"),
            ("br=/a,rdhash=0", Errno::EINVAL, "rdhash"),
            ("br=/a,rdhash=", Errno::EINVAL, "rdhash"),
            ("br=/a,xino=", Errno::EINVAL, "xino: empty path"),
            ("br=/a,add:5:/b", Errno::EDOM, "branch index 5 out of range"),
            ("br=/a,add:-1:/b", Errno::EDOM, "branch index -1 out of range"),
            ("br=/a,add:99999999999999999999999:/b", Errno::EDOM, "out of range"),
            ("br=/a,add:x:/b", Errno::EINVAL, "bad branch index \"x\""),
            ("br=/a,add::/b", Errno::EINVAL, "bad branch index"),
            ("br=/a,add:/b", Errno::EINVAL, "add: expected IDX:PATH in \"add:/b\""),
            ("br=/a,add:/b:/c", Errno::EINVAL, "bad branch index \"/b\""),
            ("br=/a,add:1", Errno::EINVAL, "add: expected IDX:PATH"),
            ("br=/a,ins:1:", Errno::EINVAL, "ins: empty path"),
            ("br=/a,append:", Errno::EINVAL, "append: empty path"),
            ("br=/a,append:=rw", Errno::EINVAL, "empty branch path"),
            ("br=/a,prepend=/b=zz", Errno::EINVAL, "bad branch permission \"zz\" for /b"),
            ("br=/a,del:", Errno::EINVAL, "del: empty path"),
            ("br=/a,del:/b", Errno::ENOENT, "no such branch /b"),
            ("br=/a,mod:/b=ro", Errno::ENOENT, "no such branch /b"),
            ("br=/a,mod:/a", Errno::EINVAL, "mod: no permission"),
            ("br=/a,mod:/a=rx", Errno::EINVAL, "bad branch permission \"rx\" for /a"),
        ];
        for (data, errno, msg) in &cases {
            let e = err(data);
            assert_eq!(e.errno, *errno, "{:?}: {:?}", data, e);
            assert!(e.msg.contains(msg), "{:?}: got {:?}, want {:?}", data, e.msg, msg);
            assert!(!e.msg.contains('\n') && !e.msg.is_empty() && e.msg.len() < 300);
            assert!(!e.msg.starts_with("aufs"));
            assert_eq!(e.to_string(), e.msg);
        }
        // 4095 bytes is fine, 4096 is not.
        let p = format!("/{}", "y".repeat(4094));
        assert_eq!(ok(&format!("br={}", p)).branches[0].path.len(), 4095);
        let p = format!("/{}", "y".repeat(4095));
        assert_eq!(err(&format!("br={}", p)).errno, Errno::EINVAL);
        // 127 branches are fine
        let o = ok(&format!("br={}", ok127.join(":")));
        assert_eq!(o.branches.len(), 127);
    }

    #[test]
    fn same_path_cases() {
        assert!(same_path(b"/a", b"/a/"));
        assert!(same_path(b"/a//b", b"/a/b"));
        assert!(same_path(b"/", b"//"));
        assert!(same_path(b"/./a", b"/a"));
        assert!(same_path(b"a/", b"a"));
        assert!(!same_path(b"/a", b"a"));
        assert!(!same_path(b"/a", b"/b"));
        assert!(!same_path(b"/a/b", b"/a"));
        assert!(!same_path(b"/a/..", b"/"));
    }

    #[test]
    fn remount_ops() {
        let cur = ok("br=/rw:/ro,dio");
        let (o, ops) = parse_remount(
            b"append:/x=ro+wh,append=/y,prepend:/p=rw,add:1:/q,ins=2:/r=rr,del:/ro,mod:/rw=ro,udba=notify,si=1234,",
            &cur,
        )
        .unwrap();
        assert_eq!(o.branches, cur.branches);
        assert!(o.dio);
        assert_eq!(o.udba, Udba::Notify);
        assert_eq!(
            ops,
            vec![
                BranchOp::Append(spec("/x", Some("ro+wh"))),
                BranchOp::Append(spec("/y", None)),
                BranchOp::Prepend(spec("/p", Some("rw"))),
                BranchOp::Add { index: 1, spec: spec("/q", None) },
                BranchOp::Add { index: 2, spec: spec("/r", Some("rr")) },
                BranchOp::Del(b"/ro".to_vec()),
                BranchOp::Mod(b"/rw".to_vec(), BrPerm::RO),
            ]
        );
        // br= at remount is a replace; nothing else is required
        let (o, ops) = parse_remount(b"br=/n:/m=ro,dio", &cur).unwrap();
        assert!(o.dio);
        assert_eq!(ops, vec![BranchOp::Replace(vec![spec("/n", None), spec("/m", Some("ro"))])]);
        let (o, ops) = parse_remount(b"", &cur).unwrap();
        assert_eq!(o, cur);
        assert!(ops.is_empty());
        // duplicates and index bounds are the table's business at remount
        let (_, ops) = parse_remount(b"append:/rw,add:99:/z", &cur).unwrap();
        assert_eq!(ops.len(), 2);
        // errors
        for (d, errno) in [
            (&b"foo"[..], Errno::EINVAL),
            (b"append:/x=bad", Errno::EINVAL),
            (b"add:-3:/x", Errno::EDOM),
            (b"br=/a:/a", Errno::EINVAL),
            (b"udba=x", Errno::EINVAL),
        ] {
            let e = parse_remount(d, &cur).unwrap_err();
            assert_eq!(e.errno, errno, "{:?}", d);
        }
        // Docker's page-sized batches
        let mut d = String::new();
        for i in 0..100 {
            d.push_str(&format!("append:/var/lib/docker/aufs/diff/{:064x}=ro+wh,", i));
        }
        let (_, ops) = parse_remount(d.as_bytes(), &cur).unwrap();
        assert_eq!(ops.len(), 100);
    }

    #[test]
    fn docker_mount_data() {
        let o = ok("br:/d/diff/c=rw:/d/diff/c-init=ro+wh:/d/diff/l1=ro+wh,dio,xino=/dev/shm/aufs.xino,dirperm1");
        assert_eq!(paths(&o), vec!["/d/diff/c=rw", "/d/diff/c-init=ro+wh", "/d/diff/l1=ro+wh"]);
        assert_eq!(show_options(&o), ",xino=/dev/shm/aufs.xino,dirperm1");
    }

    #[test]
    fn show_escapes_xino() {
        let mut o = MountOpts {
            xino: Xino::Path(b"/tmp/a b\t\n\\,x".to_vec()),
            ..MountOpts::default()
        };
        assert_eq!(show_options(&o), ",xino=/tmp/a\\040b\\011\\012\\134,x");
        o.xino = Xino::Path(b"/t/\xff".to_vec());
        assert_eq!(show_options_bytes(&o), b",xino=/t/\xff".to_vec());
        assert_eq!(show_options(&o), ",xino=/t/\\377");
        let mut o = MountOpts::default();
        for (c, s) in [
            (Create::Rr, ",create=rr"),
            (Create::Mfs { sec: 30 }, ",create=mfs:30"),
            (Create::Pmfs { sec: 1 }, ",create=pmfs:1"),
            (Create::Tdmfs { low: 1024, sec: 2 }, ",create=tdmfs:1024:2"),
            (Create::Mfsrr { low: 5, sec: 30 }, ",create=mfsrr:5:30"),
            (Create::Pmfsrr { low: 0, sec: 3600 }, ",create=pmfsrr:0:3600"),
        ] {
            o.create = c;
            assert_eq!(show_options(&o), s);
        }
    }

    /// Tiny deterministic PRNG for the randomized tests.
    pub(crate) struct XorShift(pub u64);
    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % (n as u64)) as usize
        }
        pub(crate) fn pick<T: Copy>(&mut self, v: &[T]) -> T {
            v[self.below(v.len())]
        }
        pub(crate) fn chance(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }
    }

    fn random_valid_options(r: &mut XorShift) -> String {
        let mut parts: Vec<String> = vec!["br=/a".into()];
        for _ in 0..r.below(12) {
            let s = match r.below(20) {
                0 => format!("udba={}", r.pick(&["none", "reval", "notify"])),
                1 => {
                    let sec = r.below(3601);
                    let low = r.next() >> r.below(64);
                    match r.below(9) {
                        0 => "create=tdp".into(),
                        1 => "create=rr".into(),
                        2 => "create=mfs".into(),
                        3 => format!("create=mfs:{}", sec),
                        4 => format!("create=pmfs:{}", sec),
                        5 => format!("create=tdmfs:{}:{}", low, sec),
                        6 => format!("create=mfsrr:{}k", low >> 10),
                        7 => format!("create=pmfsrr:{}:{}", low, sec),
                        _ => format!("create=pmfsrr:{}m", r.below(1000)),
                    }
                }
                2 => format!("cpup={}", r.pick(&["tdp", "bup", "bu"])),
                3 => format!("xino=/x{}/f", r.below(100)),
                4 => "noxino".into(),
                5 => r.pick(&["plink", "noplink"]).to_string(),
                6 => r.pick(&["dio", "nodio"]).to_string(),
                7 => r.pick(&["dirperm1", "nodirperm1", "metacopy", "nometacopy"]).to_string(),
                8 => r.pick(&["shwh", "noshwh"]).to_string(),
                9 => format!("diropq={}", r.pick(&["w", "a"])),
                10 => format!("dirwh={}", r.below(100000)),
                11 => format!("rdcache={}", r.below(3601)),
                12 => format!("rdblk={}", 1 + r.below(RDBLK_MAX as usize)),
                13 => format!("rdhash={}", 1 + r.below(RDHASH_MAX as usize)),
                14 => r.pick(&["rdblk=def", "rdhash=def"]).to_string(),
                15 => "nowarn_perm".into(),
                16 => r.pick(&["noverbose", "q", "quiet", "silent"]).to_string(),
                17 => r.pick(&["sum", "nosum"]).to_string(),
                18 => "acl".into(),
                _ => "si=abc".into(),
            };
            parts.push(s);
        }
        parts.join(",")
    }

    #[test]
    fn show_options_round_trip() {
        let mut r = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut nondefault = 0;
        for _ in 0..5000 {
            let data = random_valid_options(&mut r);
            let o = ok(&data);
            let shown = show_options(&o);
            if !shown.is_empty() {
                nondefault += 1;
            }
            assert!(shown.is_empty() || shown.starts_with(','), "{}", shown);
            assert!(!shown.ends_with(','));
            let back = ok(&format!("br=/a{}", shown));
            assert_eq!(back, o, "{} -> {}", data, shown);
            // and as a remount over the defaults
            let (ro, ops) = parse_remount(shown.as_bytes(), &ok("br=/a")).unwrap();
            assert!(ops.is_empty());
            assert_eq!(ro, o);
            // the /proc/mounts form, si= included, parses back too
            let back = ok(&format!("br=/a,si=972c6d361e6b32ba{}", shown));
            assert_eq!(back, o);
        }
        assert!(nondefault > 4000);
    }

    const WORDS: &[&str] = &[
        "br", "br=", "br:", "dirs=", "add:", "add=", "ins:", "append:", "append=", "prepend:",
        "del:", "mod:", "mod=", "xino=", "noxino", "udba=", "create=", "cpup=", "diropq=",
        "dirwh=", "rdcache=", "rdblk=", "rdhash=", "def", "plink", "noplink", "dio", "shwh",
        "dirperm1", "metacopy", "verbose", "quiet", "sum", "acl", "si=", "relatime", "rw", "ro", "rr", "wh",
        "nolwh", "+", "=", ":", ",", "/", "//", ".", "..", "/a", "/b", "/tmp/x", "mfs", "tdmfs",
        "mfsrr", "pmfs", "pmfsrr", "tdp", "bup", "bu", "none", "reval", "notify", "0", "1",
        "-1", "3600", "3601", "99999999999999999999", "k", "M", "g", "\0", "\n", " ", "\\",
        "\u{e9}", "\u{ff}", "ro+wh", "rw+nolwh", "a", "w",
    ];

    fn random_data(r: &mut XorShift) -> Vec<u8> {
        let mut v: Vec<u8> = Vec::new();
        match r.below(6) {
            // random bytes
            0 => {
                let n = r.below(5001);
                let alphabet = b"=:,+/abrwoh0123456789-.\0\n \\";
                for _ in 0..n {
                    if r.chance(4) {
                        v.push(r.next() as u8);
                    } else {
                        v.push(r.pick(alphabet));
                    }
                }
            }
            // long branch lists, sometimes well over the limit
            1 => {
                let n = r.below(260);
                v.extend_from_slice(r.pick(&[&b"br="[..], &b"br:"[..], &b"dirs="[..], &b"append:"[..]]));
                for i in 0..n {
                    if i > 0 {
                        v.push(b':');
                    }
                    if r.chance(50) {
                        v.extend_from_slice(b"/dup");
                    } else {
                        v.extend_from_slice(format!("/l/{}", i).as_bytes());
                    }
                    if r.chance(3) {
                        v.extend_from_slice(r.pick(&[&b"=rw"[..], &b"=ro+wh"[..], &b"="[..], &b"=rr+wh"[..], &b"=x"[..], &b"=rw+wh"[..]]));
                    }
                }
                if r.chance(2) {
                    v.extend_from_slice(b",");
                    v.extend_from_slice(random_valid_options(r).as_bytes());
                }
            }
            // a single very long path
            2 => {
                v.extend_from_slice(b"br=/");
                for _ in 0..r.below(5000) {
                    v.push(r.pick(b"abc/=:+"));
                }
            }
            // word salad
            _ => {
                let n = r.below(200);
                for _ in 0..n {
                    v.extend_from_slice(r.pick(WORDS).as_bytes());
                    if r.chance(3) {
                        v.push(r.pick(b",:=+"));
                    }
                }
            }
        }
        v.truncate(5000);
        v
    }

    fn check_err(e: &OptError, data: &[u8]) {
        assert!(!e.msg.is_empty(), "{:?}", data);
        assert!(!e.msg.contains('\n') && !e.msg.contains('\r'), "{:?}", e.msg);
        assert!(e.msg.len() < 400, "{:?}", e.msg);
        assert!(e.errno.0 > 0);
    }

    #[test]
    fn fuzz_never_panics() {
        let mut r = XorShift(0x1234_5678_9abc_def1);
        let cur = ok("br=/a:/b,dio");
        let (mut oks, mut errs) = (0, 0);
        for _ in 0..25000 {
            let data = random_data(&mut r);
            match parse(&data) {
                Ok(o) => {
                    oks += 1;
                    assert!(!o.branches.is_empty() && o.branches.len() <= BRANCH_MAX);
                    // whatever parsed shows and parses back
                    let shown = show_options_bytes(&o);
                    if !shown.contains(&b'\\') {
                        let mut again = b"br=/a".to_vec();
                        again.extend_from_slice(&shown);
                        let back = parse(&again).unwrap();
                        assert_eq!(MountOpts { branches: o.branches.clone(), ..back }, o);
                    }
                }
                Err(e) => {
                    errs += 1;
                    check_err(&e, &data);
                }
            }
            match parse_remount(&data, &cur) {
                Ok((o, ops)) => {
                    assert_eq!(o.branches, cur.branches);
                    let _ = ops;
                }
                Err(e) => check_err(&e, &data),
            }
        }
        assert!(oks > 100 && errs > 10000, "oks {} errs {}", oks, errs);
    }
}
