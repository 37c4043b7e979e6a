#!/usr/bin/env python3
"""Turn the man pages' markdown sources (docs/man/*.md) into roff.

The text of aufs(5) that the README also has lives only in the README,
between `<!-- aufs.5:NAME begin -->` and `<!-- aufs.5:NAME end -->`; a page
takes it with a line `<!-- include README.md aufs.5:NAME -->` (the path is
relative to the page).  So the README and the man page cannot drift apart;
`--check` makes sure the conversion itself lost nothing.

The markdown is the small part of it the README uses: `#`/`##` headings,
paragraphs, `-` lists nested once (two spaces), fenced code blocks,
`code`, **bold**, *italic*, [links](target) (the text is kept), and
definition items (a line, then a line starting with `: `).  Anything else
that roff would misread (a table) is an error rather than a surprise.

    md2man.py PAGE.md VERSION DATE > PAGE.roff
    md2man.py --check PAGE.md RENDERED.txt   (RENDERED: `man -l` of the roff)

The first line of a page is `% NAME SECTION`, the second `% MANUAL TITLE`.
"""
import os
import re
import sys
import textwrap

INCLUDE = re.compile(r"^<!-- include (\S+) (\S+) -->$")


def die(msg):
    sys.exit(f"md2man: {msg}")


def region(path, name):
    """The lines of `path` between the begin and end markers of `name`."""
    lines = open(path, encoding="utf-8").read().split("\n")
    begin, end = f"<!-- {name} begin -->", f"<!-- {name} end -->"
    if lines.count(begin) != 1 or lines.count(end) != 1:
        die(f"{path}: expected one '{begin}' and one '{end}'")
    b, e = lines.index(begin), lines.index(end)
    if e < b:
        die(f"{path}: '{end}' before '{begin}'")
    return lines[b + 1:e]


def read_page(path):
    """The page's lines with its includes expanded; (name, section, manual, lines)."""
    lines = open(path, encoding="utf-8").read().rstrip("\n").split("\n")
    m1 = re.match(r"^% (\S+) (\d)$", lines[0])
    m2 = re.match(r"^% (.+)$", lines[1]) if len(lines) > 1 else None
    if not m1 or not m2:
        die(f"{path}: the first lines must be '% NAME SECTION' and '% MANUAL'")
    body = []
    for line in lines[2:]:
        m = INCLUDE.match(line)
        if m:
            body.extend(region(os.path.join(os.path.dirname(path), m.group(1)), m.group(2)))
        else:
            body.append(line)
    return m1.group(1), m1.group(2), m2.group(1), body


# --- inline ---------------------------------------------------------------

def esc(s):
    """Plain text for roff: the escape character itself, nothing else."""
    return s.replace("\\", "\\e")


def code(s):
    """A code span: literal, bold, with real minus signs (so that options
    can be copied from the page); a space at its ends is kept (`aufs: `),
    and a final period does not end a sentence for roff."""
    s = esc(s).replace("-", "\\-")
    s = re.sub(r"^ | $", lambda m: "\\~", s)   # unbreakable
    return "\\fB" + s + "\\fR" + ("\\&" if s.endswith(".") else "")


def set_aside(text):
    """Markdown text with its code spans replaced by placeholders and its
    links by their text, and the spans: nothing inside a code span is
    markup, and bold or italic may span one (**A second `br=`**).  The
    placeholders go back with put_back()."""
    spans = []

    def keep(m):
        spans.append(m.group(1))
        return f"\0{len(spans) - 1}\0"

    text = re.sub(r"`([^`]*)`", keep, text)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text), spans


def put_back(text, spans, show):
    return re.sub("\0(\\d+)\0", lambda m: show(spans[int(m.group(1))]), text)


def inline(text):
    text, spans = set_aside(text)
    text = esc(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"\\fI\1\\fR", text)
    return put_back(text, spans, code)


def fill(text):
    """A paragraph's text as roff source lines; a line that would start with
    a control character is protected."""
    lines = textwrap.wrap(inline(text), width=78, break_long_words=False,
                          break_on_hyphens=False)
    return ["\\&" + l if l[:1] in (".", "'") else l for l in lines]


# --- blocks ---------------------------------------------------------------

