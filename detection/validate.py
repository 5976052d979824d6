"""Checks of a detection experiment before anything trains: one clear error per problem."""
import json

import tensorflow as tf
from official.core import exp_factory

from backbones.configs import norm_act_factory
from backbones.registration import BACKBONES
from common.batching import batch_problem
from detection.configs import norm_configs

# Model Garden fields our configs inherit but our builders (detection/modeling/builders.py) never
# read: a non-default value would pass strict overrides and do nothing, so it is refused.
# model config class name -> dotted paths under task.model
IGNORED_FIELDS = {
    "RetinaNet": ("norm_activation", "head.use_separable_conv", "head.attribute_heads",
                  "head.share_classification_heads", "head.share_level_convs", "detection_generator.decode_boxes",
                  "detection_generator.return_decoded", "detection_generator.tflite_post_processing"),
    "FasterRCNN": ("norm_activation", "rpn_head.use_separable_conv", "detection_head.use_separable_conv",
                   "detection_head.cascade_class_ensemble", "mask_head", "mask_sampler", "mask_roi_aligner"),
}
COCO_SECTIONS = {"images": ("id",), "annotations": ("image_id", "category_id", "bbox"), "categories": ("id",)}
MAX_FILES_CHECKED = 4096  # first records read per glob (a COCO train set has 256 shards)


class ConfigError(ValueError):
    """A bad experiment setting, named with its value and the valid choices."""


def _files(pattern):
    patterns = pattern if isinstance(pattern, (list, tuple)) else str(pattern).split(",")
    return [f for p in patterns for f in tf.io.gfile.glob(p.strip())]


def check_tfrecords(key, pattern):
    """Every file of `pattern` is a TFRecord whose first record is a tf.train.Example with an image."""
    files = _files(pattern)
    if not files:
        raise ConfigError(f"task.{key}.input_path {pattern!r} matches no TFRecord file")
    for path in files[:MAX_FILES_CHECKED]:
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except (tf.errors.OpError, OSError) as error:
            raise ConfigError(f"task.{key}.input_path: {path} is not a readable TFRecord file "
                              f"({type(error).__name__})") from None
        if first is None:
            continue  # an empty shard is valid
        example = tf.train.Example()
        try:
            example.ParseFromString(first.numpy())
        except Exception:  # protobuf's DecodeError
            raise ConfigError(f"task.{key}.input_path: {path} holds records that are not tf.train.Example "
                              f"protos (convert with python -m detection.data.coco_tfrecords)") from None
        if "image/encoded" not in example.features.feature:
            raise ConfigError(f"task.{key}.input_path: {path} has no 'image/encoded' feature: not a detection "
                              f"TFRecord (convert with python -m detection.data.coco_tfrecords)")


def check_coco_json(path):
    """The annotation file is a COCO instances JSON; returns its largest category id."""
    if not path or not tf.io.gfile.exists(path):
        raise ConfigError(f"task.annotation_file {path!r} does not exist (COCO evaluation needs the validation "
                          f"instances JSON)")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            coco = json.loads(f.read())
    except (ValueError, UnicodeDecodeError, tf.errors.OpError) as error:
        raise ConfigError(f"task.annotation_file {path}: not JSON ({type(error).__name__})") from None
    if not isinstance(coco, dict):
        raise ConfigError(f"task.annotation_file {path}: a {type(coco).__name__}, not a COCO instances object "
                          f"with {', '.join(COCO_SECTIONS)}")
    for section, keys in COCO_SECTIONS.items():
        entries = coco.get(section)
        if not isinstance(entries, list):
            raise ConfigError(f"task.annotation_file {path}: '{section}' is missing or not a list; a COCO "
                              f"instances JSON has {', '.join(COCO_SECTIONS)}")
        for entry in entries[:1000]:
            if not isinstance(entry, dict) or any(k not in entry for k in keys):
                raise ConfigError(f"task.annotation_file {path}: an entry of '{section}' lacks "
                                  f"{', '.join(keys)}: {str(entry)[:80]}")
    if not coco["categories"] or not all(isinstance(c["id"], int) for c in coco["categories"]):
        raise ConfigError(f"task.annotation_file {path}: 'categories' must list integer ids")
    return max(c["id"] for c in coco["categories"])


def check_used_fields(model, default):
    """Refuses a value in a Model Garden field our builders ignore that differs from `default`'s
    (the same experiment as registered)."""
    for dotted in IGNORED_FIELDS.get(type(model).__name__, ()):
        value, expected = model, default
        for part in dotted.split("."):
            value, expected = getattr(value, part), getattr(expected, part)
        as_plain = lambda v: v.as_dict() if hasattr(v, "as_dict") else v  # noqa: E731
        if as_plain(value) != as_plain(expected):
            raise ConfigError(f"task.model.{dotted}: {str(as_plain(value))[:80]} is not used by this suite's "
                              f"builders (detection/modeling/builders.py); valid: its default "
                              f"{str(as_plain(expected))[:80]}")


def validate_experiment(params, replicas, check_data=True, experiment=None):
    """Raises ConfigError for the first bad setting of `params` (a detection ExperimentConfig).

    check_data=False skips the data files (the embedded dataset, which the suite generates).
    experiment: the registered name `params` derives from; with it, fields our builders ignore
    must keep that experiment's values.
    """
    task, model = params.task, params.task.model
    if model.backbone.type not in BACKBONES:
        raise ConfigError(f"task.model.backbone.type {model.backbone.type!r} is unknown; "
                          f"valid: {', '.join(BACKBONES)}")
    for component, norm in norm_configs(model).items():
        try:
            norm_act_factory(norm)
        except ValueError as error:
            raise ConfigError(f"norm of {component}: {error}") from error
    if experiment:
        check_used_fields(model, exp_factory.get_exp_config(experiment).task.model)
    if check_data:
        for key, data in (("train_data", task.train_data), ("validation_data", task.validation_data)):
            check_tfrecords(key, data.input_path)
        largest = check_coco_json(task.annotation_file)
        selection = getattr(task, "selection", None)
        if selection and selection.input_path:
            check_tfrecords("selection", selection.input_path)
            largest = max(largest, check_coco_json(selection.annotation_file))
        if model.num_classes <= largest:
            raise ConfigError(f"task.model.num_classes {model.num_classes} must be greater than the largest "
                              f"category id {largest} (class 0 is background; COCO needs 91)")
    precision = params.runtime.mixed_precision_dtype or "float32"
    generator = getattr(model, "detection_generator", None)
    if precision != "float32" and getattr(generator, "nms_version", None) == "batched":
        raise ConfigError(f"task.model.detection_generator.nms_version 'batched': Model Garden's batched NMS needs "
                          f"float32 scores, runtime.mixed_precision_dtype is {precision!r}; valid: 'v2' or float32")
    problem = replicas and batch_problem(task.train_data.global_batch_size, replicas)
    if problem:
        raise ConfigError(f"task.train_data.global_batch_size {problem}")
