//! The kernel side of the core: entry points called by the C shim, the
//! branch backend over the shim's VFS primitives, the allocator and the
//! panic handler.  This is the only module with `unsafe` code besides the
//! generated ABI; every block says why it is sound.
//!
//! Errors cross the boundary as negative errno values, nothing else does.
#![allow(unsafe_code)]

use crate::abi::*;
use crate::backend::{Backend, Cred, DirSink, FileType, Lower, NewEntry, Stat, Times, WriteBackend};
use crate::branch::{BranchFacts, Relation, Resolver};
use crate::errno::Errno;
use crate::opts::OptError;
use crate::sb::Sb;
use crate::xino::Xino;
use crate::{plink, policy, text, union, write};
use alloc::boxed::Box;
use core::ffi::{c_char, c_int, c_void};
use core::fmt::Write;
use core::mem::ManuallyDrop;
use core::ptr;

// ---------------------------------------------------------------------------
// Allocator and panic

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

// ---------------------------------------------------------------------------
// The backend over the shim's VFS primitives

/// An owned reference to a lower dentry: dropping it is dput().
#[repr(transparent)]
#[derive(Debug)]
pub struct KNode(*mut c_void);

impl Drop for KNode {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a KNode owns one reference to the dentry.
            unsafe { au_c_dput(self.0) }
        }
    }
}

impl KNode {
    /// Give the reference to C.
    fn into_raw(self) -> *mut c_void {
        ManuallyDrop::new(self).0
    }
}

const _: () = assert!(core::mem::size_of::<Lower<KNode>>() == core::mem::size_of::<au_lower>());
const _: () = assert!(core::mem::offset_of!(Lower<KNode>, br) == core::mem::offset_of!(au_lower, bindex));
const _: () = assert!(core::mem::offset_of!(Lower<KNode>, node) == core::mem::offset_of!(au_lower, dentry));

/// Lend a C array of `struct au_lower` to the core without taking the
/// references it holds.
///
/// # Safety
/// `p` points to `n` initialized entries that outlive the returned slice.
unsafe fn lowers<'a>(p: *const au_lower, n: u32) -> &'a [Lower<KNode>] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: Lower<KNode> has au_lower's layout (asserted above); a shared
    // slice never drops its elements, so C keeps its references.
    unsafe { core::slice::from_raw_parts(p as *const Lower<KNode>, n as usize) }
}

pub struct KBackend {
    ctx: *mut c_void,
}

impl Backend for KBackend {
    type Node = KNode;

    fn lookup(&self, br: u32, dir: &KNode, name: &[u8]) -> crate::Result<KNode> {
        let len = u32::try_from(name.len()).map_err(|_| Errno::ENAMETOOLONG)?;
        let mut out: *mut c_void = core::ptr::null_mut();
        // SAFETY: dir.0 is a referenced dentry; name is valid for len bytes;
        // on success the shim stores one new reference in `out`.
        let r = unsafe { au_c_lookup(self.ctx, br, dir.0, name.as_ptr(), len, &mut out) };
        if r < 0 {
            return Err(Errno::from_kernel(r as i64));
        }
        if out.is_null() {
            return Err(Errno::EIO);
        }
        Ok(KNode(out))
    }

    fn stat(&self, br: u32, node: &KNode) -> crate::Result<Option<Stat>> {
        let mut st = au_stat::default();
        // SAFETY: node.0 is a referenced dentry; st is a valid out pointer.
        let r = unsafe { au_c_stat(self.ctx, br, node.0, &mut st) };
        if r < 0 {
            return Err(Errno::from_kernel(r as i64));
        }
        if st.positive == 0 {
            return Ok(None);
        }
        Ok(Some(Stat {
            mode: st.mode,
            nlink: st.nlink,
            ino: st.ino,
            size: st.size,
            rdev: st.rdev,
            dev: st.dev,
            gen: st.generation,
            protected: st.prot != 0,
        }))
    }

    fn read_dir(&self, br: u32, dir: &KNode, sink: &mut dyn DirSink) -> crate::Result<()> {
        let mut sink_ref: &mut dyn DirSink = sink;
        let cookie = &mut sink_ref as *mut &mut dyn DirSink as *mut c_void;
        // SAFETY: the shim calls au_rs_dir_add(cookie, ...) only during this
        // call, while `sink_ref` is alive and not otherwise borrowed.
        let r = unsafe { au_c_iterate(self.ctx, br, dir.0, cookie) };
        if r < 0 {
            return Err(Errno::from_kernel(r as i64));
        }
        Ok(())
    }

