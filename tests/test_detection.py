"""Detectors train and evaluate on generated COCO-format data; norms per component; bad input."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import task_factory

from detection import coco_scoring
from detection.cell_training import run_cell
from detection.validate import ConfigError
from norm_layers import FilterResponseNormalization
from tests.detection_data import tiny_dataset, tiny_experiment
from tests.layer_checks import sublayers

COCO_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("tiny_coco"))


# Faster R-CNN trains once with all three norms, one per component (three runs of it cost ~3 CI minutes)
@pytest.mark.parametrize("detector, norm", [
    ("frn_retinanet_embedded", "bn"), ("frn_retinanet_embedded", "gn"), ("frn_retinanet_embedded", "frn"),
    ("frn_faster_rcnn_embedded", {"backbone": "frn", "decoder": "gn", "rpn_head": "bn", "detection_head": "bn"})],
    ids=["retinanet-bn", "retinanet-gn", "retinanet-frn", "faster_rcnn-frn_gn_bn"])
def test_trains_and_evaluates_with_pycocotools(detector, norm, data, tmp_path):
    config = tiny_experiment(detector, data, norm, steps=24)
    result = run_cell(config, str(tmp_path / "run"), replicas=2)
    assert result["steps"] == 24 and result["replicas"] == 2 and result["per_replica_batch_size"] == 2
    losses = [value for _, value in result["losses"]["total_loss"]]
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    assert sorted(result["coco"]) == sorted(COCO_KEYS) == sorted(result["coco_selection"])
    assert all(-1.0 <= value <= 1.0 for value in result["coco"].values())
    assert result["coco"]["AR100"] >= 0.0  # pycocotools found the val images and scored them
    grouped = result["group_norm"]  # the channels per group of its group norms, recorded per cell
    if norm == "gn":  # 32 groups on the embedded widths (gn_groups_policy: fixed): nearly InstanceNorm
        assert grouped == {"group_norm_layers": 26, "channels_per_group": {"min": 1, "median": 2, "max": 16}}
    else:
        assert (grouped["group_norm_layers"] > 0) == ("gn" in str(norm)), grouped
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["coco"] == result["coco"] and (tmp_path / "run" / "params.yaml").exists()


NORM_CLASSES = {FilterResponseNormalization: "frn", tf_keras.layers.BatchNormalization: "bn",
                tf_keras.layers.GroupNormalization: "gn"}


def _norm_types(layer):
    return {NORM_CLASSES[type(sub)] for sub in sublayers(layer) if type(sub) in NORM_CLASSES}


@pytest.mark.parametrize("detector, head_parts", [("frn_retinanet_embedded", ["head"]),
                                                  ("frn_faster_rcnn_embedded", ["rpn_head", "detection_head"])])
def test_norm_is_chosen_per_component(detector, head_parts, data):
    norms = {"backbone": "frn", "decoder": "gn"}
    norms.update({part: "bn" for part in head_parts})
    config = tiny_experiment(detector, data, norms)
    model = task_factory.get_task(config.task).build_model()
    if detector == "frn_faster_rcnn_embedded":  # its box head is built on the first call
        images = tf.zeros([1, 64, 64, 3])
        model(images, image_shape=tf.constant([[64.0, 64.0]]), training=False)
    heads = [model.head] if detector == "frn_retinanet_embedded" else [model.rpn_head] + model.detection_head
    assert _norm_types(model.backbone) == {"frn"}
    assert _norm_types(model.decoder) == {"gn"}
    assert all(_norm_types(head) == {"bn"} for head in heads)


@pytest.mark.parametrize("detector", ["frn_retinanet_embedded", "frn_faster_rcnn_embedded"])
def test_contenders_per_component_and_weight_standardized_convs(detector, data):
    """EvoNorm-S0 in the backbone, EvoNorm-B0 in the decoder, GN+WS in the heads: each component's
    convs before a norm are standardized only where its norm is gn_ws; prediction convs never are."""
    from norm_layers import EvoNormB0, EvoNormS0, StandardizedConv2D
    heads = ["head"] if detector == "frn_retinanet_embedded" else ["rpn_head", "detection_head"]
    config = tiny_experiment(detector, data, {"backbone": "evonorm_s0", "decoder": "evonorm_b0",
                                              **{part: "gn_ws" for part in heads}})
    if detector == "frn_faster_rcnn_embedded":
        config.task.model.detection_head.num_convs = 1  # a conv before the fcs, to be standardized
    model = task_factory.get_task(config.task).build_model()
    if detector == "frn_faster_rcnn_embedded":
        model(tf.zeros([1, 64, 64, 3]), image_shape=tf.constant([[64.0, 64.0]]), training=False)
    head_layers = [model.head] if detector == "frn_retinanet_embedded" else [model.rpn_head] + model.detection_head
    kinds = lambda layer, cls: [sub for sub in sublayers(layer) if type(sub) is cls]  # noqa: E731
    assert kinds(model.backbone, EvoNormS0) and not kinds(model.backbone, StandardizedConv2D)
    assert kinds(model.decoder, EvoNormB0) and not kinds(model.decoder, StandardizedConv2D)
    for head in head_layers:
        standardized = kinds(head, StandardizedConv2D)
        assert standardized and all("conv" in conv.name for conv in standardized), [c.name for c in standardized]
        assert not any(name in conv.name for conv in standardized for name in ("scores", "boxes"))


def test_bn_model_equals_stock_model_garden(data):
    """Our BN RetinaNet is layer for layer Model Garden's: the same parameter count."""
    from official.core import exp_factory
    from official.vision.tasks import retinanet as stock_task
    ours = task_factory.get_task(exp_factory.get_exp_config("frn_retinanet_coco").task).build_model()
    stock = stock_task.RetinaNetTask(exp_factory.get_exp_config("retinanet_resnetfpn_coco").task).build_model()
    count = lambda m: sum(int(np.prod(w.shape)) for w in m.weights)  # noqa: E731
    assert count(ours) == count(stock) == 34_167_319


