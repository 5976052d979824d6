"""Where a cell's time goes (detection/phases.py, benchmarks/cell_phases.py): no phase is negative."""
import pytest

from benchmarks.cell_phases import row
from detection.phases import LoopTimes


def _loops(*pairs):
    """LoopTimes with one segment of loops given as (seconds, steps)."""
    times = LoopTimes(None)
    t, s = 0.0, 0
    points = [(t, s)]
    for seconds, steps in pairs:
        t, s = t + seconds, s + steps
        points.append((t, s))
    times.segments = [points]
    return times


def test_loops_faster_than_the_median_make_no_negative_other():
    """As in the default's cells: two loops under the median step time (0.8 against 1.0 s/step) made the
    old steady time (median x steps) larger than the loops' own time, and 'other' negative (-3 s)."""
    times = _loops((30.0, 10), (8.0, 10), (8.0, 10), (10.0, 10), (10.0, 10), (10.0, 10))
    steady, trace, total = times.split()
    assert steady == 1.0 and trace == 20.0 and total == pytest.approx(10 + 8 + 8 + 10 + 10 + 10)
    phases = {"startup": 5.0, "build": 5.0, "train": 76.0 + 1.0, "eval_val": 3.0, "record": 1.0, "trace": trace}
    old = row({"phases": phases, "steady_step_seconds": steady, "steps_this_run": 60})  # a record without the total
    assert old["other"] == pytest.approx(-3.0)
    found = row({"phases": phases, "steady_step_seconds": steady, "steps_this_run": 60, "steady_train_seconds": total})
    assert found["other"] == pytest.approx(1.0) and min(found.values()) >= 0
    parts = ("startup", "build", "trace", "train", "other", "eval", "record")
    assert sum(found[p] for p in parts) == pytest.approx(found["wall"])  # the phases add up to the wall time


def test_a_checkpoint_in_a_loop_is_not_steady_training():
    steady, trace, total = _loops((20.0, 10), (10.0, 10), (16.0, 10), (10.0, 10)).split()
    assert steady == 1.0 and total == 10 + 10 + 10 + 10  # the 6 s excess stays in 'other'


def test_a_first_loop_faster_than_steady_has_no_trace():
    steady, trace, total = _loops((4.0, 10), (10.0, 10), (10.0, 10)).split()
    assert steady == 1.0 and trace == 0.0 and total == 24.0


def test_one_loop_gives_no_steady_time():
    assert _loops((10.0, 10)).split() == (None, 0.0, None)
