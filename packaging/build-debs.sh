#!/bin/bash
# Build the two Debian packages from a staged tree with dpkg-deb:
#
#   aufs-dkms   the module's source in /usr/src/aufs-<version>/, built and
#               installed by DKMS for each installed kernel (dkms.conf)
#   aufs-tools  /usr/bin/aubr, auplink and auchk, their man pages (8) and aufs(5)
#
#   usage: packaging/build-debs.sh OUTDIR      (make deb: OUTDIR=build/deb)
#
# Needs the release build of the tools (target/release/{aubr,auplink,auchk}) and the man pages
# (build/man/); `make deb` makes both first.  Reads only the repository's
# sources, never its build outputs (kmod/*.o, build/kmod/...): a module
# build in the tree is neither used nor disturbed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG=$ROOT/packaging
OUT=${1:?usage: build-debs.sh OUTDIR}
MAN=$ROOT/build/man

die() { echo "build-debs: $*" >&2; exit 1; }

VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["package"]["version"])' \
    "$ROOT/Cargo.toml")
# The changelog's newest entry is the package version: one number, two files
# that must agree.
clver=$(sed -n '1s/^aufs (\([^)]*\)).*/\1/p' "$PKG/changelog")
[ "$clver" = "$VERSION" ] || die "packaging/changelog's newest entry is $clver, Cargo.toml says $VERSION"
MAINTAINER=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$PKG/changelog" | head -n 1)
# Every file's time is the changelog's: the same sources give the same .deb.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' "$PKG/changelog" | head -n 1)" +%s)
export SOURCE_DATE_EPOCH

TOOLS="aubr auplink auchk"
for t in $TOOLS; do
    [ -x "$ROOT/target/release/$t" ] || die "target/release/$t missing (cargo build --release -p aufs-sysfs-tools)"
    [ -f "$MAN/$t.8" ] || die "$MAN/$t.8 missing (make man)"
done
[ -f "$MAN/aufs.5" ] || die "$MAN/aufs.5 missing (make man)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE=$OUT/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"

# --- helpers ---------------------------------------------------------------

# install_doc PKGDIR NAME: copyright and changelog as Debian wants them.
install_doc() {
    local d=$1/usr/share/doc/$2
    install -d "$d"
    install -m 644 "$STAGE/copyright-$2" "$d/copyright"
    gzip -9n <"$PKG/changelog" >"$d/changelog.gz"
    chmod 644 "$d/changelog.gz"
}

# finish PKGDIR: md5sums, Installed-Size, times, permissions, then the .deb.
finish() {
    local dir=$1 name size
    name=$(sed -n 's/^Package: //p' "$dir/DEBIAN/control")
    (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0r md5sum) >"$dir/DEBIAN/md5sums"
    chmod 644 "$dir/DEBIAN/md5sums" "$dir/DEBIAN/control"
    size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
    sed -i "s/@INSTALLED_SIZE@/$size/" "$dir/DEBIAN/control"
    find "$dir" -type d -exec chmod 755 {} +
    find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    rm -f "$OUT/${name}_"*.deb
    dpkg-deb --root-owner-group -Zxz --build "$dir" "$OUT/${name}_${VERSION}_amd64.deb" >/dev/null
    echo "build-debs: $OUT/${name}_${VERSION}_amd64.deb"
}

# control TEMPLATE DEST [DEPENDS]: fill in the control file's variables.
control() {
    sed -e "s/@VERSION@/$VERSION/g" -e "s|@MAINTAINER@|$MAINTAINER|g" \
        -e "s/@DEPENDS@/${3:-}/g" "$1" >"$2"
}

# --- aufs-dkms ---------------------------------------------------------------

D=$STAGE/aufs-dkms
SRC=$D/usr/src/aufs-$VERSION
install -d "$SRC" "$D/DEBIAN"

