#!/usr/bin/env python3
"""make bench, on the host after the VM run: the result the guest printed
(between BENCH-JSON-BEGIN and BENCH-JSON-END in its log, or a bench.json)
becomes OUTDIR/bench.json (plus the host's CPU), bench.csv, bench.md (the
table in Markdown, for README.md) and bench.png (the ratios; needs
python3-matplotlib, which scripts/setup.sh installs).

  tests/bench/report.py LOG-OR-JSON OUTDIR [--no-plot]
"""
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchreport  # noqa: E402


def load(path):
    text = open(path, errors="replace").read()
    if "BENCH-JSON-BEGIN" in text:
        text = text.split("BENCH-JSON-BEGIN", 1)[1].split("BENCH-JSON-END", 1)[0]
    return json.loads(text)


def host_cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = args
    try:
        result = load(src)
    except (OSError, ValueError, IndexError) as e:
        print(f"report: no benchmark result in {src}: {e}", file=sys.stderr)
        return 1
    result["meta"].setdefault("host_cpu", host_cpu())
    result["meta"].setdefault("host_kernel", platform.release())
    benchreport.enrich(result)
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/bench.json", "w") as f:
        json.dump(result, f, indent=1)
    with open(f"{out}/bench.csv", "w") as f:
        f.write(benchreport.csv_text(result))
    with open(f"{out}/bench.md", "w") as f:
        f.write(benchreport.meta_line(result) + "\n\n" + benchreport.table(result, markdown=True))
    written = ["bench.json", "bench.csv", "bench.md"]
    if "--no-plot" not in sys.argv:
        try:
            benchreport.plot(result, f"{out}/bench.png")
            written.append("bench.png")
        except ImportError as e:
            print(f"report: no plot ({e}; scripts/setup.sh installs python3-matplotlib)", file=sys.stderr)
    print(f"report: wrote {', '.join(os.path.join(out, w) for w in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
