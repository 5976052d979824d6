"""Where a cell's wall time goes: named phases, and the steady training step time.

A cell's fixed cost is everything that does not scale with its steps: process start and imports,
model and input building, tracing, checkpoints, evaluation, recording. The training loop reports
(time, step) after each loop of `steps_per_loop`; the median time per step over all loops but the
first is the steady step time, and the first loop's excess over it is the tracing cost.
benchmarks/cell_phases.py prints the table from the cells' records.
"""
import os
import statistics
import time

from common.storage import write_json_atomic

SPAWN_ENV = "SWEEP_SPAWNED_AT"  # set by the sweep runner when it starts a child process
PROGRESS_FILE = "progress.json"  # in the run directory: the last loop's step, speed and loss (the runner prints it)


class PhaseClock:
    """Accumulates wall seconds per phase name; `mark(name)` closes the phase that just ended."""

    def __init__(self, start=None):
        spawned = os.environ.get(SPAWN_ENV)
        self.last = start if start is not None else (float(spawned) if spawned else time.time())
        self.phases = {}

    def mark(self, name):
        now = time.time()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now
        return now

    def total(self, prefix):
        """Seconds of the phases whose name starts with `prefix` (e.g. every 'eval_' split)."""
        return phase_total(self.phases, prefix)


def phase_total(phases, prefix):
    return sum(seconds for name, seconds in phases.items() if name.startswith(prefix))


class LoopTimes:
    """An orbit train action: records (wall time, global step) at the end of every train loop;
    `start()` before each `controller.train` call opens a segment (evaluations fall between)."""

    def __init__(self, global_step, progress=None):
        """progress: (path, total steps, global batch): also write the progress file each loop."""
        self.global_step = global_step
        self.progress = progress
        self.segments = []

    def _now(self):
        return time.time(), int(self.global_step.numpy())

    def start(self):
        self.segments.append([self._now()])

    def __call__(self, output):
        self.segments[-1].append(self._now())
        if self.progress:
            (t0, s0), (t1, s1) = self.segments[-1][-2:]
            path, steps, batch = self.progress
            loss = (output or {}).get("total_loss")
            write_json_atomic(path, {"step": s1, "steps": steps, "loss": None if loss is None else float(loss),
                                     "images_per_second": (s1 - s0) * batch / (t1 - t0) if t1 > t0 else None})

    def split(self):
        """(steady seconds per step or None, trace seconds, steady training seconds).

        The first loop carries the tracing: its excess over the median step time. Steady training is
        each loop's time, capped at the median step time x its steps (a loop's excess, e.g. the
        checkpoint saved in it, is not steady training), so trace + steady <= the loops' time and
        cell_phases' "other" (training time outside both) is never negative.
        """
        loops = [(t1 - t0, s1 - s0) for points in self.segments
                 for (t0, s0), (t1, s1) in zip(points, points[1:]) if s1 > s0]
        if len(loops) < 2:
            return None, 0.0, None
        steady = statistics.median(seconds / steps for seconds, steps in loops[1:])
        first_seconds, first_steps = loops[0]
        total = sum(min(seconds, steps * steady) for seconds, steps in loops)
        return steady, max(0.0, first_seconds - first_steps * steady), total
