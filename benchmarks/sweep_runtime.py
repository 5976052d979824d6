"""A sweep's runtime on the machine of a reference run, from that run's per-cell records (no TensorFlow).

    python -m benchmarks.sweep_runtime configs/ladder_r1_schedule4x.yaml
    python -m benchmarks.sweep_runtime configs/ladder_r2_resolution2x.yaml --step-factor 3
Each planned cell takes the wall times of the reference cells of its norm and B (median: typical;
mean: with the reference run's slow outliers), split into steady training (steady_step_seconds x steps,
as a fraction of the wall, from the cells that recorded phases) and fixed cost. Training scales with the
planned steps and --step-factor (e.g. a measured slowdown at a higher resolution), which also scales
evaluation; each AP point (scaling.evals) more or fewer than the reference cell's adds or removes one
evaluation of the reported split. Hours on the sweep's `jobs` lanes. Norms the reference lacks are timed
as their stand-in (--stand-in).
"""
import argparse
import glob
import json
import os
import statistics

from common.paths import REPO_ROOT
from sweep.grid.cell import Cell
from sweep.grid.spec import load
from sweep.store.status import FINISHED

REFERENCE = os.path.join(REPO_ROOT, "results", "reference", "embedded_study")


def _records(folder):
    found = {}
    for path in glob.glob(os.path.join(folder, "cells", "*.json")):
        with open(path) as f:
            record = json.load(f)
        if record.get("status") == FINISHED:
            cell = Cell.from_dict(record["cell"])
            found.setdefault((cell.norm_label, cell.batch), []).append(record)
    return found


def _phase(records, name):
    return statistics.median(r["phases"][name] for r in records if r.get("phases"))


def _evals(record):
    """AP points the reference cell evaluated its reported split at (its eval_val phase sums them)."""
    return record["cell"].get("evals") or 1


def estimate(sweep, records, step_factor=1.0, stand_in=None):
    """{"median": hours, "mean": hours} of `sweep` on its jobs lanes."""
    stand_in = stand_in or {}
    hours = {}
    for name, average in (("median", statistics.median), ("mean", statistics.mean)):
        total = 0.0
        for cell in sweep.cells:
            key = (stand_in.get(cell.norm_label, cell.norm_label), cell.batch)
            if key not in records:
                raise SystemExit(f"no reference cell for norm {key[0]!r} at B = {key[1]}; give --stand-in "
                                 f"{cell.norm_label}=NORM (reference: {', '.join(sorted({n for n, _ in records}))})")
            same_b = [r for (_, b), group in records.items() if b == cell.batch for r in group]
            timed = [r for r in records[key] if r.get("phases")] or [r for r in same_b if r.get("phases")]
            share = statistics.median(r["steady_step_seconds"] * r["steps"] / r["wall_seconds"] for r in timed)
            wall = average([r["wall_seconds"] for r in records[key]])
            train, evaluations = wall * share, _phase(same_b, "eval_val")
            fixed = wall - train + (step_factor - 1) * (evaluations + _phase(same_b, "eval_select"))
            steps = cell.steps / records[key][0]["steps"]
            reference_evals = _evals(records[key][0])
            extra = (cell.evals - reference_evals) * evaluations / reference_evals
            total += fixed + train * steps * step_factor + extra * step_factor
        hours[name] = total / sweep.jobs / 3600
    return hours


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="the sweep file to estimate")
    parser.add_argument("--reference", default=REFERENCE, help="a results folder with cells/ (default: the embedded study's)")
    parser.add_argument("--step-factor", type=float, default=1.0, help="slowdown of a step and an evaluation (default 1)")
    parser.add_argument("--stand-in", default="in=gn,frn_relu=frn", help="norm=timed-as pairs (default in=gn,frn_relu=frn)")
    args = parser.parse_args(argv)
    sweep = load(args.sweep)
    stand_in = dict(pair.split("=", 1) for pair in args.stand_in.split(",") if pair)
    hours = estimate(sweep, _records(args.reference), args.step_factor, stand_in)
    print(f"{sweep.name}: {len(sweep.cells)} cells, {sweep.jobs} lanes: about {hours['median']:.1f} h "
          f"(medians), up to {hours['mean']:.1f} h (means)")


if __name__ == "__main__":
    main()
