//! Build script of the DKMS source package (see dkms-manifest.py).
//!
//! The repository's build.rs runs bindgen over kmod/aufs_abi.h.  Its output
//! does not depend on the kernel (the header uses only UAPI types, and
//! bindgen is told the target), so the package ships it, made when the
//! package was, as prebuilt/abi.rs; this script puts it where src/abi.rs
//! includes it from.  dkms.mk checks beforehand that the header is still the
//! one the bindings were made from.
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let src = "prebuilt/abi.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("abi.rs");
    fs::copy(src, &out).unwrap_or_else(|e| panic!("copying {src} to {}: {e}", out.display()));
}
