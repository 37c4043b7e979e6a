#!/bin/bash
# Print the rustc flags for the Rust core of a module built for the kernel
# in KDIR, on one line: every crate of the kernel object (core, alloc,
# compiler_builtins and ours) is compiled with exactly these.
#   usage: kernel-rustflags.sh KDIR
#
# The configuration-dependent part follows what Kbuild gives its own Rust
# code on x86-64 (arch/x86/Makefile and the top Makefile of 6.12, the first
# Debian kernel with these options), so that the Rust object has the same
# code-generation contract with the kernel as the C objects around it:
#   X86_KERNEL_IBT        -Zcf-protection=branch: endbr64 at every function
#                         entry; an indirect call or jump to code without it
#                         faults (#CP) on IBT hardware.  Jump tables off: the
#                         compilers emit NOTRACK jumps through them, which
#                         the kernel does not allow.
#   CALL_PADDING          -Zpatchable-function-entry=N,N (N is
#                         FUNCTION_PADDING_BYTES): N bytes of padding before
#                         each function, where the kernel puts call-depth
#                         accounting thunks and objtool its __pfx_ symbols.
#   (MITIGATION_)RETPOLINE  indirect calls and jumps through the kernel's
#                         __x86_indirect_thunk_*; jump tables off as well,
#                         they would be indirect jumps.
#   (MITIGATION_)RETHUNK  returns through __x86_return_thunk.
# The names with and without MITIGATION_ are 6.9+ and older kernels'.
#
# Not derived, on purpose:
# - SLS (-mharden-sls=all for C; Kbuild's Rust target gets the LLVM features
#   harden-sls-ret/-ijmp): with the return thunk and retpolines there is no
#   ret or indirect jmp left to harden, and `objtool --sls` checks exactly
#   that.  Debian's rustc only knows those features as "unknown and
#   unstable" and warns.
# - -Zindirect-branch-cs-prefix: 6.12's Kbuild gives it to C only; the
#   kernel's retpoline rewriting handles 5-byte thunk calls too.
# - frame pointers: Kbuild asks for them only with CONFIG_FRAME_POINTER; we
#   keep them always (cheap, and oops backtraces stay readable even where
#   ORC data is missing).
# - opt-level: 2 for both Debian kernels (CC_OPTIMIZE_FOR_PERFORMANCE);
#   it changes no contract with the kernel.
# - sanitizers (KASAN & co. on the debug kernel): the Rust code simply is
#   not instrumented, as before.
# Refused: a kernel whose indirect calls check kCFI type hashes (CFI_CLANG)
# would reject calls into Rust functions compiled without them.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 KDIR" >&2; exit 2; }
# shellcheck source=scripts/kconfig.sh
. "$(dirname "$0")/kconfig.sh"
kconfig_load "$1"

kconfig_on X86_64 || { echo "kernel-rustflags: $1 is not an x86-64 kernel" >&2; exit 1; }
if kconfig_on CFI_CLANG; then
    echo "kernel-rustflags: $1 has CONFIG_CFI_CLANG (kCFI); the Rust object is not built for it" >&2
    exit 1
fi

# The same on every kernel: a static, non-unwinding, kernel-code-model
# object (x86_64-unknown-none is already soft-float and red-zone free);
# -Zplt=yes because 6.1's module loader rejects the GOTPCREL relocations
# calls to memcpy & co. get otherwise.
flags=(-C panic=abort -C code-model=kernel -C relocation-model=static
       -C force-frame-pointers=yes -C opt-level=2 -C debug-assertions=no
       -C overflow-checks=no -C embed-bitcode=no -C lto=no
       -C force-unwind-tables=no -C symbol-mangling-version=v0)

if kconfig_on RETPOLINE MITIGATION_RETPOLINE X86_KERNEL_IBT; then
    flags+=(-C jump-tables=no)
fi
if kconfig_on RETPOLINE MITIGATION_RETPOLINE; then
    flags+=(-Zretpoline-external-thunk)
fi
if kconfig_on RETHUNK MITIGATION_RETHUNK; then
    flags+=(-Zfunction-return=thunk-extern)
fi
flags+=(-Zfunction-sections=no -Zplt=yes)
if kconfig_on X86_KERNEL_IBT; then
    flags+=(-Zcf-protection=branch)
fi
if kconfig_on CALL_PADDING; then
    n=$(kconfig_val FUNCTION_PADDING_BYTES)
    [[ $n =~ ^[0-9]+$ ]] || { echo "kernel-rustflags: CONFIG_CALL_PADDING without a FUNCTION_PADDING_BYTES" >&2; exit 1; }
    flags+=("-Zpatchable-function-entry=$n,$n")
fi
echo "${flags[*]}"
