#!/usr/bin/env python3
"""Plot a quality budget curve as SVG (standard library only, no plotting package needed).

    tools/bench/plot_budget.py CURVE.csv OUT.svg [TITLE]

CURVE.csv: a header "steps,<metric>,<metric>,..." and one row per budget (training steps per
stage), as tools/bench/bench_quality.sh reports them; optional "#" comment lines. The x axis is log2
of the steps; the y axis spans the figures with a margin. Baselines can be given as columns
whose name starts with "baseline" (drawn dashed) and targets as columns whose name starts with
"target" (dotted grey). A cell may be empty (no run at that budget); a column with a single
figure is drawn as a square marker (e.g. one run at other settings).
"""
import math
import sys

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def read(path):
    head, rows = None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cells = [c.strip() for c in line.split(",")]
            if head is None:
                head = cells
            else:
                rows.append([float(c) if c else None for c in cells])
    if not head or not rows:
        sys.exit("%s: expected a header and at least one row" % path)
    return head, rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    head, rows = read(sys.argv[1])
    title = sys.argv[3] if len(sys.argv) > 3 else ""
    w, h, ml, mr, mt, mb = 680, 400, 60, 220, 36, 48
    xs = [math.log2(r[0]) for r in rows]
    vals = [v for r in rows for v in r[1:] if v is not None]
    lo = math.floor(min(vals) * 20) / 20 - 0.05
    hi = min(1.0, math.ceil(max(vals) * 20) / 20 + 0.02)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x1 = x0 + 1

    def px(x):
        return ml + (x - x0) / (x1 - x0) * (w - ml - mr)

    def py(v):
        return mt + (hi - v) / (hi - lo) * (h - mt - mb)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (w, h), '<rect width="100%" height="100%" fill="white"/>']
    if title:
        out.append('<text x="%d" y="20" font-size="14">%s</text>' % (ml, title))
    t = math.ceil(lo * 20) / 20
    while t <= hi + 1e-9:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (ml, w - mr, py(t), py(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.2f</text>' % (ml - 6, py(t) + 4, t))
        t += 0.05
    for r, x in zip(rows, xs):
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/>' % (px(x), px(x), mt, h - mb))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (px(x), h - mb + 16, r[0]))
    out.append('<text x="%d" y="%d" text-anchor="middle">training steps per stage (log scale)</text>'
               % ((ml + w - mr) // 2, h - 10))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'
               % (ml, mt, w - ml - mr, h - mt - mb))
    for k, name in enumerate(head[1:]):
        col = COLOURS[k % len(COLOURS)]
        dash = ' stroke-dasharray="5,4"' if name.startswith("baseline") else ""
        if name.startswith("target"):
            col, dash = "#888", ' stroke-dasharray="2,3"'
        have = [(x, r[k + 1]) for r, x in zip(rows, xs) if r[k + 1] is not None]
        ly = mt + 14 + 20 * k
        if len(have) == 1:
            (x, v), = have
            out.append('<rect x="%.1f" y="%.1f" width="9" height="9" fill="%s"/>' % (px(x) - 4.5, py(v) - 4.5, col))
            out.append('<rect x="%d" y="%d" width="9" height="9" fill="%s"/>' % (w - mr + 19, ly - 8.5, col))
            out.append('<text x="%d" y="%d">%s</text>' % (w - mr + 42, ly, name))
            continue
        pts = " ".join("%.1f,%.1f" % (px(x), py(v)) for x, v in have)
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>' % (pts, col, dash))
        for x, v in have:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(x), py(v), col))
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                   % (w - mr + 12, w - mr + 36, ly - 4, ly - 4, col, dash))
        out.append('<text x="%d" y="%d">%s</text>' % (w - mr + 42, ly, name))
    out.append("</svg>")
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("\n".join(out) + "\n")
    import os
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])


if __name__ == "__main__":
    main()
