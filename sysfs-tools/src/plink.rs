//! Pseudo-links and crash leftovers on aufs branches: what `auplink` and
//! `auchk` need.
//!
//! The module keeps a pseudo-link of a lower file with several names in
//! `<writable branch>/.wh..wh.plnk/<dev>.<ino>.<gen>` (hex, the lower
//! inode's identity: `st_dev` as userspace sees it, inode number and
//! generation). A name of that file still lives on the lower branch; the
//! union shows the pseudo-link's data for it. `auplink cpup` copies every
//! such name up (which links the pseudo-link to the name on the writable
//! branch), `auplink flush` then removes the pseudo-links.
//!
//! Every walk here is iterative (an explicit stack), never recursive, and
//! stays on one filesystem.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Directory of pseudo-links in a writable branch's root.
pub const PLINK_DIR: &str = ".wh..wh.plnk";
/// Directory of orphans (unlinked but open files) in a branch's root.
pub const ORPH_DIR: &str = ".wh..wh.orph";
/// Prefixes of the module's temporary names (copy-up, rmdir).
pub const TMP_PREFIXES: [&str; 2] = [".wh..wh.cpup.", ".wh..wh.rmdir."];

/// The identity of a lower inode a pseudo-link stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlinkId {
    pub dev: u64,
    pub ino: u64,
    pub gen: u64,
}

/// Parses a pseudo-link's name `<dev>.<ino>.<gen>` (lowercase hex).
pub fn parse_name(name: &[u8]) -> Option<PlinkId> {
    let s = std::str::from_utf8(name).ok()?;
    let mut it = s.split('.');
    let mut hex = || -> Option<u64> {
        let w = it.next()?;
        if w.is_empty() || w.len() > 16 || !w.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(w, 16).ok()
    };
    let id = PlinkId { dev: hex()?, ino: hex()?, gen: hex()? };
    if it.next().is_some() {
        return None;
    }
    Some(id)
}

/// One pseudo-link found on a writable branch.
#[derive(Debug, Clone)]
pub struct Plink {
    /// Index of the writable branch it is on.
    pub branch: usize,
    /// Its path on the branch.
    pub path: PathBuf,
    pub id: PlinkId,
    /// The copy's own device and inode number on the writable branch.
    pub copy_dev: u64,
    pub copy_ino: u64,
}

/// A branch as the walks need it.
#[derive(Debug, Clone)]
pub struct Br {
    pub path: PathBuf,
    pub writable: bool,
}

/// Reads the pseudo-links of every writable branch. Entries whose name is
/// not a pseudo-link name or that are not regular files are left out.
pub fn read_plinks(brs: &[Br]) -> io::Result<Vec<Plink>> {
    let mut out = Vec::new();
    for (i, br) in brs.iter().enumerate().filter(|(_, b)| b.writable) {
        let dir = br.path.join(PLINK_DIR);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(with_path(e, &dir)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| with_path(e, &dir))?;
            let Some(id) = parse_name(ent.file_name().as_bytes()) else { continue };
            let path = ent.path();
            let md = fs::symlink_metadata(&path).map_err(|e| with_path(e, &path))?;
            if !md.file_type().is_file() {
                continue;
            }
            out.push(Plink { branch: i, path, id, copy_dev: md.dev(), copy_ino: md.ino() });
        }
    }
    Ok(out)
}

/// What a regular file of the union is, as far as pseudo-links go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not a pseudo-linked file.
    None,
    /// A name of pseudo-linked file `plinks[n]` still on a lower branch.
    Pending(usize),
    /// A name of pseudo-linked file `plinks[n]` that is already a real hard
    /// link of the copy on the writable branch.
    Real(usize),
}

/// Classifies the union path `rel` (relative to the mount point): finds
/// the topmost branch holding `rel` and compares it with the pseudo-links.
/// `gen` gives a lower inode's generation when it can be read.
pub fn classify(brs: &[Br], plinks: &[Plink], rel: &Path, gen: &dyn Fn(&Path) -> Option<u64>) -> State {
    let Some((bi, path, md)) = brs.iter().enumerate().find_map(|(i, b)| {
        let p = b.path.join(rel);
        fs::symlink_metadata(&p).ok().map(|md| (i, p, md))
    }) else {
        return State::None;
    };
    if !md.file_type().is_file() {
        return State::None;
    }
    let writable = brs.get(bi).is_some_and(|b| b.writable);
    if writable {
        return match plinks.iter().position(|p| p.branch == bi && p.copy_dev == md.dev() && p.copy_ino == md.ino()) {
            Some(n) => State::Real(n),
            None => State::None,
        };
    }
    // A lower entry: a pseudo-link of it on a writable branch above.
    let cands: Vec<usize> = plinks
        .iter()
        .enumerate()
        .filter(|(_, p)| p.branch < bi && p.id.dev == md.dev() && p.id.ino == md.ino())
        .map(|(n, _)| n)
        .collect();
    let g = gen(&path);
    let pick = match g {
        Some(g) => cands.iter().copied().find(|n| plinks.get(*n).is_some_and(|p| p.id.gen == g)),
        // Generation unknown: only an unambiguous match counts.
        None if cands.len() == 1 => cands.first().copied(),
        None => None,
    };
    match pick {
        // The topmost writable branch's pseudo-link is the one used.
        Some(n) => State::Pending(n),
        None => State::None,
    }
}

