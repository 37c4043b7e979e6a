//! `auchk BRANCHDIR...`: removes the crash leftovers of aufs branches that
//! are not mounted.
//!
//! Removed: the module's temporary names (`.wh..wh.cpup.*`,
//! `.wh..wh.rmdir.*`, anywhere in the tree, a directory with what it
//! holds) and the entries of the orphan directory `.wh..wh.orph`.
//! Pseudo-links (`.wh..wh.plnk/*`) are kept and counted: one holds the
//! data a lower file's names show through the union, so removing it would
//! lose changes; mount the union and run `auplink MOUNTPOINT flush`.
//!
//! A directory that is, holds or lies inside a branch of a mounted aufs
//! (`/sys/fs/aufs/si_*/br*`) is refused: the module may be using the
//! names. Each removed path is printed.
//!
//! Exit status: 0 ok; 16 (EBUSY) a directory is a branch of a mounted
//! aufs (nothing done to it); 22 (EINVAL) bad usage; 1 (EPERM) not root;
//! another errno when something could not be read or removed.

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aufs_sysfs_tools::plink::{self, PLINK_DIR};
use aufs_sysfs_tools::SYSFS_AUFS;

const USAGE: &str = "usage: auchk [OPTIONS] BRANCHDIR...\n\
Removes the crash leftovers (temporary names, orphans) of aufs branches\n\
that are not mounted; pseudo-links are kept (run 'auplink MNT flush').\n\n\
Options:\n\
  -n, --dry-run  print what would be removed, remove nothing\n\
  -h, --help     print this and exit\n\
      --version  print the version and exit\n";

fn complain(msg: &dyn std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "auchk: {msg}");
}

fn main() -> ExitCode {
    let mut dry = false;
    let mut dirs = Vec::new();
    // Hidden, for tests: read the mounted branches below another directory.
    let mut sysfs = Path::new("/").join(SYSFS_AUFS);
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--sysfs-aufs") => match args.next() {
                Some(d) => sysfs = PathBuf::from(d),
                None => {
                    complain(&"--sysfs-aufs needs a directory");
                    return ExitCode::from(libc::EINVAL as u8);
                }
            },
            Some("-h" | "--help") => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some("--version") => {
                println!("auchk {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Some("-n" | "--dry-run") => dry = true,
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                complain(&format_args!("unknown option {s}"));
                let _ = io::stderr().write_all(USAGE.as_bytes());
                return ExitCode::from(libc::EINVAL as u8);
            }
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    if dirs.is_empty() {
        let _ = io::stderr().write_all(USAGE.as_bytes());
        return ExitCode::from(libc::EINVAL as u8);
    }
    // SAFETY: geteuid has no preconditions.
    if !dry && unsafe { libc::geteuid() } != 0 {
        complain(&"must be run as root (it removes files on the branch)");
        return ExitCode::from(libc::EPERM as u8);
    }
    let mounted = match plink::mounted_branches(&sysfs) {
        Ok(m) => m,
        Err(e) => {
            complain(&e);
            return ExitCode::from(plink::errno_of(&e));
        }
    };
    let mut status = 0u8;
    for d in &dirs {
        if let Err(code) = check(d, &mounted, dry) {
            status = status.max(code);
        }
    }
    ExitCode::from(status)
}

fn check(arg: &Path, mounted: &[(String, PathBuf)], dry: bool) -> Result<(), u8> {
    let fail = |e: io::Error| {
        complain(&e);
        plink::errno_of(&e)
    };
    let dir = fs::canonicalize(arg).map_err(|e| fail(plink::with_path(e, arg)))?;
    if !fs::metadata(&dir).map_err(|e| fail(plink::with_path(e, &dir)))?.is_dir() {
        return Err(fail(plink::with_path(io::Error::from_raw_os_error(libc::ENOTDIR), &dir)));
    }
    if let Some((si, br)) = mounted.iter().find(|(_, br)| plink::overlaps(&dir, br)) {
        complain(&format_args!(
            "{}: refused, {} is a branch of a mounted aufs ({si}); unmount it first",
            dir.display(),
            br.display()
        ));
        return Err(libc::EBUSY as u8);
    }
    let mut first: Option<u8> = None;
    let mut err = |e: io::Error| {
        complain(&e);
        first.get_or_insert(plink::errno_of(&e));
    };
    let found = plink::find_leftovers(&dir, &mut err).map_err(fail)?;
    let mut out = io::stdout().lock();
    let mut removed = 0usize;
    for p in &found {
        let r = if dry { Ok(()) } else { plink::remove_tree(p) };
        match r {
            Ok(()) => {
                removed += 1;
                let _ = out.write_all(if dry { b"would remove " } else { b"removed " });
                let _ = out.write_all(p.as_os_str().as_bytes());
                let _ = out.write_all(b"\n");
            }
            Err(e) => err(e),
        }
    }
    let plinks = fs::read_dir(dir.join(PLINK_DIR)).map(|rd| rd.count()).unwrap_or(0);
    let _ = writeln!(
        out,
        "{}: {removed} leftover(s) {}, {plinks} pseudo-link(s) kept{}",
        dir.display(),
        if dry { "found" } else { "removed" },
        if plinks > 0 { " (mount and run 'auplink MOUNTPOINT flush' to fold them)" } else { "" }
    );
    let _ = out.flush();
    match first {
        Some(c) => Err(c),
        None => Ok(()),
    }
}
