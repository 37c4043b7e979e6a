//! The kernel side of the core (feature `kernel`), in three parts:
//!
//! - `entry`: the entry points the C shim calls (`au_rs_*`);
//! - `kbackend`: [`KBackend`](kbackend::KBackend), the branch backend over
//!   the shim's primitives (`au_c_*`, kmod/branch.c), and the mount's
//!   resolver of branch paths;
//! - `runtime`: the allocator and the panic handler.
//!
//! These are the only modules with `unsafe` code besides the generated ABI;
//! every block says why it is sound.  Errors cross the boundary as negative
//! errno values, nothing else does.
#![allow(unsafe_code)]

mod entry;
mod kbackend;
mod runtime;

use crate::abi::*;
use crate::errno::Errno;
use crate::sb::Sb;
use alloc::boxed::Box;
use core::ffi::{c_char, c_int};

// ---------------------------------------------------------------------------
// Small helpers

/// `Box::new` that returns `None` instead of aborting when memory is short
/// (an abort is a BUG() in the kernel).
fn try_box<T>(v: T) -> Option<Box<T>> {
    let layout = core::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        return Some(Box::new(v));
    }
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { alloc::alloc::alloc(layout) } as *mut T;
    if p.is_null() {
        return None;
    }
    // SAFETY: p is a fresh allocation of T's layout; writing initializes
    // it, and Box::from_raw takes ownership of memory from the global
    // allocator with that layout.
    unsafe {
        p.write(v);
        Some(Box::from_raw(p))
    }
}

fn errno_ret(e: Errno) -> c_int {
    e.to_kernel()
}

fn status(r: crate::Result<()>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => errno_ret(e),
    }
}

/// Copy `s` into the C buffer `buf` of `len` bytes; the length or -E2BIG.
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
unsafe fn put_text(buf: *mut c_char, len: u32, s: &[u8]) -> c_int {
    if buf.is_null() || s.len() > len as usize || s.len() > i32::MAX as usize {
        return errno_ret(Errno::E2BIG);
    }
    // SAFETY: `buf` has room for `len >= s.len()` bytes (caller's contract).
    unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, s.len()) };
    s.len() as c_int
}

/// Borrow a byte string passed by C.
///
/// # Safety
/// `p` must point to `len` readable bytes that outlive the returned slice.
unsafe fn bytes<'a>(p: *const u8, len: u32) -> &'a [u8] {
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(p, len as usize) }
}

/// Borrow the core's per-mount state.
///
/// # Safety
/// `sb` is NULL or was returned by au_rs_sb_new and not yet freed.
unsafe fn sb_ref<'a>(sb: *const au_rs_sb) -> Option<&'a Sb> {
    // SAFETY: au_rs_sb is the opaque name of a Box<Sb> handed to C.
    unsafe { (sb as *const Sb).as_ref() }
}
