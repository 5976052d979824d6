"""Reading a unit's result file, with the check that it is a result of this very cell (no TensorFlow
for local paths). Where the files are: sweep/store/layout.py; status names: sweep/store/status.py.
"""
import json
import os
import time

from common.storage import listdir, read_text, rename
from sweep.grid.cell import identity_of
from sweep.store.layout import cell_result_path, cells_dir

RESULT_FORMAT = 2  # bumped whenever the content of a cell result changes meaning


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
    if identity_of(result.get("cell")) != cell.identity:
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
    folder = cells_dir(results_dir)
    results = {}
    for name in sorted(listdir(folder)):
        if name.endswith(".json"):
            result = read_json(os.path.join(folder, name))
            if isinstance(result, dict) and "status" in result:
                results[name[:-5]] = result
    return results


def set_aside_invalid(results_dir, cells, log):
    """Renames (never deletes) each cell's result file that is not a valid result of it, once, with
    one message each; the cell then reruns from its last good checkpoint. Returns the renamed paths."""
    moved = []
    for cell in cells:
        path = cell_result_path(results_dir, cell.id)
        _, problem = load_result(path, cell)
        if not problem:
            continue
        aside = f"{path}.invalid-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            rename(path, aside)
        except FileNotFoundError:  # another runner set it aside first
            continue
        moved.append(aside)
        log(f"{cell.id}: its result file {problem}; moved to {os.path.basename(aside)}, "
            f"the cell reruns from its last good checkpoint")
    return moved
