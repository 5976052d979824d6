"""Where a sweep keeps things, and atomic JSON files (no TensorFlow).

results/<sweep>/cells/<cell id>.json   one small JSON per finished, failed or diverged cell
results/<sweep>/tables.{md,csv,json}, ap_vs_batch.png   made by `gather`
runs/<sweep>/<cell id>/                checkpoints, events, params.yaml, log (git-ignored)
"""
import json
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_ROOT = os.path.join(REPO_ROOT, "results")
RUNS_ROOT = os.path.join(REPO_ROOT, "runs")
FINISHED, FAILED, DIVERGED = "finished", "failed", "diverged"


def cell_result_path(results_dir, cell_id):
    return os.path.join(results_dir, "cells", f"{cell_id}.json")


def write_json_atomic(path, payload):
    """Temporary file + rename: a reader sees the old file or the new one, never half of one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path):
    """The JSON at `path`, or None when it is missing or unreadable (a half-written file never is)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_cell_results(results_dir):
    """{cell id: result} of every readable cell file."""
    folder = os.path.join(results_dir, "cells")
    results = {}
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                result = read_json(os.path.join(folder, name))
                if isinstance(result, dict) and "status" in result:
                    results[name[:-5]] = result
    return results
