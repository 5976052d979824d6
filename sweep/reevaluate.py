"""`run_sweep.py eval CONFIG [--only ...]`: re-score finished cells without training.

Each finished cell's run directory is evaluated by `python -m detection.train --mode eval` (its
params.yaml and latest checkpoint, e.g. after changing evaluation settings in the code); the
evaluation fields of its result file are replaced (coco, coco_selection, per-category AP,
detections, eval_step) and the training fields kept. Cells without a run directory or checkpoint
(e.g. results copied from another machine) are reported and left as they are.
"""
import json
import os
import subprocess
import sys

from common.paths import REPO_ROOT
from common.storage import read_text, write_json_atomic
from sweep.results import FINISHED, cell_result_path, read_json

EVAL_FIELDS = ("coco", "coco_selection", "per_category", "per_category_selection", "detections", "eval_step")


def reevaluate(sweep, cells, results_root, runs_root, log=print):
    """{cell id: 'evaluated' | 'skipped: why' | 'failed: why'} for the selected cells."""
    results_dir = os.path.join(results_root, sweep.name)
    statuses = {}
    for cell in cells:
        path = cell_result_path(results_dir, cell.id)
        result = read_json(path)
        run_dir = os.path.join(runs_root, sweep.name, cell.id)
        if not result or result.get("status") != FINISHED:
            statuses[cell.id] = "skipped: not finished"
        elif not os.path.exists(os.path.join(run_dir, "params.yaml")):
            statuses[cell.id] = f"skipped: no run directory {run_dir}"
        else:
            done = subprocess.run([sys.executable, "-m", "detection.train", "--mode", "eval", "--run_dir", run_dir],
                                  cwd=REPO_ROOT, capture_output=True, text=True)
            if done.returncode:
                statuses[cell.id] = f"failed: {(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}"
            else:
                metrics = json.loads(read_text(os.path.join(run_dir, "metrics.json")))
                before = result["coco"]["AP"]
                result.update({k: metrics.get(k) for k in EVAL_FIELDS})
                write_json_atomic(path, result)
                statuses[cell.id] = "evaluated"
                log(f"{cell.id}: AP {100 * before:.2f} -> {100 * result['coco']['AP']:.2f}")
        if statuses[cell.id] != "evaluated":
            log(f"{cell.id}: {statuses[cell.id]}")
    return statuses
