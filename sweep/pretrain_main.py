"""The sweep's `pretrain` step: the small BN backbone trained as a classifier on object crops.

For the embedded default's fine-tuned baseline (the laptop-scale stand-in for an
ImageNet-pretrained ResNet-50): every box of the generated train set is cropped (square, 10%
margin), resized and labelled by its shape class, then the backbone trains with Model Garden's
image classification task (backbones/classification.py). Its checkpoint has a `backbone` child,
so fine-tuned cells load it with init_checkpoint + init_checkpoint_modules: backbone.

    python -m sweep.pretrain_main --spec runs/<sweep>/pretrain-<hash>/spec.json --result results/<sweep>/pretrain-<hash>.json
"""
import json
import os

from sweep import child
from sweep.results import FAILED, FINISHED


def write_crops(dataset, size, path):
    """Object crops of the train split as a classification TFRecord; returns (count, classes)."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image
    with open(dataset.annotations("train")) as f:
        coco = json.load(f)
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    count = 0
    with tf.io.TFRecordWriter(path) as writer:
        for annotation in coco["annotations"]:
            x, y, w, h = annotation["bbox"]
            side = max(w, h) * 1.2
            cx, cy = x + w / 2, y + h / 2
            image = Image.open(os.path.join(dataset.images("train"), files[annotation["image_id"]])).convert("RGB")
            crop = image.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
            encoded = tf.io.encode_jpeg(np.asarray(crop.resize((size, size)))).numpy()
            example = tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[annotation["category_id"] - 1])),
            }))
            writer.write(example.SerializeToString())
            count += 1
    return count, len(coco["categories"])


def pretrain(spec, run_dir):
    import tf_keras
    from official.core import exp_factory, task_factory, train_lib

    import backbones.registry_imports  # noqa: F401
    from detection import strategy
    from detection.data import embedded
    tf_keras.utils.set_random_seed(spec["seed"])
    dataset = embedded.ensure()
    records = os.path.join(run_dir, "crops.tfrecord")
    count, classes = write_crops(dataset, spec["image_size"], records)
    params = exp_factory.get_exp_config("frn_paper_classification")
    params.override({
        "runtime": {"distribution_strategy": "one_device", "num_gpus": 0, "mixed_precision_dtype": "float32"},
        "task": {
            "model": {"num_classes": classes, "input_size": [spec["image_size"], spec["image_size"], 3],
                      "backbone": {"type": "resnet_v1", "resnet_v1": {
                          "variant": "small", "norm_activation": {"norm": spec["norm"], "bn_momentum": 0.9}}}},
            "train_data": {"input_path": records, "global_batch_size": spec["batch"], "dtype": "float32",
                           "crop_area_range": [0.5, 1.0], "shuffle_buffer_size": 5000},
            "validation_data": {"input_path": records, "global_batch_size": spec["batch"], "dtype": "float32"},
        },
        "trainer": {"train_steps": spec["steps"], "steps_per_loop": 50, "summary_interval": 50,
                    "checkpoint_interval": spec["steps"], "validation_steps": 10,
                    "optimizer_config": {"learning_rate": {"cosine": {"initial_learning_rate": spec["lr"],
                                                                       "decay_steps": spec["steps"]}}}},
    }, is_strict=True)
    strat = strategy.eval_strategy()
    task = task_factory.get_task(params.task, logging_dir=run_dir)
    runner = train_lib.OrbitExperimentRunner(distribution_strategy=strat, task=task, mode="train",
                                             params=params, model_dir=run_dir)
    with strat.scope():
        runner.controller.train(steps=spec["steps"])
    from detection import metrics
    accuracy = metrics.scalar_curves(os.path.join(run_dir, "train")).get("accuracy", [(0, float("nan"))])
    return {"crops": count, "classes": classes, "train_top1": accuracy[-1][1], "checkpoint_dir": run_dir}


def run(spec, run_dir):
    try:
        return {"status": FINISHED, "spec": spec, **pretrain(spec, run_dir)}
    except Exception as error:  # recorded; the fine-tuned cells then fail with a clear message
        return {"status": FAILED, "spec": spec, "error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    child.main(__doc__, run, ("status", "train_top1"))
