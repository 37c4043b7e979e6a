//! The union logic of aufs: option parsing and the per-mount state a
//! remount changes ([`opts`], [`sb`]), the branch table ([`branch`]), name
//! rules ([`name`]), lookup through whiteouts, opaque directories and
//! metacopies and the merged readdir ([`union`]), the writable union:
//! target branches, copy-up, whiteouts, create/link/remove/rename
//! ([`write`]), pseudo-links ([`plink`]), the questions the shim asks before
//! it acts ([`policy`]), union inode numbers ([`xino`]), and the text the
//! module shows in /proc and /sys ([`text`]).
//!
//! The crate is `no_std` and never touches a kernel object: everything that
//! reaches a branch goes through the [`backend::Backend`] trait.  The kernel
//! module implements it over FFI (`ffi`, feature `kernel`); the unit tests
//! implement it in memory ([`mem::MemBackend`]).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![cfg_attr(feature = "kernel", feature(rustc_attrs))]
#![cfg_attr(feature = "kernel", allow(internal_features))]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo
    )
)]

extern crate alloc;

pub mod errno;
pub use errno::{Errno, Result};
pub mod abi;
pub mod backend;
pub mod branch;
pub mod dirren;
pub mod name;
pub mod opts;
pub mod plink;
pub mod policy;
pub mod sb;
pub mod sort;
pub mod text;
pub mod union;
pub mod write;
pub mod xino;

#[cfg(test)]
mod mem;

#[cfg(feature = "kernel")]
mod ffi;
