//! Text the module shows to user space: the /proc/mounts escaping, the
//! content of `/sys/fs/aufs/config`, and small helpers that turn byte strings
//! (paths are bytes, not UTF-8) into one-line messages or copy them into a
//! caller's fixed-size buffer without ever panicking.

use alloc::string::String;
use alloc::vec::Vec;

/// The bytes /proc/mounts escapes (seq_escape with `" \t\n\\"`), as octal.
fn mounts_escape(c: u8) -> Option<&'static [u8]> {
    match c {
        b' ' => Some(b"\\040"),
        b'\t' => Some(b"\\011"),
        b'\n' => Some(b"\\012"),
        b'\\' => Some(b"\\134"),
        _ => None,
    }
}

/// Append `s` to `out` escaped the way /proc/mounts escapes paths: space, tab,
/// newline and backslash become `\040`, `\011`, `\012`, `\134`; every other
/// byte is copied as is.
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match mounts_escape(c) {
            Some(e) => out.extend_from_slice(e),
            None => out.push(c),
        }
    }
}

/// [`escape_into`] into a new vector.
pub fn escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    escape_into(&mut out, s);
    out
}

/// Fallible form of [`escape_into`]: reserves the worst case first, so a huge
/// input fails with ENOMEM instead of aborting the kernel.
pub fn try_escape_into(out: &mut Vec<u8>, s: &[u8]) -> crate::Result<()> {
    let extra = s.iter().filter(|c| mounts_escape(**c).is_some()).count();
    // Each escaped byte grows from 1 to 4 bytes.
    let need = s
        .len()
        .checked_add(extra.checked_mul(3).ok_or(crate::Errno::ENOMEM)?)
        .ok_or(crate::Errno::ENOMEM)?;
    out.try_reserve(need)?;
    escape_into(out, s);
    Ok(())
}

fn push_octal(out: &mut String, c: u8) {
    out.push('\\');
    // Each digit is 0..=7, so `|` with b'0' (0x30) is the ASCII digit.
    out.push(char::from(b'0' | ((c >> 6) & 7)));
    out.push(char::from(b'0' | ((c >> 3) & 7)));
    out.push(char::from(b'0' | (c & 7)));
}

/// Bytes as a `String` without losing anything: valid UTF-8 is kept as is;
/// otherwise every byte >= 0x80 is written as a `\ooo` octal escape (the
/// convention /proc/mounts readers already unescape).
pub fn to_string_lossless(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = String::new();
            for &c in &bytes {
                if c.is_ascii() {
                    out.push(char::from(c));
                } else {
                    push_octal(&mut out, c);
                }
            }
            out
        }
    }
}

/// Longest piece of user input quoted in an error message.
pub const SHOW_MAX: usize = 64;

/// A user-supplied byte string made safe for a one-line log message: control
/// bytes, DEL, bytes >= 0x80 and backslash become `\ooo`; at most `max` input
/// bytes are shown, followed by `...` when cut.
pub fn show_max(s: &[u8], max: usize) -> String {
    let mut out = String::new();
    for (n, &c) in s.iter().enumerate() {
        if n >= max {
            out.push_str("...");
            break;
        }
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            out.push(char::from(c));
        } else {
            push_octal(&mut out, c);
        }
    }
    out
}

/// [`show_max`] with [`SHOW_MAX`].
pub fn show(s: &[u8]) -> String {
    show_max(s, SHOW_MAX)
}

/// The content of `/sys/fs/aufs/config`.
///
/// Real aufs lists the Kconfig options it was built with.  We list only what
/// is actually true of this implementation: it is a module, its branch limit
/// is 127 (`opts::BRANCH_MAX`), and its logic is the Rust core.  Options we do
/// not implement (HNOTIFY, XATTR, DIRREN, FHSM, ...) are deliberately absent.
pub fn config_text() -> &'static str {
    "CONFIG_AUFS_FS=m\nCONFIG_AUFS_BRANCH_MAX_127=y\nCONFIG_AUFS_RUST_CORE=y\n"
}

/// Writer into a caller's fixed-size byte buffer (the FFI hands us C
/// buffers).  Never writes past the end: what does not fit is dropped and
/// remembered in [`Buf::truncated`].
#[derive(Debug)]
pub struct Buf<'a> {
    buf: &'a mut [u8],
    len: usize,
    truncated: bool,
}

