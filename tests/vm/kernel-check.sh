# Sourced (not run) by tests/vm/guest-suite.sh and tests/docker/guest-docker.sh:
# what makes the kernel "not clean" after a test, in one place.
#
# The caller sets KLOG (every kernel line seen is appended there) and
# TAINT_BASE (the taint flags already reported), and reports the result its
# own way.

# Kernel log lines that mean the kernel is not clean.
BAD_RE='Oops|BUG:|kernel BUG|WARNING:|Call Trace|possible circular locking|possible recursive locking|INFO: |KASAN|UBSAN|general protection|Kernel panic|stack-protector|list_add corruption|list_del corruption|refcount_t:|Bad page|soft lockup|hard LOCKUP|blocked for more than|unreferenced object|kernel NULL pointer|unable to handle'
ALLOWED_TAINT=$((4096 | 8192))  # O: out-of-tree module, E: unsigned module

# New kernel lines since the last call (also appended to $KLOG).
new_kernel_lines() {
    dmesg -c 2>/dev/null | tee -a "$KLOG"
}

taint() { cat /proc/sys/kernel/tainted; }

# kernel_news: what the kernel said since the last call.  Sets KNEWS_TAINT
# (the taint flags now) and KNEWS_PROBLEMS, empty when the kernel is clean:
# a line for new taint flags beyond ALLOWED_TAINT, then the new log from the
# first offending line on (the backtrace usually follows), at most 60 lines.
# A new flag is reported once: TAINT_BASE takes it in.
kernel_news() {
    local lines first new l
    lines=$(new_kernel_lines)
    KNEWS_TAINT=$(taint)
    new=$(( KNEWS_TAINT & ~TAINT_BASE & ~ALLOWED_TAINT ))
    KNEWS_PROBLEMS=()
    [ "$new" = 0 ] ||
        KNEWS_PROBLEMS+=("new taint flags: $new (tainted=$KNEWS_TAINT, baseline=$TAINT_BASE)")
    first=$(printf '%s\n' "$lines" | grep -nE "$BAD_RE" | head -n 1 | cut -d: -f1)
    if [ -n "$first" ]; then
        while IFS= read -r l; do KNEWS_PROBLEMS+=("$l"); done < <(printf '%s\n' "$lines" | tail -n +"$first" | head -n 60)
    fi
    TAINT_BASE=$((TAINT_BASE | KNEWS_TAINT))
}
