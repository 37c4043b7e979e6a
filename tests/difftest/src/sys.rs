//! Thin wrappers over the system calls the tester uses.  Every call returns
//! `Result<_, Errno>`; nothing here panics on an errno.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A positive errno value.
pub type Errno = i32;
pub type SysResult<T> = Result<T, Errno>;

/// The calling thread's errno.
pub fn errno() -> Errno {
    last_errno()
}

fn last_errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Path to a C string.  Paths with an interior NUL cannot be passed to the
/// kernel; report them as EINVAL rather than panicking.
pub fn cpath(p: &Path) -> SysResult<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)
}

fn cstr(s: &str) -> SysResult<CString> {
    CString::new(s).map_err(|_| libc::EINVAL)
}

fn check(rc: libc::c_int) -> SysResult<()> {
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// Symbolic name of an errno, for reports.
pub fn errno_name(e: Errno) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENODATA => "ENODATA",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESTALE => "ESTALE",
        libc::ENXIO => "ENXIO",
        libc::ENOTTY => "ENOTTY",
        libc::ECHILD => "ECHILD",
        _ => return format!("errno{}", e),
    };
    n.to_string()
}

/// An owned file descriptor, closed on drop.
pub struct Fd(libc::c_int);

impl Fd {
    pub fn raw(&self) -> libc::c_int {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor and close it exactly once.
        unsafe {
            libc::close(self.0);
        }
    }
}

pub fn open(p: &Path, flags: libc::c_int, mode: u32) -> SysResult<Fd> {
    let c = cpath(p)?;
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(last_errno())
    } else {
        Ok(Fd(fd))
    }
}

/// Writes all of `data` (retrying short writes); returns the byte count.
pub fn write_all(fd: &Fd, data: &[u8]) -> SysResult<u64> {
    let mut done = 0usize;
    while done < data.len() {
        // SAFETY: pointer/length describe a live slice.
        let n = unsafe {
            libc::write(
                fd.0,
                data[done..].as_ptr() as *const libc::c_void,
                data.len() - done,
            )
        };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as usize;
    }
    Ok(done as u64)
}

/// pwrite of all of `data` at `off`.
pub fn pwrite_all(fd: &Fd, data: &[u8], off: u64) -> SysResult<u64> {
    let mut done = 0usize;
    while done < data.len() {
        // SAFETY: pointer/length describe a live slice.
        let n = unsafe {
            libc::pwrite(
                fd.0,
                data[done..].as_ptr() as *const libc::c_void,
                data.len() - done,
                (off + done as u64) as libc::off_t,
            )
        };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as usize;
    }
    Ok(done as u64)
}

/// Reads from the current offset to EOF.
pub fn read_to_end(fd: &Fd) -> SysResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: buf is a live writable buffer of buf.len() bytes.
        let n = unsafe { libc::read(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

pub fn ftruncate(fd: &Fd, len: u64) -> SysResult<()> {
    // SAFETY: plain syscall on an owned fd.
    check(unsafe { libc::ftruncate(fd.0, len as libc::off_t) })
}

pub fn fstat(fd: &Fd) -> SysResult<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd.0, &mut st) })?;
    Ok(st)
}

pub fn lstat(p: &Path) -> SysResult<libc::stat> {
    let c = cpath(p)?;
    // SAFETY: valid path and out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::lstat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn stat(p: &Path) -> SysResult<libc::stat> {
    let c = cpath(p)?;
    // SAFETY: valid path and out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::stat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn truncate(p: &Path, len: u64) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::truncate(c.as_ptr(), len as libc::off_t) })
}

pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

/// renameat2(2) through the raw syscall (works whatever the libc version).
pub fn renameat2(from: &Path, to: &Path, flags: u32) -> SysResult<()> {
    let a = cpath(from)?;
    let b = cpath(to)?;
    // SAFETY: valid paths; AT_FDCWD with absolute paths.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

pub fn link(from: &Path, to: &Path) -> SysResult<()> {
    let a = cpath(from)?;
    let b = cpath(to)?;
    // SAFETY: valid paths.
    check(unsafe { libc::link(a.as_ptr(), b.as_ptr()) })
}

pub fn unlink(p: &Path) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::unlink(c.as_ptr()) })
}