# What the kernel object and the module need, and nothing else: the core's
# sources, the C shim, the scripts rust-kobj.sh and Kbuild run (and those
# they run or read, found by name, so that a new helper script comes along
# without a change here), and the ABI bindings.
(cd "$ROOT" && for f in src/*.rs src/*/*.rs kmod/*.c kmod/*.h kmod/Kbuild; do
    case $f in *.mod.c) continue ;; esac   # Kbuild's output in a built tree
    install -D -m 644 "$f" "$SRC/$f"
done)
scripts=(rust-kobj.sh) new=(rust-kobj.sh)
while [ "${#new[@]}" -gt 0 ]; do
    refs=$(cd "$ROOT/scripts" && { grep -ohE '[A-Za-z0-9_-]+\.(sh|rs)' "${new[@]}" "$ROOT/kmod/Kbuild" || true; } | sort -u)
    new=()
    for f in $refs; do
        [ -f "$ROOT/scripts/$f" ] || continue
        case " ${scripts[*]} " in *" $f "*) continue ;; esac
        scripts+=("$f") new+=("$f")
    done
done
for f in "${scripts[@]}"; do
    if [ -x "$ROOT/scripts/$f" ]; then mode=755; else mode=644; fi
    install -D -m "$mode" "$ROOT/scripts/$f" "$SRC/scripts/$f"
done
echo "build-debs: scripts in aufs-dkms: ${scripts[*]}"
install -m 644 "$PKG/dkms.mk" "$PKG/abi-prebuilt.rs" "$SRC/"
sed "s/@VERSION@/$VERSION/" "$PKG/dkms.conf.in" >"$SRC/dkms.conf"
chmod 644 "$SRC/dkms.conf"
python3 "$PKG/dkms-manifest.py" "$ROOT/Cargo.toml" abi-prebuilt.rs >"$SRC/Cargo.toml"

# The bindings: build.rs's output for this header, taken from a host build
# of the core (the same bindgen call as for the kernel target; the layout
# assertions in them are checked again when DKMS compiles them).
outdir=$(cd "$ROOT" && cargo build --quiet -p aufs --lib --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "build-script-executed" and "#aufs@" in m["package_id"]:
        print(m["out_dir"])')
[ -n "$outdir" ] && [ -f "$outdir/abi.rs" ] || die "no abi.rs from the host build of the core"
install -D -m 644 "$outdir/abi.rs" "$SRC/prebuilt/abi.rs"
(cd "$SRC" && sha256sum kmod/aufs_abi.h) >"$SRC/prebuilt/aufs_abi.h.sha256"

python3 "$PKG/copyright-crates.py" "$PKG/copyright.in" "" >"$STAGE/copyright-aufs-dkms"
install_doc "$D" aufs-dkms
control "$PKG/control.aufs-dkms" "$D/DEBIAN/control"
for s in postinst prerm; do
    sed "s/@VERSION@/$VERSION/g" "$PKG/aufs-dkms.$s" >"$D/DEBIAN/$s"
    chmod 755 "$D/DEBIAN/$s"
done
finish "$D"

# --- aufs-tools --------------------------------------------------------------

T=$STAGE/aufs-tools
install -d "$T/DEBIAN" "$T/usr/bin" "$T/usr/share/man/man5" "$T/usr/share/man/man8"
for t in $TOOLS; do
    install -m 755 "$ROOT/target/release/$t" "$T/usr/bin/$t"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$T/usr/bin/$t"
    gzip -9n <"$MAN/$t.8" >"$T/usr/share/man/man8/$t.8.gz"
    chmod 644 "$T/usr/share/man/man8/$t.8.gz"
done
gzip -9n <"$MAN/aufs.5" >"$T/usr/share/man/man5/aufs.5.gz"
chmod 644 "$T/usr/share/man/man5/aufs.5.gz"

# The copyright file names the crates linked into the tools and their licenses.
crates=$(cd "$ROOT" && cargo tree --quiet --offline -p aufs-sysfs-tools -e normal,no-proc-macro --prefix none \
    --format "{p}|{l}" | grep -v "^aufs-sysfs-tools " | LC_ALL=C sort -u)
python3 "$PKG/copyright-crates.py" "$PKG/copyright.in" "$crates" >"$STAGE/copyright-aufs-tools"
install_doc "$T" aufs-tools

# Shared-library dependencies as dpkg-shlibdeps computes them (it wants a
# debian/control next to it).
mkdir -p "$STAGE/shlibdeps/debian"
printf 'Source: aufs\n\nPackage: aufs-tools\nArchitecture: amd64\n' >"$STAGE/shlibdeps/debian/control"
shlibs=$(cd "$STAGE/shlibdeps" && dpkg-shlibdeps -O --warnings=0 "$T"/usr/bin/{aubr,auplink,auchk} |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependency of aubr"
control "$PKG/control.aufs-tools" "$T/DEBIAN/control" "$shlibs"
finish "$T"