    fn is_metacopy(&self, br: u32, node: &KNode) -> crate::Result<bool> {
        // SAFETY: node.0 is a referenced dentry.
        let r = unsafe { au_c_metacopy(self.ctx, br, node.0) };
        ret(r)?;
        Ok(r > 0)
    }
}

fn cred(c: Cred) -> u32 {
    match c {
        Cred::Caller => AU_CRED_CALLER,
        Cred::Internal => AU_CRED_INTERNAL,
    }
}

fn ret(r: c_int) -> crate::Result<()> {
    if r < 0 {
        Err(Errno::from_kernel(r as i64))
    } else {
        Ok(())
    }
}

fn name_len(name: &[u8]) -> crate::Result<u32> {
    u32::try_from(name.len()).map_err(|_| Errno::ENAMETOOLONG)
}

/// A node the shim handed back (one reference), or EIO for NULL.
fn knode(p: *mut c_void) -> crate::Result<KNode> {
    if p.is_null() {
        Err(Errno::EIO)
    } else {
        Ok(KNode(p))
    }
}

impl WriteBackend for KBackend {
    fn root(&self, br: u32) -> crate::Result<KNode> {
        let mut out = core::ptr::null_mut();
        // SAFETY: out is a valid out pointer; on success it holds a reference.
        ret(unsafe { au_c_root(self.ctx, br, &mut out) })?;
        knode(out)
    }

    fn create(&self, br: u32, dir: &KNode, name: &[u8], e: &NewEntry<'_>, c: Cred) -> crate::Result<KNode> {
        let mut out = core::ptr::null_mut();
        let tlen = u32::try_from(e.target.len()).map_err(|_| Errno::ENAMETOOLONG)?;
        // SAFETY: dir is a referenced dentry; name and target are valid for
        // their lengths; out is a valid out pointer.
        ret(unsafe {
            au_c_create(self.ctx, br, dir.0, name.as_ptr(), name_len(name)?, e.mode, e.rdev,
                e.target.as_ptr(), tlen, cred(c), &mut out)
        })?;
        knode(out)
    }

    fn link(&self, br: u32, src: &KNode, dir: &KNode, name: &[u8], c: Cred) -> crate::Result<KNode> {
        let mut out = core::ptr::null_mut();
        // SAFETY: src and dir are referenced dentries; name valid; out valid.
        ret(unsafe { au_c_link(self.ctx, br, src.0, dir.0, name.as_ptr(), name_len(name)?, cred(c), &mut out) })?;
        knode(out)
    }

    fn remove(&self, br: u32, dir: &KNode, name: &[u8], is_dir: bool, c: Cred) -> crate::Result<()> {
        // SAFETY: dir is a referenced dentry; name valid for its length.
        ret(unsafe { au_c_remove(self.ctx, br, dir.0, name.as_ptr(), name_len(name)?, is_dir as u32, cred(c)) })
    }

    fn rename(&self, br: u32, odir: &KNode, oname: &[u8], ndir: &KNode, nname: &[u8], flags: u32, c: Cred) -> crate::Result<()> {
        // SAFETY: both dirs are referenced dentries; names valid.
        ret(unsafe {
            au_c_rename(self.ctx, br, odir.0, oname.as_ptr(), name_len(oname)?, ndir.0, nname.as_ptr(),
                name_len(nname)?, flags, cred(c))
        })
    }

    fn copy_data(&self, sbr: u32, src: &KNode, dbr: u32, dst: &KNode, len: i64) -> crate::Result<()> {
        // SAFETY: both are referenced dentries.
        ret(unsafe { au_c_copy_data(self.ctx, sbr, src.0, dbr, dst.0, len) })
    }

    fn copy_meta(&self, sbr: u32, src: &KNode, dbr: u32, dst: &KNode) -> crate::Result<()> {
        // SAFETY: both are referenced dentries.
        ret(unsafe { au_c_copy_meta(self.ctx, sbr, src.0, dbr, dst.0) })
    }

    fn copy_flags(&self, sbr: u32, src: &KNode, dbr: u32, dst: &KNode) -> crate::Result<()> {
        // SAFETY: both nodes are referenced dentries of their branches.
        ret(unsafe { au_c_copy_flags(self.ctx, sbr, src.0, dbr, dst.0) })
    }

    fn set_size(&self, br: u32, node: &KNode, size: i64) -> crate::Result<()> {
        // SAFETY: node is a referenced dentry.
        ret(unsafe { au_c_set_size(self.ctx, br, node.0, size) })
    }

    fn mark_metacopy(&self, br: u32, node: &KNode) -> crate::Result<()> {
        // SAFETY: node is a referenced dentry.
        ret(unsafe { au_c_mark_metacopy(self.ctx, br, node.0) })
    }

