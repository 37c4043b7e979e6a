//! The seam between the union logic and the branches.
//!
//! A [`Backend`] gives access to the entries of the branch filesystems; it is
//! the only way the core reaches them.  The kernel implements it over the VFS
//! (`ffi::KBackend`), the tests in memory (`mem::MemBackend`).

use crate::Result;

/// Type of a directory entry, with the kernel's `DT_*` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum FileType {
    Unknown = 0,
    Fifo = 1,
    Chr = 2,
    Dir = 4,
    Blk = 6,
    Reg = 8,
    Lnk = 10,
    Sock = 12,
}

impl FileType {
    /// From a `DT_*` value; anything unknown stays `Unknown`.
    pub fn from_dtype(dt: u32) -> FileType {
        match dt {
            1 => FileType::Fifo,
            2 => FileType::Chr,
            4 => FileType::Dir,
            6 => FileType::Blk,
            8 => FileType::Reg,
            10 => FileType::Lnk,
            12 => FileType::Sock,
            _ => FileType::Unknown,
        }
    }

    /// From the `S_IFMT` bits of a mode.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & 0o170000 {
            0o010000 => FileType::Fifo,
            0o020000 => FileType::Chr,
            0o040000 => FileType::Dir,
            0o060000 => FileType::Blk,
            0o100000 => FileType::Reg,
            0o120000 => FileType::Lnk,
            0o140000 => FileType::Sock,
            _ => FileType::Unknown,
        }
    }

    pub fn dtype(self) -> u32 {
        self as u32
    }
}

/// Attributes of a positive entry on one branch.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Stat {
    pub mode: u32,
    pub nlink: u32,
    pub ino: u64,
    pub size: i64,
    pub rdev: u32,
    /// The branch filesystem's device (new_encode_dev() form) and the
    /// inode's generation: with `ino`, the identity of a lower inode.
    pub dev: u32,
    pub gen: u32,
    /// Append-only or immutable (chattr +a / +i).
    pub protected: bool,
}

impl Stat {
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Dir
    }
}

/// One entry of a union object on one branch.  `repr(C)` with the same
/// layout as `struct au_lower` so the FFI can lend C's arrays to the core.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lower<N> {
    pub node: N,
    pub br: u32,
    pub pad: u32,
}

impl<N> Lower<N> {
    pub fn new(br: u32, node: N) -> Self {
        Lower { node, br, pad: 0 }
    }
}

/// Receives the entries of one branch directory, in the branch's order.
pub trait DirSink {
    fn add(&mut self, name: &[u8], ftype: FileType, ino: u64) -> Result<()>;
}

/// Branch primitives.  `Node` is an owned reference to an entry on one
/// branch, positive or negative (like a dentry): dropping it releases it.
pub trait Backend {
    type Node;

    /// Look `name` up in directory `dir` of branch `br`.  A missing name is
    /// not an error: it gives a negative node.
    fn lookup(&self, br: u32, dir: &Self::Node, name: &[u8]) -> Result<Self::Node>;

    /// Attributes of `node`, or `None` when it is negative.
    fn stat(&self, br: u32, node: &Self::Node) -> Result<Option<Stat>>;

    /// Feed every entry of directory `dir` (including `.` and `..` if the
    /// branch reports them) to `sink`.
    fn read_dir(&self, br: u32, dir: &Self::Node, sink: &mut dyn DirSink) -> Result<()>;

    /// Does the regular file `node` carry the metacopy marker (the xattr
    /// [`METACOPY_XATTR`]): its attributes are the union's, its data is the
    /// next entry of the name below?
    fn is_metacopy(&self, br: u32, node: &Self::Node) -> Result<bool>;

    /// The bytes available to users on branch `br`'s filesystem (statfs:
    /// f_bavail * f_bsize, saturating), for the create policies.
    fn free_space(&self, br: u32) -> Result<u64>;

    /// The root directory of branch `br` (where a rename record's path
    /// starts, see [`crate::dirren`]).  Asked only on a mount with `dirren`.
    fn branch_root(&self, _br: u32) -> Result<Self::Node> {
        Err(crate::Errno::EOPNOTSUPP)
    }

    /// The raw rename record of directory `node` (the xattr
    /// [`crate::dirren::DIRREN_XATTR`]), unchecked, `None` when it has
    /// none.  Asked only on a mount with `dirren`.
    fn dirren_record(&self, _br: u32, _node: &Self::Node) -> Result<Option<alloc::vec::Vec<u8>>> {
        Ok(None)
    }
}

/// The xattr that marks a metacopy: an upper file that holds only the
/// attributes (owner, mode, times, xattrs) of a lower one, whose data it
/// shows until the first write (`metacopy` option).  In the `trusted.`
/// namespace: only a privileged process can make or read it on a branch.
pub const METACOPY_XATTR: &[u8] = b"trusted.aufs.metacopy";

