"""Each backbone trains as a classifier through Model Garden's image classification task."""
import numpy as np
import pytest
import tensorflow as tf
from official.core import exp_factory, task_factory

import backbones.registry_imports  # noqa: F401
from backbones.classification import Classifier
from backbones.registration import BACKBONES
from norm_layers import FilterResponseNormalization
from tests.classification_data import write_classification_tfrecord


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cls")
    return (write_classification_tfrecord(folder / "train.tfrecord", 32, 72, seed=0),
            write_classification_tfrecord(folder / "val.tfrecord", 16, 72, seed=1))


def _experiment(arch, norm, records, lr=0.05):
    config = exp_factory.get_exp_config("frn_paper_classification")
    config.override({
        "runtime": {"num_gpus": 0, "distribution_strategy": "one_device"},
        "task": {
            "model": {"num_classes": 10, "input_size": [64, 64, 3],
                      "backbone": {"type": arch, arch: {"variant": "small", "norm_activation": {"norm": norm}}}},
            "train_data": {"input_path": records[0], "global_batch_size": 8, "shuffle_buffer_size": 32,
                           "dtype": "float32"},
            "validation_data": {"input_path": records[1], "global_batch_size": 8, "dtype": "float32"},
        },
        "trainer": {"optimizer_config": {"learning_rate": {"cosine": {"initial_learning_rate": lr}}}},
    }, is_strict=True)
    return config


def _train(config, steps):
    task = task_factory.get_task(config.task)
    model = task.build_model()
    optimizer = task.create_optimizer(config.trainer.optimizer_config, config.runtime)
    metrics = task.build_metrics(training=True)
    step = tf.function(lambda batch: task.train_step(batch, model, optimizer, metrics))
    batches = iter(task.build_inputs(config.task.train_data))
    losses = [float(step(next(batches))["loss"]) for _ in range(steps)]
    return task, model, losses, {m.name: float(m.result()) for m in metrics}


def _validate(task, model, config):
    metrics = task.build_metrics(training=False)
    for batch in task.build_inputs(config.task.validation_data).take(2):
        task.validation_step(batch, model, metrics)
    return {m.name: float(m.result()) for m in metrics}


def test_paper_recipe():
    config = exp_factory.get_exp_config("frn_paper_classification")
    assert config.task.train_data.global_batch_size == 256 and config.runtime.num_gpus == 8
    assert config.runtime.distribution_strategy == "mirrored"
    lr = config.trainer.optimizer_config.learning_rate
    assert lr.type == "cosine" and lr.cosine.initial_learning_rate == 0.1 and lr.cosine.decay_steps == 300_000
    assert config.trainer.train_steps == 300_000
    assert config.trainer.optimizer_config.optimizer.sgd.momentum == 0.9
    data = config.task.train_data
    assert data.aug_crop and tuple(data.crop_area_range) == (0.08, 1.0) and data.aug_rand_hflip
    assert config.task.model.backbone.type == "resnet_v2"


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_trains_and_reports_precision_at_1_and_recall_at_5(arch, records):
    config = _experiment(arch, "frn", records)
    task, model, losses, train_metrics = _train(config, 2)
    assert isinstance(model, Classifier) and np.isfinite(losses).all()
    val = _validate(task, model, config)
    assert set(val) >= {"accuracy", "top_5_accuracy"}  # precision@1, recall@5
    assert 0.0 <= val["accuracy"] <= val["top_5_accuracy"] <= 1.0


def test_loss_falls(records):
    _, _, losses, _ = _train(_experiment("resnet_v1", "frn", records), 24)
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:6]), losses


def test_inception_aux_head_adds_its_loss(records):
    config = _experiment("inception_v3", "frn", records)
    task = task_factory.get_task(config.task)
    model = task.build_model()
    images, labels = next(iter(task.build_inputs(config.task.train_data)))
    outputs = model(images, training=True)
    assert set(outputs) == {"logits", "aux_logits"} and model(images, training=False).shape == (8, 10)
    aux = [layer for layer in model.aux if layer.name == "aux_norm2"][0]
    assert isinstance(aux.norm, FilterResponseNormalization) and aux.norm.learned_epsilon  # 1x1 map
    one_hot = tf.one_hot(labels, 10)
    with_aux = float(task.build_losses(one_hot, outputs))
    main = float(task.build_losses(one_hot, outputs["logits"]))
    aux_only = float(task.build_losses(one_hot, outputs["aux_logits"]))
    np.testing.assert_allclose(with_aux, main + 0.4 * aux_only, rtol=1e-5)


def test_vgg_a_classifier_has_the_papers_size():
    """VGG-A with its fc layers: 132,863,336 parameters in the paper's form (with biases).

    Ours drops the biases of the 8 convs and fc6/fc7 (2,752 + 8,192, each followed by a norm)
    and adds BN's 4 values per normalized channel (4 x 10,944).
    """
    config = exp_factory.get_exp_config("frn_paper_classification")
    config.override({"task": {"model": {"num_classes": 1000, "backbone": {"type": "vgg_a"}}}}, is_strict=True)
    model = task_factory.get_task(config.task).build_model()
    assert model.count_params() == 132_863_336 - 10_944 + 4 * 10_944
    frn = config.task.model.backbone.vgg_a.norm_activation
    frn.norm = "frn"
    config.task.model.input_size = [64, 64, 3]
    config.task.model.backbone.vgg_a.variant = "small"
    fc_norm = task_factory.get_task(config.task).build_model().fc[0][1].norm
    assert isinstance(fc_norm, FilterResponseNormalization) and fc_norm.learned_epsilon
