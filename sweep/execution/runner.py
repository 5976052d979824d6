"""`run_sweep.py run`: runs the unfinished cells, one child process each, `jobs` at a time.

A cell's id derives from its resolved config, so a rerun skips finished cells and resumes an
interrupted one from its last checkpoint (its run directory keeps them). Every cell (and the
pretrain step) is claimed before it starts (sweep/store/claims.py), so several runners on one
results directory, or `jobs` workers of one runner, run each cell exactly once. A failed or
diverged cell is recorded and the sweep goes on; each runner tries a cell at most once per
invocation, and the exit code says whether every cell finished.
"""
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import is_remote, makedirs, mtime, write_json_atomic
from detection import gpu_inventory, tf_config
from detection.phases import PROGRESS_FILE, SPAWN_ENV
from sweep.errors import SweepConfigError
from sweep.execution.worker_pool import WarmWorker
from sweep.store import claims, layout
from sweep.store.layout import cell_result_path
from sweep.store.results import RESULT_FORMAT, load_result, read_json, set_aside_invalid
from sweep.store.status import DONE, FAILED, FINISHED, PENDING, PREEMPTED, PREEMPTED_EXIT, WORKER_DONE

POLL_SECONDS = 2.0
PRETRAIN_POLL_SECONDS = 30.0


def check_roots(results_root, runs_root):
    """Claims need flock, and children append their logs there: both roots must be local (or NFS)."""
    for root in (results_root, runs_root):
        if is_remote(root):
            raise SweepConfigError(f"run needs local (or NFS) --results and --runs, got {root}; a single cell "
                                   f"trains on gs:// with python -m detection.train --run_dir gs://...")


def _die_with_parent():
    """Child side of Popen: SIGKILL when the runner dies, so no orphan keeps training a re-claimed cell."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the claim's heartbeat timeout still applies
        pass


def progress_line(run_dir, tag):
    """'tag: step k/N, x images/s, loss y' from the child's progress file (detection/phases.py), or None."""
    progress = None if is_remote(run_dir) else read_json(os.path.join(run_dir, PROGRESS_FILE))
    if not progress:
        return None
    speed = f", {progress['images_per_second']:.1f} images/s" if progress.get("images_per_second") else ""
    loss = f", loss {progress['loss']:.3f}" if progress.get("loss") is not None else ""
    return f"{tag}: step {progress['step']}/{progress['steps']}{speed}{loss}"


def run_child(module, run_dir, spec, result_path, claim, report=None, env=None, worker=None):
    """Runs `python -m module` on `spec` (written to run_dir/spec.json), or hands the cell to a warm
    `worker` (sweep/execution/worker_pool.py), heartbeating `claim`; returns the exit code. Its output goes to
    run_dir/log.txt, or to ours when run_dir is remote (gs://).
    `report()`: called every PROGRESS_EVERY seconds while it runs (the cell's progress line).
    `env`: variables set for the child (its lane's GPUs; a worker has its lane's already)."""
    spec_path = os.path.join(run_dir, "spec.json")
    write_json_atomic(spec_path, spec)
    log_path = None if is_remote(run_dir) else os.path.join(run_dir, "log.txt")
    with contextlib.ExitStack() as stack:
        if worker is not None:
            process = worker.start(spec_path, result_path, log_path)
        else:
            output = stack.enter_context(open(log_path, "a")) if log_path else None
            env = dict(os.environ, **(env or {}), **{SPAWN_ENV: repr(time.time())})
            process = subprocess.Popen([sys.executable, "-m", module, "--spec", spec_path, "--result", result_path],
                                       cwd=REPO_ROOT, env=env, stdout=output,
                                       stderr=subprocess.STDOUT if output else None, preexec_fn=_die_with_parent)
        with _LIVE_LOCK:
            _LIVE.add(process)
        last_report = time.time()
        try:
            while True:
                try:
                    return process.wait(timeout=claims.HEARTBEAT_EVERY)
                except subprocess.TimeoutExpired:
                    claim.heartbeat()
                    if report and time.time() - last_report >= PROGRESS_EVERY:
                        report()
                        last_report = time.time()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(process)


