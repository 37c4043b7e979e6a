//! The Rust side of kmod/branch.c: [`KBackend`] implements the core's
//! [`Backend`]/[`WriteBackend`] over the shim's branch primitives
//! (`au_c_*`), and [`KResolver`] resolves a mount's branch paths through it.

use super::{bytes, status};
use crate::abi::*;
use crate::backend::{At, Backend, Cred, DirSink, FileType, Lower, NewEntry, Stat, Times, WriteBackend};
use crate::branch::{BranchFacts, Relation, Resolver};
use crate::dirren::RECORD_MAX;
use crate::errno::Errno;
use core::ffi::{c_int, c_void};
use core::mem::ManuallyDrop;

/// An owned reference to a lower dentry: dropping it is dput().
#[repr(transparent)]
#[derive(Debug)]
pub struct KNode(pub(super) *mut c_void);

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
    pub(super) fn into_raw(self) -> *mut c_void {
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
pub(super) unsafe fn lowers<'a>(p: *const au_lower, n: u32) -> &'a [Lower<KNode>] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: Lower<KNode> has au_lower's layout (asserted above); a shared
    // slice never drops its elements, so C keeps its references.
    unsafe { core::slice::from_raw_parts(p as *const Lower<KNode>, n as usize) }
}

pub struct KBackend {
    pub(super) ctx: *mut c_void,
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

    fn branch_root(&self, br: u32) -> crate::Result<KNode> {
        self.root(br)
    }

    fn dirren_record(&self, br: u32, node: &KNode) -> crate::Result<Option<alloc::vec::Vec<u8>>> {
        let mut buf = alloc::vec::Vec::new();
        buf.try_reserve_exact(RECORD_MAX)?;
        buf.resize(RECORD_MAX, 0);
        // SAFETY: node.0 is a referenced dentry; buf is valid for RECORD_MAX bytes.
        let r = unsafe { au_c_dirren_get(self.ctx, br, node.0, buf.as_mut_ptr(), RECORD_MAX as u32) };
        if r == Errno::ENODATA.to_kernel() {
            return Ok(None);
        }
        if r == Errno::ERANGE.to_kernel() {
            // Longer than any record may be: kept too long, so the check refuses it.
            buf.try_reserve_exact(1)?;
            buf.push(0);
            return Ok(Some(buf));
        }
        ret(r)?;
        buf.truncate(r as usize);
        Ok(Some(buf))
    }

    fn is_metacopy(&self, br: u32, node: &KNode) -> crate::Result<bool> {
        // SAFETY: node.0 is a referenced dentry.
        let r = unsafe { au_c_metacopy(self.ctx, br, node.0) };
        ret(r)?;
        Ok(r > 0)
    }

    fn free_space(&self, br: u32) -> crate::Result<u64> {
        let mut out: u64 = 0;
        // SAFETY: out is a valid out pointer for the call.
        let r = unsafe { au_c_free_space(self.ctx, br, &mut out) };
        ret(r)?;
        Ok(out)
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

/// The C view of `name` in `dir`, lent for one call.
fn at(dir: &KNode, name: &[u8]) -> crate::Result<au_at> {
    Ok(au_at { dir: dir.0, name: name.as_ptr(), len: name_len(name)?, pad: 0 })
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
        let at = at(dir, name)?;
        let en = au_new_entry { target: e.target.as_ptr(), tlen, mode: e.mode, rdev: e.rdev, pad: 0 };
        // SAFETY: at and en live for the call; dir is a referenced dentry;
        // name and target are valid for their lengths; out is a valid out
        // pointer.
        ret(unsafe { au_c_create(self.ctx, br, &at, &en, cred(c), &mut out) })?;
        knode(out)
    }

    fn link(&self, br: u32, src: &KNode, dir: &KNode, name: &[u8], c: Cred) -> crate::Result<KNode> {
        let mut out = core::ptr::null_mut();
        let at = at(dir, name)?;
        // SAFETY: at lives for the call; src and dir are referenced
        // dentries; name valid; out valid.
        ret(unsafe { au_c_link(self.ctx, br, src.0, &at, cred(c), &mut out) })?;
        knode(out)
    }

    fn remove(&self, br: u32, dir: &KNode, name: &[u8], is_dir: bool, c: Cred) -> crate::Result<()> {
        // SAFETY: dir is a referenced dentry; name valid for its length.
        ret(unsafe { au_c_remove(self.ctx, br, dir.0, name.as_ptr(), name_len(name)?, is_dir as u32, cred(c)) })
    }

    fn rename(&self, br: u32, from: At<'_, KNode>, to: At<'_, KNode>, flags: u32, c: Cred) -> crate::Result<()> {
        let (from, to) = (at(from.dir, from.name)?, at(to.dir, to.name)?);
        // SAFETY: from and to live for the call; both dirs are referenced
        // dentries; names valid for their lengths.
        ret(unsafe { au_c_rename(self.ctx, br, &from, &to, flags, cred(c)) })
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

    fn set_dirren_record(&self, br: u32, node: &KNode, rec: Option<&[u8]>) -> crate::Result<()> {
        let rec = rec.unwrap_or(&[]);
        let len = u32::try_from(rec.len()).map_err(|_| Errno::ENAMETOOLONG)?;
        // SAFETY: node.0 is a referenced dentry; rec is valid for len bytes.
        ret(unsafe { au_c_dirren_set(self.ctx, br, node.0, rec.as_ptr(), len) })
    }

    fn path_of(&self, br: u32, node: &KNode) -> crate::Result<alloc::vec::Vec<u8>> {
        let mut buf = alloc::vec::Vec::new();
        buf.try_reserve_exact(RECORD_MAX)?;
        buf.resize(RECORD_MAX, 0);
        // SAFETY: node.0 is a referenced dentry; buf is valid for RECORD_MAX bytes.
        let r = unsafe { au_c_path_of(self.ctx, br, node.0, buf.as_mut_ptr(), RECORD_MAX as u32) };
        ret(r)?;
        buf.truncate(r as usize);
        Ok(buf)
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

pub(super) struct KResolver {
    pub(super) mctx: *mut c_void,
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
