"""`run_sweep.py run`: runs the unfinished cells, one child process each, `jobs` at a time.

A cell's id derives from its resolved config, so a rerun skips finished cells and resumes an
interrupted one from its last checkpoint (its run directory keeps them). Every cell (and the
pretrain step) is claimed before it starts (detection/sweep/claims.py), so several runners on one
results directory, or `jobs` workers of one runner, run each cell exactly once. A failed or
diverged cell is recorded and the sweep goes on; each runner tries a cell at most once per
invocation, and the exit code says whether every cell finished.
"""
import ctypes
import fnmatch
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from detection.storage import is_remote, mtime
from detection.sweep import claims
from detection.sweep.errors import SweepConfigError
from detection.sweep.results import (DIVERGED, FAILED, FINISHED, RESULT_FORMAT, RESULTS_ROOT, RUNS_ROOT, cell_result_path,
                                     load_result, read_json, write_json_atomic)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLL_SECONDS = 2.0
DONE = (FINISHED, DIVERGED)  # not rerun: a diverged cell is a result (see its step), not a crash


def select(cells, only):
    """Cells whose id matches any of the comma-separated globs or substrings in `only`."""
    if not only:
        return list(cells)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    return [c for c in cells if any(fnmatch.fnmatch(c.id, p) or p in c.id for p in patterns)]


def pretrain_dir(runs_root, name, pretrain):
    digest = hashlib.sha256(json.dumps(pretrain, sort_keys=True).encode()).hexdigest()[:8]
    return os.path.join(runs_root, name, f"pretrain-{digest}")