    fn readlink(&self, br: u32, node: &KNode) -> crate::Result<alloc::vec::Vec<u8>> {
        let mut buf: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
        let mut cap = 256usize;
        loop {
            buf.try_reserve_exact(cap.saturating_sub(buf.len()))?;
            buf.resize(cap, 0);
            // SAFETY: buf has room for cap bytes.
            let n = unsafe { au_c_readlink(self.ctx, br, node.0, buf.as_mut_ptr(), cap as u32) };
            ret(n)?;
            let n = n as usize;
            if n <= cap {
                buf.truncate(n);
                return Ok(buf);
            }
            if n > 65536 {
                return Err(Errno::ENAMETOOLONG);
            }
            cap = n;
        }
    }

    fn times(&self, br: u32, node: &KNode) -> crate::Result<Times> {
        let mut t = au_times::default();
        // SAFETY: node is a referenced dentry; t a valid out pointer.
        ret(unsafe { au_c_times(self.ctx, br, node.0, &mut t) })?;
        Ok(Times { atime: (t.atime_sec, t.atime_nsec), mtime: (t.mtime_sec, t.mtime_nsec) })
    }

    fn set_times(&self, br: u32, node: &KNode, t: &Times) -> crate::Result<()> {
        let c = au_times { atime_sec: t.atime.0, mtime_sec: t.mtime.0, atime_nsec: t.atime.1, mtime_nsec: t.mtime.1 };
        // SAFETY: node is a referenced dentry; c lives across the call.
        ret(unsafe { au_c_set_times(self.ctx, br, node.0, &c) })
    }
}

/// # Safety
/// Called by the shim's iterate actor with the cookie given to au_c_iterate.
#[no_mangle]
pub unsafe extern "C" fn au_rs_dir_add(cookie: *mut c_void, name: *const u8, len: u32, dtype: u32, ino: u64) -> c_int {
    // SAFETY: cookie is the `&mut &mut dyn DirSink` of KBackend::read_dir,
    // alive for the duration of the au_c_iterate call that calls us.
    let sink = unsafe { &mut *(cookie as *mut &mut dyn DirSink) };
    // SAFETY: the actor's name is valid for len bytes during the call.
    let name = unsafe { bytes(name, len) };
    status(sink.add(name, FileType::from_dtype(dtype), ino))
}

// ---------------------------------------------------------------------------
// Mount

struct KResolver {
    mctx: *mut c_void,
}

impl Resolver for KResolver {
    fn resolve(&mut self, idx: usize, path: &[u8]) -> crate::Result<BranchFacts> {
        let idx = u32::try_from(idx).map_err(|_| Errno::ENOSPC)?;
        let len = u32::try_from(path.len()).map_err(|_| Errno::ENAMETOOLONG)?;
        let mut f = au_brfacts::default();
        // SAFETY: path is valid for len bytes, f is a valid out pointer.
        let r = unsafe { au_c_br_resolve(self.mctx, idx, path.as_ptr(), len, &mut f) };
        if r < 0 {
            return Err(Errno::from_kernel(r as i64));
        }
        let fs_type = f.fs_type.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        Ok(BranchFacts {
            is_dir: f.is_dir != 0,
            sb_rdonly: f.sb_rdonly != 0,
            fs_type,
            is_aufs: f.is_aufs != 0,
            under_mountpoint: f.under_mountpoint != 0,
            idmapped: f.flags & AU_BRF_IDMAPPED != 0,
            inexact_names: f.flags & AU_BRF_INEXACT != 0,
            // SAFETY: the shim keeps abs_path valid until the mount ends.
            abs_path: unsafe { bytes(f.abs_path, f.abs_len) }.to_vec(),
        })
    }

    fn relation(&mut self, a: usize, b: usize) -> Relation {
        let (Ok(a), Ok(b)) = (u32::try_from(a), u32::try_from(b)) else {
            return Relation::Distinct;
        };
        // SAFETY: plain call; the shim checks the indexes.
        match unsafe { au_c_br_relation(self.mctx, a, b) } {
            1 => Relation::Same,
            2 => Relation::Inside,
            3 => Relation::Contains,
            _ => Relation::Distinct,
        }
    }

    fn forget(&mut self, idx: usize) {
        if let Ok(idx) = u32::try_from(idx) {
            // SAFETY: plain call; the shim checks the index.
            unsafe { au_c_br_forget(self.mctx, idx) }
        }
    }

    fn removed(&mut self, idx: usize) {
        if let Ok(idx) = u32::try_from(idx) {
            // SAFETY: plain call; the shim checks the index.
            unsafe { au_c_br_removed(self.mctx, idx) }
        }
    }
}

