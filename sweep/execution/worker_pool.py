"""The runner's end of warm workers (sweep/execution/cell_worker.py): one per lane, reused while cells fit it.

A worker serves the cells of one device layout (their `replicas`) in one process; the next cell
with another layout, or a lane whose worker died, gets a new one. Cells of a multi-worker cluster
(TF_CONFIG) keep a process each. The pool never starts TensorFlow itself.
"""
import contextlib
import json
import os
import select
import subprocess
import sys
import time

from common.paths import REPO_ROOT

CLOSE_SECONDS = 60  # how long a worker at the end of its requests may take to answer and exit


class WarmWorker:
    """One `python -m sweep.execution.cell_worker` process; `start` sends it a cell, `wait` reads its answer."""

    def __init__(self, replicas, env, preexec_fn=None):
        read, write = os.pipe()
        self.replicas, self.spawned, self.cells = replicas, time.time(), 0
        self.process = subprocess.Popen([sys.executable, "-m", "sweep.execution.cell_worker", "--answer-fd", str(write)],
                                        cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, text=True,
                                        pass_fds=(write,), preexec_fn=preexec_fn)
        os.close(write)
        self.answers = os.fdopen(read)
        self.last = None  # the last answer: exit code, resident MiB, cells run

    def alive(self):
        return self.process.poll() is None

    def start(self, spec_path, result_path, log_path):
        """Sends one cell; its clock starts at the worker's spawn for the first cell, now for later ones."""
        spawned = self.spawned if self.cells == 0 else time.time()
        request = {"spec": spec_path, "result": result_path, "log": log_path, "spawned": spawned}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        self.cells += 1
        return self

    def wait(self, timeout):
        """The cell's exit code (as `python -m sweep.execution.cell_main` would give it), or the worker's own exit
        code when it died; raises subprocess.TimeoutExpired while the cell runs."""
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired(self.process.args, timeout)
        line = self.answers.readline()
        if not line:  # the worker died (killed, crashed): no answer will come
            return self.process.wait()
        self.last = json.loads(line)
        return self.last["exit"]

    def send_signal(self, signum):
        self.process.send_signal(signum)

    def close(self):
        """Ends the worker: end of its requests (it answers once more and exits), or a kill when it does not
        within CLOSE_SECONDS; returns its closing answer (None when it gave none)."""
        deadline, closing = time.monotonic() + CLOSE_SECONDS, None
        try:
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        with contextlib.suppress(ValueError, OSError):
            if select.select([self.answers], [], [], CLOSE_SECONDS)[0]:
                closing = json.loads(self.answers.readline() or "null")
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.answers.close()
        return closing
