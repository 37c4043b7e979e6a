//! Error numbers as the kernel knows them.  The core returns `Errno`; the FFI
//! edge turns it into a negative int, the only form C ever sees.

/// A positive Linux errno value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl Errno { $(pub const $name: Errno = Errno($v);)* }
        /// Symbolic name of an errno, for messages and test output.
        pub fn name(e: Errno) -> &'static str {
            match e.0 { $($v => stringify!($name),)* _ => "E?" }
        }
    };
}

errnos! {
    EPERM = 1, ENOENT = 2, EIO = 5, E2BIG = 7, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EACCES = 13,
    EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21,
    EINVAL = 22, EFBIG = 27, ENOSPC = 28, EROFS = 30, EMLINK = 31, EDOM = 33,
    ERANGE = 34, ENAMETOOLONG = 36, ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61,
    EOVERFLOW = 75, EOPNOTSUPP = 95, ESTALE = 116,
}

impl Errno {
    /// The value handed to C: `-errno`.
    pub fn to_kernel(self) -> i32 {
        -self.0
    }
    /// From a negative kernel return value; anything not in -4095..0 is EIO.
    pub fn from_kernel(ret: i64) -> Errno {
        if (-4095..0).contains(&ret) {
            Errno((-ret) as i32)
        } else {
            Errno::EIO
        }
    }
}

impl From<alloc::collections::TryReserveError> for Errno {
    fn from(_: alloc::collections::TryReserveError) -> Errno {
        Errno::ENOMEM
    }
}

pub type Result<T> = core::result::Result<T, Errno>;
