"""`run_sweep.py eval CONFIG [--only ...]`: re-score finished cells without training.

Each finished cell's run directory is evaluated by `python -m detection.train --mode eval` (its
params.yaml and latest checkpoint, e.g. after changing evaluation settings in the code); the
evaluation fields of its result file are replaced (coco, coco_selection, per-category AP,
detections, eval_step) and the training fields kept. Only a result of this very cell is touched
(sweep/store/results.py `load_result`: same format, same resolved config). Cells without a run
directory or checkpoint (e.g. results copied from another machine) are reported and left as they are.
"""
import json
import os
import subprocess
import sys

from common.paths import REPO_ROOT
from common.storage import read_text, write_json_atomic
from sweep.store import layout
from sweep.store.results import load_result
from sweep.store.status import EVALUATED, FAILED, FINISHED, SKIPPED

EVAL_FIELDS = ("coco", "coco_selection", "per_category", "per_category_selection", "detections", "eval_step")


def reevaluate(sweep, cells, results_root, runs_root, log=print):
    """{cell id: EVALUATED | 'skipped: why' | 'failed: why'} for the selected cells."""
    results_dir = layout.results_dir(results_root, sweep.name)
    statuses = {}
    for cell in cells:
        path = layout.cell_result_path(results_dir, cell.id)
        result, problem = load_result(path, cell)
        run_dir = layout.run_dir(runs_root, sweep.name, cell.id)
        if problem:
            statuses[cell.id] = f"{SKIPPED}: its result file {problem}"
        elif not result or result.get("status") != FINISHED:
            statuses[cell.id] = f"{SKIPPED}: not finished"
        elif not os.path.exists(os.path.join(run_dir, "params.yaml")):
            statuses[cell.id] = f"{SKIPPED}: no run directory {run_dir}"
        else:
            done = subprocess.run([sys.executable, "-m", "detection.train", "--mode", "eval", "--run_dir", run_dir],
                                  cwd=REPO_ROOT, capture_output=True, text=True)
            if done.returncode:
                last = (done.stderr.strip().splitlines() or ["exit " + str(done.returncode)])[-1]
                statuses[cell.id] = f"{FAILED}: {last}"
            else:
                metrics = json.loads(read_text(os.path.join(run_dir, "metrics.json")))
                before = result["coco"]["AP"]
                result.update({k: metrics.get(k) for k in EVAL_FIELDS})
                write_json_atomic(path, result)
                statuses[cell.id] = EVALUATED
                log(f"{cell.id}: AP {100 * before:.2f} -> {100 * result['coco']['AP']:.2f}")
        if statuses[cell.id] != EVALUATED:
            log(f"{cell.id}: {statuses[cell.id]}")
    return statuses
