#!/bin/bash
# How Kbuild runs objtool on a module built for the kernel in KDIR, derived
# from that kernel's configuration the way its scripts/Makefile.lib and
# scripts/Makefile.build derive it (6.1 and 6.12).
#   usage: kernel-objtool.sh --mode KDIR   print where objtool runs:
#            none     CONFIG_OBJTOOL is off: nowhere
#            object   once per object (6.1 without IBT): Kbuild does it for
#                     the C objects, never for a prebuilt one, so
#                     rust-kobj.sh runs it on the Rust object
#            module   once over the linked module object (IBT or Clang LTO:
#                     Kbuild's "delay-objtool"); the Rust object must reach
#                     Kbuild unprocessed, or that pass skips the whole module
#          kernel-objtool.sh --args KDIR   print the arguments Kbuild gives
#            objtool for an object of a module (the file name follows them)
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 --mode|--args KDIR" >&2; exit 2; }
what=$1 kdir=$2
# shellcheck source=scripts/kconfig.sh
. "$(dirname "$0")/kconfig.sh"
kconfig_load "$kdir"

# Kbuild's delay-objtool: with IBT, objtool must see every address-taken
# function of the module at once to know which ENDBRs it may seal.
delayed=
kconfig_on LTO_CLANG X86_KERNEL_IBT && delayed=y

case $what in
--mode)
    if ! kconfig_on OBJTOOL; then echo none
    elif [ -n "$delayed" ]; then echo module
    else echo object
    fi
    exit 0 ;;
--args) ;;
*) echo "usage: $0 --mode|--args KDIR" >&2; exit 2 ;;
esac

# objtool-args-y, in Kbuild's order.  The names with MITIGATION_ are 6.9+,
# the ones without 6.1's.
a=()
kconfig_on HAVE_JUMP_LABEL_HACK && a+=(--hacks=jump_label)
kconfig_on HAVE_NOINSTR_HACK && a+=(--hacks=noinstr)
kconfig_on MITIGATION_CALL_DEPTH_TRACKING && a+=(--hacks=skylake)
kconfig_on X86_KERNEL_IBT && a+=(--ibt)
kconfig_on FINEIBT && a+=(--cfi)
if kconfig_on FTRACE_MCOUNT_USE_OBJTOOL; then
    a+=(--mcount)
    kconfig_on HAVE_OBJTOOL_NOP_MCOUNT && a+=(--mnop)
fi
kconfig_on UNWINDER_ORC && a+=(--orc)
kconfig_on RETPOLINE MITIGATION_RETPOLINE && a+=(--retpoline)
kconfig_on RETHUNK MITIGATION_RETHUNK && a+=(--rethunk)
kconfig_on SLS MITIGATION_SLS && a+=(--sls)
kconfig_on STACK_VALIDATION && a+=(--stackval)
kconfig_on HAVE_STATIC_CALL_INLINE && a+=(--static-call)
kconfig_on HAVE_UACCESS_VALIDATION && a+=(--uaccess)
kconfig_on GCOV_KERNEL KCOV && a+=(--no-unreachable)
kconfig_on PREFIX_SYMBOLS && a+=("--prefix=$(kconfig_val FUNCTION_PADDING_BYTES)")
[ -n "$delayed" ] && a+=(--link)
a+=(--module)
echo "${a[*]}"
