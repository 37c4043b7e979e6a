#!/bin/bash
# The man pages: they render without a warning, aufs(5) has every word of the
# README sections it is made from, and aubr(8), auplink(8) and auchk(8)
# document exactly the options their `--help` shows.  One "ok - ..." or "not ok - ..." line per check;
# exit 1 when one failed.
#   usage: check-man.sh MANDIR AUBR [BINDIR]
#   (make check-man: build/man, target/release/aubr, target/release/; BINDIR
#   holds auplink and auchk, by default AUBR's directory)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAN=${1:?usage: check-man.sh MANDIR AUBR}
AUBR=${2:?usage: check-man.sh MANDIR AUBR}
BINDIR=${3:-$(dirname "$AUBR")}
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }

command -v man >/dev/null || { echo "not ok - man is not installed (scripts/setup.sh installs man-db)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for page in aufs.5 aubr.8 auplink.8 auchk.8; do
    # man-db's own warnings (macros) and groff's of every kind.
    for w in "" "=all"; do
        out=$(MANWIDTH=80 man --warnings$w -E UTF-8 -l "$MAN/$page" 2>&1 >/dev/null) || true
        if [ -z "$out" ]; then
            ok "$page renders without warnings (man --warnings$w)"
        else
            not_ok "$page renders without warnings (man --warnings$w)"
            printf '#   %s\n' "$out" | head -n 10
        fi
    done
    MANWIDTH=80 man -E UTF-8 -l "$MAN/$page" 2>/dev/null | col -b >"$tmp/$page.txt"
done

if out=$(python3 "$ROOT/docs/man/md2man.py" --check "$ROOT/docs/man/aufs.5.md" "$tmp/aufs.5.txt" 2>&1); then
    ok "aufs.5 has the README's 'Using it' and 'Deliberate differences' text"
else
    not_ok "aufs.5 has the README's 'Using it' and 'Deliberate differences' text"
    printf '#   %s\n' "$out" | head -n 10
fi

# Options: those in `TOOL --help` against those in the page's OPTIONS.
for tool in aubr auplink auchk; do
    bin=$BINDIR/$tool
    [ "$tool" = aubr ] && bin=$AUBR
    help_opts=$("$bin" --help | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' | tr -d ' ,' | sort -u)
    page_opts=$(sed -n '/^OPTIONS/,/^[A-Z]/p' "$tmp/$tool.8.txt" | grep -oE '^ {7}--?[a-zA-Z][a-zA-Z-]*(, --?[a-zA-Z][a-zA-Z-]*)*' |
        tr ',' '\n' | tr -d ' ' | sort -u)
    if [ -n "$help_opts" ] && [ "$help_opts" = "$page_opts" ]; then
        ok "$tool.8 documents the options of $tool --help ($(echo $help_opts))"
    else
        not_ok "$tool.8 documents the options of $tool --help"
        diff <(echo "$help_opts") <(echo "$page_opts") | sed 's/^/#   /' || true
    fi
done
exit "$failed"
