#!/bin/bash
# Print the release of the newest installed Debian kernel that has both
# /boot/vmlinuz-$KVER and /lib/modules/$KVER/build (image + headers).
# The host may run another kernel: `uname -r` is deliberately not used.
# Exit 1 (nothing printed) when there is none.
set -euo pipefail
best=
for img in /boot/vmlinuz-*; do
    [ -e "$img" ] || continue
    v=${img#/boot/vmlinuz-}
    [ -d "/lib/modules/$v/build" ] || continue
    best+="$v"$'\n'
done
[ -n "$best" ] || { echo "kver: no kernel with both /boot/vmlinuz-\$KVER and /lib/modules/\$KVER/build" >&2; exit 1; }
printf '%s' "$best" | sort -V | tail -n 1
