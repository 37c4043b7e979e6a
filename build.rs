//! Generates the Rust side of the C/Rust ABI (kmod/aufs_abi.h) with bindgen
//! and, for host builds, compiles the C layout table so `cargo test` can
//! compare both compilers' view of every shared struct.
use std::env;
use std::path::PathBuf;

fn main() {
    let header = "kmod/aufs_abi.h";
    println!("cargo:rerun-if-changed={header}");
    println!("cargo:rerun-if-changed=kmod/abi_layout.c");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    let bindings = bindgen::Builder::default()
        .header(header)
        .use_core()
        .ctypes_prefix("core::ffi")
        .allowlist_function("au_.*")
        .allowlist_type("au_.*")
        .allowlist_var("AU_.*")
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        // The kernel target is freestanding; the layouts are x86_64's either way.
        .clang_arg("--target=x86_64-unknown-linux-gnu")
        .generate()
        .expect("bindgen failed on kmod/aufs_abi.h");
    bindings
        .write_to_file(out.join("abi.rs"))
        .expect("writing abi.rs");

    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        cc::Build::new()
            .file("kmod/abi_layout.c")
            .include("kmod")
            .warnings(true)
            .compile("au_abi_host");
    }
}