/// Walks the directory tree at `root` without recursion and without
/// leaving its filesystem, calling `visit` with the path relative to
/// `root` and the metadata of every entry that is not a directory.
/// Directories that cannot be read are reported through `err` and skipped.
pub fn walk(root: &Path, visit: &mut dyn FnMut(&Path, &Metadata), err: &mut dyn FnMut(io::Error)) -> io::Result<()> {
    let dev = fs::symlink_metadata(root).map_err(|e| with_path(e, root))?.dev();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                err(with_path(e, &dir));
                continue;
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    err(with_path(e, &dir));
                    break;
                }
            };
            let r = rel.join(ent.file_name());
            let md = match fs::symlink_metadata(root.join(&r)) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // gone meanwhile
                Err(e) => {
                    err(with_path(e, &root.join(&r)));
                    continue;
                }
            };
            if md.is_dir() {
                if md.dev() == dev {
                    stack.push(r);
                }
            } else {
                visit(&r, &md);
            }
        }
    }
    Ok(())
}

/// Is `name` one of the module's temporary names?
pub fn is_tmp_name(name: &[u8]) -> bool {
    TMP_PREFIXES.iter().any(|p| name.len() > p.len() && name.starts_with(p.as_bytes()))
}

/// Finds the crash leftovers of the branch at `root`: temporary names
/// anywhere in the tree (not looked into) and the entries of the orphan
/// directory. Paths are absolute (below `root`).
pub fn find_leftovers(root: &Path, err: &mut dyn FnMut(io::Error)) -> io::Result<Vec<PathBuf>> {
    let dev = fs::symlink_metadata(root).map_err(|e| with_path(e, root))?.dev();
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                err(with_path(e, &dir));
                continue;
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    err(with_path(e, &dir));
                    break;
                }
            };
            let name = ent.file_name();
            let p = ent.path();
            if is_tmp_name(name.as_bytes()) {
                out.push(p);
                continue;
            }
            if dir == root && name.as_bytes() == ORPH_DIR.as_bytes() {
                match fs::read_dir(&p) {
                    Ok(rd) => out.extend(rd.filter_map(|e| e.ok()).map(|e| e.path())),
                    Err(e) => err(with_path(e, &p)),
                }
                continue;
            }
            if dir == root && name.as_bytes() == PLINK_DIR.as_bytes() {
                continue;
            }
            match fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() && md.dev() == dev => stack.push(p),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => err(with_path(e, &p)),
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes `path` and, for a directory, everything below it, without
/// recursion: directories are emptied depth-first with an explicit stack.
/// Never follows symlinks nor leaves the filesystem of `path`.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let md = fs::symlink_metadata(path).map_err(|e| with_path(e, path))?;
    if !md.is_dir() {
        return fs::remove_file(path).map_err(|e| with_path(e, path));
    }
    let dev = md.dev();
    // Each stack entry: a directory and whether its children were pushed.
    let mut stack: Vec<(PathBuf, bool)> = vec![(path.to_path_buf(), false)];
    while let Some((dir, expanded)) = stack.pop() {
        if expanded {
            fs::remove_dir(&dir).map_err(|e| with_path(e, &dir))?;
            continue;
        }
        stack.push((dir.clone(), true));
        for ent in fs::read_dir(&dir).map_err(|e| with_path(e, &dir))? {
            let p = ent.map_err(|e| with_path(e, &dir))?.path();
            let md = fs::symlink_metadata(&p).map_err(|e| with_path(e, &p))?;
            if md.is_dir() {
                if md.dev() != dev {
                    return Err(with_path(io::Error::from_raw_os_error(libc::EXDEV), &p));
                }
                stack.push((p, false));
            } else {
                fs::remove_file(&p).map_err(|e| with_path(e, &p))?;
            }
        }
    }
    Ok(())
}

/// The generation of the inode at `path` (`FS_IOC_GETVERSION`), when the
/// filesystem gives it.
pub fn generation(path: &Path) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(path).ok()?;
    let mut v: libc::c_long = 0;
    // SAFETY: FS_IOC_GETVERSION writes one long through the pointer, which
    // points to `v`, alive for the call; the fd is open.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETVERSION, &mut v as *mut libc::c_long) };
    // The kernel stores an unsigned 32-bit generation.
    (r == 0).then_some(u64::from(v as u32))
}

