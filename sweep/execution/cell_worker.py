"""A warm worker: one process that trains and records several cells in turn, for one lane of the runner.

A process per cell pays the Python, TensorFlow and Model Garden imports and autograph's conversion of
Model Garden's input parser and steps each time; the worker pays them once. Each cell still gets a
fresh Keras session (`tf_keras.backend.clear_session()`, then a garbage collection), its own seed,
its own log file (stdout and stderr are pointed at the cell's log.txt while it runs) and the same
result and exit code as `python -m sweep.execution.cell_main` (sweep/execution/child.py `run_unit`). A preemption
signal stops the current cell at a checkpoint; the worker then answers and exits. The runner
(sweep/execution/worker_pool.py) gives a cell that needs another device layout (replicas) a new worker, and
runs multi-worker cells in a process of their own.

    python -m sweep.execution.cell_worker --answer-fd N      one JSON request per stdin line, one answer per line on fd N
    request: {"spec": PATH, "result": PATH, "log": PATH, "spawned": epoch seconds the cell's clock starts at}
    answer:  {"exit": code, "rss_mb": resident MiB after the cell, "peak_rss_mb": the process's peak so far,
              "cells": cells run by this process,
              "clear_seconds": the time between the cell's end and its answer}
"""
import argparse
import contextlib
import gc
import json
import os
import sys
import time

ANSWER_FD_HELP = "the file descriptor (inherited) the answers go to"


def _rss_mb(field="VmRSS"):
    """Resident MiB now (VmRSS) or at the process's peak so far (VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


class _LogTo:
    """Points fds 1 and 2 (Python's and TensorFlow's C++ output) at `path` for the duration."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(1), os.dup(2)
        with open(self.path, "a") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        return False


def serve(requests, answers):
    """Runs each request's cell in this process; stops at the end of `requests` or after a preemption."""
    from detection.phases import SPAWN_ENV
    from sweep.execution import cell_main
    from sweep.execution.child import run_unit
    from sweep.store.status import PREEMPTED_EXIT
    cells = 0
    for line in requests:
        request = json.loads(line)
        os.environ[SPAWN_ENV] = repr(request["spawned"])  # the cell's PhaseClock starts there
        with _LogTo(request["log"]) if request["log"] else contextlib.nullcontext():  # gs://: the runner's output
            code = run_unit(cell_main.run, request["spec"], request["result"], cell_main.SUMMARY_KEYS)
            ended = time.time()
            import tf_keras
            tf_keras.backend.clear_session()  # a fresh Keras session (names, graph state) for the next cell
            gc.collect()  # inside: what the cell's objects print as they go belongs to its log
        cells += 1
        answers.write(json.dumps({"exit": code, "rss_mb": round(_rss_mb(), 1), "cells": cells,
                                  "peak_rss_mb": round(_rss_mb("VmHWM"), 1),
                                  "clear_seconds": round(time.time() - ended, 2)}) + "\n")
        answers.flush()
        if code == PREEMPTED_EXIT:
            return


def main(argv=None):
    from detection import preemption
    preemption.install()  # first: a signal during the imports must not kill the process
    from common.legacy_keras import use_legacy_keras
    use_legacy_keras()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answer-fd", type=int, required=True, help=ANSWER_FD_HELP)
    args = parser.parse_args(argv)
    with os.fdopen(args.answer_fd, "w") as answers:
        serve(sys.stdin, answers)
    from sweep.execution.child import exit_now
    exit_now(0)


if __name__ == "__main__":
    main()
