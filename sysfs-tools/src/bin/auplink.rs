//! `auplink MOUNTPOINT list|cpup|flush`: pseudo-links of an aufs mount, as
//! aufs-util's tool of that name.
//!
//! - `list`: the union inode numbers of the pseudo-linked files on one
//!   line, then the union path of each of their names, one a line.
//! - `cpup`: copies every name of a pseudo-linked file that is still on a
//!   lower branch up to the writable branch (a no-op `lchown` through the
//!   union: the module links the pseudo-link to the name).
//! - `flush`: `cpup`, then checks that no name is left on a lower branch
//!   and removes the pseudo-links; `.wh..wh.plnk` is then empty.
//!
//! Exit status (as aufs-util): 0 ok (also for a `noplink` mount or when
//! there is no pseudo-link), else an errno: 22 (EINVAL) bad usage or not
//! an aufs mount point, 1 (EPERM) not root, 16 (EBUSY) flush found a name
//! it could not copy up (nothing removed), others from the failing call.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aufs_sysfs_tools::plink::{self, Br, Plink, State};
use aufs_sysfs_tools::{parse_mountinfo_line, read_mount, MOUNTINFO};

const AUFS_SUPER_MAGIC: i64 = 0x6175_6673;

const USAGE: &str = "usage: auplink MOUNTPOINT list|cpup|flush\n\
'list' shows the pseudo-linked files' inode numbers and union paths.\n\
'cpup' copies every name of a pseudo-linked file up to the writable branch.\n\
'flush' does 'cpup', then removes the pseudo-links.\n\n\
Options:\n\
  -h, --help     print this and exit\n\
      --version  print the version and exit\n";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cmd {
    List,
    Cpup,
    Flush,
}

fn complain(msg: &dyn std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "auplink: {msg}");
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && (args[0] == "--help" || args[0] == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.len() == 1 && args[0] == "--version" {
        println!("auplink {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let (Some(mnt), Some(cmd), 2) = (args.first(), args.get(1).and_then(|a| parse_cmd(a.to_str()?)), args.len()) else {
        let _ = io::stderr().write_all(USAGE.as_bytes());
        return ExitCode::from(libc::EINVAL as u8);
    };
    match run(Path::new(mnt), cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            complain(&msg);
            ExitCode::from(code)
        }
    }
}

fn parse_cmd(s: &str) -> Option<Cmd> {
    match s {
        "list" => Some(Cmd::List),
        "cpup" => Some(Cmd::Cpup),
        "flush" => Some(Cmd::Flush),
        _ => None,
    }
}

type Fail = (u8, String);

fn io_fail(e: io::Error) -> Fail {
    (plink::errno_of(&e), e.to_string())
}

fn run(arg: &Path, cmd: Cmd) -> Result<(), Fail> {
    let mnt = fs::canonicalize(arg).map_err(|e| io_fail(plink::with_path(e, arg)))?;
    let c = CString::new(mnt.as_os_str().as_bytes()).map_err(|_| (libc::EINVAL as u8, "bad path".to_string()))?;
    // SAFETY: a zeroed statfs is a valid out-parameter; `c` is a NUL-ended
    // path alive for the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io_fail(plink::with_path(io::Error::last_os_error(), &mnt)));
    }
    if st.f_type as i64 != AUFS_SUPER_MAGIC {
        return Err((libc::EINVAL as u8, format!("{}: not aufs", mnt.display())));
    }
    // The mount at that path (the last one when several are stacked).
    let text = fs::read_to_string(Path::new("/").join(MOUNTINFO)).map_err(io_fail)?;
    let info = text
        .lines()
        .rev()
        .filter_map(|l| parse_mountinfo_line(l).ok())
        .find(|m| Path::new(&m.mount_point) == mnt)
        .filter(|m| m.is_aufs())
        .ok_or_else(|| (libc::EINVAL as u8, format!("{}: not an aufs mount point", mnt.display())))?;
    if info.super_options.split(',').any(|o| o == "noplink") {
        return Ok(()); // no pseudo-links to handle
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err((libc::EPERM as u8, "must be run as root (it reads and changes the branches)".into()));
    }
    let m = read_mount(Path::new("/"), &info).map_err(|e| (libc::EINVAL as u8, e.to_string()))?;
    let brs: Vec<Br> = m.branches.iter().map(|b| Br { path: PathBuf::from(&b.path), writable: b.writable }).collect();
    let plinks = plink::read_plinks(&brs).map_err(io_fail)?;
    if plinks.is_empty() {
        return Ok(());
    }
    let names = scan(&mnt, &brs, &plinks)?;
    if cmd == Cmd::List {
        let mut out = Vec::new();
        let mut inos: Vec<u64> = names.iter().map(|n| n.ino).collect();
        inos.sort_unstable();
        inos.dedup();
        let line: Vec<String> = inos.iter().map(u64::to_string).collect();
        out.extend_from_slice(line.join(" ").as_bytes());
        out.push(b'\n');
        for n in &names {
            out.extend_from_slice(mnt.join(&n.rel).as_os_str().as_bytes());
            out.push(b'\n');
        }
        let mut so = io::stdout().lock();
        return match so.write_all(&out).and_then(|()| so.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(io_fail(e)),
            _ => Ok(()),
        };
    }
    // cpup: a no-op ownership change copies the name up.
    let mut first_err: Option<Fail> = None;
    for n in names.iter().filter(|n| matches!(n.state, State::Pending(_))) {
        let p = mnt.join(&n.rel);
        if let Err(e) = std::os::unix::fs::lchown(&p, Some(n.uid), Some(n.gid)) {
            if e.kind() == io::ErrorKind::NotFound {
                continue; // removed meanwhile: nothing to copy
            }
            let f = io_fail(plink::with_path(e, &p));
            complain(&f.1);
            first_err.get_or_insert(f);
        }
    }
    if let Some(f) = first_err {
        return Err(f);
    }
    if cmd == Cmd::Cpup {
        return Ok(());
    }
    // flush: only when no name of any of them is left below.
    let again = scan(&mnt, &brs, &plinks)?;
    if let Some(n) = again.iter().find(|n| matches!(n.state, State::Pending(_))) {
        return Err((
            libc::EBUSY as u8,
            format!("{}: still on a lower branch after cpup; pseudo-links kept", mnt.join(&n.rel).display()),
        ));
    }
    for p in &plinks {
        // Only the pseudo-link read at the start (not one that replaced it).
        match fs::symlink_metadata(&p.path) {
            Ok(md) if md.dev() == p.copy_dev && md.ino() == p.copy_ino => {}
            _ => continue,
        }
        match fs::remove_file(&p.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_fail(plink::with_path(e, &p.path))),
        }
    }
    Ok(())
}

/// A union name of a pseudo-linked file.
struct Name {
    rel: PathBuf,
    ino: u64,
    uid: u32,
    gid: u32,
    state: State,
}

/// Walks the union and classifies its regular files.
fn scan(mnt: &Path, brs: &[Br], plinks: &[Plink]) -> Result<Vec<Name>, Fail> {
    let mut names = Vec::new();
    let mut visit = |rel: &Path, md: &fs::Metadata| {
        if !md.file_type().is_file() {
            return;
        }
        let state = plink::classify(brs, plinks, rel, &plink::generation);
        if state != State::None {
            names.push(Name { rel: rel.to_path_buf(), ino: md.ino(), uid: md.uid(), gid: md.gid(), state });
        }
    };
    let mut err = |e: io::Error| complain(&e);
    plink::walk(mnt, &mut visit, &mut err).map_err(io_fail)?;
    names.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(names)
}