def convert(name, section, manual, body, version, date):
    out = [f'.TH {name.upper()} {section} "{date}" "aufs {version}" "{manual}"',
           # No hyphenation: words stay whole (and --check can find them).
           ".nh", ".ad l"]
    para = []          # lines of the current paragraph or list item
    depth = 0          # open list levels (0, 1 or 2)
    i = 0

    def flush():
        if para:
            out.extend(fill(" ".join(l.strip() for l in para)))
            para.clear()

    def close_lists():
        nonlocal depth
        flush()
        if depth == 2:
            out.append(".RE")
        depth = 0

    while i < len(body):
        line = body[i]
        stripped = line.strip()
        if line.startswith("|"):
            die(f"tables are not supported: {line!r}")
        if stripped.startswith("```"):
            close_lists()
            out.extend([".PP", ".RS 4", ".nf"])
            i += 1
            while i < len(body) and not body[i].strip().startswith("```"):
                l = esc(body[i]).replace("-", "\\-")
                out.append("\\&" + l if l[:1] in (".", "'") else l)
                i += 1
            out.extend([".fi", ".RE"])
            i += 1
            continue
        m = re.match(r"^(#{1,2}) (.+)$", line)
        if m:
            close_lists()
            out.append((".SH " if len(m.group(1)) == 1 else ".SS ") + inline(m.group(2)))
            out.append("__AFTER_HEADING__")
            i += 1
            continue
        if not stripped:
            flush()
            i += 1
            continue
        m = re.match(r"^( *)- (.*)$", line)
        if m:
            level = len(m.group(1)) // 2 + 1
            if level > 2:
                die(f"lists nest at most twice: {line!r}")
            flush()
            if level == 2 and depth == 1:
                out.append(".RS 2")
            elif level == 1 and depth == 2:
                out.append(".RE")
            elif level == 2 and depth == 0:
                die(f"a nested item without its parent: {line!r}")
            depth = level
            out.append(".IP \\(bu 2")
            para.append(m.group(2))
            i += 1
            continue
        if i + 1 < len(body) and body[i + 1].startswith(": ") and not para:
            close_lists()
            out.append(".TP")
            out.extend(fill(line))
            para.append(body[i + 1][2:])
            i += 2
            continue
        if depth and line.startswith("  "):
            para.append(line)      # continuation of a list item
            i += 1
            continue
        if not para:
            close_lists()
            out.append(".PP")
        para.append(line)
        i += 1
    close_lists()
    # A paragraph macro right after a heading adds nothing.
    text = "\n".join(out).replace("__AFTER_HEADING__\n.PP\n", "").replace("__AFTER_HEADING__\n", "")
    return text + "\n"


# --- check ----------------------------------------------------------------

def words_md(lines):
    """The words a reader sees in markdown lines."""
    text, spans = set_aside(" ".join(l for l in lines if not l.strip().startswith("```")))
    text = text.replace("**", "")
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"\1", text)
    text = put_back(text, spans, lambda span: span)
    return [w for w in text.split() if w != "-"]


def words_rendered(text):
    for a, b in (("\u2010", "-"), ("\u2212", "-"), ("\u2019", "'"), ("\u2018", "`"),
                 ("\u201c", '"'), ("\u201d", '"'), ("\u00b7", "")):
        text = text.replace(a, b)
    return [w for w in text.split() if w not in ("\u2022", "o", "-")]


def check(page, rendered):
    seen = " ".join(words_rendered(open(rendered, encoding="utf-8").read()))
    lines = open(page, encoding="utf-8").read().split("\n")
    bad = 0
    for line in lines:
        m = INCLUDE.match(line)
        if not m:
            continue
        src = os.path.join(os.path.dirname(page), m.group(1))
        want = words_md(region(src, m.group(2)))
        # Every paragraph-sized run of the source must be in the page as it is.
        for n in range(0, len(want), 12):
            chunk = " ".join(w for w in want[n:n + 12] if w != "o")
            if chunk not in seen:
                print(f"md2man: {m.group(1)} {m.group(2)}: not in the page: '{chunk}'")
                bad += 1
    if bad:
        sys.exit(1)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4:
        name, section, manual, body = read_page(sys.argv[1])
        sys.stdout.write(convert(name, section, manual, body, sys.argv[2], sys.argv[3]))
    else:
        die("usage: md2man.py PAGE.md VERSION DATE | md2man.py --check PAGE.md RENDERED.txt")


main()
