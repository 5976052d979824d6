"""Preemption: a scheduler's warning (SIGUSR1 from Slurm's `--signal`, SIGTERM from Kubernetes or a
time limit) saves a checkpoint between two training steps and stops the cell.

`install()` makes both signals set a flag instead of killing the process; call it first thing in a
cell's process. `StopBetweenSteps` runs Model Garden's compiled train loop in chunks of a few
seconds and ends the loop early once the flag is up, so the signal is seen within one chunk, not
after a whole `steps_per_loop` (thousands of steps at paper scale). `CheckpointOnSignal`, an orbit
train action, then saves a checkpoint at the step reached, appends where it stopped to the run
directory's `preemptions.json` and raises `Preempted`. The cell is neither finished nor failed: its
next run resumes from that checkpoint with the input stream continued (detection/tasks.py), so it
reaches the same AP, and its result lists the interruptions (`preemption_records`).

Multi-worker cells decide together: after each chunk the workers all-reduce their flags, so every
worker stops at the same step and the (collective) save happens once, in step.
"""
import json
import os
import signal
import threading
import time

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
RECORD_FILE = "preemptions.json"  # in the run directory: one entry per save on a signal
CHUNK_SECONDS = 10.0  # the flag is checked at least this often while training (single worker)
MULTI_WORKER_CHUNK_STEPS = 20  # multi-worker: a fixed chunk, so every worker checks at the same steps

_requested = threading.Event()
_received = {}  # the first signal's name and time


class Preempted(RuntimeError):
    """Training stopped on a signal after saving a checkpoint at `step`."""

    def __init__(self, step):
        super().__init__(f"preempted at step {step}: checkpoint saved, the next run resumes from it")
        self.step = step


def _on_signal(signum, frame):
    _received.setdefault("signal", signal.Signals(signum).name)
    _received.setdefault("time", time.time())
    _requested.set()


def install():
    """SIGTERM and SIGUSR1 set the preemption flag (call from the main thread, before anything slow)."""
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)


def requested():
    return _requested.is_set()


def received():
    """{'signal': name, 'time': epoch seconds} of the first signal, or {}."""
    return dict(_received)


def read_records(run_dir):
    """The saves on a signal recorded in `run_dir` (oldest first)."""
    import tensorflow as tf
    path = os.path.join(run_dir, RECORD_FILE)
    return json.loads(tf.io.gfile.GFile(path).read()) if tf.io.gfile.exists(path) else []


class StopBetweenSteps:
    """A train loop function that runs `loop_fn` (orbit's compiled loop) in chunks and returns early,
    between two steps, once a preemption signal came (on any worker when `agree` is given).

    Chunks of a single worker are sized to about CHUNK_SECONDS from the time per step measured so
    far; the steps trained and their order do not change, so neither does the result.
    """

    def __init__(self, loop_fn, agree=None, steps=None, clock=time.perf_counter):
        self.loop_fn, self.agree, self.clock = loop_fn, agree, clock
        self.steps = steps or 1  # the first chunk is one step: it also pays the tracing
        self.fixed = steps is not None

    def stop(self):
        return self.agree(requested()) if self.agree else requested()

    def __call__(self, iterator, num_steps):
        import tensorflow as tf
        total, done = int(num_steps), 0
        while done < total and not self.stop():
            n = min(self.steps, total - done)
            start = self.clock()
            self.loop_fn(iterator, tf.constant(n, tf.int32))
            done += n
            if not self.fixed:
                per_step = (self.clock() - start) / n
                self.steps = max(1, min(10_000, int(CHUNK_SECONDS / max(per_step, 1e-6))))


def agree_across_workers(strategy):
    """`flag -> bool`: whether any worker of `strategy` has its flag up (an all-reduced sum of the flags)."""
    import tensorflow as tf

    def agree(flag):
        value = strategy.run(lambda: tf.constant(int(flag), tf.int32))
        return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy() > 0)
    return agree


def stop_between_steps(trainer, multi_worker):
    """Makes `trainer` (an orbit StandardTrainer) build its train loop as a StopBetweenSteps."""
    build = trainer.create_train_loop_fn
    if multi_worker:
        trainer.create_train_loop_fn = lambda: StopBetweenSteps(
            build(), agree_across_workers(trainer.strategy), MULTI_WORKER_CHUNK_STEPS)
    else:
        trainer.create_train_loop_fn = lambda: StopBetweenSteps(build())


class CheckpointOnSignal:
    """Orbit train action: if a signal came, save a checkpoint at the current step, record it in
    `record_dir` (the chief's run directory; None on other workers) and raise Preempted."""

    def __init__(self, checkpoint_manager, global_step, record_dir=None, agree=None):
        self.checkpoint_manager, self.global_step = checkpoint_manager, global_step
        self.record_dir, self.agree = record_dir, agree

    def __call__(self, outputs):
        if not (self.agree(requested()) if self.agree else requested()):
            return
        step = int(self.global_step.numpy())
        # check_interval=False: the manager would skip a save closer than checkpoint_interval to the last
        self.checkpoint_manager.save(checkpoint_number=step, check_interval=False)
        if self.record_dir:
            from common.storage import write_json_atomic
            got = received()
            saved = time.time()
            records = read_records(self.record_dir) + [{
                "signal": got.get("signal"), "saved_step": step,
                "seconds_to_save": round(saved - got["time"], 3) if got else None, "saved_at": saved}]
            write_json_atomic(os.path.join(self.record_dir, RECORD_FILE), records)
        raise Preempted(step)
