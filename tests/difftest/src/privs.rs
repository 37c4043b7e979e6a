//! Unprivileged seeds: after the set-up (as root), the process that runs the
//! operations switches to an unused uid/gid (65534, "nobody"/"nogroup"),
//! without supplementary groups, so that the kernel's permission checks
//! (EACCES/EPERM, sticky directories, protected hard links, trusted.*
//! xattrs, CAP_LINUX_IMMUTABLE) apply to both sides exactly as to any user.
//!
//! The switch happens in a forked child (runner.rs), never in the main
//! process.  The child keeps 0 as its *saved* uid/gid: real and effective
//! ids are 65534 and the effective capability set is empty, so every
//! operation is checked as for that user; [`as_root`] briefly takes the
//! effective ids back for the tester's own bookkeeping (dropping caches,
//! remounting, snapshots, the reference's model fix-ups).

use crate::sys::{self, SysResult};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The uid and gid unprivileged seeds run as.
pub const TEST_UID: u32 = 65534;
pub const TEST_GID: u32 = 65534;

static DROPPED: AtomicBool = AtomicBool::new(false);
static UID: AtomicU32 = AtomicU32::new(0);
static GID: AtomicU32 = AtomicU32::new(0);

const KEEP: u32 = u32::MAX;

/// Becomes `uid`/`gid` (real and effective; saved stays 0) with no
/// supplementary groups.  Only for a forked child of a root process.
pub fn drop_to(uid: u32, gid: u32) -> SysResult<()> {
    sys::clear_groups()?;
    sys::setresgid(gid, gid, 0)?;
    sys::setresuid(uid, uid, 0)?;
    UID.store(uid, Ordering::Relaxed);
    GID.store(gid, Ordering::Relaxed);
    DROPPED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether [`drop_to`] was called in this process.
pub fn dropped() -> bool {
    DROPPED.load(Ordering::Relaxed)
}

/// Runs `f` with effective uid/gid 0 (and the capabilities that come back
/// with them), then switches back.  Without [`drop_to`]: just runs `f`.
pub fn as_root<T>(f: impl FnOnce() -> T) -> T {
    if !dropped() || sys::geteuid() == 0 {
        return f();
    }
    // The saved ids are 0, so these cannot fail; if they did, running on
    // with the wrong credentials would make every later result wrong.
    sys::setresuid(KEEP, 0, KEEP).expect("seteuid(0) with saved uid 0");
    sys::setresgid(KEEP, 0, KEEP).expect("setegid(0)");
    let r = f();
    sys::setresgid(KEEP, GID.load(Ordering::Relaxed), KEEP).expect("setegid back");
    sys::setresuid(KEEP, UID.load(Ordering::Relaxed), KEEP).expect("seteuid back");
    r
}