/// Write an option error's message for the shim to print.
///
/// # Safety
/// `msg` is NULL or valid for `msglen` bytes.
unsafe fn put_msg(msg: *mut c_char, msglen: u32, e: &OptError) {
    if msg.is_null() || msglen == 0 {
        return;
    }
    let n = e.msg.len().min(msglen as usize - 1);
    // SAFETY: n + 1 <= msglen bytes are written.
    unsafe {
        core::ptr::copy_nonoverlapping(e.msg.as_ptr(), msg as *mut u8, n);
        *msg.add(n) = 0;
    }
}

/// # Safety
/// `data` valid for `len` bytes; `out` a valid out pointer; `msg` NULL or
/// valid for `msglen` bytes; `mctx` is the shim's mount context.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sb_new(
    data: *const u8,
    len: u32,
    sb_rdonly: u32,
    mctx: *mut c_void,
    out: *mut *mut au_rs_sb,
    msg: *mut c_char,
    msglen: u32,
) -> c_int {
    // SAFETY: caller's contract.
    let data = unsafe { bytes(data, len) };
    let mut r = KResolver { mctx };
    match Sb::mount(data, sb_rdonly != 0, &mut r) {
        Ok(sb) => {
            let Some(b) = try_box(sb) else { return errno_ret(Errno::ENOMEM) };
            // SAFETY: out is a valid out pointer (caller's contract).
            unsafe { *out = Box::into_raw(b) as *mut au_rs_sb };
            0
        }
        Err(e) => {
            // SAFETY: caller's contract on msg.
            unsafe { put_msg(msg, msglen, &e) };
            errno_ret(e.errno)
        }
    }
}

/// # Safety
/// `sb` from au_rs_sb_new; `data` valid for `len` bytes; `mctx` the shim's
/// remount context (its positions hold the current branches); `out` a valid
/// out pointer; `msg` NULL or valid for `msglen` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_remount(
    sb: *const au_rs_sb,
    data: *const u8,
    len: u32,
    rdonly: u32,
    mctx: *mut c_void,
    out: *mut *mut au_rs_sb,
    msg: *mut c_char,
    msglen: u32,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let mut r = KResolver { mctx };
    // SAFETY: caller's contract.
    let res = s.remount(unsafe { bytes(data, len) }, rdonly != 0, &mut r);
    match res {
        Ok(None) => {
            // SAFETY: caller's contract on out.
            unsafe { *out = ptr::null_mut() };
            0
        }
        Ok(Some(n)) => {
            let Some(b) = try_box(n) else { return errno_ret(Errno::ENOMEM) };
            // SAFETY: caller's contract on out.
            unsafe { *out = Box::into_raw(b) as *mut au_rs_sb };
            0
        }
        Err(e) => {
            // SAFETY: caller's contract on msg.
            unsafe { put_msg(msg, msglen, &e) };
            errno_ret(e.errno)
        }
    }
}

/// # Safety
/// `sb` NULL or from au_rs_sb_new, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sb_free(sb: *mut au_rs_sb) {
    if !sb.is_null() {
        // SAFETY: sb was made by Box::into_raw in au_rs_sb_new.
        drop(unsafe { Box::from_raw(sb as *mut Sb) });
    }
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sb_nbr(sb: *const au_rs_sb) -> u32 {
    // SAFETY: caller's contract.
    unsafe { sb_ref(sb) }.map_or(0, |s| s.table.len() as u32)
}

/// # Safety
/// `sb` from au_rs_sb_new; `out` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sb_brinfo(sb: *const au_rs_sb, bindex: u32, out: *mut au_brinfo) -> c_int {
    use crate::opts::Perm;
    // SAFETY: caller's contract.
    let Some(b) = (unsafe { sb_ref(sb) }).and_then(|s| s.table.get(bindex as usize)) else {
        return errno_ret(Errno::EINVAL);
    };
    let perm = match b.perm.perm {
        Perm::Rw => au_perm_AU_PERM_RW,
        Perm::Ro => au_perm_AU_PERM_RO,
        Perm::Rr => au_perm_AU_PERM_RR,
    };
    let mut flags = 0;
    if b.perm.wh {
        flags |= AU_BR_WH;
    }
    if b.perm.nolwh {
        flags |= AU_BR_NOLWH;
    }
    // SAFETY: out is a valid out pointer.
    unsafe { *out = au_brinfo { perm, flags, id: b.id, pad: 0 } };
    0
}

