#!/bin/bash
# The Debian packages end to end (make test-packaging; root):
#
#   1. dpkg -i aufs-dkms aufs-tools (build/deb/, made by make deb): DKMS
#      builds and installs the module for every installed kernel;
#   2. on the host: dkms status, the module in updates/dkms/ of each kernel,
#      the tool and man pages in place; the kernel package's DKMS hook
#      builds the module again (as for a kernel upgrade);
#   3. one VM per kernel (scripts/vm-run.sh; the guest sees the host's root
#      filesystem, so what dpkg installed): modprobe aufs loads that module,
#      a union mounts, aubr shows it, modprobe -r unloads it
#      (tests/packaging/guest.sh);
#   4. dpkg -r, dpkg --purge: nothing left in /lib/modules/*/updates,
#      /usr/src, /var/lib/dkms, nor any file the packages had;
#   5. lintian (when installed), the man pages (check-man.sh), make
#      install/uninstall into a staging directory.
#
# Compiling happens on the host (DKMS), never in the emulated VM (about ten
# times slower).  TAP lines "ok N - ..." / "not ok N - ..."; the last line
# is "N passed, N failed".  Whatever happens, the packages are purged and
# DKMS's tree is as before when it ends (trap); a module build in the
# repository is not touched (DKMS builds in its own copy of /usr/src).
# Not root: skips, saying why.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEB_DIR=${DEB_DIR:-$ROOT/build/deb}
LOG_DIR=$ROOT/build/test-packaging
PKGS=(aufs-tools aufs-dkms)
# dpkg as apt runs it: a plain PATH (no rustup toolchain from our shell),
# no terminal.
DPKG=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
      DEBIAN_FRONTEND=noninteractive dpkg)

n=0 passed=0 failed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
comment() { sed 's/^/#   /'; }
check() {   # check DESCRIPTION COMMAND...
    local what=$1 out; shift
    if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what"; printf '%s\n' "$out" | tail -n 20 | comment; fi
}
empty() {   # empty DESCRIPTION VALUE: ok when VALUE is empty, else shows it
    if [ -z "$2" ]; then ok "$1"; else not_ok "$1"; printf '%s\n' "$2" | head -n 20 | comment; fi
}
# relay: the "ok - ..." / "not ok - ..." lines of a sub-check, numbered here.
relay() {
    local line
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - }" ;;
            "not ok - "*) not_ok "${line#not ok - }" ;;
            "#"*) echo "$line" ;;
        esac
    done
}
skip_all() { echo "1..0 # SKIP $*"; echo "0 passed, 0 failed"; exit 0; }

[ "$(id -u)" = 0 ] || skip_all "not root: dpkg -i, DKMS and the VMs need root"
for tool in dpkg-deb dkms /usr/bin/cargo /usr/bin/rustc; do
    command -v "$tool" >/dev/null || skip_all "$tool missing: run scripts/setup.sh (make test-packaging does)"
done

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
DKMS_DEB=$DEB_DIR/aufs-dkms_${VERSION}_amd64.deb
TOOLS_DEB=$DEB_DIR/aufs-tools_${VERSION}_amd64.deb
mkdir -p "$LOG_DIR"

installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.[^n]'; }

finished=0
finish() {
    finished=1
    echo "1..$n"
    echo "$passed passed, $failed failed"
    exit $((failed > 0))
}

for p in "${PKGS[@]}"; do
    if installed "$p"; then
        # Someone's installation, or an earlier run killed hard: not ours to
        # remove.
        not_ok "$p is not installed before the test (it is: dpkg --purge ${PKGS[*]} first)"
        finish
    fi
done
[ -f "$DKMS_DEB" ] && [ -f "$TOOLS_DEB" ] || { not_ok "packages in $DEB_DIR (make deb)"; finish; }

