"""`run_sweep.py run`: runs the cells in order, one child process each, skipping finished ones.

A cell's id derives from its resolved config, so a rerun skips finished cells and resumes an
interrupted one from its last checkpoint (its run directory keeps them). A failed or diverged
cell is recorded and the sweep goes on; the exit code says whether every cell finished.
"""
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import time

from detection.sweep.results import (FAILED, FINISHED, RESULTS_ROOT, RUNS_ROOT, cell_result_path, read_json,
                                     write_json_atomic)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def select(cells, only):
    """Cells whose id matches any of the comma-separated globs or substrings in `only`."""
    if not only:
        return list(cells)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    return [c for c in cells if any(fnmatch.fnmatch(c.id, p) or p in c.id for p in patterns)]


def pretrain_dir(runs_root, name, pretrain):
    digest = hashlib.sha256(json.dumps(pretrain, sort_keys=True).encode()).hexdigest()[:8]
    return os.path.join(runs_root, name, f"pretrain-{digest}")


def ensure_pretrained(name, pretrain, results_dir, runs_root, log):
    """Runs the sweep's pretrain step unless its result exists; returns its checkpoint dir or None."""
    run_dir = pretrain_dir(runs_root, name, pretrain)
    result_path = os.path.join(results_dir, f"{os.path.basename(run_dir)}.json")
    result = read_json(result_path)
    if not (result and result.get("status") == FINISHED):
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "spec.json"), "w") as f:
            json.dump(dict(pretrain), f, indent=1)
        log(f"pretrain: backbone classifier on object crops, {dict(pretrain)['steps']} steps ...")
        with open(os.path.join(run_dir, "log.txt"), "a") as child_log:
            subprocess.run([sys.executable, "-m", "detection.sweep.pretrain_main", "--spec",
                            os.path.join(run_dir, "spec.json"), "--result", result_path],
                           cwd=REPO_ROOT, stdout=child_log, stderr=subprocess.STDOUT, check=False)
        result = read_json(result_path) or {"status": "failed", "error": "the pretrain process left no result"}
        log(f"pretrain: {result['status']}" + (f", top-1 on its crops {result['train_top1']:.3f}, "
                                               f"{result['wall_seconds']:.0f} s" if result["status"] == FINISHED
                                               else f": {result.get('error', '')}"))
    return result["checkpoint_dir"] if result.get("status") == FINISHED else None


def run(name, cells, results_root=RESULTS_ROOT, runs_root=RUNS_ROOT, log=print):
    """Runs every unfinished cell; returns {cell id: status}."""
    results_dir = os.path.join(results_root, name)
    statuses, durations = {}, []
    for index, cell in enumerate(cells, start=1):
        result_path = cell_result_path(results_dir, cell.id)
        previous = read_json(result_path)
        if previous and previous.get("status") == FINISHED:
            statuses[cell.id] = FINISHED
            log(f"[{index}/{len(cells)}] {cell.id}: finished before, skipped")
            continue
        run_dir = os.path.join(runs_root, name, cell.id)
        os.makedirs(run_dir, exist_ok=True)
        resolved = cell.as_dict()
        if cell.pretrain:
            resolved["init_checkpoint"] = ensure_pretrained(name, cell.pretrain, results_dir, runs_root, log)
            if resolved["init_checkpoint"] is None:  # never train a "fine-tuned" cell from scratch
                write_json_atomic(result_path, {"status": FAILED, "cell": cell.as_dict(), "id": cell.id,
                                                "error": "its pretrain step failed (see results/<sweep>/pretrain-*.json)"})
                statuses[cell.id] = FAILED
                log(f"[{index}/{len(cells)}] {cell.id}: FAILED: its pretrain step failed")
                continue
        with open(os.path.join(run_dir, "cell.json"), "w") as f:
            json.dump(resolved, f, indent=1)
        log(f"[{index}/{len(cells)}] {cell.id}: {cell.norm_label} B={cell.batch} ({cell.per_replica_batch}/replica) "
            f"lr={cell.lr:g} steps={cell.steps} ...")
        start = time.time()
        with open(os.path.join(run_dir, "log.txt"), "a") as child_log:
            subprocess.run([sys.executable, "-m", "detection.sweep.cell_main", "--cell",
                            os.path.join(run_dir, "cell.json"), "--result", result_path],
                           cwd=REPO_ROOT, stdout=child_log, stderr=subprocess.STDOUT, check=False)
        durations.append(time.time() - start)
        result = read_json(result_path) or {"status": "failed", "error": "the cell process left no result"}
        statuses[cell.id] = result["status"]
        remaining = sum(1 for c in cells[index:] if (read_json(cell_result_path(results_dir, c.id)) or {})
                        .get("status") != FINISHED)
        eta = remaining * sum(durations) / len(durations)
        log(f"[{index}/{len(cells)}] {cell.id}: {_summary(result)}; {durations[-1]:.0f} s; "
            f"sweep ETA {eta / 60:.1f} min")
    return statuses


def _summary(result):
    if result["status"] != FINISHED:
        step = f" at step {result['diverged_step']}" if result.get("diverged_step") is not None else ""
        return f"{result['status'].upper()}{step}: {result.get('error', '')}"[:300]
    ips = result.get("images_per_second")
    return (f"AP {result['coco']['AP']:.3f}, step {result['steps']}, loss {result['final_loss']:.3f}, "
            f"{ips:.1f} images/s" if ips else f"AP {result['coco']['AP']:.3f}")
