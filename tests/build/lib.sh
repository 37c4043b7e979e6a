# Sourced (not run) by the build tests tests/build/t_*.sh: TAP output in
# the kselftest style, and kernel trees made of a configuration only.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAP_N=0 TAP_PASS=0 TAP_FAIL=0 TAP_SKIP=0

tap_plan() { echo "TAP version 13"; echo "1..$1"; }
ok() { TAP_N=$((TAP_N + 1)); TAP_PASS=$((TAP_PASS + 1)); echo "ok $TAP_N $*"; }
not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAIL=$((TAP_FAIL + 1)); echo "not ok $TAP_N $*"; }
skip() { TAP_N=$((TAP_N + 1)); TAP_SKIP=$((TAP_SKIP + 1)); echo "ok $TAP_N # SKIP $*"; }
# Indented diagnostics, as TAP comments.
diag() { sed 's/^/# /'; }
# The totals line and the exit code: 0 pass, 1 fail, 4 all skipped.
tap_done() {
    echo "# Totals: pass:$TAP_PASS fail:$TAP_FAIL xfail:0 xpass:0 skip:$TAP_SKIP error:0"
    [ "$TAP_FAIL" = 0 ] || exit 1
    [ "$TAP_PASS" != 0 ] || exit 4
    exit 0
}

# fake_kdir DIR SYM=VAL...: a "kernel tree" that is only a configuration
# (include/config/auto.conf), enough for kernel-rustflags.sh and
# kernel-objtool.sh.  Without CONFIG_OBJTOOL, rust-kobj.sh needs nothing
# else from it.
fake_kdir() {
    local dir=$1; shift
    mkdir -p "$dir/include/config"
    printf 'CONFIG_%s\n' "$@" >"$dir/include/config/auto.conf"
}

# What Debian's 6.1 and 6.12 configurations give the Rust flags (checked by
# t_endbr.sh against the installed kernels), without objtool.  Objects built
# for them share the real kernels' cached sysroots and cargo directories.
CONFIG_LIKE_61=(X86_64=y RETPOLINE=y RETHUNK=y SLS=y)
CONFIG_LIKE_612=(X86_64=y MITIGATION_RETPOLINE=y MITIGATION_RETHUNK=y MITIGATION_SLS=y
                 X86_KERNEL_IBT=y CALL_PADDING=y FUNCTION_PADDING_BYTES=16)
