"""Checks of a detection experiment before anything trains: one clear error per problem."""
import tensorflow as tf

from backbones.configs import norm_act_factory
from backbones.registration import BACKBONES
from detection.configs import norm_configs
from detection.data import coco_tfrecords


class ConfigError(ValueError):
    """A bad experiment setting, named with its value and the valid choices."""


def _files(pattern):
    patterns = pattern if isinstance(pattern, (list, tuple)) else str(pattern).split(",")
    return [f for p in patterns for f in tf.io.gfile.glob(p.strip())]


def _max_category_id(annotation_file):
    try:
        return coco_tfrecords.max_category_id(annotation_file)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"task.annotation_file {annotation_file!r} is not a COCO instances JSON "
                          f"with categories: {error}") from error


def validate_experiment(params, replicas):
    """Raises ConfigError for the first bad setting of `params` (a detection ExperimentConfig)."""
    task, model = params.task, params.task.model
    if model.backbone.type not in BACKBONES:
        raise ConfigError(f"task.model.backbone.type {model.backbone.type!r} is unknown; "
                          f"valid: {', '.join(BACKBONES)}")
    for component, norm in norm_configs(model).items():
        try:
            norm_act_factory(norm)
        except ValueError as error:
            raise ConfigError(f"norm of {component}: {error}") from error
    for key, data in (("train_data", task.train_data), ("validation_data", task.validation_data)):
        if not _files(data.input_path):
            raise ConfigError(f"task.{key}.input_path {data.input_path!r} matches no TFRecord file")
    if not task.annotation_file or not tf.io.gfile.exists(task.annotation_file):
        raise ConfigError(f"task.annotation_file {task.annotation_file!r} does not exist (COCO evaluation "
                          f"needs the validation instances JSON)")
    largest = _max_category_id(task.annotation_file)
    if model.num_classes <= largest:
        raise ConfigError(f"task.model.num_classes {model.num_classes} must be greater than the largest "
                          f"category id {largest} (class 0 is background; COCO needs 91)")
    precision = params.runtime.mixed_precision_dtype or "float32"
    generator = getattr(model, "detection_generator", None)
    if precision != "float32" and getattr(generator, "nms_version", None) == "batched":
        raise ConfigError(f"task.model.detection_generator.nms_version 'batched': Model Garden's batched NMS needs "
                          f"float32 scores, runtime.mixed_precision_dtype is {precision!r}; valid: 'v2' or float32")
    batch = task.train_data.global_batch_size
    if replicas and (batch < replicas or batch % replicas):
        raise ConfigError(f"task.train_data.global_batch_size {batch} is not divisible by the {replicas} "
                          f"replicas; valid: a positive multiple of {replicas}")
