"""benchmarks/sweep_runtime.py: a sweep estimated against its own finished cells gives their wall time back."""
import glob
import json
import os
import types

import pytest

from benchmarks.sweep_runtime import _records, estimate
from sweep.grid.spec import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "results", "reference", "ladder_r0")


def test_a_reference_with_ap_points_during_training_is_not_charged_them_twice():
    """The ladder's r0 cells evaluate 4 times; their eval_val phase already sums those evaluations."""
    walls = [json.load(open(p))["wall_seconds"] for p in glob.glob(os.path.join(REFERENCE, "cells", "*-s0-*.json"))]
    seed0 = [c for c in load(os.path.join(ROOT, "configs", "ladder_r0.yaml")).cells if c.seed == 0]
    assert len(walls) == len(seed0) == 20 and all(c.evals == 4 for c in seed0)
    # two cells (m = 0.03, 0.1) per norm and B: their median is their mean, so the total is every wall
    hours = estimate(types.SimpleNamespace(cells=seed0, jobs=2), _records(REFERENCE))
    assert hours["median"] == pytest.approx(sum(walls) / 2 / 3600, rel=1e-9)
