#!/bin/bash
# The Debian kernels this machine can build for and boot: every release that
# has both /boot/vmlinuz-$KVER and /lib/modules/$KVER/build (image + headers).
#
#   scripts/kver.sh            every such release, one per line, oldest first
#   scripts/kver.sh --default  the one release single-kernel targets use
#                              (make demo, make bench, scripts/vm-run.sh
#                              without --kver): the newest
#
# The host may run another kernel: `uname -r` is deliberately not used.
# Exit 1 (nothing on stdout) when there is none.
set -euo pipefail
all=
for img in /boot/vmlinuz-*; do
    [ -e "$img" ] || continue
    v=${img#/boot/vmlinuz-}
    [ -e "/lib/modules/$v/build/Makefile" ] || continue
    all+="$v"$'\n'
done
[ -n "$all" ] || { echo "kver: no kernel with both /boot/vmlinuz-\$KVER and /lib/modules/\$KVER/build" >&2; exit 1; }
case ${1-} in
    '') printf '%s' "$all" | sort -V ;;
    --default) printf '%s' "$all" | sort -V | tail -n 1 ;;
    *) echo "usage: $0 [--default]" >&2; exit 2 ;;
esac
