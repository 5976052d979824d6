"""Experiments registered with Model Garden's exp_factory ("extend, don't fork").

frn_retinanet_coco / frn_faster_rcnn_coco: Model Garden's retinanet_resnetfpn_coco and
fasterrcnn_resnetfpn_coco with our ResNet-50 v1 + norm FPN + norm heads, trained from scratch
as in the paper (FRN Sec. 4.2): B = 64 on 8 replicas with per-replica BN statistics,
lr = 0.1 x B/64 (m = 0.1), 125k steps, SGD momentum 0.9, weight decay 4e-4, float32.
A sweep (sweep/, configs/) varies B, m, steps and the norms.

frn_retinanet_embedded / frn_faster_rcnn_embedded: the same detectors scaled down for CPU runs
on the generated dataset (detection/data/embedded.py).
"""
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization

from backbones.base import scaled
from backbones.resnet_v1 import STAGE_FILTERS, ResNetV1
from detection import configs, detectors
from detection.data import embedded

PAPER_BATCH, PAPER_STEPS, PAPER_REPLICAS = 64, 125_000, 8
WEIGHT_DECAY = 4e-4


def _derive(base_name, task_config):
    """Model Garden's experiment `base_name` with its task moved into our task config class."""
    config = exp_factory.get_exp_config(base_name)
    task = task_config()
    task.override(config.task.as_dict(), is_strict=True)  # ours is a superset of Model Garden's
    config.task = task
    config.task.model.backbone.type = "resnet_v1"
    config.task.model.decoder.type = "norm_fpn"
    config.task.init_checkpoint = None          # from scratch; the fine-tuned block sets its own
    config.task.losses.l2_weight_decay = WEIGHT_DECAY
    # A NaN/inf loss, or one above the bound, ends the run at the end of that loop (checked
    # by Model Garden's RecoveryCondition) instead of restoring a checkpoint and retrying:
    # retrying a deterministic run reproduces the divergence.
    config.trainer.loss_upper_bound = 1e6
    config.trainer.recovery_max_trials = 0
    config.runtime.mixed_precision_dtype = "float32"
    config.runtime.distribution_strategy = "mirrored"
    for data in (config.task.train_data, config.task.validation_data):
        data.dtype = "float32"
    return config


