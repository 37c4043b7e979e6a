//! The entry points the C shim calls (`au_rs_*`, kmod/aufs_abi.h).

use super::kbackend::{lowers, KBackend, KNode, KResolver};
use super::{bytes, errno_ret, put_text, sb_ref, status, try_box};
use crate::abi::*;
use crate::backend::NewEntry;
use crate::policy::Need;
use crate::errno::Errno;
use crate::opts::OptError;
use crate::sb::Sb;
use crate::xino::{Spare, Xino};
use crate::{plink, policy, text, union, write};
use alloc::boxed::Box;
use core::ffi::{c_char, c_int, c_void};
use core::mem::ManuallyDrop;
use core::ptr;

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
/// `req` NULL or valid, its `data` valid for `len` bytes, its `mctx` the
/// shim's mount context; `out` a valid out pointer; `msg` NULL or valid for
/// `msglen` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_sb_new(
    req: *const au_mount_req,
    out: *mut *mut au_rs_sb,
    msg: *mut c_char,
    msglen: u32,
) -> c_int {
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract on the request's data.
    let data = unsafe { bytes(req.data, req.len) };
    let mut r = KResolver { mctx: req.mctx };
    match Sb::mount(data, req.rdonly != 0, &mut r) {
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
/// `sb` from au_rs_sb_new; `req` NULL or valid, its `data` valid for `len`
/// bytes, its `mctx` the shim's remount context (its positions hold the
/// current branches); `out` a valid out pointer; `msg` NULL or valid for
/// `msglen` bytes.
#[no_mangle]
pub unsafe extern "C" fn au_rs_remount(
    sb: *const au_rs_sb,
    req: *const au_mount_req,
    out: *mut *mut au_rs_sb,
    msg: *mut c_char,
    msglen: u32,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let mut r = KResolver { mctx: req.mctx };
    // SAFETY: caller's contract on the request's data.
    let res = s.remount(unsafe { bytes(req.data, req.len) }, req.rdonly != 0, &mut r);
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
/// `sb` from au_rs_sb_new, `ctx` the shim's context; `req` NULL or valid,
/// its `parent` holding `nparent` entries, its name valid for `len` bytes,
/// its `listing` null or from au_rs_readdir, not freed; `out` has room for
/// `cap`; `res` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_lookup(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    req: *const au_lookup_req,
    out: *mut au_lower,
    cap: u32,
    res: *mut au_lookup_out,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract on the request's array and name.
    let (parent, name) = unsafe { (lowers(req.parent, req.nparent), bytes(req.name, req.len)) };
    // SAFETY: caller's contract: null, or a listing not freed yet.
    let listing = unsafe { dir_ref(req.listing) };
    let l = match union::lookup(&b, s, parent, name, listing) {
        Ok(l) => l,
        Err(e) => {
            let why = match e {
                union::LookupError::Errno(_) => AU_LOOKUP_ERRNO,
                union::LookupError::BadRecord { .. } => AU_LOOKUP_BADREC,
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
/// `sb` from au_rs_sb_new, `ctx` the shim's context; `dir` holds `ndir`
/// entries; `out` a valid out pointer.
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
pub unsafe extern "C" fn au_rs_xino_room(x: *mut au_rs_xino) -> u64 {
    // SAFETY: caller's contract.
    unsafe { xino_mut(x) }.map_or(0, |x| x.room() as u64)
}

/// Room for `cap` entries, made without the table's lock: NULL without
/// memory (or for a `cap` too large).
#[no_mangle]
pub extern "C" fn au_rs_xino_spare(cap: u64) -> *mut au_rs_xino_spare {
    let Ok(cap) = usize::try_from(cap) else { return ptr::null_mut() };
    match Spare::new(cap).ok().and_then(try_box) {
        Some(b) => Box::into_raw(b) as *mut au_rs_xino_spare,
        None => ptr::null_mut(),
    }
}

/// # Safety
/// `x` from au_rs_xino_new, its lock held; `spare` NULL or from
/// au_rs_xino_spare, not used afterwards (taken or freed here).
#[no_mangle]
pub unsafe extern "C" fn au_rs_xino_adopt(x: *mut au_rs_xino, spare: *mut au_rs_xino_spare) {
    if spare.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in au_rs_xino_spare; ours from now on.
    let spare = unsafe { Box::from_raw(spare as *mut Spare) };
    // SAFETY: caller's contract.
    if let Some(x) = unsafe { xino_mut(x) } {
        x.adopt(*spare);
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
/// `sb` from au_rs_sb_new, `ctx` the shim's context of the targets' branch
/// set; `tg` holds `n` targets, each lending `nlower` entries at `lower`
/// and, for a create, `namelen` bytes at `name`.
#[no_mangle]
pub unsafe extern "C" fn au_rs_op_target(sb: *const au_rs_sb, ctx: *mut c_void, now: u64, tg: *const au_target, n: u32) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    if tg.is_null() || n == 0 || n > AU_TARGET_MAX {
        return errno_ret(Errno::EINVAL);
    }
    // SAFETY: caller's contract: `n` initialized targets.
    let tg = unsafe { core::slice::from_raw_parts(tg, n as usize) };
    let needs = tg.iter().map(|g| {
        // SAFETY: caller's contract: each target lends `nlower` entries.
        let lower = unsafe { lowers(g.lower, g.nlower) };
        if g.kind == AU_TARGET_NEWNAME {
            let new = if g.name.is_null() {
                None
            } else {
                // SAFETY: caller's contract: `namelen` bytes at `name`.
                Some((unsafe { bytes(g.name, g.namelen) }, g.isdir != 0))
            };
            Need::NewName { dir: lower, new }
        } else {
            Need::Object { parent: lower, top: g.top }
        }
    });
    let b = KBackend { ctx };
    let p = policy::Policies { create: s.opts.create, cpup: s.opts.cpup, state: &s.wbr, now };
    branch_ret(policy::op_target(&b, s, &p, needs))
}

/// # Safety
/// `sb` from au_rs_sb_new.
#[no_mangle]
pub unsafe extern "C" fn au_rs_statfs_sum(sb: *const au_rs_sb) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    c_int::from(s.opts.sum)
}

/// # Safety
/// `sb` from au_rs_sb_new; `req` NULL or valid, its arrays and name valid
/// for their lengths, `req.dir` a referenced dentry; `out` a valid out
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_copy_up(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    req: *const au_cpup_req,
    out: *mut *mut c_void,
) -> c_int {
    let b = KBackend { ctx };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract on the request's arrays and name.
    let (obj, name) = unsafe { (lowers(req.obj, req.nobj), bytes(req.name, req.len)) };
    let dir = ManuallyDrop::new(KNode(req.dir));
    let len = if req.trunc_len < 0 { None } else { Some(req.trunc_len) };
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    let how = write::CopyHow { plink: s.opts.plink, metacopy: s.opts.metacopy, meta_only: req.meta_only != 0 };
    let to = write::CopyTo { t: req.t, dir: &*dir, name, len, id: req.id };
    let r = write::copy_up(&b, s, how, obj, &to);
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
/// `sb` from au_rs_sb_new; `obj` holds `nobj` entries; `out` a valid out
/// pointer.
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
/// `sb` from au_rs_sb_new; `req` NULL or valid, its arrays, name and
/// target valid for their lengths; `out` a valid out pointer.
#[no_mangle]
pub unsafe extern "C" fn au_rs_create(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    req: *const au_new_req,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    let en = &req.entry;
    // SAFETY: caller's contract on the request's array, name and target.
    let (parent, name, target) =
        unsafe { (lowers(req.parent, req.nparent), bytes(req.name, req.len), bytes(en.target, en.tlen)) };
    let e = NewEntry { mode: en.mode, rdev: en.rdev, target };
    // SAFETY: caller's contract on out.
    unsafe { give(write::create(&b, s, parent, req.t, name, &e), out) }
}

/// # Safety
/// As au_rs_create.
#[no_mangle]
pub unsafe extern "C" fn au_rs_link(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    req: *const au_new_req,
    out: *mut *mut c_void,
) -> c_int {
    let _ = sb;
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract on the request's arrays and name.
    let (parent, src, name) =
        unsafe { (lowers(req.parent, req.nparent), lowers(req.src, req.nsrc), bytes(req.name, req.len)) };
    // SAFETY: caller's contract on out.
    unsafe { give(write::link(&b, parent, src, req.t, name), out) }
}

/// # Safety
/// `sb` from au_rs_sb_new; `req` NULL or valid, its arrays and name valid
/// for their lengths.
#[no_mangle]
pub unsafe extern "C" fn au_rs_remove(sb: *const au_rs_sb, ctx: *mut c_void, req: *const au_remove_req) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract on the request's arrays and name.
    let (parent, obj, name) =
        unsafe { (lowers(req.parent, req.nparent), lowers(req.obj, req.nobj), bytes(req.name, req.len)) };
    status(write::remove(&b, s, parent, obj, req.t, name, req.id))
}

/// # Safety
/// `sb` from au_rs_sb_new; `req` NULL or valid, its arrays valid for their
/// lengths.
#[no_mangle]
pub unsafe extern "C" fn au_rs_rename_check(
    sb: *const au_rs_sb,
    ctx: *mut c_void,
    req: *const au_rename_check_req,
) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract on the request's arrays.
    let (src, dst) = unsafe { (lowers(req.src, req.nsrc), lowers(req.dst, req.ndst)) };
    match write::rename_check(&b, s, src, dst, req.t, req.flags) {
        Ok(nothing_to_do) => c_int::from(nothing_to_do),
        Err(e) => errno_ret(e),
    }
}

/// Lend one side of a rename request to the core.
///
/// # Safety
/// The side's arrays and name are valid for their lengths and outlive the
/// returned view.
unsafe fn side<'a>(d: &au_rename_side) -> write::Side<'a, KNode> {
    // SAFETY: caller's contract.
    unsafe { write::Side { parent: lowers(d.parent, d.nparent), obj: lowers(d.obj, d.nobj), name: bytes(d.name, d.len) } }
}

/// # Safety
/// `sb` from au_rs_sb_new; `req` NULL or valid, the arrays and names of
/// both its sides valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn au_rs_rename(sb: *const au_rs_sb, ctx: *mut c_void, req: *const au_rename_req) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return errno_ret(Errno::EINVAL) };
    // SAFETY: caller's contract: req is NULL or valid for the call.
    let Some(req) = (unsafe { req.as_ref() }) else { return errno_ret(Errno::EINVAL) };
    let b = KBackend { ctx };
    // SAFETY: caller's contract on both sides.
    let (src, dst) = unsafe { (side(&req.src), side(&req.dst)) };
    let r = write::Rename { src, dst, flags: req.flags, id: req.id };
    match write::rename(&b, s, &r, req.t) {
        Ok(keeps) => c_int::from(keeps),
        Err(e) => errno_ret(e),
    }
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
/// `sb` from au_rs_sb_new; `obj` holds `nobj` entries; `out` and `br`
/// valid out pointers.
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
pub unsafe extern "C" fn au_rs_direct_io(sb: *const au_rs_sb) -> c_int {
    // SAFETY: caller's contract.
    let Some(s) = (unsafe { sb_ref(sb) }) else { return 0 };
    policy::direct_io(s.opts.dio) as c_int
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
