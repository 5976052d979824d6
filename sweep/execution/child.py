"""What both child processes of a sweep share (a cell, the pretrain step): arguments, result, exit.

    python -m sweep.<child> --spec runs/<sweep>/<unit>/spec.json --result results/<sweep>/.../<unit>.json

The spec's folder is the run directory. The child writes its result file atomically (with its
wall time), prints a one-line summary and exits with 0 when the status is `finished`, else 1.
A preemption signal (SIGUSR1 or SIGTERM, detection/preemption.py) makes training save a checkpoint
and the child exit with PREEMPTED_EXIT, writing no result: the next run resumes it.
"""
import argparse
import json
import os
import sys
import time

from common.legacy_keras import use_legacy_keras
from common.storage import is_remote, read_text, write_json_atomic
from sweep.store.results import read_json
from sweep.store.status import DIVERGED, FINISHED, PREEMPTED_EXIT


def main(description, work, summary_keys, argv=None):
    """Runs `work(spec, run_dir) -> result dict or None` (it records its own failures), writes the result
    (None: nothing to write), then ends the process."""
    from detection import preemption
    preemption.install()  # first: a signal during the imports must not kill the process
    use_legacy_keras()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="the unit's spec.json, in its run directory")
    parser.add_argument("--result", required=True, help="where the result JSON goes")
    args = parser.parse_args(argv)
    exit_now(run_unit(work, args.spec, args.result, summary_keys))


def run_unit(work, spec_path, result_path, summary_keys):
    """One unit in this process: runs `work`, writes its result; returns the exit code (0 finished,
    1 not finished, PREEMPTED_EXIT stopped on a signal). The warm worker (sweep/execution/cell_worker.py) calls
    it once per cell."""
    from detection import preemption
    spec = json.loads(read_text(spec_path))
    run_dir = os.path.dirname(spec_path if is_remote(spec_path) else os.path.abspath(spec_path))
    start = time.time()
    try:
        result = work(spec, run_dir)
    except preemption.Preempted as error:  # no result: the next run resumes from the checkpoint
        print(error, flush=True)
        return PREEMPTED_EXIT
    if result is None:  # nothing to record (a non-chief worker)
        return 0
    result["wall_seconds"] = time.time() - start
    record(result_path, result)
    print(json.dumps({k: result.get(k) for k in summary_keys}), flush=True)
    return 0 if result["status"] == FINISHED else 1


def record(path, result):
    """Writes a result file, but never over a finished or diverged one: when two tasks of a job array
    ran the same unit (a requeue, a duplicate pod), the first result stays."""
    try:
        write_json_atomic(path, result, replace=False)
    except FileExistsError:
        if (read_json(path) or {}).get("status") in (FINISHED, DIVERGED):
            print(f"{path} already holds a result; this run's is dropped", file=sys.stderr)
            return
        write_json_atomic(path, result)


def exit_now(code):
    """Ends the child without interpreter teardown, once its result file is on disk (fsynced).

    Measured with py-spy on finished cells: teardown took 8-38 s, in tf.data's
    ~IteratorResource joining the training input pipeline's worker threads and in CPython's final
    garbage collection of the traced graphs. Nothing of the cell is left to save by then, so the
    child ends the way multiprocessing's children do: streams flushed, then os._exit.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
