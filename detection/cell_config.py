"""A sweep cell -> the Model Garden ExperimentConfig of that run (imports TensorFlow).

The one adapter between the sweep (sweep/grid/cell.py) and Model Garden: it reads the cell's fields
by name and imports nothing of sweep/, so the dependency runs sweep -> detection only.
"""
import json

from official.core import exp_factory

import detection.registry_imports  # noqa: F401
from detection import experiments, group_norm_width
from detection.configs import norm_configs
from detection.data import embedded


def _nested(dotted_items):
    nested = {}
    for dotted, value in dotted_items:
        node = nested
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return nested


def experiment_config(cell, init_checkpoint=None, generate_data=True):
    """The resolved experiment of `cell` (a sweep Cell), starting from `init_checkpoint`.

    generate_data=False: for embedded data, point at where the generated dataset will be without
    making it (the checks before a sweep run write nothing).
    """
    params = exp_factory.get_exp_config(cell.experiment)
    data = dict(cell.data)
    if data["kind"] == "embedded":
        if generate_data:
            experiments.use_dataset(params, embedded.ensure())
    else:
        params.task.train_data.input_path = data["train"]
        params.task.validation_data.input_path = data["val"]
        params.task.annotation_file = data["annotations"]
        if data.get("num_classes"):
            params.task.model.num_classes = data["num_classes"]
        # the selection split is the sweep's or none (never the embedded default's)
        params.task.selection.input_path = data.get("select_val") or ""
        params.task.selection.annotation_file = data.get("select_annotations") or ""
    task = params.task
    if cell.image_size:
        task.model.input_size = [cell.image_size, cell.image_size, 3]
    for component, norm in norm_configs(task.model).items():
        norm.norm = dict(cell.norms)[component]
        norm.activation = cell.activation
        norm.bn_momentum = cell.bn_momentum
        norm.gn_groups = cell.gn_groups
    task.train_data.global_batch_size = cell.batch
    task.train_data.seed = task.validation_data.seed = cell.seed
    if cell.scale == "embedded":  # CPU scale: same seed, same AP (detection/tasks.py)
        task.train_data.deterministic = task.validation_data.deterministic = True
    task.losses.l2_weight_decay = cell.weight_decay
    task.init_checkpoint = init_checkpoint
    task.init_checkpoint_modules = "backbone"
    steps = cell.steps
    experiments.schedule(params, cell.lr, steps, cell.warmup_steps, kind=cell.schedule, momentum=cell.momentum)
    trainer = params.trainer
    every = max(1, min(trainer.steps_per_loop, steps // 6))
    trainer.steps_per_loop = trainer.summary_interval = every
    trainer.checkpoint_interval = max(every, min(trainer.checkpoint_interval, steps // 3) // every * every)
    trainer.validation_interval = -(-steps // cell.evals)  # AP points at its multiples and at the end
    overrides = [(key, json.loads(value)) for key, value in cell.overrides]
    if overrides:
        params.override(_nested(overrides), is_strict=True)
    group_norm_width.apply(params.task.model, cell.gn_groups_policy)  # after overrides: they may change widths
    return params


def pretrain_experiment(spec, source):
    """The sweep's pretrain step (sweep/execution/pretrain_main.py, FRN Sec. 4.2's ImageNet stand-in):
    the embedded RetinaNet with `spec['norm']` (BN) everywhere on the generated `source` dataset,
    `spec`'s batch, lr, steps and seed, deterministic input, evaluated once at the end."""
    params = exp_factory.get_exp_config("frn_retinanet_embedded")
    experiments.use_dataset(params, source)
    for norm in norm_configs(params.task.model).values():
        norm.norm, norm.bn_momentum = spec["norm"], 0.9
    task = params.task
    task.train_data.global_batch_size = spec["batch"]
    task.train_data.seed = task.validation_data.seed = spec["seed"]
    task.train_data.deterministic = task.validation_data.deterministic = True
    experiments.schedule(params, spec["lr"], spec["steps"], spec["steps"] // 10)
    every = max(1, min(50, spec["steps"] // 4))
    params.trainer.steps_per_loop = params.trainer.summary_interval = every
    params.trainer.checkpoint_interval = max(every, spec["steps"] // 4 // every * every)
    params.trainer.validation_interval = spec["steps"]  # evaluated once, at the end
    return params
