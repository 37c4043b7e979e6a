//! Stand-in for the `compiler_builtins` crate when `alloc` is built for the
//! kernel.  The kernel provides memcpy & co.  128-bit division helpers are
//! not exported by the kernel; core's u128 formatting references them but the
//! aufs core never formats or divides a u128, so they only have to exist.
//! Reaching one is a bug: it panics (BUG() through the core's panic handler),
//! as Linux's own rust/compiler_builtins.rs does.
#![feature(compiler_builtins)]
#![compiler_builtins]
#![no_builtins]
#![no_std]
#![allow(internal_features)]

macro_rules! unreachable_intrinsics {
    ($($name:ident)*) => {$(
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn $name() {
            // The callers were compiled expecting a function that returns;
            // keep a (never taken) return path so objtool agrees with them.
            if core::hint::black_box(true) {
                panic!(concat!(stringify!($name), " reached: 128-bit arithmetic is not supported in the kernel"));
            }
        }
    )*};
}

unreachable_intrinsics! { __udivti3 __umodti3 __divti3 __modti3 __muloti4 }
