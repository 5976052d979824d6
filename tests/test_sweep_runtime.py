"""benchmarks/sweep_runtime.py: a sweep estimated against its own finished cells gives their wall time back."""
import glob
import os
import types

import pytest

from benchmarks.sweep_runtime import _records, estimate
from sweep.grid.spec import load
from sweep.store.results import read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "results", "reference", "ladder_r0")


def test_a_reference_with_ap_points_during_training_is_not_charged_them_twice():
    """The ladder's r0 cells evaluate 4 times; their eval_val phase already sums those evaluations."""
    walls = [read_json(p)["wall_seconds"] for p in glob.glob(os.path.join(REFERENCE, "cells", "*.json"))]
    cells = load(os.path.join(ROOT, "configs", "ladder_r0.yaml")).cells
    assert len(walls) == len(cells) and all(c.evals == 4 for c in cells)
    # each cell is charged the mean wall of its norm and B, so the whole sweep is charged every wall once
    hours = estimate(types.SimpleNamespace(cells=cells, jobs=2), _records(REFERENCE))
    assert hours["mean"] == pytest.approx(sum(walls) / 2 / 3600, rel=1e-9)
