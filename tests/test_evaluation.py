"""AP during training, eval-only, per-category AP, saved detections and the HParams summary, on
one tiny trained RetinaNet cell (detection/cell_training.py, detection/checkpoint_evaluation.py, detection/evaluation.py)."""
import contextlib
import gzip
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tensorboard.plugins.hparams import plugin_data_pb2

from detection import hparams_summary
from detection.cell_training import run_cell
from detection.checkpoint_evaluation import evaluate_run, load_run_params
from tests.detection_data import tiny_dataset, tiny_experiment

STEPS, EVERY = 24, 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("data"))
    params = tiny_experiment("frn_retinanet_embedded", data, norms="gn", steps=STEPS)
    params.trainer.validation_interval = EVERY
    run_dir = str(tmp_path_factory.mktemp("run"))
    return data, run_dir, run_cell(params, run_dir)


def test_ap_is_evaluated_every_validation_interval_and_the_table_value_is_the_last(trained):
    _, _, result = trained
    assert [step for step, _ in result["ap_curve"]] == [8, 16, 24]
    assert result["ap_curve"][-1][1] == pytest.approx(result["coco"]["AP"], abs=1e-6)
    assert result["eval_step"] == STEPS
    phases = result["phases"]
    assert {"build", "train", "eval_build", "eval_val", "eval_select", "record", "trace"} <= set(phases)
    assert result["steady_step_seconds"] > 0
    with open(os.path.join(trained[1], "progress.json")) as f:  # what the runner prints while it trains
        progress = json.load(f)
    assert (progress["step"], progress["steps"]) == (STEPS, STEPS) and progress["images_per_second"] > 0
    assert progress["loss"] == pytest.approx(result["final_loss"], rel=1e-6)


def test_eval_only_reproduces_the_stored_ap(trained):
    _, run_dir, result = trained
    again = evaluate_run(run_dir)
    for split in ("coco", "coco_selection"):
        for name, value in result[split].items():
            assert again[split][name] == pytest.approx(value, abs=1e-6), (split, name)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        stored = json.load(f)
    assert stored["train_seconds"] == result["train_seconds"]  # training fields kept
    assert stored["coco"]["AP"] == pytest.approx(result["coco"]["AP"], abs=1e-6)


def test_eval_only_refuses_a_folder_that_is_not_a_run(tmp_path):
    from detection.validate import ConfigError
    with pytest.raises(ConfigError, match="no params.yaml"):
        load_run_params(str(tmp_path))


def _pycocotools(annotation_file, detections, max_dets):
    """Model Garden's protocol, written out with pycocotools alone."""
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO(annotation_file)
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), iouType="bbox")
        evaluation.params.imgIds = [d["image_id"] for d in detections]
        evaluation.params.maxDets[2] = max_dets
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return ground_truth, evaluation


def test_saved_detections_rescore_to_the_stored_ap_and_categories_average_to_it(trained):
    data, run_dir, result = trained
    assert result["coco"]["AP"] > 0, "the tiny cell detects nothing: the re-score would compare zeros"
    with gzip.open(os.path.join(run_dir, result["detections"]["val"])) as f:
        detections = json.load(f)
    assert detections and {"image_id", "category_id", "bbox", "score"} <= set(detections[0])
    max_dets = result["params"]["task"]["max_num_eval_detections"]
    ground_truth, evaluation = _pycocotools(data.annotations("val"), detections, max_dets)
    assert evaluation.stats[0] == pytest.approx(result["coco"]["AP"], abs=1e-6)
    assert evaluation.stats[1] == pytest.approx(result["coco"]["AP50"], abs=1e-6)
    # per-category AP: over the categories with ground truth, their mean is AP
    names = {c["id"]: c["name"] for c in ground_truth.dataset["categories"]}
    with_truth = {names[a["category_id"]] for a in ground_truth.dataset["annotations"]}
    assert set(result["per_category"]) == with_truth
    assert np.mean(list(result["per_category"].values())) == pytest.approx(result["coco"]["AP"], abs=1e-6)


def test_hparams_summary_reads_back_from_the_event_file(tmp_path):
    values = {"norm": "frn", "batch": 16, "lr_mult": 0.03}
    hparams_summary.write(str(tmp_path), "scratch-frn-x", values, {"coco": {"AP": 0.25}, "steps": 400})
    found, scalars = None, {}
    for path in tf.io.gfile.glob(str(tmp_path / "hparams" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        found = data.session_start_info
                elif value.tag == "AP":
                    scalars[event.step] = float(tf.make_ndarray(value.tensor))
    assert found is not None and found.group_name == "scratch-frn-x"
    assert found.hparams["norm"].string_value == "frn"
    assert found.hparams["batch"].number_value == 16
    assert found.hparams["lr_mult"].number_value == pytest.approx(0.03)
    assert scalars == {400: pytest.approx(0.25)}
