//! Per-mount state of the core: options and branch table.  (The inode
//! number table is a separate object with its own lock: see xino.rs.)

use crate::branch::{BranchTable, Resolver};
use crate::opts::{self, MountOpts, OptError};
use crate::union::Branches;
use alloc::vec::Vec;

#[derive(Debug)]
pub struct Sb {
    pub opts: MountOpts,
    pub table: BranchTable,
}

impl Sb {
    /// Parse the mount data and build the branch table, resolving each
    /// branch through `r`.
    pub fn mount(data: &[u8], rdonly: bool, r: &mut dyn Resolver) -> Result<Sb, OptError> {
        let opts = opts::parse(data)?;
        let table = BranchTable::build(&opts, rdonly, r)?;
        Ok(Sb { opts, table })
    }

    /// Check a remount's options.  Plain remounts (ro/rw, or the options
    /// the mount already has, as mount(8) passes them back) are fine;
    /// branch changes and new options are refused with EOPNOTSUPP rather
    /// than silently ignored: the module cannot apply them yet.
    pub fn remount(&self, data: &[u8]) -> Result<(), OptError> {
        let (new, ops) = opts::parse_remount(data, &self.opts)?;
        if !ops.is_empty() {
            return Err(OptError::new(
                crate::Errno::EOPNOTSUPP,
                alloc::string::String::from("remount: branch changes are not supported yet (umount and mount again)"),
            ));
        }
        if new != self.opts {
            return Err(OptError::new(
                crate::Errno::EOPNOTSUPP,
                alloc::string::String::from("remount: changing options is not supported yet (umount and mount again)"),
            ));
        }
        Ok(())
    }

    /// The `xi_path` sysfs text.
    pub fn xi_path_text(&self) -> Vec<u8> {
        self.table.xi_path_bytes(&self.opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::branch::{BranchFacts, Relation};
    use crate::Errno;

    struct Dirs;
    impl Resolver for Dirs {
        fn resolve(&mut self, _idx: usize, _path: &[u8]) -> crate::Result<BranchFacts> {
            Ok(BranchFacts { is_dir: true, fs_type: b"tmpfs".to_vec(), ..Default::default() })
        }
        fn relation(&mut self, _a: usize, _b: usize) -> Relation {
            Relation::Distinct
        }
    }

    #[test]
    fn remount_refuses_what_it_cannot_apply() {
        let sb = Sb::mount(b"br=/a:/b,dio", false, &mut Dirs).unwrap();
        assert_eq!(sb.remount(b""), Ok(()));
        assert_eq!(sb.remount(b"si=1234abcd,relatime,dio"), Ok(()), "what /proc/mounts shows");
        assert_eq!(sb.remount(b"append:/c").unwrap_err().errno, Errno::EOPNOTSUPP);
        assert_eq!(sb.remount(b"udba=none").unwrap_err().errno, Errno::EOPNOTSUPP);
        assert_eq!(sb.remount(b"bogus").unwrap_err().errno, Errno::EINVAL);
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