PROGRESS_EVERY = 60.0  # seconds between a running cell's progress lines
CHIEF_WAIT_SECONDS = 4 * 3600.0  # how long a non-chief worker waits for the chief's result of a cell
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)  # Kubernetes / time limits; Slurm's --signal=USR1@T
_LIVE, _LIVE_LOCK = set(), threading.Lock()  # child processes running now (signals are passed on to them)
_STOPPING = threading.Event()


def _on_signal(signum, frame):
    """A scheduler's warning (time limit, eviction, preemption): pass the signal to the cells, which save
    a checkpoint between two steps and stop (detection/preemption.py); start nothing new. The next
    run resumes them."""
    _STOPPING.set()
    with _LIVE_LOCK:
        for process in _LIVE:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)


def install_signal_handlers():
    """SIGTERM and SIGUSR1 stop the sweep (see _on_signal); install before anything slow (preflight).
    Returns the previous handlers; clears an earlier stop."""
    _STOPPING.clear()
    return {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}


def stopping():
    """Whether a signal asked this runner to stop."""
    return _STOPPING.is_set()


class LocalCoordination:
    """How runners that share a local (or NFS) results folder split a sweep: a claim per unit
    (sweep/store/claims.py), so each runs once, and the first runner that needs the pretrain step
    runs it. A cluster passes its own (sweep/cluster/shards.py ShardTask)."""

    local_roots = True  # claims need flock
    runs_pretrain = True

    def __init__(self, stale_after=claims.STALE_AFTER):
        self.stale_after = stale_after

    def claim(self, results_dir, unit, log):
        """A held claim (a context manager with heartbeat()), or None while another runner has the unit."""
        return claims.try_claim(layout.claim_path(results_dir, unit), self.stale_after, log)