/// The options' text, or only its length when `len` is too small for it
/// (the shim then asks again with a buffer that size).
///
/// # Safety
/// `sb` from au_rs_sb_new; `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_show_options(sb: *const au_rs_sb, buf: *mut c_char, len: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let t = crate::opts::show_options_bytes(&s.opts);
    match c_int::try_from(t.len()) {
        Err(_) => errno_ret(Errno::E2BIG),
        Ok(n) if t.len() > len as usize => n,
        // SAFETY: caller's contract.
        Ok(_) => unsafe { put_text(buf, len, &t) },
    }
}

/// # Safety
/// `sb` from au_rs_sb_new; `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sysfs_br(sb: *const au_rs_sb, bindex: u32, buf: *mut c_char, len: u32) -> c_int {
    // SAFETY: caller's contract.
    match unsafe { sb_ref(sb) }.and_then(|s| s.table.br_bytes(bindex as usize)) {
        // SAFETY: caller's contract.
        Some(t) => unsafe { put_text(buf, len, &t) },
        None => errno_ret(Errno::ENOENT),
    }
}

/// # Safety
/// `sb` from au_rs_sb_new; `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sysfs_brid(sb: *const au_rs_sb, bindex: u32, buf: *mut c_char, len: u32) -> c_int {
    // SAFETY: caller's contract.
    match unsafe { sb_ref(sb) }.and_then(|s| s.table.brid_text(bindex as usize)) {
        // SAFETY: caller's contract.
        Some(t) => unsafe { put_text(buf, len, t.as_bytes()) },
        None => errno_ret(Errno::ENOENT),
    }
}

/// # Safety
/// `sb` from au_rs_sb_new; `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sysfs_xi_path(sb: *const au_rs_sb, buf: *mut c_char, len: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract.
    unsafe { put_text(buf, len, &s.xi_path_text()) }
}

/// # Safety
/// `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sysfs_config(buf: *mut c_char, len: u32) -> c_int {
    // SAFETY: caller's contract.
    unsafe { put_text(buf, len, text::config_text().as_bytes()) }
}

#[no_mangle]
pub extern "C" fn au_rs_abi_layout() -> *const u64 {
    static L: [u64; AU_ABI_LAYOUT_LEN as usize] = crate::abi::LAYOUT;
    L.as_ptr()
}

// ---------------------------------------------------------------------------
// Lookup and readdir

/// # Safety
/// `sb` from au_rs_sb_new, `ctx` the shim's sb info; `parent` holds
/// `nparent` entries; `listing` null or from au_rs_readdir, not freed;
/// `out` has room for `cap`; `res` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_lookup(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    parent: *const au_lower,
    nparent: u32,
    name: *const u8,
    len: u32,
    listing: *const au_rs_dir,
    out: *mut au_lower,
    cap: u32,
    res: *mut au_lookup_out,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (parent, name) = unsafe { (lowers(parent, nparent), bytes(name, len)) };
    // SAFETY: caller's contract: null, or a listing not freed yet.
    let listing = unsafe { dir_ref(listing) };
    let l = match union::lookup(&b, s, parent, name, listing) {
        Ok(l) => l,
        Err(e) => {
            let why = match e {
                union::LookupError::Errno(_) => AU_LOOKUP_ERRNO,
                union::LookupError::NoData => AU_LOOKUP_NODATA,
                union::LookupError::Refused { .. } => AU_LOOKUP_REFUSED,
            };
            let r = au_lookup_out { nlower: 0, dtype: AU_DT_UNKNOWN, bopaque: -1, bwh: -1, bneg: -1, why };
            // SAFETY: res is a valid out pointer.
            unsafe { res.write(r) };
            return errno_ret(e.errno());
        }
    };
    if l.lowers.len() > cap as usize || out.is_null() && !l.lowers.is_empty() {
        return errno_ret(Errno::EIO);
    }
    let opt = |v: Option<u32>| v.map_or(-1, |x| x as i32);
    let r = au_lookup_out {
        nlower: l.lowers.len() as u32,
        dtype: l.ftype.map_or(AU_DT_UNKNOWN, |t| t.dtype()),
        bopaque: opt(l.bopaque),
        bwh: opt(l.bwh),
        bneg: opt(l.bneg),
        why: AU_LOOKUP_ERRNO,
    };
    for (i, lw) in l.lowers.into_iter().enumerate() {
        let e = au_lower { dentry: lw.node.into_raw(), bindex: lw.br, pad: 0 };
        // SAFETY: i < nlower <= cap, checked above.
        unsafe { out.add(i).write(e) };
    }
    // SAFETY: res is a valid out pointer.
    unsafe { res.write(r) };
    0
}

