"""Where a sweep keeps things, and reading its result files (no TensorFlow for local paths).

results/<sweep>/cells/<cell id>.json   one small JSON per finished, failed or diverged cell
results/<sweep>/claims/<cell id>.json  who is running a cell now (detection/sweep/claims.py)
results/<sweep>/tables.{md,csv,json}, ap_vs_batch.png   made by `gather`
runs/<sweep>/<cell id>/                checkpoints, events, params.yaml, log (git-ignored)
"""
import json
import os

from detection.storage import listdir, read_text, write_json_atomic  # noqa: F401  (re-exported)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_ROOT = os.path.join(REPO_ROOT, "results")
RUNS_ROOT = os.path.join(REPO_ROOT, "runs")
FINISHED, FAILED, DIVERGED = "finished", "failed", "diverged"
RESULT_FORMAT = 2  # bumped whenever the content of a cell result changes meaning


def cell_result_path(results_dir, cell_id):
    return os.path.join(results_dir, "cells", f"{cell_id}.json")


def read_json(path):
    """The JSON at `path`, or None when it is missing or unreadable (a half-written file never is)."""
    try:
        return json.loads(read_text(path))
    except Exception:  # missing, unreadable or not JSON (os or gfile errors)
        return None


def check_result(result, cell):
    """Why `result` (a parsed cell result file) is not a result of `cell`, or None when it is."""
    if not isinstance(result, dict) or "status" not in result:
        return "unreadable (truncated, or not a cell result)"
    if result.get("format") != RESULT_FORMAT:
        return (f"written by another version of the sweep code (result format {result.get('format')}, "
                f"this code writes {RESULT_FORMAT})")
    if result.get("cell") != json.loads(cell.canonical):
        return "its resolved cell config differs from this sweep's cell (another sweep version)"
    return None


def load_result(path, cell):
    """(result, problem): the valid result of `cell` at `path` or None, and why a present file is not valid."""
    try:
        text = read_text(path)
    except Exception:  # missing: no result yet
        return None, None
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    problem = check_result(result, cell)
    return (None, problem) if problem else (result, None)


def read_cell_results(results_dir):
    """{cell id: parsed result} of every readable cell file (check each with check_result)."""
    folder = os.path.join(results_dir, "cells")
    results = {}
    for name in sorted(listdir(folder)):
        if name.endswith(".json"):
            result = read_json(os.path.join(folder, name))
            if isinstance(result, dict) and "status" in result:
                results[name[:-5]] = result
    return results
