"""FRN minus each other norm at every AP evaluation during training, paired at equal B, m and seed.

A sweep with `scaling.evals` >= 2 records each cell's AP on the reported split at evenly spaced steps
(the result's `ap_curve`). Pairing those points as the final ones are paired (sweep/reports/tables.py)
shows whether a gap opens, holds or closes as training goes on; the last column is the paired table's.
"""
from sweep.reports.stats import LEVEL, paired_record
from sweep.store.status import FINISHED


def _curve_points(cells, results):
    """{(norm, B, m, seed): {fraction of the schedule: AP x100}} of the finished from-scratch cells. The last
    point is the result's final `coco` AP (what the paired table pairs), earlier ones its `ap_curve`; APs are
    rounded as the tables round them."""
    points = {}
    for cell in cells:
        result = results.get(cell.id)
        if cell.init_checkpoint is not None or not result or result.get("status") != FINISHED:
            continue
        curve = {step / cell.steps: round(100 * ap, 2) for step, ap in result.get("ap_curve") or []}
        curve[result["steps"] / cell.steps] = round(100 * result["coco"]["AP"], 2)
        points[(cell.norm_label, cell.batch, cell.lr_mult, cell.seed)] = curve
    return points


def frn_gaps(cells, results):
    """[{"vs", "batch", "points": [{"fraction", **paired record}]}] per other norm and B, for the (norm, B)
    whose cells were evaluated at 2 or more points; [] for a sweep without evaluations during training."""
    points = _curve_points(cells, results)
    out = []
    for norm, batch in sorted({(k[0], k[1]) for k in points if k[0] != "frn"}, key=lambda k: (k[0], -k[1])):
        by_fraction = {}
        for (other, b, m, seed), theirs in points.items():
            mine = points.get(("frn", batch, m, seed))
            if (other, b) != (norm, batch) or not mine:
                continue
            for fraction in set(mine) & set(theirs):
                by_fraction.setdefault(fraction, []).append(mine[fraction] - theirs[fraction])
        records = [{"fraction": f, **r} for f, d in sorted(by_fraction.items()) if (r := paired_record(d))]
        if len(records) >= 2:
            out.append({"vs": norm, "batch": batch, "points": records})
    return out


def markdown_lines(gaps, display_name):
    """The tables.md section; no lines without gaps."""
    if not gaps:
        return []
    fractions = sorted({p["fraction"] for g in gaps for p in g["points"]})
    lines = ["", "## FRN minus each other norm during training", "",
             "The paired difference above at each AP evaluation during training (the reported split, `scaling.evals`), "
             f"by the fraction of the schedule done: whether a gap opens, holds or closes. Mean ± {LEVEL:.0%} t interval; "
             "* where the interval excludes 0; pairs as at the last point unless a column says n.", "",
             "| vs | B | pairs | " + " | ".join(f"{f:.0%}" for f in fractions) + " |", "|---" * (len(fractions) + 3) + "|"]
    for gap in gaps:
        by_fraction = {p["fraction"]: p for p in gap["points"]}
        pairs = gap["points"][-1]["pairs"]
        texts = []
        for f in fractions:
            r = by_fraction.get(f)
            texts.append(f"{r['mean_diff']:+.1f} ± {r['ci']:.1f}{'*' if r['distinguishable'] else ''}"
                         + (f" (n={r['pairs']})" if r["pairs"] != pairs else "") if r else "")
        lines.append(f"| {display_name(gap['vs'])} | {gap['batch']} | {pairs} | " + " | ".join(texts) + " |")
    return lines