/// `_IOR('v', 1, long)`.
const FS_IOC_GETVERSION: libc::Ioctl = 0x8008_7601 as libc::Ioctl;

/// An error about a path, keeping the errno of the one it wraps.
#[derive(Debug)]
struct PathError {
    errno: Option<i32>,
    msg: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for PathError {}

/// An `io::Error` that names the path it is about (its errno kept for
/// [`errno_of`]).
pub fn with_path(e: io::Error, p: &Path) -> io::Error {
    let errno = e.raw_os_error().or_else(|| e.get_ref().and_then(|i| i.downcast_ref::<PathError>()).and_then(|pe| pe.errno));
    io::Error::new(e.kind(), PathError { errno, msg: format!("{}: {e}", p.display()) })
}

/// The errno of an error, for an exit status as aufs-util's tools give.
pub fn errno_of(e: &io::Error) -> u8 {
    let wrapped = e.get_ref().and_then(|i| i.downcast_ref::<PathError>()).and_then(|pe| pe.errno);
    match e.raw_os_error().or(wrapped) {
        Some(n) if (1..=255).contains(&n) => n as u8,
        _ => match e.kind() {
            io::ErrorKind::NotFound => libc::ENOENT as u8,
            io::ErrorKind::PermissionDenied => libc::EACCES as u8,
            _ => libc::EIO as u8,
        },
    }
}

/// Every branch of every mounted aufs as sysfs lists it below `root`
/// (`/sys/fs/aufs/si_*/br*`): (si directory name, branch path).
pub fn mounted_branches(sysfs_aufs: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(sysfs_aufs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(with_path(e, sysfs_aufs)),
    };
    for si in rd {
        let si = si?;
        let sname = si.file_name().to_string_lossy().into_owned();
        if !sname.starts_with("si_") {
            continue;
        }
        for f in fs::read_dir(si.path())? {
            let f = f?;
            let fname = f.file_name();
            let fname = fname.as_bytes();
            if !(fname.starts_with(b"br") && fname.len() > 2 && fname[2..].iter().all(u8::is_ascii_digit)) {
                continue;
            }
            let text = match fs::read_to_string(f.path()) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // re-created meanwhile
                Err(e) => return Err(with_path(e, &f.path())),
            };
            if let Ok(line) = crate::parse_br_line(&text) {
                out.push((sname.clone(), PathBuf::from(line.path)));
            }
        }
    }
    Ok(out)
}

