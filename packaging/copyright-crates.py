#!/usr/bin/env python3
"""Fill in packaging/copyright.in for one package.

aubr is linked statically with Rust crates from crates.io; its copyright
file names each of them with its license, and the license under which it is
used here: MIT, which every one of them offers (alone or as a choice).  A
crate without that choice is an error, so that a new dependency's license is
looked at before it ships.

    usage: copyright-crates.py copyright.in "NAME vX.Y.Z|LICENSE-EXPR\n..."
    (an empty list: a package without crates, the plain copyright file)
"""
import re
import sys

MIT = """\
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.  IN NO EVENT SHALL
 THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
"""


def main():
    template = open(sys.argv[1]).read()
    crates = [line.split("|", 1) for line in sys.argv[2].splitlines() if line.strip()]
    if not crates:
        out = template.replace("@CRATES@\n", "").replace("@LICENSES@\n", "")
        sys.stdout.write(out)
        return
    lines = ["Comment: /usr/bin/aubr is statically linked with these Rust crates",
             " (crates.io), each used under the MIT license (License: MIT below):"]
    for name, expr in crates:
        # "MIT" as one of the alternatives of an OR, never only inside an AND.
        alts = [a.strip(" ()") for a in re.split(r"\s+OR\s+", expr)]
        if "MIT" not in alts:
            sys.exit(f"copyright-crates: {name}: license '{expr}' does not offer MIT")
        lines.append(f" {name} ({expr})")
    out = template.replace("@CRATES@\n", "\n".join(lines) + "\n")
    out = out.replace("@LICENSES@\n", "\n" + MIT)
    sys.stdout.write(out)


main()
