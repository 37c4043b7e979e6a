//! Per-mount state of the core: options, branch table, inode numbers.

use crate::branch::{BranchTable, Resolver};
use crate::opts::{self, MountOpts, OptError};
use crate::union::Branches;
use crate::xino::Xino;
use alloc::vec::Vec;

#[derive(Debug)]
pub struct Sb {
    pub opts: MountOpts,
    pub table: BranchTable,
    pub xino: Xino,
}

impl Sb {
    /// Parse the mount data and build the branch table, resolving each
    /// branch through `r`.
    pub fn mount(data: &[u8], rdonly: bool, r: &mut dyn Resolver) -> Result<Sb, OptError> {
        let opts = opts::parse(data)?;
        let table = BranchTable::build(&opts, rdonly, r)?;
        Ok(Sb { opts, table, xino: Xino::default() })
    }

    /// Union inode number of lower inode `h_ino` on branch index `br`.
    pub fn ino(&mut self, br: u32, h_ino: u64) -> Option<u64> {
        let id = self.table.get(br as usize)?.id;
        Some(self.xino.get_or_alloc(id, h_ino))
    }

    /// The `xi_path` sysfs text.
    pub fn xi_path_text(&self) -> Vec<u8> {
        self.table.xi_path_bytes(&self.opts)
    }
}

impl Branches for Sb {
    fn may_whiteout(&self, br: u32) -> bool {
        self.table.get(br as usize).is_some_and(|b| b.perm.may_whiteout())
    }
    fn writable(&self, br: u32) -> bool {
        self.table.get(br as usize).is_some_and(|b| b.perm.writable())
    }
    fn nolwh(&self, br: u32) -> bool {
        self.table.get(br as usize).is_some_and(|b| b.perm.nolwh)
    }
}
