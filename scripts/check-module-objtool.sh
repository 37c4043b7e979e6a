#!/bin/bash
# Check that objtool ran over the whole module, C and Rust, exactly once and
# cleanly, as Kbuild runs it for the kernel in KDIR.
#   usage: check-module-objtool.sh MODULE.o|MODULE.ko KDIR
# MODULE.o is the module as Kbuild linked it (its .cmd and .mod files are
# next to it); given the .ko, the checks of the object's sections are made
# on the .ko.  Kbuild's kmod/Kbuild runs it after linking aufs.o.
#
# Where objtool runs (scripts/kernel-objtool.sh --mode):
#  module  (IBT kernels) Kbuild runs objtool once over the linked module.
#          Checked: Kbuild's command used the arguments we derive; no input
#          object, the Rust one included, was already processed (objtool
#          would print "already has ... section, skipping" and the module
#          would get no ORC/return-site data at all); and the same pass,
#          repeated here on a scratch link of the same objects, prints
#          nothing and yields the same sections -- Kbuild does not fail on
#          objtool warnings, so this is where they become errors.
#  object  (6.1) Kbuild ran objtool on each C object (its .cmd says with
#          which arguments) and rust-kobj.sh on the Rust object (which it
#          requires to be silent).
# Either way, the module's objtool sections must cover both languages: ORC
# entries in C and in Rust functions, and one return-site (retpoline-site)
# entry per jump to the return thunk (call of an indirect thunk).
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 MODULE.o|MODULE.ko KDIR" >&2; exit 2; }
target=$1 kdir=$2
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "check-module-objtool: $*" >&2; exit 1; }

dir=$(cd "$(dirname "$target")" && pwd)
base=$(basename "$target"); base=${base%.ko}; base=${base%.o}
modo=$dir/$base.o
[ -f "$modo" ] && [ -f "$dir/$base.mod" ] || die "no $base.o and $base.mod in $dir"
mode=$("$here/kernel-objtool.sh" --mode "$kdir")
[ "$mode" != none ] || { echo "check-module-objtool: objtool is off in $kdir's configuration" >&2; exit 0; }
read -r -a args <<<"$("$here/kernel-objtool.sh" --args "$kdir")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The module's objects (Kbuild's .mod file) and which one is the Rust core.
# (One name a line on 6.1, one line on 6.12: read -d '' takes both.)
read -r -d '' -a objs <"$dir/$base.mod" || true
rust=
for o in "${objs[@]}"; do
    [ -f "$o" ] || o=$dir/$(basename "$o")
    # (grep reads everything: with -q, nm could die of SIGPIPE under pipefail.)
    if nm --defined-only "$o" 2>/dev/null | grep -c ' T au_rs_' >/dev/null; then rust=$o; fi
done
[ -n "$rust" ] || die "no object of $base.mod defines au_rs_* functions"

objtool_secs='^(\.orc_unwind|\.orc_unwind_ip|\.return_sites|\.retpoline_sites|\.call_sites|\.ibt_endbr_seal|\.static_call_sites)$'
has_objtool_secs() { objdump -h "$1" | awk -v re="$objtool_secs" '$2 ~ re { print $2 }'; }

# The objtool arguments of a saved Kbuild command (6.1: cmd_X, 6.12: savedcmd_X).
kbuild_args() {
    local cmdf=$1
    [ -f "$cmdf" ] || return 0
    sed -n 's/^\(saved\)\{0,1\}cmd_[^ ]* := //p' "$cmdf" | tr ';' '\n' |
        sed -n 's|^ *[^ ]*tools/objtool/objtool \(.*\) [^ ]*$|\1|p' | tr -s ' ' | head -n 1
}

