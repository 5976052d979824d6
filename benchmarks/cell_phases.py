"""Where each cell's wall time went, from a sweep's cell records (the `phases` each cell writes).

    python -m benchmarks.cell_phases results/default          # or results/reference/<sweep>
Columns (seconds): start-up (process start, imports), build (strategy, model, input, restore),
trace (the first train loop's excess over the steady step time), train (steady steps),
other (checkpoints, summaries and loop gaps inside training), eval (eval model build + each
split), record (result, curves); fixed = wall - steady training, and its share of the wall.
The runner's own per-cell line adds process exit (os._exit: under a second).
"""
import argparse
import glob
import json
import os
import statistics

from detection.phases import phase_total

COLUMNS = ("startup", "build", "trace", "train", "other", "eval", "record", "wall", "fixed", "fixed %")


def row(result):
    """The table row of one cell record, or None when it has no phases (older records)."""
    phases = result.get("phases")
    if not phases or not result.get("steady_step_seconds"):
        return None
    steady = result.get("steady_train_seconds")  # older records: the median step time x steps (may overshoot)
    steady = result["steady_step_seconds"] * result["steps_this_run"] if steady is None else steady
    trace = phases.get("trace", 0.0)
    train = phases.get("train", 0.0)
    evaluation = phase_total(phases, "eval_")
    wall = sum(v for k, v in phases.items() if k != "trace")
    fixed = wall - steady
    return {"startup": phases.get("startup", 0.0), "build": phases.get("build", 0.0), "trace": trace,
            "train": steady, "other": train - trace - steady, "eval": evaluation,
            "record": phases.get("record", 0.0), "wall": wall, "fixed": fixed, "fixed %": 100 * fixed / wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a sweep's results folder (holding cells/)")
    args = parser.parse_args(argv)
    rows = {}
    for path in sorted(glob.glob(os.path.join(args.results, "cells", "*.json"))):
        with open(path) as f:
            found = row(json.load(f))
        if found:
            rows[os.path.basename(path)[:-5]] = found
    if not rows:
        raise SystemExit(f"no cell record with phases under {args.results}/cells (cells run before they were recorded?)")
    width = max(len(name) for name in rows)
    print(f"{'cell':<{width}}" + "".join(f"{c:>9}" for c in COLUMNS))
    for name, values in rows.items():
        print(f"{name:<{width}}" + "".join(f"{values[c]:>9.1f}" for c in COLUMNS))
    totals = {c: sum(r[c] for r in rows.values()) for c in COLUMNS}
    totals["fixed %"] = 100 * totals["fixed"] / totals["wall"]
    print(f"{'total':<{width}}" + "".join(f"{totals[c]:>9.1f}" for c in COLUMNS))
    median = statistics.median(r["fixed %"] for r in rows.values())
    print(f"fixed cost: {totals['fixed %']:.1f}% of all cells' wall time (median cell {median:.1f}%); "
          f"largest fixed phase: {max(('startup', 'build', 'trace', 'other', 'eval', 'record'), key=totals.get)}")


if __name__ == "__main__":
    main()