# The kernels to test: every installed one with image and headers (what
# scripts/kver.sh looks for, all of them).
KERNELS=()
for img in /boot/vmlinuz-*; do
    k=${img#/boot/vmlinuz-}
    [ -d "/lib/modules/$k/build" ] && KERNELS+=("$k")
done
[ "${#KERNELS[@]}" -gt 0 ] || { not_ok "an installed kernel with headers"; finish; }
echo "# kernels: ${KERNELS[*]}"

# What the machine looks like before, to compare after the purge.
snapshot() {
    { find /lib/modules/*/updates /usr/src /var/lib/dkms -xdev 2>/dev/null || true; } | LC_ALL=C sort
}
before=$(snapshot)
# The repository's module build, if any: neither used nor touched.
tree_state() {
    (cd "$ROOT" && find kmod build/kmod build/aufs_rust.o -xdev -printf '%p %s %T@\n' 2>/dev/null || true) |
        LC_ALL=C sort | md5sum
}
tree_before=$(tree_state)
mok_before=$( [ -e /var/lib/dkms/mok.key ] && echo yes || echo no)
dkms_tree_before=$( [ -e /var/lib/dkms/aufs ] && echo yes || echo no)

# Idempotent, quiet (its output goes to the log): also the trap's.
cleanup() {
    {
        for p in "${PKGS[@]}"; do
            installed "$p" && "${DPKG[@]}" --purge "$p" || true
        done
        # A postinst that died halfway can leave DKMS's tree behind.
        if [ "$dkms_tree_before" = no ] && [ -e /var/lib/dkms/aufs ]; then
            dkms remove -m aufs -v "$VERSION" --all || true
            rm -rf /var/lib/dkms/aufs
        fi
        # DKMS made a signing key for its first module: ours to remove.
        if [ "$mok_before" = no ]; then
            rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
        fi
        for k in "${KERNELS[@]}"; do
            rmdir --ignore-fail-on-non-empty "/lib/modules/$k/updates/dkms" "/lib/modules/$k/updates" 2>/dev/null || true
        done
    } >>"$LOG_DIR/cleanup.log" 2>&1
}
# An unexpected end still cleans up and still ends with the count.
trap 'cleanup; [ "$finished" = 1 ] || { not_ok "the test ran to its end"; echo "1..$n"; echo "$passed passed, $failed failed"; }' EXIT

# --- 1. install -------------------------------------------------------------

start=$(date +%s)
if "${DPKG[@]}" -i "$DKMS_DEB" "$TOOLS_DEB" >"$LOG_DIR/dpkg-install.log" 2>&1; then
    ok "dpkg -i aufs-dkms aufs-tools ($(($(date +%s) - start)) s, DKMS included)"
else
    not_ok "dpkg -i aufs-dkms aufs-tools ($(($(date +%s) - start)) s; log: $LOG_DIR/dpkg-install.log)"
    grep -E '^(Error|aufs-dkms|dpkg: error)' "$LOG_DIR/dpkg-install.log" | comment
    # The build log of the last failed kernel, before DKMS's next build or
    # the removal deletes it.
    cp /var/lib/dkms/aufs/"$VERSION"/build/make.log "$LOG_DIR/dkms-make-failed.log" 2>/dev/null &&
        echo "#   DKMS's make.log: $LOG_DIR/dkms-make-failed.log"
fi
files=$(dpkg-query -L "${PKGS[@]}" 2>/dev/null | LC_ALL=C sort -u)

# --- 2. on the host ---------------------------------------------------------

check "aufs-tools: /usr/bin/aubr runs" /usr/bin/aubr --version
check "aufs-tools: /usr/bin/auplink runs" /usr/bin/auplink --version
check "aufs-tools: /usr/bin/auchk runs" /usr/bin/auchk --version
for page in man5/aufs.5 man8/aubr.8 man8/auplink.8 man8/auchk.8; do
    f=/usr/share/man/$page.gz
    check "aufs-tools: $f renders without warnings" \
        sh -c "test -f $f && out=\$(MANWIDTH=80 man --warnings -E UTF-8 -l $f 2>&1 >/dev/null) && test -z \"\$out\" || { echo \"\$out\"; exit 1; }"
done
check "aufs-dkms: /usr/src/aufs-$VERSION/dkms.conf" test -f "/usr/src/aufs-$VERSION/dkms.conf"

good=()
for k in "${KERNELS[@]}"; do
    # (dkms prints readelf's complaints about 6.12's vmlinux on stderr.)
    st=$(dkms status -m aufs -v "$VERSION" -k "$k" 2>/dev/null || true)
    # DKMS compresses the module as the kernel's own are (6.12: aufs.ko.xz).
    ko=$(modinfo -k "$k" -n aufs 2>/dev/null || true)
    if [[ $st == *": installed"* ]] && [[ $ko == /lib/modules/$k/updates/dkms/aufs.ko* ]] &&
       [ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$k" ]; then
        ok "$k: dkms status '$st', modinfo -k $k -n aufs is $ko"
        good+=("$k")
    else
        not_ok "$k: DKMS built and installed the module (dkms status: '${st:-nothing}')"
    fi
done

# A kernel upgrade: the kernel package's hook rebuilds the module for the
# new kernel (AUTOINSTALL).  Played on the first kernel that has it: its
# module taken out (uninstalled, its build deleted), then the hook run as
# the kernel's postinst runs it.  The VM then loads the module the hook built.
if [ "${#good[@]}" -gt 0 ]; then
    k=${good[0]}
    # (dkms remove would drop the whole module when no other kernel has it;
    # uninstall keeps it registered, and without its build it is "added".)
    dkms uninstall -m aufs -v "$VERSION" -k "$k" >>"$LOG_DIR/autoinstall.log" 2>&1 || true
    rm -rf "/var/lib/dkms/aufs/$VERSION/$k"
    start=$(date +%s)
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        /etc/kernel/postinst.d/dkms "$k" >>"$LOG_DIR/autoinstall.log" 2>&1 || true
    st=$(dkms status -m aufs -v "$VERSION" -k "$k" 2>/dev/null || true)
    check "$k: the kernel's postinst hook (/etc/kernel/postinst.d/dkms) builds and installs it again ($(($(date +%s) - start)) s)" \
        sh -c "case '$st' in *': installed'*) ls /lib/modules/$k/updates/dkms/aufs.ko* ;; *) echo '$st'; exit 1 ;; esac"
fi

# --- 3. one VM per kernel ---------------------------------------------------

for k in "${KERNELS[@]}"; do
    if [[ " ${good[*]-} " != *" $k "* ]]; then
        not_ok "$k: modprobe, mount and aubr in a VM (not run: no module installed for $k)"
        continue
    fi
    start=$(date +%s)
    rc=0
    VM_CONSOLE_LOG=$LOG_DIR/vm-$k.log "$ROOT/scripts/vm-run.sh" --timeout 600 \
        --kernel "/boot/vmlinuz-$k" -- "$ROOT/tests/packaging/guest.sh" "$k" \
        >"$LOG_DIR/guest-$k.out" 2>>"$LOG_DIR/vm-$k.stderr" || rc=$?
    relay <"$LOG_DIR/guest-$k.out"
    if [ "$rc" = 0 ] && grep -q '^ok - ' "$LOG_DIR/guest-$k.out"; then
        ok "$k: the VM ran the guest checks ($(($(date +%s) - start)) s)"
    else
        not_ok "$k: the VM ran the guest checks (status $rc; console: $LOG_DIR/vm-$k.log)"
    fi
done

# --- 4. remove, purge ---------------------------------------------------------

check "dpkg -r aufs-tools aufs-dkms" "${DPKG[@]}" -r "${PKGS[@]}"
left=$(find /lib/modules/*/updates /var/lib/dkms -name 'aufs*' 2>/dev/null; ls -d /usr/src/aufs-* 2>/dev/null || true)
empty "after dpkg -r: no aufs module in /lib/modules/*/updates, nothing in /usr/src or /var/lib/dkms" "$left"
dep=$(grep -l 'aufs\.ko' /lib/modules/*/modules.dep 2>/dev/null || true)
empty "after dpkg -r: no modules.dep names aufs.ko" "$dep"
check "dpkg --purge aufs-tools aufs-dkms" "${DPKG[@]}" --purge "${PKGS[@]}"
gone=1
for p in "${PKGS[@]}"; do installed "$p" && gone=0; done
check "dpkg knows neither package any more" test "$gone" = 1
kept=$(while IFS= read -r f; do [ -n "$f" ] && [ -f "$f" ] && echo "$f"; done <<<"$files" || true)
empty "no file of the packages is left ($(wc -l <<<"$files") paths)" "$kept"
cleanup
after=$(snapshot)
if [ "$before" = "$after" ]; then
    ok "/lib/modules/*/updates, /usr/src and /var/lib/dkms are as before"
else
    not_ok "/lib/modules/*/updates, /usr/src and /var/lib/dkms are as before"
    diff <(echo "$before") <(echo "$after") | head -n 20 | comment || true
fi

check "the repository's module build tree (kmod/, build/kmod/) is untouched" \
    test "$(tree_state)" = "$tree_before"

# --- 5. the rest --------------------------------------------------------------

if command -v lintian >/dev/null; then
    out=$(lintian --no-tag-display-limit "$DKMS_DEB" "$TOOLS_DEB" 2>&1 | grep -E '^[EW]: ' || true)
    empty "lintian: no error or warning" "$out"
else
    ok "lintian # SKIP lintian is not installed"
fi

relay < <("$ROOT/tests/packaging/check-man.sh" "$ROOT/build/man" "$ROOT/target/release/aubr" || true)

# make install / uninstall into a staging root (the real one is the
# packages' business here): only when the tree has a module built.
built=$(find "$ROOT/build/kmod" -name aufs.ko 2>/dev/null || true)
if [ -n "$built" ]; then
    dest=$(mktemp -d)
    DESTDIR=$dest "$ROOT/packaging/install.sh" install >"$LOG_DIR/install.log" 2>&1 || true
    got=$(cd "$dest" && find . -type f | LC_ALL=C sort | tr '\n' ' ')
    check "make install DESTDIR=...: module, aubr, man pages ($got)" \
        sh -c "echo '$got' | grep -q 'lib/modules/.*/updates/aufs.ko' &&
               echo '$got' | grep -q usr/local/bin/aubr && echo '$got' | grep -q man5/aufs.5 &&
               echo '$got' | grep -q man8/aubr.8"
    DESTDIR=$dest "$ROOT/packaging/install.sh" uninstall >>"$LOG_DIR/install.log" 2>&1 || true
    check "make uninstall DESTDIR=...: no file left" test -z "$(find "$dest" -type f)"
    rm -rf "$dest"
else
    ok "make install/uninstall # SKIP no aufs.ko built in the tree"
fi

finish