def schedule(config, lr, steps, warmup_steps, kind="cosine", momentum=0.9):
    """SGD with momentum, linear warm-up, then cosine decay to 0 or steps (x0.1 at 2/3 and 8/9)."""
    config.trainer.train_steps = steps
    if kind == "cosine":
        rate = {"type": "cosine", "cosine": {"initial_learning_rate": lr, "decay_steps": steps}}
    else:
        rate = {"type": "stepwise", "stepwise": {"boundaries": [steps * 2 // 3, steps * 8 // 9],
                                                 "values": [lr, lr / 10, lr / 100]}}
    optimizer = {"optimizer": {"type": "sgd", "sgd": {"momentum": momentum}}, "learning_rate": rate}
    if warmup_steps > 0:
        optimizer["warmup"] = {"type": "linear", "linear": {"warmup_steps": warmup_steps, "warmup_learning_rate": 0.0}}
    config.trainer.optimizer_config = optimization.OptimizationConfig(optimizer)
    return config


def _paper(config):
    config.task.train_data.global_batch_size = PAPER_BATCH
    config.runtime.num_gpus = PAPER_REPLICAS
    every = 5000
    config.trainer.steps_per_loop = config.trainer.summary_interval = every
    config.trainer.checkpoint_interval = config.trainer.validation_interval = every
    return schedule(config, 0.1 * PAPER_BATCH / 64, PAPER_STEPS, 500)


@exp_factory.register_config_factory("frn_retinanet_coco")
def frn_retinanet_coco() -> cfg.ExperimentConfig:
    return _paper(_derive("retinanet_resnetfpn_coco", configs.RetinaNetTask))


@exp_factory.register_config_factory("frn_faster_rcnn_coco")
def frn_faster_rcnn_coco() -> cfg.ExperimentConfig:
    config = _derive("fasterrcnn_resnetfpn_coco", configs.FasterRCNNTask)
    config.task.model.detection_head.num_convs = 0   # the 2-fc box head of Ren et al. / FPN paper
    config.task.model.detection_head.num_fcs = 2
    return _paper(config)


NAMES = ("frn_retinanet_embedded", "frn_faster_rcnn_embedded", "frn_retinanet_coco", "frn_faster_rcnn_coco")


def use_dataset(config, data):
    """Points an experiment at a generated dataset (train/val TFRecords, val annotations; the
    `select` split as the selection split when the dataset has one and the task has the
    field: stock Model Garden tasks have none)."""
    config.task.annotation_file = data.annotations("val")
    config.task.train_data.input_path = data.tfrecords("train")
    config.task.validation_data.input_path = data.tfrecords("val")
    selection = bool(data.spec.select_images)
    if "selection" in config.task.as_dict():
        config.task.selection.input_path = data.tfrecords("select") if selection else ""
        config.task.selection.annotation_file = data.annotations("select") if selection else ""
    config.task.model.input_size = [data.spec.image_size, data.spec.image_size, 3]
    config.task.model.num_classes = data.num_classes
    config.trainer.validation_steps = -(-data.spec.val_images // config.task.validation_data.global_batch_size)
    return config


DEFAULT_DATASET = embedded.Dataset(embedded.DEFAULT_ROOT, embedded.Spec())  # where ensure() writes it


def _embedded(config, data=DEFAULT_DATASET):
    """Shrinks a paper experiment to the generated dataset: 128 px, small backbone, levels 3-5."""
    model = config.task.model
    model.min_level, model.max_level = 3, 5
    model.anchor.anchor_size = 2.0  # level 3 anchors of 16 px for 12-56 px objects
    model.backbone.resnet_v1.variant = "small"
    model.decoder.norm_fpn.num_filters = 64
    config.task.train_data.global_batch_size = 16
    config.task.train_data.shuffle_buffer_size = 2000
    # No random augmentation: the generated set is large enough for these schedules, and without
    # stateful random ops in the input pipeline the same seed gives the same AP (tasks.py).
    config.task.train_data.parser.aug_scale_min = config.task.train_data.parser.aug_scale_max = 1.0
    config.task.train_data.parser.aug_rand_hflip = False
    config.task.validation_data.global_batch_size = 40
    # Same detections, 6x faster on CPU: NMS v2 took 32.6 s to evaluate 200 images, batched
    # NMS 5.4 s, with equal AP (measured on a finished embedded RetinaNet cell).
    config.task.model.detection_generator.nms_version = "batched"
    config.task.validation_data.drop_remainder = False
    config.runtime.num_gpus = 0
    # BN moving averages must settle within a 100-300 step schedule: momentum 0.9 (a 10-step
    # time constant) instead of 0.99, whose averages after 200 steps still hold 13% of their
    # initial values and lag the weights (a 20-step trial with 0.99 gave BN ~0 AP while FRN
    # and GN were fine). Set bn_momentum per component to change it.
    for norm in configs.norm_configs(model).values():
        norm.bn_momentum = 0.9
    config.trainer.steps_per_loop = config.trainer.summary_interval = 25
    config.trainer.checkpoint_interval = config.trainer.validation_interval = 100
    use_dataset(config, data)
    return schedule(config, 0.03 * 16 / 16, 200, 20)


@exp_factory.register_config_factory("frn_retinanet_embedded")
def frn_retinanet_embedded() -> cfg.ExperimentConfig:
    config = _embedded(frn_retinanet_coco())
    config.task.model.head.num_convs = 1
    config.task.model.head.num_filters = 64
    return config


@exp_factory.register_config_factory("frn_faster_rcnn_embedded")
def frn_faster_rcnn_embedded() -> cfg.ExperimentConfig:
    """The light Faster R-CNN for CPU: 1-conv RPN, 2-fc (128-d) box head, 128 sampled RoIs."""
    config = _embedded(frn_faster_rcnn_coco())
    model = config.task.model
    model.anchor.num_scales = 1
    model.rpn_head.num_filters = 64
    model.detection_head.fc_dims = 128
    model.roi_sampler.num_sampled_rois = 128
    model.roi_generator.num_proposals = 256
    model.roi_generator.test_num_proposals = 128
    model.roi_generator.pre_nms_top_k = model.roi_generator.test_pre_nms_top_k = 1000
    return config


def _widest_normalized(model):
    """Channels of the widest normalized layer: the last ResNet stage's 4 x filters (bottleneck output)."""
    return 4 * scaled(STAGE_FILTERS[-1], ResNetV1.width(model.backbone.resnet_v1.variant))


def check_detector_facts():
    """Raises ImportError when detection/detectors.py (the sweep's TensorFlow-free copy) disagrees
    with a registered experiment: its name, components, coarsest stride or widest normalized layer."""
    problems = []
    for detector in detectors.DETECTORS:
        for scale in detectors.SCALES:
            name = detectors.experiment_name(detector, scale)
            if name not in NAMES:
                problems.append(f"{name} is not registered (registered: {', '.join(NAMES)})")
                continue
            model = exp_factory.get_exp_config(name).task.model
            facts = {"components": (tuple(configs.norm_configs(model)), detectors.COMPONENTS[detector]),
                     "coarsest stride": (2 ** model.max_level, detectors.COARSEST_STRIDE[(detector, scale)]),
                     "widest channels": (_widest_normalized(model), detectors.WIDEST_CHANNELS[scale])}
            problems += [f"{name}: {what} {actual} in the experiment, {listed} in detection/detectors.py"
                         for what, (actual, listed) in facts.items() if actual != listed]
    if problems:
        raise ImportError("; ".join(problems))


check_detector_facts()
