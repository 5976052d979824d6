"""What a sweep costs on a cluster: GPU-hours and wall time from a step time the user gives (no TensorFlow).

--step-seconds S      every training step of every cell takes S seconds.
--step-seconds FILE   the JSON of `python -m benchmarks.gpu_check --out FILE`: seconds per step per norm
                      at `batch_per_gpu` images per GPU and `image_size` px. A cell's step is scaled
                      linearly by its images per GPU and its pixels (an estimate: the all-reduce between
                      GPUs is not counted; a cell without image_size keeps the record's); a norm
                      it did not measure takes bn's time.
Wall time: the shards (sweep/cluster/shards.py) start in index order whenever one of `parallel` slots frees up.
"""
import heapq
import json
import math

from sweep.cluster.shards import partition
from sweep.errors import SweepConfigError

HELP = "a positive number of seconds per step, or the JSON of python -m benchmarks.gpu_check --out FILE"


class StepTime:
    """Seconds per training step of a cell: a constant, or scaled from a gpu_check record."""

    def __init__(self, constant=None, record=None, source=""):
        self.constant, self.record, self.source = constant, record, source
        self.unmeasured = set()  # norms that took bn's time

    def seconds(self, cell, gpus):
        if self.constant is not None:
            return self.constant
        table = self.record["seconds_per_step"]
        norm = cell.norms[0][1]  # the backbone's: most of the step
        if norm not in table:
            self.unmeasured.add(norm)
            norm = "bn"
        images = cell.batch / gpus if gpus else cell.per_replica_batch
        pixels = _pixels(cell.image_size) / _pixels(self.record["image_size"]) if cell.image_size else 1.0
        return table[norm] * images / self.record["batch_per_gpu"] * pixels


def _pixels(size):
    """Pixels of an image size: 640 or [h, w]."""
    return math.prod(size) if isinstance(size, list | tuple) else size * size


def load_step_time(text):
    """A StepTime from --step-seconds' value (a number or a gpu_check JSON file)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not (math.isfinite(value) and 0 < value <= 86400):
            raise SweepConfigError(f"--step-seconds: {text!r:.40} is out of range; valid: 0 < S <= 86400, or a file")
        return StepTime(constant=value, source=f"{value:g} s/step")
    try:
        with open(text) as f:
            record = json.load(f)
        valid = _valid(record)
    except Exception:  # missing, unreadable or not JSON
        valid = False
    if not valid:
        raise SweepConfigError(f"--step-seconds: {text!r:.80} is neither a number nor a readable gpu_check record "
                               f"with bn's time; valid: {HELP}")
    return StepTime(record=record, source=f"{text} ({record.get('device', 'gpu_check')}, "
                                          f"{record['batch_per_gpu']} images/GPU at {record['image_size']} px)")


def _valid(record):
    table = record.get("seconds_per_step") if isinstance(record, dict) else None
    return (isinstance(table, dict) and "bn" in table and all(isinstance(v, int | float) and v > 0 for v in table.values())
            and isinstance(record.get("batch_per_gpu"), int) and record["batch_per_gpu"] > 0
            and _pixels(record.get("image_size") or 0) > 0)


def wall_seconds(durations, parallel):
    """When the last of `durations` (in start order) ends with `parallel` slots."""
    slots = [0.0] * max(1, min(parallel, len(durations)))
    for duration in durations:
        heapq.heappush(slots, heapq.heappop(slots) + duration)
    return max(slots)


def _span(seconds):
    hours = seconds / 3600
    return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} days"


def cost_lines(cells, step_time, gpus, workers, shards, parallel):
    """Lines: device-hours and wall time of `cells` in `shards` shards, `parallel` at once."""
    cell_seconds = {c.id: c.steps * step_time.seconds(c, gpus * workers) for c in cells}
    durations = [sum(cell_seconds[c.id] for c in shard) for shard in partition(cells, shards)]
    task_hours = sum(cell_seconds.values()) * workers / 3600
    used = (f"{task_hours * gpus:,.0f} GPU-hours ({gpus} GPUs x {workers} worker(s) per cell)" if gpus
            else f"{task_hours:,.1f} task-hours (CPU tasks)")
    lines = [f"cost at {step_time.source}: {used}; wall time {_span(wall_seconds(durations, parallel))} "
             f"with {min(parallel, shards)} of {shards} shards at once"]
    if step_time.unmeasured:
        lines.append(f"  (bn's step time used for {', '.join(sorted(step_time.unmeasured))}: not in the record)")
    return lines
