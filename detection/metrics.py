"""COCO statistics and training curves of a run directory."""
import glob
import os

import tensorflow as tf

# Model Garden's COCOEvaluator names -> the 12 pycocotools stats in COCOeval.stats order
COCO_STATS = {"AP": "AP", "AP50": "AP50", "AP75": "AP75", "APs": "APs", "APm": "APm", "APl": "APl",
              "ARmax1": "AR1", "ARmax10": "AR10", "ARmax100": "AR100", "ARs": "ARs", "ARm": "ARm", "ARl": "ARl"}


def coco_stats(eval_logs):
    """The 12 COCO stats from Model Garden's eval logs, named AP .. ARl (AR1/AR10/AR100)."""
    missing = [k for k in COCO_STATS if k not in eval_logs]
    if missing:
        raise KeyError(f"COCO evaluation returned no {missing}; got {sorted(eval_logs)}")
    return {ours: float(eval_logs[theirs]) for theirs, ours in COCO_STATS.items()}


def scalar_curves(summary_dir):
    """{tag: [(step, value), ...]} from the TensorBoard event files in `summary_dir`.

    A step written twice (a killed run re-trains the steps after its last checkpoint) keeps the
    value of the later file, i.e. of the run that went on to finish.
    """
    curves = {}
    for path in sorted(glob.glob(os.path.join(summary_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                curves.setdefault(value.tag, {})[int(event.step)] = number
    return {tag: sorted(points.items()) for tag, points in curves.items()}

