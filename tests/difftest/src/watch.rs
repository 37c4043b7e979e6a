//! Hang detection for the suite.  A kernel bug can leave an operation
//! blocked forever (uninterruptible, unkillable).  The suite therefore runs
//! every seed in a forked child and watches a page of memory shared with it
//! (and with its own forked children): before every operation, checkpoint
//! and set-up the running process writes what it is about to do and bumps a
//! counter.  When the counter stops moving for [`STUCK_AFTER`], the suite
//! reports the seed as failed with the last thing written (the operation
//! that does not return), leaves the child behind and goes on with the next
//! seed in a fresh work directory.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// No progress for this long: the seed is stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

const TEXT_MAX: usize = 3000;

#[repr(C)]
struct Page {
    beat: AtomicU64,
    len: AtomicUsize,
    text: UnsafeCell<[u8; TEXT_MAX]>,
}

static PAGE: AtomicPtr<Page> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// Notes are recorded by the thread that called [`init`] (and by the
    /// processes it forks), not by others (parallel unit tests).
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Maps the shared page (once; before forking the processes to watch) and
/// records this thread's notes from now on.
pub fn init() -> bool {
    if !PAGE.load(Ordering::Acquire).is_null() {
        ON.with(|c| c.set(true));
        return true;
    }
    // SAFETY: an anonymous shared mapping of one zeroed page; Page is valid
    // when zeroed (atomics and bytes).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            std::mem::size_of::<Page>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    PAGE.store(p as *mut Page, Ordering::Release);
    ON.with(|c| c.set(true));
    true
}

fn page() -> Option<&'static Page> {
    let p = PAGE.load(Ordering::Acquire);
    // SAFETY: set once by init() to a mapping that is never unmapped.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Records what the process is about to do (no-op before [`init`]).
pub fn note(what: &str) {
    if !ON.with(|c| c.get()) {
        return;
    }
    let Some(pg) = page() else { return };
    let b = what.as_bytes();
    let n = b.len().min(TEXT_MAX);
    pg.len.store(0, Ordering::Release);
    // SAFETY: the text buffer lives in the shared page; the watcher reads
    // it only after `len` is set again (a torn read shows partial text, no
    // worse).
    unsafe {
        let dst = pg.text.get() as *mut u8;
        std::ptr::copy_nonoverlapping(b.as_ptr(), dst, n);
    }
    pg.len.store(n, Ordering::Release);
    pg.beat.fetch_add(1, Ordering::AcqRel);
}

/// The progress counter.
pub fn beat() -> u64 {
    page().map_or(0, |p| p.beat.load(Ordering::Acquire))
}

/// The last text recorded.
pub fn last() -> String {
    let Some(pg) = page() else {
        return String::new();
    };
    let n = pg.len.load(Ordering::Acquire).min(TEXT_MAX);
    // SAFETY: reading bytes of the shared page (see note()).
    let text = unsafe { std::slice::from_raw_parts(pg.text.get() as *const u8, n) };
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_seen_across_fork() {
        assert!(init());
        note("parent");
        let b0 = beat();
        // SAFETY: the child only writes to the shared page and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            note("in the child: op #7");
            // SAFETY: leave the forked test process at once.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0);
        crate::sys::wait_child(pid).unwrap();
        assert_eq!(beat(), b0 + 1);
        assert_eq!(last(), "in the child: op #7");
    }
}
