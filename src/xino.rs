//! Inode numbers of the union.
//!
//! aufs keeps a table ("xino") from (branch id, lower inode number) to the
//! union inode number, so numbers stay the same for the life of the mount,
//! across lookups, inode cache eviction and copy-up.  Real aufs stores it in
//! a file; this core keeps it in memory (see README, deliberate differences).

use alloc::collections::BTreeMap;

/// Number of the union's root directory, as aufs has it.
pub const ROOT_INO: u64 = 2;

#[derive(Debug)]
pub struct Xino {
    map: BTreeMap<(u32, u64), u64>,
    next: u64,
}

impl Default for Xino {
    fn default() -> Self {
        Xino { map: BTreeMap::new(), next: ROOT_INO }
    }
}

impl Xino {
    /// The union number for lower inode `h_ino` of branch `brid`,
    /// allocating the next free one the first time.
    pub fn get_or_alloc(&mut self, brid: u32, h_ino: u64) -> u64 {
        if let Some(ino) = self.map.get(&(brid, h_ino)) {
            return *ino;
        }
        let ino = self.next;
        self.next = self.next.wrapping_add(1).max(ROOT_INO + 1);
        self.map.insert((brid, h_ino), ino);
        ino
    }

    /// Record that `h_ino` on `brid` is union inode `ino` (after a copy-up).
    pub fn set(&mut self, brid: u32, h_ino: u64, ino: u64) {
        self.map.insert((brid, h_ino), ino);
    }

    /// Forget a lower inode that was removed through the union.
    pub fn forget(&mut self, brid: u32, h_ino: u64) {
        self.map.remove(&(brid, h_ino));
    }

    /// Forget every entry of a branch (branch deleted).
    pub fn forget_branch(&mut self, brid: u32) {
        self.map.retain(|k, _| k.0 != brid);
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

    #[test]
    fn stable_numbers() {
        let mut x = Xino::default();
        assert_eq!(x.get_or_alloc(64, 100), ROOT_INO);
        let a = x.get_or_alloc(65, 7);
        let b = x.get_or_alloc(64, 7);
        assert_ne!(a, b, "same lower number on other branch is another inode");
        assert_eq!(x.get_or_alloc(65, 7), a);
        x.set(64, 900, a);
        assert_eq!(x.get_or_alloc(64, 900), a, "copy-up keeps the number");
        x.forget(64, 900);
        assert_ne!(x.get_or_alloc(64, 900), a);
        x.forget_branch(65);
        assert_ne!(x.get_or_alloc(65, 7), a);
    }
}
