"""Preemption: SIGTERM (a scheduler's warning before its time limit or an eviction) saves a checkpoint.

`install()` makes SIGTERM set a flag instead of killing the process; `CheckpointOnSignal`, an orbit
train action, sees the flag at the end of the current train loop, saves a checkpoint at the current
step and raises `Preempted`. The cell is then neither finished nor failed: its next run resumes from
that checkpoint with the input stream continued (detection/tasks.py), so it reaches the same AP.
"""
import signal
import threading

_requested = threading.Event()


class Preempted(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint at `step`."""

    def __init__(self, step):
        super().__init__(f"preempted at step {step}: checkpoint saved, the next run resumes from it")
        self.step = step


def install():
    """SIGTERM sets the preemption flag (call from the main thread, before training)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: _requested.set())


def requested():
    return _requested.is_set()


class CheckpointOnSignal:
    """Orbit train action: after a train loop, if SIGTERM came, save a checkpoint and raise Preempted."""

    def __init__(self, checkpoint_manager, global_step):
        self.checkpoint_manager, self.global_step = checkpoint_manager, global_step

    def __call__(self, outputs):
        if _requested.is_set():
            step = int(self.global_step.numpy())
            self.checkpoint_manager.save(checkpoint_number=step)
            raise Preempted(step)
