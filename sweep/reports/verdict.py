"""The verdict across scale: FRN minus GN and FRN minus BN per rung of a ladder and per images per replica.

    python -m sweep.reports.verdict configs/ladder.yaml [--out results]   # results/<verdict>/verdict.{md,json,png}
    python run_sweep.py gather configs/ladder.yaml                        # the same, after every rung's tables

Each rung is a sweep (sweep/reports/ladder.py); its pairs are the sweep's own paired table (sweep/reports/tables.py: FRN
minus the other norm at equal B, m and seed over the rung's grid, 95% t interval and paired-t p from
sweep/reports/stats.py), so a rung reads here exactly as in its tables.md. A rung without results says
"not run yet". Works mid-ladder, like `gather`; no TensorFlow.

With a `baseline` rung, each other rung also gets the change of each FRN-minus-norm difference from the
baseline's: (FRN - norm) in the rung minus (FRN - norm) in the baseline, paired at equal B, m and seed
(the rungs share their grids), with its t interval and paired-t p: whether the gap shrinks, holds or grows
as one factor moves.
"""
import argparse
import os
import sys

from common.paths import RESULTS_ROOT
from common.storage import StorageError, write_atomic, write_json_atomic
from sweep.errors import SweepConfigError
from sweep.reports import ladder, tables
from sweep.reports.figures import legend_if_any, save_png
from sweep.reports.stats import LEVEL, paired_record
from sweep.store import layout
from sweep.store.status import FINISHED

NOT_RUN = "not run yet"


def _per_replica_batches(sweep):
    """[(B, B per replica)] of the rung's from-scratch FRN cells, largest first."""
    return sorted({(c.batch, c.per_replica_batch) for c in sweep.cells
                   if c.norm_label == "frn" and c.init_checkpoint is None}, reverse=True)


def _tables(rung):
    """The rung's tables (sweep/reports/tables.py), or None before any of its cells finished."""
    if not os.path.isdir(rung.results_dir):
        return None
    built = tables.build(rung.sweep.name, rung.sweep.cells, rung.results_dir)
    return built if built["counts"][FINISHED] else None


def _change(differences, baseline_differences):
    """(FRN - norm) here minus (FRN - norm) in the baseline at the (m, seed) both have: paired record or None."""
    shared = sorted(set(differences) & set(baseline_differences))
    changes = [differences[k] - baseline_differences[k] for k in shared]
    record = paired_record(changes)
    if record and not any(changes):
        record["identical"] = True  # e.g. a rung that moved only GN: its BN and FRN cells are the baseline's
    return record


def _rung_rows(rung, built, versus, baseline):
    """One row per B of the rung; `baseline` is (its label, its tables.frn_differences) or None."""
    pairs = {(p["vs"], p["batch"]): p for p in (built["frn_paired"] if built else [])}
    cells = f"{built['counts'][FINISHED] if built else 0}/{len(rung.sweep.cells)}"
    changes = baseline and rung.label != baseline[0]
    mine = tables.frn_differences(built["grid"]) if changes and built else {}
    rows = []
    for batch, per in _per_replica_batches(rung.sweep):
        row = {"rung": rung.label, "sweep": rung.sweep.name, "batch": batch, "per_replica": per, "run": bool(built),
               "cells_finished": cells, "versus": {norm: pairs.get((norm, batch)) for norm in versus}}
        if changes:
            row["change"] = {norm: _change(mine.get((norm, batch), {}), baseline[1].get((norm, batch), {}))
                             for norm in versus}
        rows.append(row)
    return rows


def build(the_ladder):
    """{"verdict", "versus", "baseline", "rows": one per rung and B: each versus norm's paired record or None,
    and with a baseline, each other rung's "change" from it per versus norm (a paired record or None)}."""
    built = {rung.label: _tables(rung) for rung in the_ladder.rungs}
    baseline = None
    if the_ladder.baseline:
        base = built[the_ladder.baseline]
        baseline = (the_ladder.baseline, tables.frn_differences(base["grid"]) if base else {})
    rows = [row for rung in the_ladder.rungs for row in _rung_rows(rung, built[rung.label], the_ladder.versus, baseline)]
    return {"verdict": the_ladder.name, "versus": list(the_ladder.versus), "baseline": the_ladder.baseline, "rows": rows}


def _p_text(p):
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def _record_text(record, higher, lower, neither):
    words = (higher if record["mean_diff"] > 0 else lower) if record["distinguishable"] else neither
    return f"{record['mean_diff']:+.1f} ± {record['ci']:.1f} ({_p_text(record['p_t'])}, n={record['pairs']}): {words}"


def _diff_text(record, run):
    if not run:
        return NOT_RUN
    if not record:
        return "pending (fewer than 2 pairs)"
    return _record_text(record, "FRN higher", "FRN lower", "not distinguishable")