/// # Safety
/// As au_rs_lookup; `out` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_readdir(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    dir: *const au_lower,
    ndir: u32,
    out: *mut *mut au_rs_dir,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let dir = unsafe { lowers(dir, ndir) };
    match union::read_dir(&b, s, dir) {
        Ok(m) => {
            let Some(m) = try_box(m) else { return errno_ret(Errno::ENOMEM) };
            // SAFETY: out is a valid out pointer.
            unsafe { *out = Box::into_raw(m) as *mut au_rs_dir };
            0
        }
        Err(e) => errno_ret(e),
    }
}

/// # Safety
/// `d` from au_rs_readdir, not freed.
unsafe fn dir_ref<'a>(d: *const au_rs_dir) -> Option<&'a union::MergedDir> {
    // SAFETY: au_rs_dir is the opaque name of a Box<MergedDir>.
    unsafe { (d as *const union::MergedDir).as_ref() }
}

/// # Safety
/// `d` from au_rs_readdir, not freed.
#[no_mangle]
pub unsafe extern "C" fn au_rs_dir_count(d: *const au_rs_dir) -> u32 {
    // SAFETY: caller's contract.
    unsafe { dir_ref(d) }.map_or(0, |m| m.len() as u32)
}

/// # Safety
/// `d` from au_rs_readdir, not freed; `out` a valid out pointer.  The name
/// stays valid until au_rs_dir_free.
#[no_mangle]
pub unsafe extern "C" fn au_rs_dir_entry(d: *const au_rs_dir, idx: u32, out: *mut au_dirent) -> c_int {
    // SAFETY: caller's contract.
    let Some((name, e)) = unsafe { dir_ref(d) }.and_then(|m| m.get(idx as usize)) else {
        return errno_ret(Errno::ENOENT);
    };
    let ent = au_dirent {
        name: name.as_ptr(),
        namelen: name.len() as u32,
        dtype: e.ftype.dtype(),
        bindex: e.br,
        pad: 0,
        ino: e.ino,
    };
    // SAFETY: out is a valid out pointer.
    unsafe { out.write(ent) };
    0
}

/// # Safety
/// `d` NULL or from au_rs_readdir; not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn au_rs_dir_free(d: *mut au_rs_dir) {
    if !d.is_null() {
        // SAFETY: made by Box::into_raw in au_rs_readdir.
        drop(unsafe { Box::from_raw(d as *mut union::MergedDir) });
    }
}

/// A new, empty inode number table (NULL on allocation failure).
#[no_mangle]
pub extern "C" fn au_rs_xino_new() -> *mut au_rs_xino {
    match try_box(Xino::default()) {
        Some(b) => Box::into_raw(b) as *mut au_rs_xino,
        None => ptr::null_mut(),
    }
}

/// # Safety
/// `x` NULL or from au_rs_xino_new; not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn au_rs_xino_free(x: *mut au_rs_xino) {
    if !x.is_null() {
        // SAFETY: made by Box::into_raw in au_rs_xino_new.
        drop(unsafe { Box::from_raw(x as *mut Xino) });
    }
}