impl<'a> Buf<'a> {
    pub fn new(buf: &'a mut [u8]) -> Buf<'a> {
        Buf {
            buf,
            len: 0,
            truncated: false,
        }
    }

    /// Append as much of `s` as fits; false if anything was cut.
    pub fn push(&mut self, s: &[u8]) -> bool {
        let mut all = true;
        for &c in s {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = c;
                    self.len = self.len.saturating_add(1);
                }
                None => {
                    all = false;
                    break;
                }
            }
        }
        if !all {
            self.truncated = true;
        }
        all
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// Whether some push did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// NUL-terminate for C: writes a NUL after the content, overwriting the
    /// last byte (and marking the buffer truncated) when full.  Returns the
    /// string length (without the NUL); 0 for a zero-sized buffer.
    pub fn finish_cstr(&mut self) -> usize {
        if self.buf.is_empty() {
            self.truncated = true;
            return 0;
        }
        if self.len >= self.buf.len() {
            self.len = self.buf.len().saturating_sub(1);
            self.truncated = true;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = 0;
        }
        self.len
    }
}

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(core::fmt::Error)
        }
    }
}

/// Copy `src` into `dst` as far as it fits; returns the number of bytes
/// copied.
pub fn copy_out(dst: &mut [u8], src: &[u8]) -> usize {
    let mut b = Buf::new(dst);
    b.push(src);
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn escape_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"/tmp/a", b"/tmp/a"),
            (b"/tmp/a b", b"/tmp/a\\040b"),
            (b"a\tb", b"a\\011b"),
            (b"a\nb", b"a\\012b"),
            (b"a\\b", b"a\\134b"),
            (b" \t\n\\", b"\\040\\011\\012\\134"),
            (b"a,b=c:d", b"a,b=c:d"),
            (b"\xff\x01", b"\xff\x01"),
        ];
        for (i, o) in cases {
            assert_eq!(escape(i), o.to_vec(), "{:?}", i);
            let mut v = b"x".to_vec();
            escape_into(&mut v, i);
            assert_eq!(&v[1..], *o);
            let mut w = Vec::new();
            try_escape_into(&mut w, i).unwrap();
            assert_eq!(w, o.to_vec());
        }
    }

    #[test]
    fn lossless() {
        assert_eq!(to_string_lossless(b"abc".to_vec()), "abc");
        assert_eq!(to_string_lossless("é".as_bytes().to_vec()), "é");
        assert_eq!(to_string_lossless(b"a\xffb".to_vec()), "a\\377b");
    }

    #[test]
    fn show_is_one_line() {
        assert_eq!(show(b"/a b"), "/a b");
        assert_eq!(show(b"a\nb\\"), "a\\012b\\134");
        assert_eq!(show(b"\x7f\x80"), "\\177\\200");
        let long = vec![b'x'; 500];
        let s = show(&long);
        assert_eq!(s.len(), SHOW_MAX + 3);
        assert!(s.ends_with("..."));
        assert_eq!(show_max(b"abc", 3), "abc");
        assert_eq!(show_max(b"abcd", 3), "abc...");
    }

    #[test]
    fn config() {
        let c = config_text();
        assert!(c.starts_with("CONFIG_AUFS_FS=m\n"));
        assert!(c.contains("CONFIG_AUFS_BRANCH_MAX_127=y\n"));
        assert!(c.ends_with('\n'));
        for l in c.lines() {
            assert!(l.starts_with("CONFIG_AUFS_"));
        }
    }

    #[test]
    fn buf() {
        let mut raw = [0xaau8; 8];
        let mut b = Buf::new(&mut raw);
        assert!(b.is_empty());
        assert!(b.push(b"abc"));
        assert_eq!(b.remaining(), 5);
        assert!(write!(b, "{}", 12).is_ok());
        assert_eq!(b.as_bytes(), b"abc12");
        assert!(!b.push(b"xyzw"));
        assert!(b.truncated());
        assert_eq!(b.as_bytes(), b"abc12xyz");
        assert_eq!(b.finish_cstr(), 7);
        assert_eq!(&raw, b"abc12xy\0");

        let mut raw = [0u8; 4];
        let mut b = Buf::new(&mut raw);
        b.push(b"ab");
        assert_eq!(b.finish_cstr(), 2);
        assert!(!b.truncated());
        assert_eq!(&raw[..3], b"ab\0");

        let mut empty: [u8; 0] = [];
        let mut b = Buf::new(&mut empty);
        assert!(!b.push(b"a"));
        assert_eq!(b.finish_cstr(), 0);

        let mut raw = [0u8; 3];
        assert_eq!(copy_out(&mut raw, b"hello"), 3);
        assert_eq!(&raw, b"hel");
    }
}
