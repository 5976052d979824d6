"""Shards of a sweep for job arrays (SLURM arrays, Kubernetes Indexed Jobs): a fixed, stable split.

`run_sweep.py run CONFIG --shard I/N` runs shard I of N. The partition is disjoint and complete for
every N, and depends only on the sweep's cells: cells are packed by training steps, longest first,
each onto the shard with the least work so far (ties: the lower shard), so shards carry similar
work. With N >= the cell count, shard I holds the I-th cell (in that order) or nothing.

`plan.json` beside the results (never in git: a plan lives with the results it guards) records the
ordered cell ids, the shard count and a hash of the resolved sweep; a shard refuses to run against an
edited config or another N (its cells would land in the wrong shards). No TensorFlow here.
"""
import hashlib
import json
import os

from common.storage import read_text, write_json_atomic
from sweep.errors import SweepConfigError
from sweep.store.claims import Unclaimed
from sweep.store.layout import plan_path

PLAN_FORMAT = 1
# per engine: the variable with this task's index, then those with the array's size, first found wins.
# SWEEP_SHARD_COUNT is written into the launch files by `submit`: a resubmission of some indexes
# (sbatch --array=17,42) has a SLURM_ARRAY_TASK_COUNT of 2, not the array's size.
AUTO_SOURCES = (("SLURM_ARRAY_TASK_ID", ("SWEEP_SHARD_COUNT", "SLURM_ARRAY_TASK_COUNT")),  # sbatch --array
                ("JOB_COMPLETION_INDEX", ("SWEEP_SHARD_COUNT",)))                        # Kubernetes Indexed Job


def parse_shard(text, environ=os.environ):
    """(index, count) from 'I/N' or 'auto' (SLURM or Kubernetes variables), or None for no sharding."""
    if not text:
        return None
    if text == "auto":
        for index_name, count_names in AUTO_SOURCES:
            if index_name in environ:
                count_name = next((name for name in count_names if name in environ), None)
                if count_name is None:
                    raise SweepConfigError(f"--shard auto: {index_name} is set but {' or '.join(count_names)} is not; "
                                           f"set SWEEP_SHARD_COUNT to the number of shards (run_sweep.py submit writes it)")
                return _checked(environ[index_name], environ[count_name], f"--shard auto ({index_name}/{count_name})")
        names = ", ".join(f"{i} + {' or '.join(c)}" for i, c in AUTO_SOURCES)
        raise SweepConfigError(f"--shard auto: none of {names} is set; give --shard I/N")
    index, sep, count = text.partition("/")
    if not sep:
        raise SweepConfigError(f"--shard: {text!r:.40} is not I/N (e.g. 0/4) or auto")
    return _checked(index, count, "--shard")


def _checked(index, count, where):
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise SweepConfigError(f"{where}: {index!r:.20}/{count!r:.20} are not whole numbers; valid: I/N with "
                               f"0 <= I < N") from None
    if not (count >= 1 and 0 <= index < count):
        raise SweepConfigError(f"{where}: {index}/{count} is out of range; valid: I/N with 0 <= I < N")
    return index, count


def partition(cells, count):
    """`count` lists of cells: every cell in exactly one, packed by steps (longest first)."""
    shards = [[] for _ in range(count)]
    load = [0] * count
    for position, cell in sorted(enumerate(cells), key=lambda item: (-item[1].steps, item[0])):
        target = min(range(count), key=lambda s: (load[s], s))
        shards[target].append((position, cell))
        load[target] += cell.steps
    return [[cell for _, cell in sorted(shard, key=lambda item: item[0])] for shard in shards]


def sweep_hash(sweep):
    """Hash of the resolved sweep: every cell's identity, in order (not `jobs`, not the file's comments)."""
    text = json.dumps([c.canonical for c in sweep.cells])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_record(sweep, count=None):
    record = {"format": PLAN_FORMAT, "sweep": sweep.name, "hash": sweep_hash(sweep), "shards": count,
              "cells": [c.id for c in sweep.cells]}
    if sweep.overrides:  # run_sweep.py --set: part of the resolved cells (and so of the hash) already
        record["overrides"] = list(sweep.overrides)
    return record


def ensure_plan(sweep, results_dir, count=None, option="--shard"):
    """Writes plan.json if absent; refuses a sweep whose resolved cells or shard count (`option` names
    it in the error) differ from the recorded plan, before writing anything."""
    path = plan_path(results_dir)
    try:
        recorded = json.loads(read_text(path))
    except Exception:  # missing (or unreadable: rewritten below)
        recorded = None
    if recorded and recorded.get("hash") != sweep_hash(sweep):
        raise SweepConfigError(f"{sweep.source}: its cells differ from the plan recorded in {path} (hash "
                               f"{recorded.get('hash')}, this file {sweep_hash(sweep)}): the config was edited "
                               f"after the shards were planned; restore it, or use another --results")
    if recorded and count and recorded.get("shards") not in (None, count):
        raise SweepConfigError(f"{option}: {count} shards, but {path} was planned for {recorded['shards']}; valid: "
                               f"{recorded['shards']} (every task of one array uses the same N), or another --results")
    if not recorded:
        write_json_atomic(path, plan_record(sweep, count))
    return path


def task_cells(sweep, selected, shard):
    """The cells of task `shard` = (index, count) that `--only` selected, in the sweep's order."""
    chosen = set(selected)
    return [c for c in partition(sweep.cells, shard[1])[shard[0]] if c in chosen]


class ShardTask:
    """How a task of a job array shares the sweep (the runner's `coordination`, sweep/execution/runner.py):
    the scheduler gave its cells to it alone, so nothing is claimed and the roots may be gs://; the
    pretrain step is another job's (`run --stage pretrain`), which fine-tuned cells wait for."""

    local_roots = False
    runs_pretrain = False

    def claim(self, results_dir, unit, log):
        return Unclaimed()