class SweepRun:
    """One invocation of `run`: the state its worker threads share."""

    def __init__(self, sweep, cells, results_root, runs_root, log, coordination, jobs=1, warm=True):
        self.sweep, self.cells, self.log, self.coordination, self.jobs = sweep, cells, log, coordination, jobs
        self.warm = warm and tf_config.cluster_workers() == 1  # multi-worker cells: a process each
        self.workers = {}  # lane -> its warm worker (sweep/execution/worker_pool.py)
        self.results_dir = layout.results_dir(results_root, sweep.name)
        self.runs_root = runs_root
        self.started = time.time()
        self.lock = threading.Lock()
        self.tried, self.timed = set(), []  # timed: (seconds, steps) of the cells this run ran
        self.preempted, self.worker_done = set(), set()  # cells stopped on a signal; a non-chief's cells
        gpus = [name for name, _ in gpu_inventory.visible_gpus()] if jobs > 1 else []
        self.lanes = gpu_inventory.lane_environments(gpus, jobs)  # each worker thread's GPUs
        if gpus:
            log(f"GPUs {','.join(gpus)} over {jobs} lanes: " + "; ".join(
                f"lane {i}: {lane['CUDA_VISIBLE_DEVICES']}" for i, lane in enumerate(self.lanes)))

    def settled(self, path, unit, cell=None):
        """Done for this invocation: finished or diverged, or tried (by us, or by anyone since we started).

        Only reads: a result file that is not a valid result of `cell` counts as no result (invalid
        ones were set aside when the run started).
        """
        if unit in self.tried:
            return True
        result = (read_json(path) if cell is None else load_result(path, cell)[0]) or {}
        if result.get("status") in DONE:
            return True
        return bool(result) and (mtime(path) or 0) >= self.started

    # -- pretrain ------------------------------------------------------------------------------
    def ensure_pretrained(self, pretrain, wait=True):
        """Runs the sweep's pretrain step once (claimed); returns its checkpoint dir, or None if it failed.

        wait=False: return at once (None) while another worker or runner holds the step.
        """
        run_dir, unit, path = self.pretrain_unit(pretrain)
        if not self.coordination.runs_pretrain:  # another job runs it (run --stage pretrain)
            return self.wait_for_pretrain(path, unit) if wait else None
        while not self.settled(path, unit):
            claim = self.coordination.claim(self.results_dir, unit, self.log)
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
                self.pretrain(pretrain, run_dir, path, claim)
        result = read_json(path) or {}
        return result["checkpoint_dir"] if result.get("status") == FINISHED else None

    def pretrain_unit(self, pretrain):
        """(run directory, unit name, result path) of the pretrain step with settings `pretrain`."""
        unit = layout.pretrain_unit(pretrain)
        return (layout.run_dir(self.runs_root, self.sweep.name, unit), unit,
                layout.unit_result_path(self.results_dir, unit))

    def pretrain(self, pretrain, run_dir, path, claim):
        makedirs(run_dir)
        self.log(f"pretrain: BN RetinaNet on the generated source set, {dict(pretrain)['steps']} steps ...")
        if run_child("sweep.execution.pretrain_main", run_dir, dict(pretrain), path, claim) == PREEMPTED_EXIT:
            self.log("pretrain: stopped on a signal, checkpoint saved; the next run resumes it")
            return
        result = read_json(path) or {"status": FAILED, "error": "the pretrain process left no result"}
        self.log(f"pretrain: {result['status']}" + (
            f", AP {100 * result['source_coco']['AP']:.1f} on the source set's val images, {result['wall_seconds']:.0f} s"
            if result["status"] == FINISHED else f": {result.get('error', '')}"))

    def wait_for_pretrain(self, path, unit):
        """A fine-tuned cell waits for the pretrain stage (`run --stage pretrain`, another job) to finish."""
        told = False
        while (result := read_json(path) or {}).get("status") not in (FINISHED, FAILED):
            if not told:
                self.log(f"waiting for the pretrain stage ({unit}; run_sweep.py run CONFIG --stage pretrain) ...")
                told = True
            time.sleep(PRETRAIN_POLL_SECONDS)
        return result["checkpoint_dir"] if result["status"] == FINISHED else None

    # -- cells ---------------------------------------------------------------------------------
    def run_cell(self, index, cell, claim, lane=0):
        result_path = cell_result_path(self.results_dir, cell.id)
        run_dir = layout.run_dir(self.runs_root, self.sweep.name, cell.id)
        makedirs(run_dir)
        init_checkpoint = cell.init_checkpoint
        tag = f"[{index}/{len(self.cells)}] {cell.id}"
        if cell.pretrain:
            init_checkpoint = ensure_pretrained(self, cell.pretrain)
            if init_checkpoint is None and _STOPPING.is_set():  # the pretrain step stopped on a signal
                return
            if init_checkpoint is None:  # never train a "fine-tuned" cell from scratch
                write_json_atomic(result_path, {"status": FAILED, "cell": cell.as_dict(), "id": cell.id,
                                                "format": RESULT_FORMAT,
                                                "error": "its pretrain step failed (see results/<sweep>/pretrain-*.json)"})
                self.log(f"{tag}: FAILED: its pretrain step failed")
                return
        self.log(f"{tag}: {cell.norm_label} B={cell.batch} ({cell.per_replica_batch}/replica) "
                 f"lr={cell.lr:g} steps={cell.steps} ...")
        start = time.time()

        def report():
            line = progress_line(run_dir, tag)
            if line:
                self.log(line)

        worker = self.worker_for(lane, cell)
        spec = {"cell": cell.as_dict(), "init_checkpoint": init_checkpoint, "overrides": list(self.sweep.overrides)}
        code = run_child("sweep.execution.cell_main", run_dir, spec, result_path, claim, report,
                         self.lanes[lane % len(self.lanes)], worker)
        if code == PREEMPTED_EXIT:
            with self.lock:
                self.preempted.add(cell.id)
            self.log(f"{tag}: stopped on a signal at a checkpoint; the next run resumes it")
            return
        if not tf_config.is_chief():
            self.wait_for_chief(tag, cell, result_path, code, start, claim)
            return
        seconds = time.time() - start
        with self.lock:
            self.timed.append((seconds, cell.steps))
            remaining = [c.steps for c in self.cells
                         if not self.settled(cell_result_path(self.results_dir, c.id), c.id, c)]
            eta = eta_seconds(self.timed, remaining, self.jobs)
        result = read_json(result_path) or {"status": FAILED, "error": "the cell process left no result"}
        warm = _worker_line(worker.last) if worker and worker.last else ""
        self.log(f"{tag}: {_summary(result)}; {seconds:.0f} s{warm}; sweep ETA {eta / 60:.1f} min")

    def wait_for_chief(self, tag, cell, result_path, code, start, claim):
        """A non-chief worker's cell: its part is done when its process exited 0 and the chief has written
        the cell's result (the chief evaluates after training); a failure of its own is reported here."""
        name = tf_config.task_name()
        if code:
            self.log(f"{tag}: FAILED on {name} (exit {code}; its log: runs/.../{cell.id}/log.txt)")
            return
        deadline = time.time() + CHIEF_WAIT_SECONDS
        while not _STOPPING.is_set() and time.time() < deadline:
            result = load_result(result_path, cell)[0]
            if result and (mtime(result_path) or 0) >= start:
                with self.lock:
                    self.worker_done.add(cell.id)
                self.log(f"{tag}: {name} done; the chief recorded {result['status']}")
                return
            claim.heartbeat()
            time.sleep(POLL_SECONDS)
        if _STOPPING.is_set():
            with self.lock:
                self.preempted.add(cell.id)
        else:
            self.log(f"{tag}: FAILED: the chief wrote no result within {CHIEF_WAIT_SECONDS / 3600:.0f} h of {name}'s end")

    def status(self, cell):
        """This run's answer for `cell`: its result's status, PREEMPTED, WORKER_DONE or PENDING."""
        if cell.id in self.worker_done:
            return WORKER_DONE
        status = (load_result(cell_result_path(self.results_dir, cell.id), cell)[0] or {}).get("status")
        if status in DONE:
            return status
        if cell.id in self.preempted or _STOPPING.is_set():
            return PREEMPTED
        return status or PENDING

    def worker_for(self, lane, cell):
        """The lane's warm worker for `cell` (a new one for another device layout or after a crash), or
        None when cells run in a process each."""
        if not self.warm:
            return None
        worker = self.workers.get(lane)
        if worker is not None and (not worker.alive() or worker.replicas != cell.replicas):
            worker.close()
            worker = None
        if worker is None:
            env = dict(os.environ, **self.lanes[lane % len(self.lanes)])
            worker = self.workers[lane] = WarmWorker(cell.replicas, env, _die_with_parent)
        return worker

    def work(self, lane=0):
        try:
            self._work(lane)
        finally:
            if self.workers.get(lane) is not None:
                closing = self.workers.pop(lane).close()
                if closing and closing.get("settled_rss_mb") is not None:
                    cells = f"{closing['cells']} cell" + ("s" if closing["cells"] != 1 else "")
                    self.log(f"lane {lane}: its worker ran {cells} and kept "
                             f"{closing['settled_rss_mb']:.0f} MiB once they were collected")

    def _work(self, lane):
        """One worker: claims and runs unsettled cells in order until every cell is settled.

        A pretrain step some unsettled cell needs is started first by whichever worker gets it, so
        the fine-tuned cells do not wait for it at the end of the sweep.
        """
        for pretrain in dict.fromkeys(c.pretrain for c in self.cells if c.pretrain):
            if any(c.pretrain == pretrain and not self.settled(cell_result_path(self.results_dir, c.id), c.id, c)
                   for c in self.cells):
                ensure_pretrained(self, pretrain, False)
        while not _STOPPING.is_set():
            waiting = False
            for index, cell in enumerate(self.cells, start=1):
                if _STOPPING.is_set():
                    return
                path = cell_result_path(self.results_dir, cell.id)
                if self.settled(path, cell.id, cell):
                    continue
                claim = self.coordination.claim(self.results_dir, cell.id, self.log)
                if claim is None:
                    waiting = True  # another worker or runner has it
                    continue
                with claim:
                    with self.lock:
                        if self.settled(path, cell.id, cell):
                            continue
                        self.tried.add(cell.id)
                    self.run_cell(index, cell, claim, lane)
            if not waiting:
                return
            time.sleep(POLL_SECONDS)


