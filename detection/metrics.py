"""COCO statistics and training curves of a run directory."""
import os

import tensorflow as tf

from common.coco_stats import MODEL_GARDEN_NAMES


def coco_stats(eval_logs):
    """The 12 COCO stats from Model Garden's eval logs, named AP .. ARl (AR1/AR10/AR100)."""
    missing = [theirs for theirs in MODEL_GARDEN_NAMES.values() if theirs not in eval_logs]
    if missing:
        raise KeyError(f"COCO evaluation returned no {missing}; got {sorted(eval_logs)}")
    return {ours: float(eval_logs[theirs]) for ours, theirs in MODEL_GARDEN_NAMES.items()}


def scalar_curves(summary_dir):
    """{tag: [(step, value), ...]} from the TensorBoard event files in `summary_dir`.

    A step written twice (a killed run re-trains the steps after its last checkpoint) keeps the
    value of the later file, i.e. of the run that went on to finish.
    """
    curves = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(summary_dir, "events.out.tfevents.*"))):  # also gs://
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                curves.setdefault(value.tag, {})[int(event.step)] = number
    return {tag: sorted(points.items()) for tag, points in curves.items()}

