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
}