def eta_seconds(timed, remaining_steps, jobs):
    """Time left: the remaining cells' steps at the seconds per step measured so far (cells differ
    in steps by B0/B, so a mean cell duration would be off by that factor), over `jobs` lanes."""
    seconds, steps = sum(t for t, _ in timed), sum(s for _, s in timed)
    return sum(remaining_steps) * seconds / steps / jobs if steps else 0.0


def ensure_pretrained(sweep_run, pretrain, wait=True):
    """The pretrain step's checkpoint directory (module level so tests can patch it)."""
    return sweep_run.ensure_pretrained(pretrain, wait)


def _worker_line(answer):
    """'; worker cell 2, 1360 MiB (peak 1403; 1242 once cell 1 was collected), cleared in 0.6 s"""
    settled = answer.get("settled_rss_mb")
    settled = f"; {settled:.0f} once cell {answer['cells'] - 1} was collected" if settled is not None else ""
    return (f"; worker cell {answer['cells']}, {answer['rss_mb']:.0f} MiB (peak {answer['peak_rss_mb']:.0f}{settled}), "
            f"cleared in {answer['clear_seconds']:.1f} s")


def run(sweep, cells=None, results_root=RESULTS_ROOT, runs_root=RUNS_ROOT, log=print, jobs=None,
        stale_after=claims.STALE_AFTER, warm=True, coordination=None):
    """Runs every unfinished cell of `cells` (default: all of `sweep`) in `jobs` lanes (default: the
    sweep's); returns {cell id: status}. warm=True: each lane trains its cells in one warm worker
    process (sweep/execution/cell_worker.py) while they share a device layout; False: a process per cell.

    coordination: how this runner shares the sweep with others (default: LocalCoordination(stale_after),
    claims on local roots); a task of a job array passes sweep/cluster/shards.py's ShardTask.
    """
    coordination = coordination or LocalCoordination(stale_after)
    if coordination.local_roots:
        check_roots(results_root, runs_root)
    cells = list(sweep.cells if cells is None else cells)
    state = SweepRun(sweep, cells, results_root, runs_root, log, coordination, jobs or sweep.jobs, warm)
    set_aside_invalid(state.results_dir, cells, log)
    for index, cell in enumerate(cells, start=1):
        result, _ = load_result(cell_result_path(state.results_dir, cell.id), cell)
        if result and result["status"] in DONE:
            log(f"[{index}/{len(cells)}] {cell.id}: {result['status']} before, skipped")
    errors = []

    def work(lane):
        try:
            state.work(lane)
        except BaseException as error:  # surfaced after the other workers finish, never lost in a thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,), name=f"sweep-worker-{i}", daemon=True)
               for i in range(state.jobs)]
    main_thread = threading.current_thread() is threading.main_thread()
    ours = main_thread and signal.getsignal(signal.SIGTERM) is _on_signal  # installed early by the CLI
    previous = install_signal_handlers() if main_thread and not ours else {}
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if _STOPPING.is_set():
        log("stopped on a signal: running cells saved a checkpoint; rerun (or requeue) to resume them")
    if errors:
        raise errors[0]
    return {c.id: state.status(c) for c in cells}