def test_selection_split_scores_like_a_validation_split(data, tmp_path):
    """The selection split's stats equal an evaluation that reports that split (same checkpoint).
    (Faster R-CNN's selection evaluation runs in test_trains_and_evaluates_with_pycocotools.)"""
    detector = "frn_retinanet_embedded"
    run_dir = str(tmp_path / "run")
    config = tiny_experiment(detector, data, "gn", steps=6)
    config.trainer.validation_steps = 2  # the 8 val images
    trained = run_cell(config, run_dir, replicas=2)
    assert sorted(trained["coco_selection"]) == sorted(COCO_KEYS)
    swapped = tiny_experiment(detector, data, "gn", steps=6)
    swapped.task.validation_data.input_path = data.tfrecords("select")
    swapped.task.annotation_file = data.annotations("select")
    swapped.task.selection.input_path = ""
    again = run_cell(swapped, run_dir, replicas=2)  # at step 6 already: evaluates only
    assert again["steps_this_run"] == 0 and again["coco_selection"] is None
    assert again["coco"] == pytest.approx(trained["coco_selection"], abs=1e-9)
    # and the selection split's ground truth is the one scored: with the boxes of one category only, its
    # per-category AP has that category alone and pycocotools on that file gives its stats (a split without
    # any box is refused before training: tests/test_hostile_eval_splits.py)
    fewer = json.loads(open(data.annotations("select")).read())
    kept = fewer["annotations"][0]["category_id"]
    fewer["annotations"] = [a for a in fewer["annotations"] if a["category_id"] == kept]
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    config.task.selection.annotation_file = str(tmp_path / "fewer.json")
    scored = run_cell(config, run_dir, replicas=2)
    name = {c["id"]: c["name"] for c in fewer["categories"]}[kept]
    assert list(scored["per_category_selection"]) == [name] and len(trained["per_category_selection"]) > 1
    detections = coco_scoring.load_detections(str(tmp_path / "run" / scored["detections"]["select"]))
    stats, _ = coco_scoring.score(coco_scoring.load_ground_truth(str(tmp_path / "fewer.json")), detections,
                                  config.task.max_num_eval_detections)
    assert [scored["coco_selection"][k] for k in COCO_KEYS] == pytest.approx(stats, abs=1e-6)
    assert scored["coco"] == pytest.approx(trained["coco"], abs=1e-6)  # the reported split is unchanged


def test_resume_continues_from_the_checkpoint(data, tmp_path):
    run_dir = str(tmp_path / "run")
    first = run_cell(tiny_experiment("frn_retinanet_embedded", data, "frn", steps=4), run_dir, replicas=2)
    assert first["steps"] == 4 and first["steps_this_run"] == 4
    second = run_cell(tiny_experiment("frn_retinanet_embedded", data, "frn", steps=6), run_dir, replicas=2)
    assert second["steps"] == 6 and second["steps_this_run"] == 2  # did not restart at step 0


def test_emulated_replicas_keep_per_replica_bn_statistics():
    from official.core import config_definitions as cfg

    from detection.strategy import train_strategy
    from norm_layers import get_norm_act
    strat = train_strategy(cfg.RuntimeConfig(), replicas=2)
    assert strat.num_replicas_in_sync == 2
    x = np.random.default_rng(0).normal(size=(4, 2, 2, 3)).astype(np.float32)
    x[2:] += 10.0  # the second replica's images are shifted
    with strat.scope():
        unit = get_norm_act("bn", act="linear")(3)
        unit.build([None, 2, 2, 3])
    batch = next(iter(strat.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(4))))
    out = strat.run(lambda t: unit(t, training=True), args=(batch,))
    second = strat.experimental_local_results(out)[1].numpy()
    # per replica: the shift is normalized away; whole-batch BN would leave it at about +1
    assert abs(second.mean()) < 1e-3


