"""Divergence: a training loss that is NaN, infinite or above `trainer.loss_upper_bound`.

`DivergenceCheck` is an orbit train action: Model Garden's runner calls it with each loop's
outputs, whose 'training_loss' is the loop's mean loss (NaN if any step's loss was). It raises
`Diverged` with the step, which the sweep records as a result rather than a crash. Model Garden's
own RecoveryCondition would restore a checkpoint and retry; a deterministic rerun diverges again,
so the experiments set recovery_max_trials = 0 and this check, which runs first, decides.
"""
import math


def first_nonfinite_step(losses):
    """The first step at which any loss curve ({tag: [[step, value], ...]}, a result's `losses`) is NaN
    or inf, or None: a divergence inside a summary interval whose loop mean stayed finite."""
    steps = [step for points in losses.values() for step, value in points if not math.isfinite(value)]
    return min(steps) if steps else None


class Diverged(RuntimeError):
    """Training loss became NaN/inf or exceeded trainer.loss_upper_bound; `step` is where it stopped."""

    def __init__(self, step, message):
        super().__init__(f"diverged by step {step}: {message}")
        self.step = step


class DivergenceCheck:
    """Raises Diverged when a train loop's loss is not finite or above `loss_upper_bound`."""

    def __init__(self, global_step, loss_upper_bound):
        self.global_step, self.loss_upper_bound = global_step, loss_upper_bound

    def __call__(self, outputs):
        loss = float(outputs["training_loss"])
        if not math.isfinite(loss) or loss > self.loss_upper_bound:
            raise Diverged(int(self.global_step.numpy()),
                           f"training loss {loss!r} (bound {self.loss_upper_bound:g})")