/// Names of the union's own xattrs, never shown, set or copied up.
pub const PRIVATE_XATTR_PREFIX: &[u8] = b"trusted.aufs.";

/// Is `name` one of the union's own xattrs?
pub fn xattr_is_private(name: &[u8]) -> bool {
    name.starts_with(PRIVATE_XATTR_PREFIX)
}

/// What to create: the file type comes from `mode`'s `S_IFMT` bits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NewEntry<'a> {
    pub mode: u32,
    pub rdev: u32,
    /// Symlink target (only for `S_IFLNK`).
    pub target: &'a [u8],
}

/// A name in a directory of a branch: where a rename takes an entry from,
/// or where it puts it.
#[derive(Debug)]
pub struct At<'a, N> {
    pub dir: &'a N,
    pub name: &'a [u8],
}

impl<'a, N> At<'a, N> {
    pub fn new(dir: &'a N, name: &'a [u8]) -> Self {
        At { dir, name }
    }
}

/// Who a change on a branch is made as.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cred {
    /// The calling process: its permissions are checked, it owns what it makes.
    Caller,
    /// The union's own work (copy-up, whiteouts): done with the mounter's
    /// credentials, ownership fixed up afterwards where it matters.
    Internal,
}

/// Access and modification times, as seconds + nanoseconds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Times {
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
}

/// Branch primitives that change a branch.  Each acts on one branch and
/// holds the locks the branch filesystem needs for exactly that call.
pub trait WriteBackend: Backend {
    /// The root directory of branch `br`.
    fn root(&self, br: u32) -> Result<Self::Node>;
    /// Create `name` in `dir` (file, directory, symlink or special file).
    fn create(&self, br: u32, dir: &Self::Node, name: &[u8], e: &NewEntry<'_>, cred: Cred) -> Result<Self::Node>;
    /// Hard link `src` as `name` in `dir`.
    fn link(&self, br: u32, src: &Self::Node, dir: &Self::Node, name: &[u8], cred: Cred) -> Result<Self::Node>;
    /// Remove `name` from `dir` (rmdir when `is_dir`).
    fn remove(&self, br: u32, dir: &Self::Node, name: &[u8], is_dir: bool, cred: Cred) -> Result<()>;
    /// rename(2) within branch `br`: `from` to `to`; `flags` are RENAME_*
    /// values.
    fn rename(&self, br: u32, from: At<'_, Self::Node>, to: At<'_, Self::Node>, flags: u32, cred: Cred) -> Result<()>;
    /// Copy the first `len` bytes of `src`'s data into `dst` (empty, same
    /// size afterwards), keeping holes.
    fn copy_data(&self, sbr: u32, src: &Self::Node, dbr: u32, dst: &Self::Node, len: i64) -> Result<()>;
    /// Copy xattrs, owner, mode and times from `src` to `dst`.
    fn copy_meta(&self, sbr: u32, src: &Self::Node, dbr: u32, dst: &Self::Node) -> Result<()>;
    /// Give `dst` the inode flags of `src` that users set with chattr
    /// (append-only, immutable, noatime, sync, nodump).  A protective flag
    /// (append-only, immutable) that `dst`'s filesystem cannot keep is an
    /// error (EPERM): the copy must not be weaker than its source.
    fn copy_flags(&self, sbr: u32, src: &Self::Node, dbr: u32, dst: &Self::Node) -> Result<()>;
    /// Set the size of the regular file `node` (a hole where it grows).
    fn set_size(&self, br: u32, node: &Self::Node, size: i64) -> Result<()>;
    /// Mark the regular file `node` as a metacopy (see [`METACOPY_XATTR`]).
    /// EOPNOTSUPP where the branch cannot hold the marker.
    fn mark_metacopy(&self, br: u32, node: &Self::Node) -> Result<()>;
    /// A symlink's target.
    fn readlink(&self, br: u32, node: &Self::Node) -> Result<alloc::vec::Vec<u8>>;
    fn times(&self, br: u32, node: &Self::Node) -> Result<Times>;
    fn set_times(&self, br: u32, node: &Self::Node, t: &Times) -> Result<()>;
    /// Write the rename record of directory `node` (see [`crate::dirren`]),
    /// with the union's own credentials; `None` removes it.  EOPNOTSUPP
    /// where the branch cannot hold it.
    fn set_dirren_record(&self, _br: u32, _node: &Self::Node, _rec: Option<&[u8]>) -> Result<()> {
        Err(crate::Errno::EOPNOTSUPP)
    }
    /// The path of `node` from the root of its branch, components joined
    /// by `/`, no leading `/`.
    fn path_of(&self, _br: u32, _node: &Self::Node) -> Result<alloc::vec::Vec<u8>> {
        Err(crate::Errno::EOPNOTSUPP)
    }
}

/// `renameat2` flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