want=${args[*]}
case $mode in
module)
    got=$(kbuild_args "$dir/.$base.o.cmd")
    [ -n "$got" ] || die "Kbuild did not run objtool on $base.o (no objtool in $dir/.$base.o.cmd)"
    [ "$got" = "$want" ] || die "Kbuild ran objtool on $base.o with '$got', kernel-objtool.sh derives '$want'"
    for o in "${objs[@]}"; do
        [ -f "$o" ] || o=$dir/$(basename "$o")
        s=$(has_objtool_secs "$o")
        [ -z "$s" ] || die "$o was already processed by objtool ($(echo $s)): Kbuild's pass over $base.o skipped the module"
    done
    # The same pass again, on a scratch link: it must say nothing.
    ( cd "$dir" && ld -m elf_x86_64 -r -o "$tmp/$base.o" "@$dir/$base.mod" )
    if ! ( cd "$kdir" && SRCARCH=x86 ./tools/objtool/objtool "${args[@]}" "$tmp/$base.o" ) >"$tmp/log" 2>&1 ||
            [ -s "$tmp/log" ]; then
        cat "$tmp/log" >&2
        die "objtool's pass over $base.o is not clean ($(grep -c . "$tmp/log") lines above)"
    fi
    size -A "$tmp/$base.o" | awk -v re="$objtool_secs" '$1 ~ re { print $1, $2 }' | sort >"$tmp/want"
    size -A "$modo" | awk -v re="$objtool_secs" '$1 ~ re { print $1, $2 }' | sort >"$tmp/got"
    cmp -s "$tmp/want" "$tmp/got" ||
        die "$base.o's objtool sections differ from a clean pass: $(diff "$tmp/want" "$tmp/got" | tr '\n' ' ')"
    ;;
object)
    for o in "${objs[@]}"; do
        [ -f "$o" ] || o=$dir/$(basename "$o")
        [ "$o" != "$rust" ] || continue
        c=$dir/.$(basename "$o").cmd
        got=$(kbuild_args "$c")
        [ "$got" = "$want" ] || die "Kbuild ran objtool on $o with '${got:-nothing}', kernel-objtool.sh derives '$want'"
    done
    [ -n "$(has_objtool_secs "$rust")" ] || die "$rust has no objtool sections (rust-kobj.sh runs objtool on this kernel)"
    ;;
esac

# Coverage, per language.  A site is C or Rust by the function it lies in
# (the Rust functions are the ones the Rust object defines; __pfx_X is X's).
nm --defined-only "$rust" | awk '{ print $3 }' | sort -u >"$tmp/rustsyms"
objdump -h "$target" >"$tmp/sections"
# "SECTION START SIZE NAME", functions only, by section and address.
objdump -t "$target" | awk -F'\t' '
    length($1) >= 27 && substr($1, 24, 1) == "F" && substr($1, 26) != "*UND*" {
        name = $2; sub(/^[0-9a-f]+ +/, "", name); sub(/^\.(hidden|protected|internal) /, "", name)
        size = $2; sub(/ .*/, "", size)
        print substr($1, 26), substr($1, 1, 16), size, name
    }' | sort -k1,1 -k2,2 >"$tmp/funcs"
objdump -t "$target" | awk -F'\t' 'length($1) >= 27 && substr($1, 23, 1) == "d" { print substr($1, 26) }' >"$tmp/secsyms"
objdump -r "$target" >"$tmp/relocs"

