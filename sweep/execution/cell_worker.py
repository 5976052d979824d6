"""A warm worker: one process that trains and records several cells in turn, for one lane of the runner.

A process per cell pays the Python, TensorFlow and Model Garden imports and autograph's conversion of
Model Garden's input parser and steps each time; the worker pays them once. Each cell still gets a
fresh Keras session (`tf_keras.backend.clear_session()`; the custom gradients its graphs registered
are released, norm_layers/gradient_registry.py; its garbage is collected on a thread while the next
one starts: _Collector), its own seed, its own log file (stdout and stderr point at
the cell's log.txt from its start to the next cell's) and the same result and exit code as
`python -m sweep.execution.cell_main` (sweep/execution/child.py `run_unit`). A preemption signal
stops the current cell at a checkpoint; the worker then answers and exits. The runner
(sweep/execution/worker_pool.py) gives a cell that needs another device layout (replicas) a new
worker, and runs multi-worker cells in a process of their own.

    python -m sweep.execution.cell_worker --answer-fd N      one JSON request per stdin line, one answer per line on fd N
    request: {"spec": PATH, "result": PATH, "log": PATH, "spawned": epoch seconds the cell's clock starts at}
    answer:  {"exit": code, "rss_mb": resident MiB after the cell (its garbage not yet collected),
              "peak_rss_mb": the process's peak so far, "settled_rss_mb": resident MiB once the previous
              cell's garbage was collected (null for the first), "cells": cells run by this process,
              "clear_seconds": the time between the cell's end and its answer}
    at the end of the requests, one last answer: {"closed": true, "cells": cells run, "settled_rss_mb":
              resident MiB once the last cell's garbage was collected, with no cell running}
"""
import argparse
import gc
import json
import os
import sys
import threading
import time

ANSWER_FD_HELP = "the file descriptor (inherited) the answers go to"


def _rss_mb(field="VmRSS"):
    """Resident MiB now (VmRSS) or at the process's peak so far (VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


class _Output:
    """Points fds 1 and 2 (Python's and TensorFlow's C++ output) at one cell's log, or back at the
    worker's own output (path None: a gs:// log goes through the runner), until the next call."""

    def __init__(self):
        self.own = os.dup(1), os.dup(2)

    def point_at(self, path):
        sys.stdout.flush()
        sys.stderr.flush()
        if path is None:
            for own, fd in zip(self.own, (1, 2)):
                os.dup2(own, fd)
            return
        with open(path, "a") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)


class _Collector(threading.Thread):
    """Collects a finished cell's garbage while the next cell starts, then notes the resident MiB.

    Freeing a distributed input iterator joins the tf.data autotuning thread of its pipeline, which
    TensorFlow 2.20 does not wake: the free waits out that thread's sleep (up to 60 s; measured 10-52 s
    per cell with gdb: RootDataset::Iterator::~Iterator -> LogicalThreadWrapper -> Model::OptimizeLoop).
    TensorFlow releases the GIL while it frees a tensor, so only this thread waits."""

    def __init__(self):
        super().__init__(name="collect-finished-cell", daemon=True)
        self.rss_mb = None

    def run(self):
        gc.collect()
        self.rss_mb = round(_rss_mb(), 1)


def serve(requests, answers):
    """Runs each request's cell in this process; stops at the end of `requests` or after a preemption."""
    from detection.phases import SPAWN_ENV
    from norm_layers import gradient_registry
    from sweep.execution import cell_main
    from sweep.execution.child import run_unit
    from sweep.store.status import PREEMPTED_EXIT
    cells, output, collector = 0, _Output(), None
    for line in requests:
        request = json.loads(line)
        os.environ[SPAWN_ENV] = repr(request["spawned"])  # the cell's PhaseClock starts there
        # the output stays on the cell's log after it: what its objects print as they are collected is its
        output.point_at(request["log"] or None)
        registered = gradient_registry.custom_gradient_names()
        code = run_unit(cell_main.run, request["spec"], request["result"], cell_main.SUMMARY_KEYS)
        ended = time.time()
        import tf_keras
        tf_keras.backend.clear_session()  # a fresh Keras session (names, graph state) for the next cell
        gradient_registry.release_since(registered)  # else TensorFlow keeps the cell's graphs for good
        settled = None
        if collector:
            collector.join()  # the previous cell's garbage: long collected, unless the cell was very short
            settled = collector.rss_mb
        collector = _Collector()
        collector.start()
        cells += 1
        answers.write(json.dumps({"exit": code, "rss_mb": round(_rss_mb(), 1), "cells": cells,
                                  "peak_rss_mb": round(_rss_mb("VmHWM"), 1), "settled_rss_mb": settled,
                                  "clear_seconds": round(time.time() - ended, 2)}) + "\n")
        answers.flush()
        if code == PREEMPTED_EXIT:
            return
    if collector:  # the one reading with no cell running: what the worker keeps from its cells
        collector.join()
        answers.write(json.dumps({"closed": True, "cells": cells, "settled_rss_mb": collector.rss_mb}) + "\n")
        answers.flush()


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
