"""Pretrained weights for the fine-tuned baseline, and the clear error for a checkpoint that does not fit."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import exp_factory, task_factory
from official.vision.modeling.backbones import resnet

import backbones.registry_imports  # noqa: F401
from backbones.checkpoints import IncompatibleCheckpointError, convert_model_garden_resnet50, restore_backbone
from backbones.resnet_v1 import ResNetV1

SPEC = tf_keras.layers.InputSpec(shape=[None, 64, 64, 3])


@pytest.fixture(scope="module")
def model_garden_checkpoint(tmp_path_factory):
    """A Model Garden ResNet-50 with random (non-default) weights, saved as its trainer does."""
    tf.random.set_seed(7)
    mg = resnet.ResNet(50, SPEC)
    for weight in mg.weights:
        if "moving_variance" in weight.name:
            weight.assign(tf.random.uniform(weight.shape, 0.5, 1.5))
        else:
            weight.assign(tf.random.normal(weight.shape, stddev=0.05))
    path = tf.train.Checkpoint(backbone=mg).write(str(tmp_path_factory.mktemp("mg") / "ckpt"))
    return mg, path


@pytest.fixture(scope="module")
def converted(model_garden_checkpoint, tmp_path_factory):
    return convert_model_garden_resnet50(model_garden_checkpoint[1], str(tmp_path_factory.mktemp("ours") / "ckpt"), 64)


def test_model_garden_resnet50_converts_to_equal_outputs(model_garden_checkpoint, converted):
    mg, _ = model_garden_checkpoint
    ours = ResNetV1(SPEC, norm_act="bn")
    restore_backbone(ours, converted)
    x = tf.random.normal([2, 64, 64, 3], seed=1)
    expected, got = mg(x, training=False), ours(x, training=False)
    for level in expected:
        assert float(tf.reduce_max(tf.abs(expected[level]))) > 0.01
        np.testing.assert_allclose(got[level], expected[level], rtol=1e-5, atol=1e-5)


def test_frozen_bn_backbone_loads_the_bn_checkpoint(converted):
    restore_backbone(ResNetV1(SPEC, norm_act="frozen_bn"), converted)


def test_frn_backbone_refuses_a_bn_checkpoint(converted):
    with pytest.raises(IncompatibleCheckpointError, match=r"norm 'frn'.*tau.*moving_mean"):
        restore_backbone(ResNetV1(SPEC, norm_act="frn"), converted)


def test_gn_backbone_refuses_a_bn_checkpoint(converted):
    """GN has gamma/beta of BN's shapes: only the unused moving statistics give the mismatch away."""
    with pytest.raises(IncompatibleCheckpointError, match=r"0 of its \d+ variables.*moving_mean"):
        restore_backbone(ResNetV1(SPEC, norm_act="gn"), converted)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        restore_backbone(ResNetV1(SPEC, variant="small"), str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="no checkpoint in directory"):
        restore_backbone(ResNetV1(SPEC, variant="small"), str(tmp_path))


def test_classifier_checkpoint_initialises_a_backbone_through_model_garden(tmp_path):
    """A classifier this suite trained -> Model Garden's init_checkpoint_modules: backbone."""
    config = exp_factory.get_exp_config("frn_paper_classification")
    config.override({"task": {"model": {
        "num_classes": 10, "input_size": [64, 64, 3],
        "backbone": {"type": "resnet_v1", "resnet_v1": {"variant": "small"}}}}}, is_strict=True)
    task = task_factory.get_task(config.task)
    trained = task.build_model()
    for weight in trained.backbone.weights:
        weight.assign_add(tf.random.normal(weight.shape, stddev=0.01))
    # what Model Garden's trainer writes: the model plus its checkpoint_items
    path = tf.train.Checkpoint(model=trained, **trained.checkpoint_items).write(str(tmp_path / "ckpt"))

    config.task.init_checkpoint = path
    config.task.init_checkpoint_modules = "backbone"
    fresh_task = task_factory.get_task(config.task)
    fresh = fresh_task.build_model()
    fresh_task.initialize(fresh)  # Model Garden's own loading code
    x = tf.random.normal([2, 64, 64, 3])
    np.testing.assert_allclose(fresh.backbone(x)["5"], trained.backbone(x)["5"], rtol=1e-6, atol=1e-6)
    # and ours, strict
    other = ResNetV1(SPEC, variant="small")
    restore_backbone(other, path)
    np.testing.assert_allclose(other(x)["5"], trained.backbone(x)["5"], rtol=1e-6, atol=1e-6)