pub fn mkdir(p: &Path, mode: u32) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::mkdir(c.as_ptr(), mode as libc::mode_t) })
}

pub fn rmdir(p: &Path) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::rmdir(c.as_ptr()) })
}

pub fn symlink(target: &str, p: &Path) -> SysResult<()> {
    let t = cstr(target)?;
    let c = cpath(p)?;
    // SAFETY: valid strings.
    check(unsafe { libc::symlink(t.as_ptr(), c.as_ptr()) })
}

pub fn readlink(p: &Path) -> SysResult<Vec<u8>> {
    let c = cpath(p)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is writable for buf.len() bytes.
    let n = unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if n < 0 {
        return Err(last_errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

pub fn chmod(p: &Path, mode: u32) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) })
}

pub fn lchown(p: &Path, uid: u32, gid: u32) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::lchown(c.as_ptr(), uid, gid) })
}

/// A timestamp for utimensat: `None` = UTIME_OMIT.
pub type Ts = Option<(i64, i64)>;

pub fn utimensat(p: &Path, atime: Ts, mtime: Ts, nofollow: bool) -> SysResult<()> {
    let c = cpath(p)?;
    let conv = |t: Ts| match t {
        Some((s, ns)) => libc::timespec {
            tv_sec: s as libc::time_t,
            tv_nsec: ns as _,
        },
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT as _,
        },
    };
    let ts = [conv(atime), conv(mtime)];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: valid path and a 2-element timespec array.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), flags) })
}

pub fn mknod(p: &Path, mode: u32, dev: u64) -> SysResult<()> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    check(unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) })
}

pub const XATTR_CREATE: i32 = 1;
pub const XATTR_REPLACE: i32 = 2;

pub fn lsetxattr(p: &Path, name: &str, value: &[u8], flags: i32) -> SysResult<()> {
    let c = cpath(p)?;
    let n = cstr(name)?;
    // SAFETY: valid strings and value slice.
    check(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            flags,
        )
    })
}

pub fn lgetxattr(p: &Path, name: &str) -> SysResult<Vec<u8>> {
    let c = cpath(p)?;
    let n = cstr(name)?;
    let mut buf = vec![0u8; 65536];
    // SAFETY: buf writable for its length.
    let r = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// All xattr names of `p` (unsorted, unfiltered).
pub fn llistxattr(p: &Path) -> SysResult<Vec<String>> {
    let c = cpath(p)?;
    let mut buf = vec![0u8; 65536];
    // SAFETY: buf writable for its length.
    let r =
        unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r < 0 {
        return Err(last_errno());
    }
    buf.truncate(r as usize);
    Ok(buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

pub fn lremovexattr(p: &Path, name: &str) -> SysResult<()> {
    let c = cpath(p)?;
    let n = cstr(name)?;
    // SAFETY: valid strings.
    check(unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) })
}

/// Is this xattr name one the tester creates and compares (`user.*`, and
/// `trusted.*` used where the filesystem lacks user xattrs)?
pub fn compared_xattr(name: &str) -> bool {
    name.starts_with("user.") || name.starts_with("trusted.")
}

/// The compared xattrs of `p` (see [`compared_xattr`]) as sorted
/// (name, value) pairs.
pub fn compared_xattrs(p: &Path) -> SysResult<Vec<(String, Vec<u8>)>> {
    let mut names: Vec<String> = llistxattr(p)?
        .into_iter()
        .filter(|n| compared_xattr(n))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let v = lgetxattr(p, &n)?;
        out.push((n, v));
    }
    Ok(out)
}

/// fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW).
pub fn lstat_at(dir: &Fd, name: &str) -> SysResult<libc::stat> {
    let n = cstr(name)?;
    // SAFETY: zeroed stat is a valid out-buffer; valid name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatat(dir.0, n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// openat(dirfd, name, flags | O_CLOEXEC).
pub fn open_at(dir: &Fd, name: &str, flags: libc::c_int) -> SysResult<Fd> {
    let n = cstr(name)?;
    // SAFETY: valid name.
    let fd = unsafe { libc::openat(dir.0, n.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(last_errno())
    } else {
        Ok(Fd(fd))
    }
}

/// readlinkat(dirfd, name).
pub fn readlink_at(dir: &Fd, name: &str) -> SysResult<Vec<u8>> {
    let n = cstr(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is writable for buf.len() bytes.
    let r = unsafe {
        libc::readlinkat(
            dir.0,
            n.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// The compared xattrs (see [`compared_xattr`]) of an open file, sorted.
pub fn compared_xattrs_fd(fd: &Fd) -> SysResult<Vec<(String, Vec<u8>)>> {
    let mut buf = vec![0u8; 65536];
    // SAFETY: buf writable for its length.
    let r = unsafe { libc::flistxattr(fd.0, buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r < 0 {
        return Err(last_errno());
    }
    buf.truncate(r as usize);
    let mut names: Vec<String> = buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .filter(|n| compared_xattr(n))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let c = cstr(&n)?;
        let mut v = vec![0u8; 65536];
        // SAFETY: v writable for its length.
        let r = unsafe {
            libc::fgetxattr(
                fd.0,
                c.as_ptr(),
                v.as_mut_ptr() as *mut libc::c_void,
                v.len(),
            )
        };
        if r < 0 {
            return Err(last_errno());
        }
        v.truncate(r as usize);
        out.push((n, v));
    }
    Ok(out)
}

/// All entries of directory `p`, including "." and "..", as (name, d_type).
pub fn read_dir(p: &Path) -> SysResult<Vec<(String, u8)>> {
    let c = cpath(p)?;
    // SAFETY: valid path.
    let dir = unsafe { libc::opendir(c.as_ptr()) };
    if dir.is_null() {
        return Err(last_errno());
    }
    read_dir_stream(dir)
}

/// Reads all entries of `dir` and closes it.
fn read_dir_stream(dir: *mut libc::DIR) -> SysResult<Vec<(String, u8)>> {
    let mut out = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; reset it to tell end-of-dir from error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: dir is a live DIR*.
        let ent = unsafe { libc::readdir64(dir) };
        if ent.is_null() {
            let e = last_errno();
            break if e == 0 { Ok(()) } else { Err(e) };
        }
        // SAFETY: readdir64 returned a valid dirent whose d_name is NUL-terminated.
        let (name, ty) = unsafe {
            let name = CStr::from_ptr((*ent).d_name.as_ptr());
            (
                String::from_utf8_lossy(name.to_bytes()).into_owned(),
                (*ent).d_type,
            )
        };
        out.push((name, ty));
    };
    // SAFETY: dir is live and closed once.
    unsafe { libc::closedir(dir) };
    result.map(|_| out)
}

/// Names in the open directory `fd` other than "." and "..", sorted
/// (getdents64 on the descriptor itself, which must be fresh: it is read
/// to the end).
pub fn list_names_fd(fd: &Fd) -> SysResult<Vec<String>> {
    let mut buf = vec![0u8; 32768];
    let mut out = Vec::new();
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.0,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        out.extend(parse_dirents(&buf[..n as usize]));
    }
    out.retain(|n| n != "." && n != "..");
    out.sort();
    Ok(out)
}

/// The names in a getdents64 buffer (struct linux_dirent64: u64 ino,
/// i64 off, u16 reclen, u8 type, NUL-terminated name).
fn parse_dirents(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 19 <= b.len() {
        let reclen = u16::from_ne_bytes([b[pos + 16], b[pos + 17]]) as usize;
        if reclen < 19 || pos + reclen > b.len() {
            break;
        }
        let name = &b[pos + 19..pos + reclen];
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        out.push(String::from_utf8_lossy(&name[..end]).into_owned());
        pos += reclen;
    }
    out
}

/// Names in directory `p` other than "." and "..", sorted.
pub fn list_names(p: &Path) -> SysResult<Vec<String>> {
    let mut v: Vec<String> = read_dir(p)?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    Ok(v)
}

pub fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> SysResult<()> {
    let s = cstr(src)?;
    let t = cpath(target)?;
    let f = cstr(fstype)?;
    let d = cstr(data)?;
    // SAFETY: valid strings.
    check(unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            f.as_ptr(),
            flags,
            d.as_ptr() as *const libc::c_void,
        )
    })
}

pub fn umount2(target: &Path, flags: libc::c_int) -> SysResult<()> {
    let t = cpath(target)?;
    // SAFETY: valid path.
    check(unsafe { libc::umount2(t.as_ptr(), flags) })
}

pub fn geteuid() -> u32 {
    // SAFETY: trivial syscall.
    unsafe { libc::geteuid() }
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: trivial syscall.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn getpid() -> u32 {
    std::process::id()
}

/// Reads a whole small file (e.g. under /proc) as text.
pub fn read_text(p: &Path) -> SysResult<String> {
    let fd = open(p, libc::O_RDONLY, 0)?;
    Ok(String::from_utf8_lossy(&read_to_end(&fd)?).into_owned())
}

/// Mount points listed in /proc/self/mountinfo with their fs type.
pub fn mount_points() -> SysResult<Vec<(PathBuf, String)>> {
    let text = read_text(Path::new("/proc/self/mountinfo"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // id parent maj:min root mountpoint opts [optional...] - fstype src superopts
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 5 {
            continue;
        }
        let mp = unescape_octal(fields[4]);
        let fstype = match fields.iter().position(|f| *f == "-") {
            Some(i) if i + 1 < fields.len() => fields[i + 1].to_string(),
            _ => String::new(),
        };
        out.push((PathBuf::from(OsStr::from_bytes(&mp)), fstype));
    }
    Ok(out)
}

/// Undoes the `\ooo` escaping of /proc mount tables.
fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Removes `p` recursively without following symlinks, making directories
/// writable/searchable first (the tree may hold 0555 or 0000 directories).
pub fn remove_tree(p: &Path) -> SysResult<()> {
    let st = match lstat(p) {
        Ok(st) => st,
        Err(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    // Immutable/append-only entries cannot be removed (nor their
    // directories changed): clear those flags first (needs root).
    if st.st_mode & libc::S_IFMT == libc::S_IFREG || st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        if let Ok(f) = get_flags_at(p) {
            if f & (FS_APPEND_FL | FS_IMMUTABLE_FL) != 0 {
                let _ = set_flags_at(p, f & !(FS_APPEND_FL | FS_IMMUTABLE_FL));
            }
        }
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let _ = chmod(p, 0o700);
        for name in list_names(p)? {
            remove_tree(&p.join(&name))?;
        }
        rmdir(p)
    } else {
        unlink(p)
    }
}

/// Inode flags of FS_IOC_GETFLAGS/SETFLAGS (linux/fs.h).
pub const FS_IMMUTABLE_FL: u32 = 0x0000_0010;
pub const FS_APPEND_FL: u32 = 0x0000_0020;
pub const FS_NODUMP_FL: u32 = 0x0000_0040;
pub const FS_NOATIME_FL: u32 = 0x0000_0080;
/// The flags the tester sets and compares (what tmpfs supports).
pub const FS_COMPARED_FL: u32 = FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL;
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;

/// FS_IOC_GETFLAGS on an open file.
pub fn get_flags(fd: &Fd) -> SysResult<u32> {
    let mut v: libc::c_long = 0;
    // SAFETY: the ioctl writes (at most) one long into v.
    check(unsafe { libc::ioctl(fd.0, FS_IOC_GETFLAGS, &mut v as *mut libc::c_long) })?;
    Ok(v as u32)
}

/// FS_IOC_SETFLAGS on an open file.
pub fn set_flags(fd: &Fd, flags: u32) -> SysResult<()> {
    let v: libc::c_long = flags as libc::c_long;
    // SAFETY: the ioctl reads one long from v.
    check(unsafe { libc::ioctl(fd.0, FS_IOC_SETFLAGS, &v as *const libc::c_long) })
}

/// How chattr(1) opens a file for the flag ioctls.
pub fn open_for_flags(p: &Path) -> SysResult<Fd> {
    open(
        p,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY,
        0,
    )
}

pub fn get_flags_at(p: &Path) -> SysResult<u32> {
    get_flags(&open_for_flags(p)?)
}

pub fn set_flags_at(p: &Path, flags: u32) -> SysResult<()> {
    set_flags(&open_for_flags(p)?, flags)
}

/// Sets the compared flags (FS_COMPARED_FL) of `p` to those of `flags`,
/// keeping the filesystem's other flags (ext4 refuses to drop some, e.g.
/// its extents flag, with EOPNOTSUPP).
pub fn set_compared_flags_at(p: &Path, flags: u32) -> SysResult<()> {
    let fd = open_for_flags(p)?;
    let cur = get_flags(&fd)?;
    let new = (cur & !FS_COMPARED_FL) | (flags & FS_COMPARED_FL);
    if new == cur {
        return Ok(());
    }
    set_flags(&fd, new)
}

/// Writes `text` to an existing file (e.g. /proc/sys/vm/drop_caches).
pub fn write_text(p: &Path, text: &str) -> SysResult<()> {
    let fd = open(p, libc::O_WRONLY, 0)?;
    write_all(&fd, text.as_bytes()).map(|_| ())
}

/// The canonical absolute path (symlinks resolved), like realpath(3).
pub fn realpath(p: &Path) -> SysResult<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Whether the caller (effective ids) may search the directory `p`.
pub fn can_search(p: &Path) -> bool {
    let Ok(c) = cpath(p) else { return false };
    // SAFETY: valid path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) == 0 }
}

pub fn getegid() -> u32 {
    // SAFETY: trivial syscall.
    unsafe { libc::getegid() }
}

/// setresuid(2) through the raw syscall: only the calling thread changes
/// (the tester is single-threaded where it uses this; see privs.rs).
/// `u32::MAX` (-1) leaves an id unchanged.
pub fn setresuid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, r, e, s) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// setresgid(2) through the raw syscall (see [`setresuid`]).
pub fn setresgid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_setresgid, r, e, s) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// Drops every supplementary group.
pub fn clear_groups() -> SysResult<()> {
    // SAFETY: plain syscall; a zero-length list.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> SysResult<(Fd, Fd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled(i32),
}

/// waitpid(2) for one child, retrying on EINTR.
pub fn wait_child(pid: libc::pid_t) -> SysResult<ChildEnd> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        break;
    }
    if libc::WIFEXITED(status) {
        Ok(ChildEnd::Exited(libc::WEXITSTATUS(status)))
    } else {
        Ok(ChildEnd::Signaled(libc::WTERMSIG(status)))
    }
}

/// The kind letter of a mode: f d l p c b s.
pub fn kind_char(mode: u32) -> char {
    match mode & libc::S_IFMT {
        libc::S_IFREG => 'f',
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFSOCK => 's',
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_listing_through_a_descriptor() {
        let d = std::env::temp_dir().join(format!("aufs-difftest-getdents.{}", std::process::id()));
        let _ = remove_tree(&d);
        mkdir(&d, 0o755).unwrap();
        let mut want = Vec::new();
        for i in 0..300 {
            // Long names: several getdents64 calls.
            let n = format!("{i:03}-{}", "x".repeat(200));
            open(&d.join(&n), libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
            want.push(n);
        }
        want.sort();
        let fd = open(&d, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        assert_eq!(list_names_fd(&fd).unwrap(), want);
        assert_eq!(list_names(&d).unwrap(), want);
        remove_tree(&d).unwrap();
    }

    #[test]
    fn octal_unescape() {
        assert_eq!(unescape_octal("/a\\040b"), b"/a b".to_vec());
        assert_eq!(unescape_octal("/plain"), b"/plain".to_vec());
        assert_eq!(unescape_octal("x\\"), b"x\\".to_vec());
    }
}
