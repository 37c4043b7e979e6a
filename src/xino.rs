//! Inode numbers of the union.
//!
//! aufs keeps a table ("xino") from (branch id, lower inode number) to the
//! union inode number, so numbers stay the same across lookups, inode cache
//! eviction and copy-up.  This core needs no table for most objects: where
//! the lower number fits, the union number is derived from the branch id
//! and the lower number (as overlayfs's xino does), so it is stable for the
//! life of the branch, even across remounts, and costs no memory.
//!
//! A table entry exists only where derivation cannot give the right number:
//! - after a copy-up, the copy keeps the number of the object it was copied
//!   from: (upper branch id, copy's number) -> original number;
//! - a lower number too large to derive from gets a number from a counter.
//!
//! Entries go when the lower inode is gone (evicted with no links left), and
//! counter numbers when their union inode is evicted, so the table is
//! bounded by what exists on the branches, never by what was ever seen.
//!
//! The table never allocates while it is used: memory reclaim evicts union
//! inodes, and eviction changes the table, so an allocation under the
//! table's lock could wait for that lock (or, forbidden to enter a
//! filesystem, fail where reclaim would have succeeded).  An insertion into
//! a full table is `EAGAIN`; the caller then makes room outside the lock
//! ([`Xino::room`], [`Spare::new`], [`Xino::adopt`]) and tries again.  Every
//! allocation is fallible: no memory is ENOMEM, never a panic.

use crate::{Errno, Result};
use alloc::vec::Vec;

/// Number of the union's root directory, as aufs has it.
pub const ROOT_INO: u64 = 2;

/// Bits of a derived number that hold the lower inode number.
const H_BITS: u32 = 48;
/// Counter numbers have this bit set; derived ones never do.
const COUNTER_BIT: u64 = 1 << 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    brid: u32,
    h_ino: u64,
    ino: u64,
}

/// Room for a table's entries, allocated outside its lock.
#[derive(Debug)]
pub struct Spare(Vec<Entry>);

impl Spare {
    /// Room for `cap` entries (from [`Xino::room`]); ENOMEM without memory.
    pub fn new(cap: usize) -> Result<Spare> {
        let mut v = Vec::new();
        v.try_reserve_exact(cap).map_err(|_| Errno::ENOMEM)?;
        Ok(Spare(v))
    }
}

#[derive(Debug)]
pub struct Xino {
    /// Sorted by (brid, h_ino).
    map: Vec<Entry>,
    next: u64,
}

impl Default for Xino {
    fn default() -> Self {
        Xino { map: Vec::new(), next: COUNTER_BIT }
    }
}

/// The number derived from `h_ino` on branch `brid`, if it fits.
pub fn derive(brid: u32, h_ino: u64) -> Option<u64> {
    if h_ino == 0 || h_ino >> H_BITS != 0 || brid == 0 || u64::from(brid) >> (63 - H_BITS) != 0 {
        return None;
    }
    Some((u64::from(brid) << H_BITS) | h_ino)
}

impl Xino {
    fn find(&self, brid: u32, h_ino: u64) -> core::result::Result<usize, usize> {
        self.map.binary_search_by(|e| (e.brid, e.h_ino).cmp(&(brid, h_ino)))
    }

    fn insert_at(&mut self, at: usize, e: Entry) -> Result<()> {
        if self.map.len() == self.map.capacity() {
            return Err(Errno::EAGAIN);
        }
        self.map.insert(at, e);
        Ok(())
    }

    /// The capacity to make room for one more entry with, when the table
    /// is full (0: it has room).
    pub fn room(&self) -> usize {
        if self.map.len() < self.map.capacity() {
            return 0;
        }
        self.map.capacity().saturating_mul(2).max(16)
    }

    /// Take the room `spare` brings, when it is more than the table has
    /// (another caller may have grown it meanwhile).  Allocates nothing:
    /// whichever buffer is left over is freed.
    pub fn adopt(&mut self, spare: Spare) {
        let mut v = spare.0;
        if v.capacity() > self.map.capacity() {
            v.extend_from_slice(&self.map);
            core::mem::swap(&mut self.map, &mut v);
        }
    }

    /// The union number of lower inode `h_ino` on branch `brid`.
    pub fn ino(&mut self, brid: u32, h_ino: u64) -> Result<u64> {
        let at = match self.find(brid, h_ino) {
            Ok(i) => return self.map.get(i).map(|e| e.ino).ok_or(Errno::EIO),
            Err(at) => at,
        };
        if let Some(ino) = derive(brid, h_ino) {
            return Ok(ino);
        }
        let ino = self.next;
        if ino == u64::MAX {
            return Err(Errno::EOVERFLOW);
        }
        self.insert_at(at, Entry { brid, h_ino, ino })?;
        self.next += 1;
        Ok(ino)
    }