def _die_with_parent():
    """Child side of Popen: SIGKILL when the runner dies, so no orphan keeps training a re-claimed cell."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the claim's heartbeat timeout still applies
        pass


def run_child(module, args, log_path, claim):
    """Runs `python -m module args` with its output in log_path, heartbeating `claim`; returns the exit code."""
    with open(log_path, "a") as child_log:
        process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO_ROOT, stdout=child_log,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        while True:
            try:
                return process.wait(timeout=claims.HEARTBEAT_EVERY)
            except subprocess.TimeoutExpired:
                claim.heartbeat()


class Sweep:
    """One invocation of `run`: shared state of its worker threads."""

    def __init__(self, name, cells, results_root, runs_root, log, stale_after, jobs=1):
        self.name, self.cells, self.log, self.stale_after, self.jobs = name, cells, log, stale_after, jobs
        self.results_dir = os.path.join(results_root, name)
        self.runs_root = runs_root
        self.started = time.time()
        self.lock = threading.Lock()
        self.tried, self.durations = set(), []

    def result(self, unit_path):
        return read_json(unit_path) or {}

    def settled(self, path, unit, cell=None):
        """Done for this invocation: finished or diverged, or tried (by us, or by anyone since we started).

        A cell's result file that is unreadable, of another result format or of another config is
        set aside (renamed, never deleted) with a message, and the cell reruns from its last
        good checkpoint.
        """
        if unit in self.tried:
            return True
        if cell is None:
            result = self.result(path)
        else:
            result, problem = load_result(path, cell)
            if problem:
                self.set_aside(path, cell, problem)
            result = result or {}
        if result.get("status") in DONE:
            return True
        return bool(result) and (mtime(path) or 0) >= self.started

    def set_aside(self, path, cell, problem):
        aside = f"{path}.invalid-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # another runner set it aside first
            return
        self.log(f"{cell.id}: its result file {problem}; moved to {os.path.basename(aside)}, "
                 f"the cell reruns from its last good checkpoint")

    # -- pretrain ------------------------------------------------------------------------------
    def ensure_pretrained(self, pretrain, wait=True):
        """Runs the sweep's pretrain step once (claimed); returns its checkpoint dir, or None if it failed.

        wait=False: return at once (None) while another worker or runner holds the step.
        """
        run_dir = pretrain_dir(self.runs_root, self.name, pretrain)
        unit = os.path.basename(run_dir)
        path = os.path.join(self.results_dir, f"{unit}.json")
        while not self.settled(path, unit):
            claim = claims.try_claim(claims.claim_path(self.results_dir, unit), self.stale_after, self.log)
            if claim is None:
                if not wait:
                    return None
                time.sleep(POLL_SECONDS)  # another worker is pretraining
                continue
            with claim:
                if self.settled(path, unit):
                    break
                with self.lock:
                    self.tried.add(unit)
                os.makedirs(run_dir, exist_ok=True)
                write_json_atomic(os.path.join(run_dir, "spec.json"), dict(pretrain))
                self.log(f"pretrain: backbone classifier on object crops, {dict(pretrain)['steps']} steps ...")
                run_child("detection.sweep.pretrain_main", ["--spec", os.path.join(run_dir, "spec.json"),
                                                            "--result", path], os.path.join(run_dir, "log.txt"), claim)
                result = read_json(path) or {"status": FAILED, "error": "the pretrain process left no result"}
                self.log(f"pretrain: {result['status']}" + (
                    f", top-1 on its crops {result['train_top1']:.3f}, {result['wall_seconds']:.0f} s"
                    if result["status"] == FINISHED else f": {result.get('error', '')}"))
        result = self.result(path)
        return result["checkpoint_dir"] if result.get("status") == FINISHED else None

    # -- cells ---------------------------------------------------------------------------------
    def run_cell(self, index, cell, claim):
        result_path = cell_result_path(self.results_dir, cell.id)
        run_dir = os.path.join(self.runs_root, self.name, cell.id)
        os.makedirs(run_dir, exist_ok=True)
        init_checkpoint = cell.init_checkpoint
        tag = f"[{index}/{len(self.cells)}] {cell.id}"
        if cell.pretrain:
            init_checkpoint = ensure_pretrained(self, cell.pretrain)
            if init_checkpoint is None:  # never train a "fine-tuned" cell from scratch
                write_json_atomic(result_path, {"status": FAILED, "cell": cell.as_dict(), "id": cell.id,
                                                "format": RESULT_FORMAT,
                                                "error": "its pretrain step failed (see results/<sweep>/pretrain-*.json)"})
                self.log(f"{tag}: FAILED: its pretrain step failed")
                return
        write_json_atomic(os.path.join(run_dir, "cell.json"), {"cell": cell.as_dict(), "init_checkpoint": init_checkpoint})
        self.log(f"{tag}: {cell.norm_label} B={cell.batch} ({cell.per_replica_batch}/replica) "
                 f"lr={cell.lr:g} steps={cell.steps} ...")
        start = time.time()
        run_child("detection.sweep.cell_main", ["--cell", os.path.join(run_dir, "cell.json"), "--result", result_path],
                  os.path.join(run_dir, "log.txt"), claim)
        with self.lock:
            self.durations.append(time.time() - start)
            remaining = sum(not self.settled(cell_result_path(self.results_dir, c.id), c.id, c) for c in self.cells)
            eta = remaining * sum(self.durations) / len(self.durations) / self.jobs
        result = self.result(result_path) or {"status": FAILED, "error": "the cell process left no result"}
        self.log(f"{tag}: {_summary(result)}; {self.durations[-1]:.0f} s; sweep ETA {eta / 60:.1f} min")

    def work(self):
        """One worker: claims and runs unsettled cells in order until every cell is settled.

        A pretrain step some unsettled cell needs is started first by whichever worker gets it, so
        the fine-tuned cells do not wait for it at the end of the sweep.
        """
        for pretrain in dict.fromkeys(c.pretrain for c in self.cells if c.pretrain):
            if any(c.pretrain == pretrain and not self.settled(cell_result_path(self.results_dir, c.id), c.id, c)
                   for c in self.cells):
                ensure_pretrained(self, pretrain, False)
        while True:
            waiting = False
            for index, cell in enumerate(self.cells, start=1):
                path = cell_result_path(self.results_dir, cell.id)
                if self.settled(path, cell.id, cell):
                    continue
                claim = claims.try_claim(claims.claim_path(self.results_dir, cell.id), self.stale_after, self.log)
                if claim is None:
                    waiting = True  # another worker or runner has it
                    continue
                with claim:
                    with self.lock:
                        if self.settled(path, cell.id, cell):
                            continue
                        self.tried.add(cell.id)
                    self.run_cell(index, cell, claim)
            if not waiting:
                return
            time.sleep(POLL_SECONDS)


def check_roots(results_root, runs_root):
    for root in (results_root, runs_root):
        if is_remote(root):  # claims need flock and children append their logs there
            raise SweepConfigError(f"run needs local (or NFS) --results and --runs, got {root}; a single cell "
                                   f"trains on gs:// with python -m detection.train --run_dir gs://...")


def ensure_pretrained(sweep, pretrain, wait=True):
    return sweep.ensure_pretrained(pretrain, wait)


def run(name, cells, results_root=RESULTS_ROOT, runs_root=RUNS_ROOT, log=print, jobs=1,
        stale_after=claims.STALE_AFTER):
    """Runs every unfinished cell with `jobs` concurrent child processes; returns {cell id: status}."""
    for root in (results_root, runs_root):
        if is_remote(root):  # claims need flock and children append their logs there
            raise SweepConfigError(f"run needs local (or NFS) --results and --runs, got {root}; a single cell "
                               f"trains on gs:// with python -m detection.train --run_dir gs://...")
    sweep = Sweep(name, cells, results_root, runs_root, log, stale_after, jobs)
    for index, cell in enumerate(cells, start=1):
        result, _ = load_result(cell_result_path(sweep.results_dir, cell.id), cell)
        if result and result["status"] in DONE:
            log(f"[{index}/{len(cells)}] {cell.id}: {result['status']} before, skipped")
    errors = []

    def work():
        try:
            sweep.work()
        except BaseException as error:  # surfaced after the other workers finish, never lost in a thread
            errors.append(error)

    workers = [threading.Thread(target=work, name=f"sweep-worker-{i}", daemon=True) for i in range(jobs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return {c.id: (load_result(cell_result_path(sweep.results_dir, c.id), c)[0] or {}).get("status", "pending")
            for c in cells}


def _summary(result):
    if result["status"] != FINISHED:
        step = f" at step {result['diverged_step']}" if result.get("diverged_step") is not None else ""
        return f"{result['status'].upper()}{step}: {result.get('error', '')}"[:300]
    ips = result.get("images_per_second")
    return (f"AP {result['coco']['AP']:.3f}, step {result['steps']}, loss {result['final_loss']:.3f}, "
            f"{ips:.1f} images/s" if ips else f"AP {result['coco']['AP']:.3f}")