awk -v flags="${args[*]}" -v target="$(basename "$target")" '
function hex(s,    n, i, c) {
    s = tolower(s); sub(/^[ \t]+/, "", s); sub(/^0x/, "", s); n = 0
    for (i = 1; i <= length(s); i++) {
        c = index("0123456789abcdef", substr(s, i, 1)) - 1
        if (c < 0) break
        n = n * 16 + c
    }
    return n
}
# "C", "Rust" or "none" for offset OFF of section SEC (binary search).
function side(sec, off,    lo, hi, mid, n) {
    n = nf[sec]; lo = 1; hi = n
    if (!n) return "none"
    while (lo < hi) {
        mid = int((lo + hi + 1) / 2)
        if (fs[sec, mid] <= off) lo = mid; else hi = mid - 1
    }
    if (fs[sec, lo] <= off && off < fs[sec, lo] + fz[sec, lo]) return fr[sec, lo]
    return "none"
}
FILENAME ~ /rustsyms$/ { isrust[$1] = 1; next }
FILENAME ~ /secsyms$/ { secsym[$1] = 1; next }
FILENAME ~ /sections$/ {
    if ($1 ~ /^[0-9]+$/ && NF >= 7) { cur = $2; next }
    if (cur != "" && $0 ~ /CODE/) code[cur] = 1
    cur = ""; next
}
FILENAME ~ /funcs$/ {
    name = $4; base = name; sub(/^__pfx_/, "", base)
    i = ++nf[$1]; fs[$1, i] = hex($2); fz[$1, i] = hex($3)
    fr[$1, i] = (base in isrust) ? "Rust" : "C"
    sym[name] = $1; symv[name] = hex($2)
    next
}
FILENAME ~ /relocs$/ {
    if ($0 ~ /^RELOCATION RECORDS FOR \[/) {
        rsec = $0; sub(/^RELOCATION RECORDS FOR \[/, "", rsec); sub(/\]:$/, "", rsec); next
    }
    if ($1 !~ /^[0-9a-f]+$/ || NF < 3) next
    v = $3; add = 0; name = v
    if (match(v, /[+-]0x[0-9a-f]+$/)) {
        name = substr(v, 1, RSTART - 1); add = hex(substr(v, RSTART + 1))
        if (substr(v, RSTART, 1) == "-") add = -add
    }
    if (rsec in code) {
        # References to the thunks from code: one site entry each expected.
        s = side(rsec, hex($1))
        if (name == "__x86_return_thunk") ret_refs[s]++
        else if (name ~ /^__x86_indirect_thunk_/) rp_refs[s]++
        next
    }
    if (rsec !~ /^\.(orc_unwind_ip|return_sites|retpoline_sites|call_sites|ibt_endbr_seal)$/) next
    if (name in secsym) { tsec = name; toff = add }
    else if (name in sym) { tsec = sym[name]; toff = symv[name] + add }
    else next
    n[rsec, side(tsec, toff)]++
}
END {
    bad = ""
    if (flags ~ /--orc/ && (!n[".orc_unwind_ip", "C"] || !n[".orc_unwind_ip", "Rust"]))
        bad = bad "check-module-objtool: no ORC data for the C or the Rust functions\n"
    if (flags ~ /--rethunk/ && (n[".return_sites", "C"] != ret_refs["C"] || n[".return_sites", "Rust"] != ret_refs["Rust"]))
        bad = bad "check-module-objtool: .return_sites does not list every jump to the return thunk\n"
    if (flags ~ /--retpoline/ && (n[".retpoline_sites", "C"] != rp_refs["C"] || n[".retpoline_sites", "Rust"] != rp_refs["Rust"]))
        bad = bad "check-module-objtool: .retpoline_sites does not list every indirect thunk call\n"
    if (flags ~ /--hacks=skylake/ && (!n[".call_sites", "C"] || !n[".call_sites", "Rust"]))
        bad = bad "check-module-objtool: no call-depth (.call_sites) entries for the C or the Rust functions\n"
    if (bad == "") {
        # One line when all is well: entries for C/Rust.
        printf "check-module-objtool: %s: C/Rust: ORC %d/%d, return sites %d/%d, retpoline sites %d/%d, call sites %d/%d, sealed ENDBR %d/%d\n", \
            target, n[".orc_unwind_ip", "C"], n[".orc_unwind_ip", "Rust"], n[".return_sites", "C"], n[".return_sites", "Rust"], \
            n[".retpoline_sites", "C"], n[".retpoline_sites", "Rust"], n[".call_sites", "C"], n[".call_sites", "Rust"], \
            n[".ibt_endbr_seal", "C"], n[".ibt_endbr_seal", "Rust"]
        exit 0
    }
    printf "check-module-objtool: %s, objtool %s\n", target, flags
    printf "  %-20s %8s %8s %8s\n", "entries", "C", "Rust", "neither"
    split(".orc_unwind_ip .return_sites .retpoline_sites .call_sites .ibt_endbr_seal", secs, " ")
    for (i = 1; i <= 5; i++)
        printf "  %-20s %8d %8d %8d\n", secs[i], n[secs[i], "C"], n[secs[i], "Rust"], n[secs[i], "none"]
    printf "  %-20s %8d %8d %8d\n", "return thunk jumps", ret_refs["C"], ret_refs["Rust"], ret_refs["none"]
    printf "  %-20s %8d %8d %8d\n", "indirect thunk calls", rp_refs["C"], rp_refs["Rust"], rp_refs["none"]
    printf "%s", bad
    exit 1
}
' "$tmp/rustsyms" "$tmp/secsyms" "$tmp/sections" "$tmp/funcs" "$tmp/relocs" >&2
