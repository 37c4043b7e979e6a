//! Reserved names: whiteouts, the opaque marker and the rest of the `.wh.`
//! namespace, and the checks every user-supplied name goes through.

use crate::{Errno, Result};
use alloc::vec::Vec;

/// Prefix of every whiteout and of aufs's own internal names.
pub const WH_PREFIX: &[u8] = b".wh.";
/// `.wh..wh.`: prefix of aufs's internal files (never whiteouts of a user name).
pub const WH_META_PREFIX: &[u8] = b".wh..wh.";
/// Opaque-directory marker: lower branches' contents of this dir are hidden.
pub const OPQ_NAME: &[u8] = b".wh..wh..opq";
/// Whiteout base: whiteouts are hard links to it (unless `nolwh`).
pub const WH_BASE: &[u8] = b".wh..wh.aufs";
/// Longest name a user may give: 255 minus the whiteout prefix, minus one
/// more as aufs has it, so a whiteout of any name fits in a branch.
pub const NAME_MAX: usize = 242;

/// Check a name that comes from a user: `.wh.` names are reserved (EPERM),
/// longer than 242 bytes is ENAMETOOLONG.
pub fn check_user_name(name: &[u8]) -> Result<()> {
    check_name_len(name)?;
    if name.starts_with(WH_PREFIX) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Only the length part of [`check_user_name`]: names looked up on a mount
/// that shows whiteouts (`shwh`), where `.wh.` names are files to read.
pub fn check_name_len(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// Append `x` in lower-case hex, without leading zeros ("0" for 0), for
/// the union's own names (temporary names, pseudo-links).  The caller has
/// reserved the room (at most 16 bytes).
pub fn push_hex(v: &mut Vec<u8>, x: u64) {
    let mut started = false;
    for shift in (0..16).rev() {
        let d = ((x >> (shift * 4)) & 0xf) as u8;
        if d != 0 || started || shift == 0 {
            started = true;
            v.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
    }
}

/// `.wh.<name>`.
pub fn whiteout_name(name: &[u8]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(WH_PREFIX.len() + name.len())?;
    v.extend_from_slice(WH_PREFIX);
    v.extend_from_slice(name);
    Ok(v)
}

/// What a name found in a branch directory means to the union.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An ordinary entry.
    Plain,
    /// `.wh.<target>`: hides `target`.
    Whiteout(&'a [u8]),
    /// `.wh..wh.*`: aufs's own files (opaque marker, whiteout base, plink dir...).
    Meta,
}

pub fn classify(name: &[u8]) -> Kind<'_> {
    if name.starts_with(WH_META_PREFIX) {
        return Kind::Meta;
    }
    match name.strip_prefix(WH_PREFIX) {
        Some(t) if !t.is_empty() => Kind::Whiteout(t),
        Some(_) => Kind::Meta,
        None => Kind::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert_eq!(check_user_name(b"a"), Ok(()));
        assert_eq!(check_user_name(&[b'x'; 242]), Ok(()));
        assert_eq!(check_user_name(&[b'x'; 243]), Err(Errno::ENAMETOOLONG));
        assert_eq!(check_user_name(b".wh.foo"), Err(Errno::EPERM));
        assert_eq!(check_user_name(b".wh."), Err(Errno::EPERM));
        assert_eq!(check_user_name(b".wh"), Ok(()));
    }

    #[test]
    fn kinds() {
        assert_eq!(classify(b"foo"), Kind::Plain);
        assert_eq!(classify(b".wh.foo"), Kind::Whiteout(b"foo"));
        assert_eq!(classify(OPQ_NAME), Kind::Meta);
        assert_eq!(classify(WH_BASE), Kind::Meta);
        assert_eq!(classify(b".wh."), Kind::Meta);
        assert_eq!(whiteout_name(b"x").unwrap(), b".wh.x".to_vec());
    }
}
