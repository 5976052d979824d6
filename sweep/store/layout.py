"""Where a sweep keeps things: the one owner of the paths under results/ and runs/ (no TensorFlow).

    results/<sweep>/cells/<cell id>.json     one small JSON per finished, failed or diverged cell
    results/<sweep>/pretrain-<hash>.json     the result of the pretrain step a fine-tuned cell starts from
    results/<sweep>/claims/<unit>.json       who is running a unit now (sweep/store/claims.py)
    results/<sweep>/plan.json                a sharded sweep's cells per shard (sweep/cluster/shards.py)
    results/<sweep>/tables.{md,csv,json}, ap_vs_batch.png, curves.png   made by `gather`
    runs/<sweep>/<unit>/                     checkpoints, events, params.yaml, spec.json, log.txt (git-ignored)

A unit is a cell id or `pretrain-<hash>`. Paths may be gs:// (common/storage.py) except where claims
are taken (flock).
"""
import hashlib
import json
import os


def results_dir(results_root, sweep_name):
    return os.path.join(results_root, sweep_name)


def run_dir(runs_root, sweep_name, unit):
    return os.path.join(runs_root, sweep_name, unit)


def cells_dir(results_dir_):
    return os.path.join(results_dir_, "cells")


def cell_result_path(results_dir_, cell_id):
    return os.path.join(cells_dir(results_dir_), f"{cell_id}.json")


def pretrain_unit(pretrain):
    """The pretrain step's unit name: its settings' hash, so a changed setting is a new step."""
    digest = hashlib.sha256(json.dumps(pretrain, sort_keys=True).encode()).hexdigest()[:8]
    return f"pretrain-{digest}"


def unit_result_path(results_dir_, unit):
    """A pretrain step's result file (cells have theirs under cells/)."""
    return os.path.join(results_dir_, f"{unit}.json")


def claim_path(results_dir_, unit):
    return os.path.join(results_dir_, "claims", f"{unit}.json")


def plan_path(results_dir_):
    return os.path.join(results_dir_, "plan.json")


def report_path(results_dir_, name):
    """A file `gather` writes: tables.md, tables.csv, tables.json, ap_vs_batch.png, curves.png."""
    return os.path.join(results_dir_, name)
