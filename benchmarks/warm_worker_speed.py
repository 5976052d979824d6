"""A process per cell against one warm worker per lane (sweep/execution/cell_worker.py), in one run on this machine.

    python -m benchmarks.warm_worker_speed                          # the default's 3 from-scratch B=16 cells
    python -m benchmarks.warm_worker_speed configs/default.yaml --only 'scratch-*'   # any sweep and subset

Runs the same cells twice into fresh folders, `--process-per-cell` first, then warm, nothing else
should run meanwhile. Prints each run's wall time, its cells' fixed cost (benchmarks/cell_phases.py:
everything but steady training) and phases, the ratios warm / fresh, and whether every cell's AP is
the same to 1e-6 (it must be: same machine, same seed).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.cell_phases import row
from common.paths import REPO_ROOT

PARTS = ("startup", "build", "trace", "train", "other", "eval", "record", "wall", "fixed")


def _run(config, only, folder, *extra):
    start = time.time()
    done = subprocess.run([sys.executable, "run_sweep.py", "run", config, "--only", only, "--results",
                           os.path.join(folder, "results"), "--runs", os.path.join(folder, "runs"), *extra],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"run_sweep.py exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cells = {}
    for path in glob.glob(os.path.join(folder, "results", "*", "cells", "*.json")):
        with open(path) as f:
            cells[os.path.basename(path)[:-5]] = json.load(f)
    totals = {p: sum(row(r)[p] for r in cells.values()) for p in PARTS}
    return time.time() - start, totals, {cid: r["coco"]["AP"] for cid, r in cells.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=os.path.join(REPO_ROOT, "configs", "default.yaml"))
    parser.add_argument("--only", default="scratch-*-b16-*")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="warm_worker_speed_")
    runs = {name: _run(args.config, args.only, os.path.join(folder, name), *extra)
            for name, extra in (("fresh", ["--process-per-cell"]), ("warm", []))}
    print(f"{'':>6}{'run s':>8}" + "".join(f"{p:>9}" for p in PARTS) + f"{'fixed %':>9}")
    for name, (seconds, totals, _) in runs.items():
        print(f"{name:>6}{seconds:>8.1f}" + "".join(f"{totals[p]:>9.1f}" for p in PARTS)
              + f"{100 * totals['fixed'] / totals['wall']:>9.1f}")
    (fresh_s, fresh, fresh_ap), (warm_s, warm, warm_ap) = runs["fresh"], runs["warm"]
    same = fresh_ap.keys() == warm_ap.keys() and all(abs(fresh_ap[k] - warm_ap[k]) <= 1e-6 for k in fresh_ap)
    print(f"warm / fresh: run {warm_s / fresh_s:.3f}, cells' wall {warm['wall'] / fresh['wall']:.3f}, "
          f"fixed cost {warm['fixed'] / fresh['fixed']:.3f}; {len(fresh_ap)} cells, AP the same to 1e-6: {same}")


if __name__ == "__main__":
    main()
