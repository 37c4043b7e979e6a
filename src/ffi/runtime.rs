//! The allocator and the panic handler of the kernel object: the Rust side
//! of the shim's allocator and panic services (`au_c_kmalloc` & co,
//! kmod/module.c).

use crate::abi::*;
use core::ffi::{c_char, c_void};
use core::fmt::Write;

// The allocator entry points `alloc` calls.  The crate is linked as a plain
// object (not a staticlib), so rustc generates no allocator shim: these are
// the definitions, under the names rustc's internal mangling gives them.
// Doing it by hand keeps the noreturn OOM path visible to objtool (rustc's
// shim would reach it through a tail call objtool cannot follow).

#[rustc_std_internal_symbol]
unsafe fn __rust_alloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: plain call into the shim; any size is acceptable to it.
    unsafe { au_c_kmalloc(size as u64, align as u64) as *mut u8 }
}

#[rustc_std_internal_symbol]
unsafe fn __rust_alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    // SAFETY: as __rust_alloc; the memory is cleared before it is returned.
    unsafe {
        let p = au_c_kmalloc(size as u64, align as u64) as *mut u8;
        if !p.is_null() {
            core::ptr::write_bytes(p, 0, size);
        }
        p
    }
}

#[rustc_std_internal_symbol]
unsafe fn __rust_dealloc(ptr: *mut u8, _size: usize, _align: usize) {
    // SAFETY: `ptr` came from __rust_alloc/__rust_realloc (alloc's contract).
    unsafe { au_c_kfree(ptr as *mut c_void) }
}

#[rustc_std_internal_symbol]
unsafe fn __rust_realloc(ptr: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: `ptr` came from this allocator with `old_size` and `align`.
    unsafe { au_c_krealloc(ptr as *mut c_void, old_size as u64, new_size as u64, align as u64) as *mut u8 }
}

/// Infallible allocations that fail end here (fallible ones return ENOMEM).
#[rustc_std_internal_symbol]
fn __rust_alloc_error_handler(size: usize, _align: usize) -> ! {
    let mut m = MsgBuf { buf: [0; 160], len: 0 };
    let _ = write!(m, "out of memory allocating {} bytes", size);
    die(&m)
}

#[rustc_std_internal_symbol]
fn __rust_no_alloc_shim_is_unstable_v2() {}

/// A fixed buffer for formatting without allocating.
struct MsgBuf {
    buf: [u8; 160],
    len: usize,
}

impl Write for MsgBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut m = MsgBuf { buf: [0; 160], len: 0 };
    let _ = write!(m, "{}", info);
    die(&m)
}

fn die(m: &MsgBuf) -> ! {
    // SAFETY: the pointer/length pair describes the initialized part of `m`.
    unsafe { au_c_panic(m.buf.as_ptr() as *const c_char, m.len as u32) };
    // au_c_panic BUG()s and does not come back; the ud2 tells objtool (and
    // the CPU, should it ever get here) that this path ends.
    // SAFETY: ud2 raises #UD; nothing after it is reached.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}
