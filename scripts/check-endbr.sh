#!/bin/bash
# Check that every function of OBJECT that can be entered by an indirect
# call or jump begins with endbr64, as a kernel with IBT
# (CONFIG_X86_KERNEL_IBT) requires: anything else faults (#CP) when reached
# that way.  Those functions are
#   - the global au_rs_* functions: the C shim calls them and may take
#     their address;
#   - every function a data relocation points at (vtables, function
#     pointer tables: e.g. core::fmt's Write implementations);
#   - every function whose address code takes (lea/mov of its address
#     rather than a direct call or jump to it).
# QEMU does not emulate IBT, so this is checked statically.  objtool --ibt
# in Kbuild's module pass also warns about the last two, but not about the
# entry points C calls, and only once the whole module links.
#   usage: check-endbr.sh OBJECT    (exit 1 and the list when some lack it)
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OBJECT" >&2; exit 2; }
o=$1
[ -f "$o" ] || { echo "check-endbr: no such object $o" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

objdump -h "$o" >"$tmp/sections"
objdump -t "$o" >"$tmp/symbols"
# One instruction per line (no wrapped byte lists), relocations inline.
objdump -dr --insn-width=16 "$o" >"$tmp/code"
objdump -r "$o" >"$tmp/relocs"

awk -v obj="$o" '
function hex(s,    n, i, c) {
    s = tolower(s); sub(/^[ \t]+/, "", s); sub(/^0x/, "", s); n = 0
    for (i = 1; i <= length(s); i++) {
        c = index("0123456789abcdef", substr(s, i, 1)) - 1
        if (c < 0) break
        n = n * 16 + c
    }
    return n
}
# Split a relocation value "sym+0x10" / "sym-0x4" / "sym" into RNAME, RADD.
function parse_value(v,    m) {
    RADD = 0; RNAME = v
    if (match(v, /[+-]0x[0-9a-f]+$/)) {
        RNAME = substr(v, 1, RSTART - 1)
        RADD = hex(substr(v, RSTART + 1))
        if (substr(v, RSTART, 1) == "-") RADD = -RADD
    }
}
# Where symbol NAME plus OFF points: sets TSEC and TOFF, 0 if not in OBJECT.
function resolve(name, off) {
    if (name in secsym) { TSEC = name; TOFF = off; return 1 }
    if (!(name in symsec) || symsec[name] == "*UND*" || symsec[name] == "*ABS*") return 0
    TSEC = symsec[name]; TOFF = symval[name] + off
    return 1
}
function taken(sec, off, why,    k) {
    if (!(sec in code)) return
    k = sec ":" off
    if (k in func) {
        if (!(k in reason)) reason[k] = why
        cat[k] = cat[k] why_kind
    } else if (!(k in midway)) {
        midway[k] = why
    }
}
FILENAME ~ /sections$/ {
    if ($1 ~ /^[0-9]+$/ && NF >= 7) { cur = $2; next }
    if (cur != "" && $0 ~ /ALLOC/) alloc[cur] = 1
    if (cur != "" && $0 ~ /CODE/) code[cur] = 1
    cur = ""
    next
}
FILENAME ~ /symbols$/ {
    # "VALUE FLAGS(7) SECTION<TAB>SIZE [.hidden ]NAME"
    if (split($0, p, "\t") != 2 || length(p[1]) < 27) next
    val = hex(substr(p[1], 1, 16)); fl = substr(p[1], 18, 7); sec = substr(p[1], 26)
    name = p[2]; sub(/^[0-9a-f]+ +/, "", name); sub(/^\.(hidden|protected|internal) /, "", name)
    if (substr(fl, 6, 1) == "d" && name == sec) { secsym[sec] = 1; next }
    symsec[name] = sec; symval[name] = val
    if (substr(fl, 7, 1) == "F" && sec != "*UND*") {
        k = sec ":" val
        # (Tested first: an awk may create func[k] before the right side.)
        if (k in func) name = func[k] " = " name
        func[k] = name
        if (substr(fl, 1, 1) == "g" && name ~ /^au_rs_/) {
            reason[k] = "global, called from C"; cat[k] = cat[k] "G"
        }
    }
    next
}
FILENAME ~ /code$/ {
    if ($0 ~ /^Disassembly of section /) {
        csec = $4; sub(/:$/, "", csec); next
    }
    if ($0 ~ /^\t\t\t[0-9a-f]+: R_/) {
        # A relocation of the instruction just read.
        split($0, f, /[ \t]+/)
        roff = hex(f[2]); type = f[3]; parse_value(f[4])
        if (!resolve(RNAME, RADD)) next
        if (type ~ /^R_X86_64_(PC|PLT|GOTPC)/) TOFF += iend - roff
        if (ibranch) next   # a direct call or jump: no ENDBR needed
        why_kind = "T"
        taken(TSEC, TOFF, sprintf("address taken at %s+0x%x", csec, iaddr))
        next
    }
    if ($0 ~ /^ *[0-9a-f]+:\t/) {
        n = split($0, f, "\t")
        iaddr = hex(f[1]); nb = split(f[2], b, " "); iend = iaddr + nb
        ins = (n >= 3) ? f[3] : ""
        sub(/^((notrack|bnd|cs|ds|data16|rex\.[a-zA-Z]*|rex) +)+/, "", ins)
        split(ins, w, " ")
        ibranch = (w[1] ~ /^(call|jmp|j[a-z]+)$/ && ins !~ /\*/)
        if (!((csec ":" iaddr) in first)) first[csec ":" iaddr] = w[1]
    }
    next
}
FILENAME ~ /relocs$/ {
    if ($0 ~ /^RELOCATION RECORDS FOR \[/) {
        rsec = $0; sub(/^RELOCATION RECORDS FOR \[/, "", rsec); sub(/\]:$/, "", rsec)
        # Code is handled above (it needs the instruction); objtool metadata,
        # patchable-entry tables (they point before the function) and
        # non-loaded sections (debug info) do not call anything.
        skip = (rsec in code) || !(rsec in alloc) ||
            rsec ~ /^(__patchable_function_entries|__mcount_loc|\.orc_unwind_ip|\.return_sites|\.retpoline_sites|\.call_sites|\.ibt_endbr_seal|\.static_call_sites|\.cfi_sites|\.eh_frame|\.discard\..*)$/
        next
    }
    if (skip || $1 !~ /^[0-9a-f]+$/ || NF < 3) next
    parse_value($3)
    if (!resolve(RNAME, RADD)) next
    why_kind = "D"
    taken(TSEC, TOFF, sprintf("referenced from %s+0x%x", rsec, hex($1)))
    next
}
END {
    nok = 0; nbad = 0; ng = 0; nd = 0; nt = 0
    for (k in reason) {
        if (cat[k] ~ /G/) ng++
        if (cat[k] ~ /D/) nd++
        if (cat[k] ~ /T/) nt++
        if (first[k] == "endbr64") { nok++; continue }
        bad[++nbad] = sprintf("  %s (%s; begins with %s)", func[k], reason[k], (k in first) ? first[k] : "?")
    }
    nmid = 0
    for (k in midway) mid[++nmid] = sprintf("  %s (%s)", k, midway[k])
    printf "check-endbr: %s: %d functions must begin with endbr64 (%d global au_rs_*, %d referenced from data, %d address-taken in code); %d do, %d do not\n", obj, nok + nbad, ng, nd, nt, nok, nbad
    if (nbad) {
        print "check-endbr: no endbr64 at the entry of:"
        for (i = 1; i <= nbad; i++) print bad[i] | "sort"
        close("sort")
    }
    # An address inside a function is not a valid indirect target either.
    if (nmid) {
        print "check-endbr: addresses taken that are not a function entry:"
        for (i = 1; i <= nmid; i++) print mid[i] | "sort"
        close("sort")
    }
    if (nok + nbad == 0) { print "check-endbr: no entry points found (not a Rust kernel object?)"; exit 1 }
    exit (nbad || nmid) ? 1 : 0
}
' "$tmp/sections" "$tmp/symbols" "$tmp/code" "$tmp/relocs" >&2