/// Do two canonical paths overlap (one is the other or below it)?
pub fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!("auplink-test-{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
        fn file(&self, rel: &str, data: &str) -> PathBuf {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
            p
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn name_of(p: &Path) -> String {
        let md = fs::symlink_metadata(p).unwrap();
        format!("{:x}.{:x}.{:x}", md.dev(), md.ino(), generation(p).unwrap_or(0))
    }

    #[test]
    fn plink_names_parse() {
        assert_eq!(parse_name(b"803.1234.dead"), Some(PlinkId { dev: 0x803, ino: 0x1234, gen: 0xdead }));
        assert_eq!(parse_name(b"0.0.0"), Some(PlinkId { dev: 0, ino: 0, gen: 0 }));
        for bad in [&b"803.1234"[..], b"803.1234.dead.1", b"803..1", b"80G.1.1", b"", b"803.1234.DEAD", b"11111111111111111.1.1"] {
            assert_eq!(parse_name(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// A union of rw over ro where ro holds a, b (one file) and c; a was
    /// copied up with a pseudo-link.
    #[test]
    fn names_are_pending_then_real() {
        let t = Tmp::new("cls");
        let a = t.file("ro/d/a", "lower");
        fs::hard_link(&a, t.0.join("ro/d/b")).unwrap();
        t.file("ro/d/c", "c");
        let pl = t.file(&format!("rw/{PLINK_DIR}/{}", name_of(&a)), "upper");
        fs::create_dir_all(t.0.join("rw/d")).unwrap();
        fs::hard_link(&pl, t.0.join("rw/d/a")).unwrap();
        t.file(&format!("rw/{PLINK_DIR}/not-a-plink"), "x");
        let brs = [Br { path: t.0.join("rw"), writable: true }, Br { path: t.0.join("ro"), writable: false }];
        let pls = read_plinks(&brs).unwrap();
        assert_eq!(pls.len(), 1);
        let cls = |r: &str| classify(&brs, &pls, Path::new(r), &generation);
        assert_eq!(cls("d/a"), State::Real(0));
        assert_eq!(cls("d/b"), State::Pending(0));
        assert_eq!(cls("d/c"), State::None);
        assert_eq!(cls("d/missing"), State::None);
        // The other name copied up: a real link too.
        fs::hard_link(&pl, t.0.join("rw/d/b")).unwrap();
        assert_eq!(cls("d/b"), State::Real(0));
        // Another file on the rw branch at that name is not the file.
        fs::remove_file(t.0.join("rw/d/b")).unwrap();
        t.file("rw/d/b", "new");
        assert_eq!(cls("d/b"), State::None);
        // A pseudo-link for another generation of the same number is not it.
        let wrong = |_: &Path| Some(0xffff_fffe_u64);
        assert_eq!(classify(&brs, &pls, Path::new("d/c"), &wrong), State::None);
    }

    #[test]
    fn walk_sees_every_non_directory_once() {
        let t = Tmp::new("walk");
        let mut want = Vec::new();
        let mut deep = String::from("r");
        for i in 0..300 {
            deep.push_str("/d");
            if i % 50 == 0 {
                t.file(&format!("{deep}/f{i}"), "x");
                want.push(PathBuf::from(format!("{}/f{i}", deep.trim_start_matches("r/").trim_start_matches('r'))));
            }
        }
        let mut got = Vec::new();
        walk(&t.0.join("r"), &mut |r, _| got.push(r.to_path_buf()), &mut |e| panic!("{e}")).unwrap();
        got.sort();
        let mut want: Vec<PathBuf> = want.into_iter().map(|p| p.strip_prefix("/").map(Path::to_path_buf).unwrap_or(p)).collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn leftovers_found_and_removed_plinks_kept() {
        let t = Tmp::new("left");
        t.file("b/keep", "k");
        t.file("b/x/.wh..wh.cpup.1f", "half a copy");
        t.file("b/x/y/.wh..wh.rmdir.7/z/deep", "gone");
        t.file("b/.wh..wh.orph/o1", "orphan");
        t.file(&format!("b/{PLINK_DIR}/803.12.1"), "data");
        t.file("b/x/.wh..wh.cpup.", "no id: a user cannot make it, but not ours");
        t.file("b/x/.wh.cpup.1", "a whiteout");
        let root = t.0.join("b");
        let found = find_leftovers(&root, &mut |e| panic!("{e}")).unwrap();
        let rel: Vec<_> = found.iter().map(|p| p.strip_prefix(&root).unwrap().to_path_buf()).collect();
        assert_eq!(rel, [PathBuf::from(".wh..wh.orph/o1"), PathBuf::from("x/.wh..wh.cpup.1f"), PathBuf::from("x/y/.wh..wh.rmdir.7")]);
        for p in &found {
            remove_tree(p).unwrap();
        }
        assert!(find_leftovers(&root, &mut |e| panic!("{e}")).unwrap().is_empty());
        assert!(root.join("keep").exists() && root.join(PLINK_DIR).join("803.12.1").exists());
        assert!(root.join("x/y").is_dir() && root.join(".wh..wh.orph").is_dir());
    }

    #[test]
    fn remove_tree_deep_without_recursion() {
        let t = Tmp::new("rm");
        let mut p = t.0.join("top");
        for _ in 0..2000 {
            p.push("d");
        }
        // Built with relative steps: the absolute path is over PATH_MAX.
        let mut cur = t.0.clone();
        for i in 0..2000 {
            cur.push(if i == 0 { "top" } else { "d" });
            if fs::create_dir(&cur).is_err() {
                break;
            }
            if cur.as_os_str().len() > 3000 {
                break;
            }
        }
        fs::write(cur.join("f"), "x").unwrap();
        remove_tree(&t.0.join("top")).unwrap();
        assert!(!t.0.join("top").exists());
    }

    #[test]
    fn overlap_and_mounted_branches() {
        assert!(overlaps(Path::new("/a/b"), Path::new("/a/b")));
        assert!(overlaps(Path::new("/a/b/c"), Path::new("/a/b")));
        assert!(overlaps(Path::new("/a"), Path::new("/a/b")));
        assert!(!overlaps(Path::new("/a/bc"), Path::new("/a/b")));
        let t = Tmp::new("sys");
        t.file("si_1f/br0", "/srv/rw=rw\n");
        t.file("si_1f/br1", "/srv/my\\040ro=ro+wh\n");
        t.file("si_1f/brid0", "64\n");
        t.file("config", "CONFIG_AUFS_FS=m\n");
        let mut m = mounted_branches(&t.0).unwrap();
        m.sort();
        assert_eq!(m, [("si_1f".to_string(), PathBuf::from("/srv/my ro")), ("si_1f".to_string(), PathBuf::from("/srv/rw"))]);
        assert!(mounted_branches(&t.0.join("none")).unwrap().is_empty());
    }
}
