"""A cell's hyperparameters and final metrics as a TensorBoard HParams summary.

`tensorboard --logdir runs/<sweep>` then shows the grid as one table (HParams tab): one row per
cell, its norm, B, m, seed, ... and AP. Written to <run dir>/hparams.
"""
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

METRICS = {"AP": "coco", "AP_select": "coco_selection"}


def write(run_dir, trial_id, hparams, result):
    """Writes `hparams` ({name: number or string}; a sweep cell's: sweep/grid/cell.py `Cell.hparams`) and
    the result's final AP (reported and selection split) at its last step."""
    with tf.summary.create_file_writer(os.path.join(run_dir, "hparams")).as_default():
        hp.hparams(hparams, trial_id=trial_id)
        for tag, key in METRICS.items():
            if result.get(key):
                tf.summary.scalar(tag, result[key]["AP"], step=result["steps"])
        tf.summary.flush()
