"""Statistics, table, CSV and plot of a `make bench` result.

Used in the guest by tests/vm/bench.py (table, CSV, JSON) and on the host by
tests/bench/report.py (the same files from the JSON the guest printed, plus
the PNG).  The result is one JSON object:

  {"meta": {...}, "stacks": ["bare", "overlay", "aufs"],
   "results": [{"fs": "tmpfs", "workload": "stat hot @16", "group": "stat",
                "samples": {"bare": [s, ...], ...}, "errors": {"aufs": "..."},
                "note": "..."}, ...]}

Samples are seconds (lower is better); a ratio is a ratio of medians, so
aufs/bare > 1 means aufs is slower than the bare branch filesystem.
"""
import csv
import io
import statistics

STACKS = ("bare", "overlay", "aufs")


def quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def summary(xs):
    """median, min, max, q1, q3 of a list of seconds (None when empty)."""
    if not xs:
        return None
    q1, q3 = quartiles(xs)
    return {"n": len(xs), "median": statistics.median(xs), "min": min(xs),
            "max": max(xs), "q1": q1, "q3": q3}


def ratio(a, b):
    if not a or not b or b["median"] <= 0:
        return None
    return a["median"] / b["median"]


def enrich(result):
    """Adds "stats" and "ratios" to every row (idempotent)."""
    for row in result["results"]:
        st = {s: summary(row["samples"].get(s, [])) for s in STACKS}
        row["stats"] = st
        row["ratios"] = {"aufs/bare": ratio(st["aufs"], st["bare"]),
                         "aufs/overlay": ratio(st["aufs"], st["overlay"]),
                         "overlay/bare": ratio(st["overlay"], st["bare"])}
    return result


def fmt_time(s):
    if s is None:
        return "-"
    if s >= 10:
        return f"{s:.1f}s"
    if s >= 1:
        return f"{s:.2f}s"
    if s >= 0.01:
        return f"{s * 1e3:.0f}ms"
    return f"{s * 1e3:.2f}ms"


def fmt_cell(row, stack):
    err = row.get("errors", {}).get(stack)
    st = row["stats"][stack]
    if err:
        # Samples before the error still count; the note says what failed.
        return f"{fmt_time(st['median'])} ERROR" if st else "ERROR"
    if not st:
        return "skipped" if row.get("note") else "-"
    if st["n"] == 1:
        return fmt_time(st["median"])
    return f"{fmt_time(st['median'])} [{fmt_time(st['min'])}-{fmt_time(st['max'])}]"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def table(result, markdown=False):
    """The terminal table (or a Markdown one): per filesystem and workload,
    median [min-max] of each stack and the two aufs ratios."""
    enrich(result)
    head = ["fs", "workload", "bare", "overlay", "aufs", "aufs/bare", "aufs/ovl"]
    rows = []
    notes = []
    for row in result["results"]:
        rows.append([row["fs"], row["workload"]] + [fmt_cell(row, s) for s in STACKS]
                    + [fmt_ratio(row["ratios"]["aufs/bare"]), fmt_ratio(row["ratios"]["aufs/overlay"])])
        for s, e in sorted(row.get("errors", {}).items()):
            notes.append(f"{row['fs']} {row['workload']} {s}: {e}")
        if row.get("note"):
            notes.append(f"{row['fs']} {row['workload']}: {row['note']}")
    out = io.StringIO()
    if markdown:
        out.write("| " + " | ".join(head) + " |\n")
        out.write("|" + "|".join(["---"] * 2 + ["---:"] * 5) + "|\n")
        for r in rows:
            out.write("| " + " | ".join(r) + " |\n")
    else:
        w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        line = lambda cells: "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cells))
        out.write(line(head).rstrip() + "\n")
        out.write(line(["-" * x for x in w]) + "\n")
        for r in rows:
            out.write(line(r).rstrip() + "\n")
    for n in notes:
        out.write(("- " if markdown else "note: ") + n + "\n")
    return out.getvalue()


def meta_line(result):
    m = result["meta"]
    return (f"kernel {m.get('kernel')}, guest CPU {m.get('cpu')}"
            + (f", host CPU {m['host_cpu']}" if m.get("host_cpu") else "")
            + f", {m.get('date')}, {m.get('rounds')} round(s)"
            + (" (QUICK)" if m.get("quick") else ""))


def csv_text(result):
    enrich(result)
    out = io.StringIO()
    w = csv.writer(out)
    head = ["fs", "workload", "group"]
    for s in STACKS:
        head += [f"{s}_n", f"{s}_median_s", f"{s}_min_s", f"{s}_max_s", f"{s}_q1_s", f"{s}_q3_s"]
    head += ["aufs_over_bare", "aufs_over_overlay", "overlay_over_bare", "errors", "note"]
    w.writerow(head)
    for row in result["results"]:
        cells = [row["fs"], row["workload"], row.get("group", "")]
        for s in STACKS:
            st = row["stats"][s]
            cells += ([st["n"]] + [f"{st[k]:.9f}" for k in ("median", "min", "max", "q1", "q3")]
                      if st else [0, "", "", "", "", ""])
        for k in ("aufs/bare", "aufs/overlay", "overlay/bare"):
            r = row["ratios"][k]
            cells.append("" if r is None else f"{r:.4f}")
        cells.append("; ".join(f"{s}: {e}" for s, e in sorted(row.get("errors", {}).items())))
        cells.append(row.get("note", ""))
        w.writerow(cells)
    return out.getvalue()


def plot(result, path):
    """PNG: per filesystem, one bar group per workload (aufs/bare, aufs/overlay,
    log scale, whiskers from the min/max samples), a line at 1.0."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enrich(result)
    fss = list(dict.fromkeys(r["fs"] for r in result["results"]))
    fig, axes = plt.subplots(len(fss), 1, figsize=(16, 5.5 * len(fss)), squeeze=False)
    for ax, fs in zip(axes[:, 0], fss):
        rows = [r for r in result["results"] if r["fs"] == fs]
        names = [r["workload"] for r in rows]
        x = range(len(rows))
        for k, (key, other, color) in enumerate((("aufs/bare", "bare", "tab:blue"),
                                                 ("aufs/overlay", "overlay", "tab:orange"))):
            vals, lo, hi = [], [], []
            for r in rows:
                v = r["ratios"][key]
                a, o = r["stats"]["aufs"], r["stats"][other]
                vals.append(v if v else 0)
                if v and a and o and o["min"] > 0 and o["max"] > 0:
                    lo.append(max(v - a["min"] / o["max"], 0))
                    hi.append(max(a["max"] / o["min"] - v, 0))
                else:
                    lo.append(0)
                    hi.append(0)
            ax.bar([i + (k - 0.5) * 0.4 for i in x], vals, 0.4, yerr=[lo, hi], capsize=2,
                   label=key, color=color, error_kw={"elinewidth": 0.8})
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_yscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("time ratio (median; >1: aufs slower)")
        ax.set_title(f"aufs vs bare {fs} and vs overlayfs on {fs}")
        ax.legend(loc="upper left")
        ax.grid(axis="y", which="both", alpha=0.3)
    fig.suptitle("make bench: " + meta_line(result), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
