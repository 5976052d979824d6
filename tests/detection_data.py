"""Tiny generated detection data and experiments for the detection tests."""
import json

from official.core import exp_factory

import detection.registry_imports  # noqa: F401
from detection import experiments
from detection.data import embedded

TINY = embedded.Spec(train_images=32, val_images=8, image_size=64, min_objects=0, max_objects=3,
                     min_size=10, max_size=32, seed=3, select_images=8)


def tiny_dataset(root):
    data = embedded.ensure(str(root), TINY)
    with open(data.annotations("train")) as f:
        coco = json.load(f)
    with_boxes = {a["image_id"] for a in coco["annotations"]}
    assert any(image["id"] not in with_boxes for image in coco["images"]), "no image without boxes"
    return data


def tiny_experiment(name, data, norms=None, steps=24):
    """`name` ('frn_retinanet_embedded' or 'frn_faster_rcnn_embedded') on `data`, `steps` steps.

    norms: {component: norm name} (see detection.configs.norm_configs) or one name for all.
    """
    config = exp_factory.get_exp_config(name)
    experiments.use_dataset(config, data)
    config.task.train_data.global_batch_size = 4
    config.task.validation_data.global_batch_size = 4
    config.trainer.validation_steps = 2
    config.task.train_data.shuffle_buffer_size = 32
    config.trainer.steps_per_loop = config.trainer.summary_interval = max(1, steps // 4)
    config.trainer.checkpoint_interval = max(1, steps // 4)
    experiments.schedule(config, 0.01, steps, 2)
    components = detection_norms(config)
    for component, norm in components.items():
        norm.norm = norms if isinstance(norms, str) else (norms or {}).get(component, norm.norm)
    return config


def detection_norms(config):
    from detection.configs import norm_configs
    return norm_configs(config.task.model)