    /// After a copy-up: `h_ino` on `brid` is union inode `ino`.
    pub fn keep(&mut self, brid: u32, h_ino: u64, ino: u64) -> Result<()> {
        let derived = derive(brid, h_ino);
        match self.find(brid, h_ino) {
            Ok(i) => {
                if derived == Some(ino) {
                    self.map.remove(i);
                } else if let Some(e) = self.map.get_mut(i) {
                    e.ino = ino;
                }
                Ok(())
            }
            Err(_) if derived == Some(ino) => Ok(()),
            Err(at) => self.insert_at(at, Entry { brid, h_ino, ino }),
        }
    }

    /// The union inode of `h_ino` on `brid` was evicted; `h_nlink` is the
    /// lower inode's link count.  A number that can be found again (a kept
    /// copy-up number of a file that still exists) stays.
    pub fn evicted(&mut self, brid: u32, h_ino: u64, h_nlink: u32) {
        if let Ok(i) = self.find(brid, h_ino) {
            let counter = self.map.get(i).is_some_and(|e| e.ino & COUNTER_BIT != 0);
            if h_nlink == 0 || counter {
                self.map.remove(i);
            }
        }
    }

    /// Forget every entry of a branch (branch deleted).
    pub fn forget_branch(&mut self, brid: u32) {
        self.map.retain(|e| e.brid != brid);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the shim does: try, and on EAGAIN make room and try again.
    fn grow<T>(x: &mut Xino, mut f: impl FnMut(&mut Xino) -> Result<T>) -> Result<T> {
        loop {
            match f(x) {
                Err(Errno::EAGAIN) => {
                    let cap = x.room();
                    assert!(cap > 0, "EAGAIN only from a full table");
                    x.adopt(Spare::new(cap)?);
                }
                r => return r,
            }
        }
    }

    #[test]
    fn a_full_table_asks_for_room_and_keeps_its_entries() {
        let mut x = Xino::default();
        assert_eq!(x.keep(64, 5, 1000), Err(Errno::EAGAIN), "no room: nothing allocated");
        assert!(x.is_empty());
        for h in 0..100u64 {
            grow(&mut x, |x| x.keep(64, 1000 - h, 5000 + h)).unwrap();
        }
        assert_eq!(x.len(), 100);
        // a smaller spare (another caller grew the table first) is dropped
        let cap = x.map.capacity();
        x.adopt(Spare::new(4).unwrap());
        assert_eq!(x.map.capacity(), cap);
        for h in 0..100u64 {
            assert_eq!(x.ino(64, 1000 - h).unwrap(), 5000 + h);
        }
    }

    #[test]
    fn derived_numbers_need_no_table() {
        let mut x = Xino::default();
        let a = x.ino(65, 7).unwrap();
        let b = x.ino(64, 7).unwrap();
        assert_ne!(a, b, "same lower number on another branch is another inode");
        assert_eq!(x.ino(65, 7).unwrap(), a);
        assert_ne!(a, ROOT_INO);
        assert!(x.is_empty(), "nothing stored for derivable numbers");
        // A create/delete loop does not grow the table.
        for h in 1..10_000u64 {
            x.ino(64, h).unwrap();
            x.evicted(64, h, 0);
        }
        assert!(x.is_empty());
    }

    #[test]
    fn copy_up_keeps_the_number_until_the_copy_is_gone() {
        let mut x = Xino::default();
        let lower = x.ino(65, 7).unwrap();
        grow(&mut x, |x| x.keep(64, 900, lower)).unwrap();
        assert_eq!(x.ino(64, 900).unwrap(), lower, "copy-up keeps the number");
        assert_eq!(x.len(), 1);
        x.evicted(64, 900, 1);
        assert_eq!(x.ino(64, 900).unwrap(), lower, "eviction of a live file keeps it");
        x.evicted(64, 900, 0);
        assert!(x.is_empty(), "the copy is gone: so is its entry");
        assert_ne!(x.ino(64, 900).unwrap(), lower);
        // Keeping the derived number itself stores nothing.
        x.keep(64, 901, derive(64, 901).unwrap()).unwrap();
        assert!(x.is_empty());
    }

    #[test]
    fn large_lower_numbers_use_the_counter() {
        let mut x = Xino::default();
        let big = 1u64 << 50;
        let a = grow(&mut x, |x| x.ino(64, big)).unwrap();
        assert_eq!(x.ino(64, big).unwrap(), a);
        assert_ne!(grow(&mut x, |x| x.ino(64, big + 1)).unwrap(), a);
        assert!(a & COUNTER_BIT != 0);
        assert_eq!(x.len(), 2);
        x.evicted(64, big, 1);
        assert_eq!(x.len(), 1, "counter numbers go with their inode");
        x.forget_branch(64);
        assert!(x.is_empty());
        assert_eq!(derive(64, 0), None);
    }
}