@pytest.mark.parametrize("override, message", [
    ({"train_data": "nowhere/*.tfrecord"}, r"task.train_data.input_path .* matches no TFRecord"),
    ({"annotation_file": "nowhere.json"}, r"task.annotation_file .* does not exist"),
    ({"num_classes": 4}, r"num_classes 4 must be greater than the largest category id 4"),
    ({"batch": 3}, r"global_batch_size 3 is not divisible by the 2 replicas"),
    ({"norm": "frm"}, r"norm of backbone: unknown norm 'frm'; valid norms: bn"),
    ({"backbone": "resnet_v9"}, r"backbone.type 'resnet_v9' is unknown; valid: resnet_v1"),
])
def test_bad_input_fails_before_training(override, message, data, tmp_path):
    config = tiny_experiment("frn_retinanet_embedded", data, "frn")
    task = config.task
    if "train_data" in override:
        task.train_data.input_path = str(tmp_path / override["train_data"])
    if "annotation_file" in override:
        task.annotation_file = str(tmp_path / override["annotation_file"])
    if "num_classes" in override:
        task.model.num_classes = override["num_classes"]
    if "batch" in override:
        task.train_data.global_batch_size = override["batch"]
    if "norm" in override:
        task.model.backbone.resnet_v1.norm_activation.norm = override["norm"]
    if "backbone" in override:
        task.model.backbone.type = override["backbone"]
    with pytest.raises(ConfigError, match=message):
        run_cell(config, str(tmp_path / "run"), replicas=2)
    assert not (tmp_path / "run").exists()  # nothing started


def _backbone_checkpoint(tmp_path):
    from backbones.resnet_v1 import ResNetV1
    donor = ResNetV1(variant="small", norm_act="bn")
    for weight in donor.weights:
        weight.assign(tf.random.uniform(weight.shape, 0.5, 1.5))
    return donor, tf.train.Checkpoint(backbone=donor).write(str(tmp_path / "pretrained" / "ckpt"))


def test_fine_tuning_starts_from_the_backbone_checkpoint(data, tmp_path):
    """frozen_bn backbone + init_checkpoint: loaded on the first start, statistics kept while training."""
    donor, path = _backbone_checkpoint(tmp_path)
    config = tiny_experiment("frn_retinanet_embedded", data, {"backbone": "frozen_bn"}, steps=4)
    config.task.init_checkpoint = path
    config.task.init_checkpoint_modules = "backbone"
    run_dir = tmp_path / "run"
    run_cell(config, str(run_dir), replicas=2)
    reader = tf.train.load_checkpoint(str(run_dir))
    means = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
             if k.startswith("backbone/") and "moving_mean/.ATTRIBUTES" in k}
    donor_means = sorted(float(w.numpy().sum()) for w in donor.weights if "moving_mean" in w.name)
    assert len(means) == len(donor_means) > 0
    np.testing.assert_allclose(sorted(float(v.sum()) for v in means.values()), donor_means, rtol=1e-6)


def test_fine_tuning_an_frn_backbone_from_bn_weights_is_refused(data, tmp_path):
    from backbones.checkpoints import IncompatibleCheckpointError
    _, path = _backbone_checkpoint(tmp_path)
    config = tiny_experiment("frn_retinanet_embedded", data, "frn", steps=4)
    config.task.init_checkpoint = path
    task = task_factory.get_task(config.task)
    with pytest.raises(IncompatibleCheckpointError, match=r"norm 'frn'.*tau"):
        task.initialize(task.build_model())


def test_mixed_bfloat16_cell(data, tmp_path, policy):
    config = tiny_experiment("frn_retinanet_embedded", data, "frn", steps=4)
    config.runtime.mixed_precision_dtype = "bfloat16"
    config.task.train_data.dtype = config.task.validation_data.dtype = "bfloat16"
    with pytest.raises(ConfigError, match="batched NMS needs float32"):
        run_cell(config, str(tmp_path / "refused"), replicas=2)
    config.task.model.detection_generator.nms_version = "v2"
    result = run_cell(config, str(tmp_path / "run"), replicas=2)
    assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert np.isfinite([v for _, v in result["losses"]["total_loss"]]).all()
    assert sorted(result["coco"]) == sorted(COCO_KEYS)
