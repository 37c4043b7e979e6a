//! Per-mount state of the core: options and branch table.  (The inode
//! number table is a separate object with its own lock: see xino.rs.)

use crate::branch::{BranchTable, Resolver};
use crate::opts::{self, MountOpts, OptError};
use crate::policy::WbrState;
use crate::union::Branches;
use alloc::vec::Vec;

#[derive(Debug)]
pub struct Sb {
    pub opts: MountOpts,
    pub table: BranchTable,
    /// The create policies' state (made anew by a remount).
    pub wbr: WbrState,
}

impl Sb {
    /// Parse the mount data and build the branch table, resolving each
    /// branch through `r`.
    pub fn mount(data: &[u8], rdonly: bool, r: &mut dyn Resolver) -> Result<Sb, OptError> {
        let opts = opts::parse(data)?;
        opts::check_rdonly(&opts, rdonly)?;
        let table = BranchTable::build(&opts, rdonly, r)?;
        Sb::new(opts, table)
    }

    fn new(opts: MountOpts, table: BranchTable) -> Result<Sb, OptError> {
        let mut sb = Sb { opts, table, wbr: WbrState::empty() };
        let n = u32::try_from(sb.table.len()).map_err(|_| OptError::new(crate::Errno::ENOSPC, alloc::string::String::from("too many branches")))?;
        sb.wbr = WbrState::new(&sb, n).map_err(|e| OptError::new(e, alloc::string::String::from("out of memory")))?;
        Ok(sb)
    }

    /// A remount: the options and branch changes of `data` applied, left to
    /// right, to a copy of this mount's state, each new branch resolved
    /// through `r` and checked as at mount time.  `Ok(None)`: nothing
    /// changes (ro/rw only, or the options the mount already has, as
    /// mount(8) passes them back).  On an error nothing is changed: the
    /// caller keeps this state and discards the resolver's.
    pub fn remount(&self, data: &[u8], rdonly: bool, r: &mut dyn Resolver) -> Result<Option<Sb>, OptError> {
        let (opts, ops) = opts::parse_remount(data, &self.opts)?;
        opts::check_rdonly(&opts, rdonly)?;
        if ops.is_empty() && opts == self.opts {
            return Ok(None);
        }
        let mut table = self.table.try_clone()?;
        for op in ops.iter() {
            table.apply(op, rdonly, r)?;
        }
        Sb::new(opts, table).map(Some)
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
    fn remount_applies_options_and_branch_changes() {
        let sb = Sb::mount(b"br=/a:/b,dio", false, &mut Dirs).unwrap();
        assert!(sb.remount(b"", false, &mut Dirs).unwrap().is_none());
        assert!(sb.remount(b"si=1234abcd,relatime,dio", false, &mut Dirs).unwrap().is_none(), "what /proc/mounts shows");
        let n = sb.remount(b"append:/c,append:/d=ro+wh,", false, &mut Dirs).unwrap().unwrap();
        let paths: Vec<&[u8]> = n.table.iter().map(|b| b.path.as_slice()).collect();
        assert_eq!(paths, [&b"/a"[..], b"/b", b"/c", b"/d"]);
        assert_eq!(n.table.get(0).unwrap().id, sb.table.get(0).unwrap().id, "survivors keep their id");
        let ids: Vec<u32> = n.table.iter().map(|b| b.id).collect();
        assert_eq!(ids, [64, 65, 66, 67]);
        let n = sb.remount(b"udba=none", false, &mut Dirs).unwrap().unwrap();
        assert_eq!(n.opts.udba, crate::opts::Udba::None);
        assert_eq!(n.table, sb.table);
        assert_eq!(sb.remount(b"bogus", false, &mut Dirs).unwrap_err().errno, Errno::EINVAL);
        assert_eq!(sb.remount(b"del:/nope", false, &mut Dirs).unwrap_err().errno, Errno::ENOENT);
        let one = Sb::mount(b"br=/a", false, &mut Dirs).unwrap();
        assert_eq!(one.remount(b"del:/a", false, &mut Dirs).unwrap_err().errno, Errno::EBUSY);
    }

    /// `shwh` needs a read-only mount, at mount and at every remount.
    #[test]
    fn shwh_only_read_only() {
        let e = Sb::mount(b"br=/a:/b,shwh", false, &mut Dirs).unwrap_err();
        assert_eq!(e.errno, Errno::EINVAL);
        assert!(e.msg.contains("shwh"), "{}", e.msg);
        let sb = Sb::mount(b"br=/a:/b,shwh", true, &mut Dirs).unwrap();
        assert!(sb.shwh());
        assert_eq!(sb.remount(b"", false, &mut Dirs).unwrap_err().errno, Errno::EINVAL, "rw again");
        assert!(sb.remount(b"noshwh", false, &mut Dirs).unwrap().is_some());
        let rw = Sb::mount(b"br=/a:/b", false, &mut Dirs).unwrap();
        assert_eq!(rw.remount(b"shwh", false, &mut Dirs).unwrap_err().errno, Errno::EINVAL);
        assert!(rw.remount(b"shwh", true, &mut Dirs).unwrap().is_some());
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
    fn follow_metacopy(&self) -> bool {
        self.opts.metacopy
    }
    fn shwh(&self) -> bool {
        self.opts.shwh
    }
    fn diropq_always(&self) -> bool {
        self.opts.diropq == opts::DirOpq::All
    }
    fn exact_names(&self, br: u32) -> bool {
        self.table.facts(br as usize).is_none_or(|f| !f.inexact_names)
    }
    fn follow_dirren(&self) -> bool {
        self.opts.dirren
    }
    fn count(&self) -> u32 {
        u32::try_from(self.table.len()).unwrap_or(u32::MAX)
    }
}
