#!/bin/bash
# Run a command as root inside a throw-away VM booted from Debian's kernel.
#
#   scripts/vm-run.sh [--timeout SECS] [--memory SIZE] [--cpus N] [--kver RELEASE | --kernel IMAGE] -- COMMAND [ARG...]
#
# virtme-ng (build/venv, made by scripts/setup.sh) boots /boot/vmlinuz-$KVER
# under QEMU TCG (KVM does not work on our machines) with the host's root
# filesystem shared read-only, so the repository is visible at its host path;
# /tmp, /usr, /var, /etc, ... are writable overlays inside the guest.
# The guest starts in the current directory.
#
# Exit status: the command's own exit status (vng propagates it); 255 when
# the guest kernel panicked (QEMU exits on the reboot); 124 on timeout
# (default 1800 s, then everything in the VM's process group is killed).
# Works with no terminal and stdin from /dev/null.  The guest console (kernel
# messages, vng/QEMU errors) is written to $VM_CONSOLE_LOG (default
# build/vm-console.log) and shown on stderr when the guest dies.
#
# --kver RELEASE boots /boot/vmlinuz-RELEASE (one of `scripts/kver.sh`);
# without it, `scripts/kver.sh --default`.  --kernel IMAGE boots that bzImage
# instead (make test-debug: its debug kernel, with everything the VM needs
# built in).
#
# The command travels on the kernel command line (base64): keep it short,
# put long logic in a script.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=1800
MEMORY=2G
CPUS=2
KIMG=
KVER=

usage() {
    echo "usage: $0 [--timeout SECS] [--memory SIZE] [--cpus N] [--kver RELEASE | --kernel IMAGE] -- COMMAND [ARG...]" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --memory) [ $# -ge 2 ] || usage; MEMORY=$2; shift 2 ;;
        --cpus) [ $# -ge 2 ] || usage; CPUS=$2; shift 2 ;;
        --kernel) [ $# -ge 2 ] || usage; KIMG=$2; shift 2 ;;
        --kver) [ $# -ge 2 ] || usage; KVER=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[ $# -gt 0 ] || usage
case $TIMEOUT in ''|*[!0-9]*) echo "vm-run: bad --timeout '$TIMEOUT'" >&2; exit 2 ;; esac

if [ -z "$KIMG" ]; then
    if [ -z "$KVER" ]; then
        KVER=$("$ROOT/scripts/kver.sh" --default) || { echo "vm-run: no usable kernel; run scripts/setup.sh" >&2; exit 1; }
    fi
    KIMG=/boot/vmlinuz-$KVER
    [ -e "$KIMG" ] || { echo "vm-run: no $KIMG (installed: $("$ROOT/scripts/kver.sh" | tr '\n' ' '))" >&2; exit 1; }
fi
VENV=$ROOT/build/venv
if [ ! -x "$VENV/bin/vng" ] || [ ! -x "$VENV/bin/virtme-run" ]; then
    echo "vm-run: $VENV/bin/vng missing; run scripts/setup.sh" >&2
    exit 1
fi
[ -r "$KIMG" ] || { echo "vm-run: cannot read $KIMG (Debian makes it root-only; run as root)" >&2; exit 1; }

# vng runs virtme-run by name.
export PATH=$VENV/bin:$PATH

# One shell-quoted string for the guest shell.
cmd=$(printf '%q ' "$@")

# With --verbose, vng sends the guest's console (kernel messages) and the
# command's stderr to our stderr; the command's stdout stays on stdout.
# All of that stderr goes to a log file; the lines that are not kernel
# messages (the command's stderr, vng/QEMU errors) also to our stderr.  When
# the guest dies, the end of the log is printed.
CONSOLE_LOG=${VM_CONSOLE_LOG:-$ROOT/build/vm-console.log}
mkdir -p "$(dirname "$CONSOLE_LOG")"
: >"$CONSOLE_LOG"

exec 3> >(tee "$CONSOLE_LOG" |
          grep --line-buffered -vE '^\[ *[0-9]+\.[0-9]+\]|^(Probing EDD|Memory KASLR|Poking KASLR)' >&2)
filter=$!

start=$(date +%s)
rc=0
# --force-9p: the host root over 9p (virtiofsd cannot start here; vng would
# wait for it several seconds before falling back to 9p anyway).
# The guest's output goes through a pipe: QEMU opens its console output
# anew, and on a regular file (make test > log) that would truncate
# everything written before the VM started.
timeout --kill-after=20 "$TIMEOUT" \
    vng --run "$KIMG" --disable-kvm --force-9p --verbose --memory "$MEMORY" --cpus "$CPUS" \
        --exec "$cmd" </dev/null 2>&3 | cat || rc=${PIPESTATUS[0]}
exec 3>&-
wait "$filter" 2>/dev/null || true
end=$(date +%s)

show_console() {
    local first
    echo "vm-run: guest console ($CONSOLE_LOG):" >&2
    first=$(grep -nE 'Oops|BUG:|kernel BUG|Kernel panic|general protection|WARNING:|Call Trace' "$CONSOLE_LOG" |
            head -n 1 | cut -d: -f1) || true
    if [ -n "$first" ]; then
        tail -n +"$((first > 20 ? first - 20 : 1))" "$CONSOLE_LOG" | head -n 200 >&2
    else
        tail -n 60 "$CONSOLE_LOG" >&2
    fi
}

if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ $((end - start)) -ge "$TIMEOUT" ]; then
    echo "vm-run: TIMEOUT after ${TIMEOUT}s (VM killed)" >&2
    show_console
    rc=124
elif [ "$rc" = 255 ]; then
    echo "vm-run: status 255: guest kernel panic, QEMU failure, or the command exited 255" >&2
    show_console
fi
# Nothing is printed after a normal end, so that the command's last line
# (e.g. the suite's "N passed, N failed") stays the last line of the log.
[ -z "${VM_RUN_VERBOSE:-}" ] || echo "vm-run: status $rc after $((end - start))s (console: $CONSOLE_LOG)" >&2
exit "$rc"
