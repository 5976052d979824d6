"""detection/detectors.py, the sweep's TensorFlow-free copy of the detectors' facts, is checked against
the registered experiments (detection/experiments.py does it at import); and the one divergence rule."""
import math

import pytest

from detection import detectors, experiments
from detection.divergence import first_nonfinite_step


def test_every_row_matches_its_experiment_and_names_one():
    experiments.check_detector_facts()
    named = {detectors.experiment_name(d, s) for d in detectors.DETECTORS for s in detectors.SCALES}
    assert named == set(experiments.NAMES)


@pytest.mark.parametrize("table, key, wrong, fact", [
    ("COARSEST_STRIDE", ("retinanet", "embedded"), 64, "coarsest stride 32 in the experiment, 64"),
    ("WIDEST_CHANNELS", "paper", 1024, "widest channels 2048 in the experiment, 1024"),
    ("COMPONENTS", "faster_rcnn", ("backbone", "decoder", "head"), "components"),
])
def test_a_wrong_row_stops_the_import_naming_the_fact(monkeypatch, table, key, wrong, fact):
    monkeypatch.setitem(getattr(detectors, table), key, wrong)
    with pytest.raises(ImportError, match=fact):
        experiments.check_detector_facts()


def test_an_unregistered_detector_row_is_named(monkeypatch):
    monkeypatch.setitem(detectors.DETECTORS, "ssd", "frn_ssd")
    monkeypatch.setitem(detectors.COMPONENTS, "ssd", ("backbone",))
    with pytest.raises(ImportError, match="frn_ssd_embedded is not registered"):
        experiments.check_detector_facts()


def test_the_first_nonfinite_loss_step_over_every_curve():
    losses = {"total_loss": [[25, 1.0], [50, 0.9], [75, math.nan]], "box_loss": [[25, 0.5], [50, math.inf]]}
    assert first_nonfinite_step(losses) == 50
    assert first_nonfinite_step({"total_loss": [[25, 1.0]]}) is None and first_nonfinite_step({}) is None