def run_pretrain_stage(sweep, results_root=RESULTS_ROOT, runs_root=RUNS_ROOT, log=print):
    """Runs the sweep's pretrain steps (the stage its sharded fine-tuned cells wait for); returns
    {unit: status}. Claimed on local roots, so a second stage job waits instead of repeating it;
    unclaimed on gs:// (one stage job)."""
    claimed = not is_remote(results_root)
    state = SweepRun(sweep, [], results_root, runs_root, log, LocalCoordination())
    statuses = {}
    for pretrain in dict.fromkeys(c.pretrain for c in sweep.cells if c.pretrain):
        run_dir, unit, path = state.pretrain_unit(pretrain)
        if not claimed:
            if (read_json(path) or {}).get("status") != FINISHED:
                state.pretrain(pretrain, run_dir, path, claims.Unclaimed())
        else:
            state.ensure_pretrained(pretrain)
        statuses[unit] = (read_json(path) or {}).get("status", PREEMPTED if _STOPPING.is_set() else FAILED)
    return statuses


def _summary(result):
    if result["status"] != FINISHED:
        step = f" at step {result['diverged_step']}" if result.get("diverged_step") is not None else ""
        return f"{result['status'].upper()}{step}: {result.get('error', '')}"[:300]
    ips = result.get("images_per_second")
    return (f"AP {result['coco']['AP']:.3f}, step {result['steps']}, loss {result['final_loss']:.3f}, "
            f"{ips:.1f} images/s" if ips else f"AP {result['coco']['AP']:.3f}")
