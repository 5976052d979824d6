"""`run` checks every cell against Model Garden before anything trains: one line, exit code 2, nothing written."""
import os
import subprocess
import sys

import pytest
import yaml

from sweep.errors import SweepConfigError
from sweep.execution import preflight
from sweep.grid.spec import parse
from tests.detection_data import tiny_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("preflight") / "data")


def _document(data, **base):
    return {"sweep": "pf", "scale": "embedded",
            "data": {"train": data.tfrecords("train"), "val": data.tfrecords("val"),
                     "annotations": data.annotations("val"), "num_classes": data.num_classes},
            "base": {"replicas": 2, "batch": 4, "image_size": 64, **base},
            "scaling": {"base_batch": 4, "base_steps": 4}, "blocks": {"scratch": {"grid": {"norm": ["frn", "gn"]}}}}


def test_a_valid_sweep_passes(data):
    preflight.check(parse(_document(data)).cells)


@pytest.mark.parametrize("change, message", [
    ({"overrides": {"task.model.no_such_field": 1}}, r"overrides .* do not apply to Model Garden's frn_retinanet_embedded"),
    ({"overrides": {"task.train_data.global_batch_size": "big"}}, r"overrides .* do not apply"),
    ({"overrides": {"trainer.no_such": {"a": 1}}}, r"overrides .* do not apply"),
    ({"init_checkpoint": "/nonexistent/ckpt"}, r"init_checkpoint '/nonexistent/ckpt' is neither a checkpoint"),
    ({"overrides": {"task.model.backbone.type": "resnet_9000"}}, r"backbone.type 'resnet_9000' is unknown"),
])
def test_bad_cell_overrides_fail_before_training(data, change, message):
    with pytest.raises(SweepConfigError, match=message) as error:
        preflight.check(parse(_document(data, **change)).cells)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("data_change, message", [
    ({"train": "/nonexistent/train-*.tfrecord"}, r"input_path '/nonexistent/train-\*.tfrecord' matches no TFRecord"),
    ({"annotations": "/nonexistent/instances.json"}, r"annotation_file '/nonexistent/instances.json' does not exist"),
    ({"num_classes": 2}, r"num_classes 2 must be greater than the largest category id 4"),
])
def test_missing_or_inconsistent_data_fails_before_training(data, data_change, message):
    document = _document(data)
    document["data"].update(data_change)
    with pytest.raises(SweepConfigError, match=message):
        preflight.check(parse(document).cells)


def test_cli_run_with_a_bad_override_exits_2_and_writes_nothing(data, tmp_path):
    config = tmp_path / "pf.yaml"
    config.write_text(yaml.safe_dump(_document(data, overrides={"task.model.no_such_field": 1})))
    result = subprocess.run([sys.executable, "run_sweep.py", "run", str(config), "--results", str(tmp_path / "results"),
                             "--runs", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: blocks.scratch") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_a_paper_scale_cell_without_gpus_is_refused_unless_allowed():
    cells = parse({"sweep": "p", "scale": "paper", "base": {"replicas": 8, "batch": 64},
                   "blocks": {"scratch": {"grid": {"norm": ["frn"]}}}}).cells
    with pytest.raises(SweepConfigError, match=r"scale 'paper' \(R50-FPN\) on a machine without GPUs .* --allow-cpu"):
        preflight.check(cells)
    preflight.check(cells, allow_cpu=True)  # the tests' escape hatch: the layout (8 CPU devices) is valid


def test_replicas_that_cannot_be_laid_out_are_refused(data, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    with pytest.raises(SweepConfigError, match="replicas 2 on 2 CPU-only workers|replicas = 2"):
        preflight.check(parse(_document(data, replicas=4, batch=8)).cells)


def test_a_strategy_with_another_replica_count_is_refused_before_training(data, tmp_path, monkeypatch):
    import tensorflow as tf

    from detection import cell_training, strategy
    from tests.detection_data import tiny_experiment
    monkeypatch.setattr(strategy, "train_strategy", lambda runtime, replicas: tf.distribute.OneDeviceStrategy("/cpu:0"))
    with pytest.raises(cell_training.ConfigError, match="the strategy runs 1 replicas, the cell asks for 2"):
        cell_training.run_cell(tiny_experiment("frn_retinanet_embedded", data, "frn"), str(tmp_path / "run"), replicas=2)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_files_data_selects_on_the_split_it_names_or_on_none():
    """A COCO-format sweep never inherits the embedded default's selection split."""
    from detection.cell_config import experiment_config
    from sweep.grid.spec import parse
    files = {"train": "tr-*", "val": "va-*", "annotations": "va.json", "num_classes": 5}
    plain = parse({"sweep": "f", "data": files, "blocks": {"b": {"grid": {"norm": ["gn"]}}}}).cells[0]
    assert experiment_config(plain).task.selection.as_dict() == {"input_path": "", "annotation_file": ""}
    named = parse({"sweep": "f", "data": {**files, "select_val": "se-*", "select_annotations": "se.json"},
                   "blocks": {"b": {"grid": {"norm": ["gn"]}}}}).cells[0]
    selection = experiment_config(named).task.selection
    assert (selection.input_path, selection.annotation_file) == ("se-*", "se.json")