/// Exclusive access to an inode number table.
///
/// # Safety
/// `x` NULL or from au_rs_xino_new; the caller holds the table's lock, so
/// no other reference to it exists for `'a`.
unsafe fn xino_mut<'a>(x: *mut au_rs_xino) -> Option<&'a mut Xino> {
    // SAFETY: caller's contract.
    unsafe { (x as *mut Xino).as_mut() }
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held; `ino` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_ino(x: *mut au_rs_xino, brid: u32, h_ino: u64, ino: *mut u64) -> c_int {
    // SAFETY: caller's contract.
    let Some(x) = (unsafe { xino_mut(x) }) else { return errno_ret(Errno::EINVAL) };
    match x.ino(brid, h_ino) {
        Ok(n) => {
            // SAFETY: caller's contract on the out pointer.
            unsafe { *ino = n };
            0
        }
        Err(e) => errno_ret(e),
    }
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held.
#[no_mangle]
pub unsafe extern "C" fn au_rs_ino_keep(x: *mut au_rs_xino, brid: u32, h_ino: u64, ino: u64) -> c_int {
    // SAFETY: caller's contract.
    let Some(x) = (unsafe { xino_mut(x) }) else { return errno_ret(Errno::EINVAL) };
    status(x.keep(brid, h_ino, ino))
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held.
#[no_mangle]
pub unsafe extern "C" fn au_rs_ino_evicted(x: *mut au_rs_xino, brid: u32, h_ino: u64, h_nlink: u32) {
    // SAFETY: caller's contract.
    if let Some(x) = unsafe { xino_mut(x) } {
        x.evicted(brid, h_ino, h_nlink);
    }
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held.
#[no_mangle]
pub unsafe extern "C" fn au_rs_xino_forget_branch(x: *mut au_rs_xino, brid: u32) {
    // SAFETY: caller's contract.
    if let Some(x) = unsafe { xino_mut(x) } {
        x.forget_branch(brid);
    }
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held.
#[no_mangle]
pub unsafe extern "C" fn au_rs_xino_len(x: *mut au_rs_xino) -> u64 {
    // SAFETY: caller's contract.
    unsafe { xino_mut(x) }.map_or(0, |x| x.len() as u64)
}

// ---------------------------------------------------------------------------
// The writable union

/// Hand a new node to C through `out`.
///
/// # Safety
/// `out` is a valid out pointer.
unsafe fn give(r: crate::Result<KNode>, out: *mut *mut c_void) -> c_int {
    match r {
        Ok(n) => {
            // SAFETY: caller's contract.
            unsafe { *out = n.into_raw() };
            0
        }
        Err(e) => errno_ret(e),
    }
}

fn branch_ret(r: crate::Result<u32>) -> c_int {
    match r {
        Ok(t) => t as c_int,
        Err(e) => errno_ret(e),
    }
}

/// # Safety
/// `sb` from au_rs_sb_new; `parent` holds `nparent` entries.
#[no_mangle]
pub unsafe extern "C" fn au_rs_cpup_target(sb: *const au_rs_sb, parent: *const au_lower, nparent: u32, top: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract.
    let parent = unsafe { lowers(parent, nparent) };
    branch_ret(write::cpup_target(s, parent, top))
}

/// # Safety
/// `sb` from au_rs_sb_new; `parent` holds `nparent` entries.
#[no_mangle]
pub unsafe extern "C" fn au_rs_create_target(sb: *const au_rs_sb, parent: *const au_lower, nparent: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract.
    let parent = unsafe { lowers(parent, nparent) };
    branch_ret(write::create_target(s, parent))
}

/// # Safety
/// `sb` from au_rs_sb_new; arrays and names valid for their lengths;
/// `dst_dir` a referenced dentry; `out` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_copy_up(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    obj: *const au_lower,
    nobj: u32,
    t: u32,
    dst_dir: *mut c_void,
    name: *const u8,
    len: u32,
    trunc_len: i64,
    meta_only: u32,
    id: u64,
    out: *mut *mut c_void,
) -> c_int {
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (obj, name) = unsafe { (lowers(obj, nobj), bytes(name, len)) };
    let dir = ManuallyDrop::new(KNode(dst_dir));
    let trunc = if trunc_len < 0 { None } else { Some(trunc_len) };
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let how = write::CopyHow { plink: s.opts.plink, metacopy: s.opts.metacopy, meta_only: meta_only != 0 };
    let r = write::copy_up(&b, s, how, obj, t, &dir, name, trunc, id);
    let meta = matches!(r, Ok((_, true)));
    // SAFETY: caller's contract on out.
    let r = unsafe { give(r.map(|(n, _)| n), out) };
    if r == 0 && meta {
        1
    } else {
        r
    }
}

/// # Safety
/// As au_rs_copy_up; `tmpname`/`tmplen` valid out pointers.
#[no_mangle]
pub unsafe extern "C" fn au_rs_copy_up_orphan(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    obj: *const au_lower,
    nobj: u32,
    t: u32,
    id: u64,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let obj = unsafe { lowers(obj, nobj) };
    // SAFETY: caller's contract on the out pointer.
    unsafe { give(write::copy_up_orphan(&b, s, s.opts.plink, obj, t, id), out) }
}

/// # Safety
/// As au_rs_copy_up.
#[no_mangle]
pub unsafe extern "C" fn au_rs_create(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    parent: *const au_lower,
    nparent: u32,
    t: u32,
    name: *const u8,
    len: u32,
    mode: u32,
    rdev: u32,
    target: *const u8,
    tlen: u32,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (parent, name, target) = unsafe { (lowers(parent, nparent), bytes(name, len), bytes(target, tlen)) };
    let e = NewEntry { mode, rdev, target };
    // SAFETY: caller's contract on out.
    unsafe { give(write::create(&b, s, parent, t, name, &e), out) }
}

/// # Safety
/// As au_rs_copy_up.
#[no_mangle]
pub unsafe extern "C" fn au_rs_link(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    parent: *const au_lower,
    nparent: u32,
    src: *const au_lower,
    nsrc: u32,
    t: u32,
    name: *const u8,
    len: u32,
    out: *mut *mut c_void,
) -> c_int {
    let _ = sb;
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (parent, src, name) = unsafe { (lowers(parent, nparent), lowers(src, nsrc), bytes(name, len)) };
    // SAFETY: caller's contract on out.
    unsafe { give(write::link(&b, parent, src, t, name), out) }
}

/// # Safety
/// As au_rs_copy_up.
#[no_mangle]
pub unsafe extern "C" fn au_rs_remove(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    parent: *const au_lower,
    nparent: u32,
    obj: *const au_lower,
    nobj: u32,
    t: u32,
    name: *const u8,
    len: u32,
    id: u64,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (parent, obj, name) = unsafe { (lowers(parent, nparent), lowers(obj, nobj), bytes(name, len)) };
    status(write::remove(&b, s, parent, obj, t, name, id))
}

/// # Safety
/// As au_rs_copy_up.
#[no_mangle]
pub unsafe extern "C" fn au_rs_rename_check(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    src: *const au_lower,
    nsrc: u32,
    dst: *const au_lower,
    ndst: u32,
    t: u32,
    flags: u32,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (src, dst) = unsafe { (lowers(src, nsrc), lowers(dst, ndst)) };
    match write::rename_check(&b, s, src, dst, t, flags) {
        Ok(nothing_to_do) => c_int::from(nothing_to_do),
        Err(e) => errno_ret(e),
    }
}

/// # Safety
/// As au_rs_copy_up.
#[no_mangle]
pub unsafe extern "C" fn au_rs_rename(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    sparent: *const au_lower,
    nsparent: u32,
    src: *const au_lower,
    nsrc: u32,
    sname: *const u8,
    slen: u32,
    dparent: *const au_lower,
    ndparent: u32,
    dst: *const au_lower,
    ndst: u32,
    dname: *const u8,
    dlen: u32,
    flags: u32,
    t: u32,
    id: u64,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let (sparent, src, sname, dparent, dst, dname) = unsafe {
        (
            lowers(sparent, nsparent),
            lowers(src, nsrc),
            bytes(sname, slen),
            lowers(dparent, ndparent),
            lowers(dst, ndst),
            bytes(dname, dlen),
        )
    };
    status(write::rename(&b, s, sparent, src, sname, dparent, dst, dname, flags, t, id))
}

// ---------------------------------------------------------------------------
// Policy questions

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_write_in_place(sb: *const au_rs_sb, bindex: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    policy::write_in_place(s, bindex) as c_int
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_share_inode(sb: *const au_rs_sb, bindex: u32, is_dir: u32, nlink: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    policy::share_inode(s, s.opts.plink, bindex, is_dir != 0, nlink) as c_int
}

/// The pseudo-link of the union object `obj` (see plink::find): 1 with
/// one reference in `*out` and its branch in `*br`, 0 when there is none,
/// or -errno.
///
/// # Safety
/// As au_rs_copy_up; `out` and `br` valid out pointers.
#[no_mangle]
pub unsafe extern "C" fn au_rs_plink_find(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    obj: *const au_lower,
    nobj: u32,
    out: *mut *mut c_void,
    br: *mut u32,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    if out.is_null() || br.is_null() {
        return errno_ret(Errno::EINVAL);
    }
    let b = KBackend { ctx };
    // SAFETY: caller's contract.
    let obj = unsafe { lowers(obj, nobj) };
    match plink::find(&b, s, s.opts.plink, obj) {
        Ok(Some((pb, n))) => {
            let n = ManuallyDrop::new(n);
            // SAFETY: valid out pointers (checked non-null; caller's contract).
            unsafe {
                *out = n.0;
                *br = pb;
            }
            1
        }
        Ok(None) => 0,
        Err(e) => errno_ret(e),
    }
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_perm_all(sb: *const au_rs_sb, is_dir: u32, write: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    (policy::perm_scope(s.opts.dirperm1, is_dir != 0, write != 0) == policy::PermScope::All) as c_int
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_keep_negative(sb: *const au_rs_sb, changed: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    policy::keep_negative(policy::reval(s.opts.udba), changed != 0) as c_int
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_must_compare(sb: *const au_rs_sb, changed: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 1 };
    policy::must_compare(policy::reval(s.opts.udba), changed != 0) as c_int
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_stamp_own(sb: *const au_rs_sb, dtype: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 1 };
    policy::stamp_own(dtype == AU_DT_DIR, dtype == AU_DT_REG, s.opts.metacopy) as c_int
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_udba_notify(sb: *const au_rs_sb) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    (policy::reval(s.opts.udba) == policy::Reval::OnEvent) as c_int
}

/// Does the shim tell changes by the branch directories' change times
/// (`udba=reval`)?
///
/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_udba_stamps(sb: *const au_rs_sb) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 1 };
    (policy::reval(s.opts.udba) == policy::Reval::OnStamp) as c_int
}