def _change_text(row, norm):
    if "change" not in row:
        return "(baseline)"
    if not row["run"]:
        return NOT_RUN
    record = row["change"][norm]
    if not record:
        return "pending (fewer than 2 shared pairs)"
    if record.get("identical"):
        return f"0 (n={record['pairs']}): the same cells in both"
    return _record_text(record, "FRN gains", "FRN loses", "no change shown")


def markdown(verdict):
    versus, baseline = verdict["versus"], verdict.get("baseline")
    changes = [f"change of FRN - {tables.display_name(n)} from {baseline}" for n in versus] if baseline else []
    intro = ("Generated by `python run_sweep.py gather` on the ladder file; do not edit. FRN minus each norm in COCO AP x100, paired at "
             f"equal B, m and seed over each rung's grid: mean ± the {LEVEL:.0%} t interval's half-width, the paired-t "
             "p and the number of pairs n; 'FRN higher' / 'FRN lower' only where the interval excludes 0. Each rung's "
             "own tables.md has its main table and the rest of its paired table.")
    if baseline:
        intro += (f" A change column: that difference in the rung minus the same difference in {baseline}, paired at "
                  "equal B, m and seed (the rungs share their grids); 'FRN gains' / 'FRN loses' only where its interval "
                  "excludes 0, 'no change shown' otherwise, 'the same cells in both' where every pair is unchanged.")
    lines = [f"# The verdict across scale: `{verdict['verdict']}`", "", intro, "",
             "| rung | images per replica (B) | " + " | ".join(f"FRN - {tables.display_name(n)}" for n in versus)
             + "".join(f" | {c}" for c in changes) + " | cells |",
             "|---" * (len(versus) + len(changes) + 3) + "|"]
    for row in verdict["rows"]:
        diffs = " | ".join(_diff_text(row["versus"][n], row["run"]) for n in versus)
        moved = "".join(f" | {_change_text(row, n)}" for n in versus) if baseline else ""
        lines.append(f"| {row['rung']} | {row['per_replica']} (B={row['batch']}) | {diffs}{moved} | {row['cells_finished']} |")
    return "\n".join(lines) + "\n"


def plot(verdict, path):
    """One panel per versus norm: FRN minus it per rung (x), one series per images per replica."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rungs = list(dict.fromkeys(r["rung"] for r in verdict["rows"]))
    run = {r["rung"]: r["run"] for r in verdict["rows"]}
    per_replica = sorted({r["per_replica"] for r in verdict["rows"]}, reverse=True)
    fig, axes = plt.subplots(1, len(verdict["versus"]), figsize=(5 * len(verdict["versus"]), 4), squeeze=False)
    for ax, norm in zip(axes[0], verdict["versus"]):
        for i, per in enumerate(per_replica):
            points = [(rungs.index(r["rung"]) + 0.08 * (i - (len(per_replica) - 1) / 2), r["versus"][norm])
                      for r in verdict["rows"] if r["per_replica"] == per and r["versus"][norm]]
            if points:
                x, records = zip(*points)
                ax.errorbar(x, [p["mean_diff"] for p in records], yerr=[p["ci"] for p in records], marker="o",
                            capsize=3, linestyle="none", label=f"{per} images per replica")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(rungs)), [r if run[r] else f"{r}\n({NOT_RUN})" for r in rungs], fontsize=7,
                      rotation=20, ha="right")
        ax.set_xlim(-0.5, len(rungs) - 0.5)
        ax.set_ylabel(f"FRN - {norm}, COCO AP x100 (paired, {LEVEL:.0%} CI)")
        ax.set_title(f"FRN minus {norm}", fontsize=9)
        ax.grid(alpha=0.3)
        legend_if_any(ax, fontsize=7)
    save_png(fig, path)


def gather(ladder_file, results_root=RESULTS_ROOT, with_plot=True):
    """Writes <results_root>/<verdict>/verdict.md, verdict.json and verdict.png; returns the verdict."""
    return write(ladder.load(ladder_file), results_root, with_plot)


def write(the_ladder, results_root=RESULTS_ROOT, with_plot=True):
    """gather for a loaded Ladder."""
    verdict = build(the_ladder)
    out = layout.results_dir(results_root, verdict["verdict"])
    write_atomic(os.path.join(out, "verdict.md"), markdown(verdict))
    write_json_atomic(os.path.join(out, "verdict.json"), verdict)
    if with_plot:
        plot(verdict, os.path.join(out, "verdict.png"))
    return verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ladder", help="a ladder file, e.g. configs/ladder.yaml")
    parser.add_argument("--out", default=RESULTS_ROOT, help="where <verdict>/ is written (default: results/)")
    args = parser.parse_args(argv)
    try:
        verdict = gather(args.ladder, args.out)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StorageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"verdict: {os.path.join(args.out, verdict['verdict'], 'verdict.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
