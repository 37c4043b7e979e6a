#!/bin/bash
# `make install` / `make uninstall`: aufs as an out-of-tree module.
#
#   install.sh install|uninstall      (environment: DESTDIR, prefix)
#
# install: every aufs.ko built in the tree (build/kmod/<release>/aufs.ko)
# into /lib/modules/<release>/updates/, the release checked against the
# module's own vermagic, then `depmod <release>`; aubr (any user may run
# it), auplink and auchk (root's tools) into $prefix/bin, aufs(5), aubr(8),
# auplink(8) and auchk(8) into $prefix/share/man.  Nothing is built here: `make` first.
# uninstall: removes those files (the module from every kernel's updates/,
# not DKMS's updates/dkms/), and runs depmod again.
# With DESTDIR (a staging root) depmod is left to whoever installs that.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
prefix=${prefix:-/usr/local}
BIN=$DESTDIR$prefix/bin
MAN=$DESTDIR$prefix/share/man
AUBR=$ROOT/target/release/aubr
AUPLINK=$ROOT/target/release/auplink
AUCHK=$ROOT/target/release/auchk

die() { echo "install: $*" >&2; exit 1; }

run_depmod() {
    if [ -z "$DESTDIR" ]; then
        depmod "$1"
    fi
}

case ${1:-} in
install)
    for b in "$AUBR" "$AUPLINK" "$AUCHK"; do
        [ -x "$b" ] || die "$b missing: run make first"
    done
    declare -A done=()
    for ko in "$ROOT"/build/kmod/*/aufs.ko; do
        [ -f "$ko" ] || continue
        rel=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
        dir=$(basename "$(dirname "$ko")")
        [ "$rel" = "$dir" ] || die "$ko: built for '$rel', not for $dir"
        if [ -z "$DESTDIR" ] && [ ! -d "/lib/modules/$rel" ]; then
            echo "install: $ko is for kernel $rel, which is not installed; skipped" >&2
            continue
        fi
        install -D -m 644 "$ko" "$DESTDIR/lib/modules/$rel/updates/aufs.ko"
        echo "install: $DESTDIR/lib/modules/$rel/updates/aufs.ko"
        run_depmod "$rel"
        done[$rel]=1
    done
    [ "${#done[@]}" -gt 0 ] || die "no aufs.ko built: run make first"
    install -D -m 755 "$AUBR" "$BIN/aubr"
    install -D -m 755 "$AUPLINK" "$BIN/auplink"
    install -D -m 755 "$AUCHK" "$BIN/auchk"
    install -D -m 644 "$ROOT/build/man/aufs.5" "$MAN/man5/aufs.5"
    for t in aubr auplink auchk; do
        install -D -m 644 "$ROOT/build/man/$t.8" "$MAN/man8/$t.8"
    done
    echo "install: $BIN/aubr, $BIN/auplink, $BIN/auchk, $MAN/man5/aufs.5, $MAN/man8/{aubr,auplink,auchk}.8"
    ;;
uninstall)
    for ko in "$DESTDIR"/lib/modules/*/updates/aufs.ko; do
        [ -f "$ko" ] || continue
        rel=${ko#"$DESTDIR"/lib/modules/}
        rel=${rel%%/*}
        rm -f "$ko"
        rmdir --ignore-fail-on-non-empty "$(dirname "$ko")"
        echo "uninstall: removed $ko"
        run_depmod "$rel"
    done
    rm -f "$BIN/aubr" "$BIN/auplink" "$BIN/auchk" "$MAN/man5/aufs.5" \
        "$MAN/man8/aubr.8" "$MAN/man8/auplink.8" "$MAN/man8/auchk.8"
    echo "uninstall: removed $BIN/aubr, $BIN/auplink, $BIN/auchk, $MAN/man5/aufs.5, $MAN/man8/{aubr,auplink,auchk}.8"
    ;;
*)
    die "usage: install.sh install|uninstall"
    ;;
esac
