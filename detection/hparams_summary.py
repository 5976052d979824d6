"""A cell's hyperparameters and final metrics as a TensorBoard HParams summary.

`tensorboard --logdir runs/<sweep>` then shows the grid as one table (HParams tab): one row per
cell, its norm, B, m, seed, ... and AP. Written to <run dir>/hparams.
"""
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

METRICS = {"AP": "coco", "AP_select": "coco_selection"}


def cell_hparams(cell):
    """The cell's settings as HParams values (numbers and strings only)."""
    values = {"block": cell.block, "detector": cell.detector, "norm": cell.norm_label,
              "activation": cell.activation, "batch": cell.batch, "per_replica_batch": cell.per_replica_batch,
              "replicas": cell.replicas, "lr_mult": cell.lr_mult, "lr": cell.lr, "steps": cell.steps,
              "seed": cell.seed, "init": str(cell.init_checkpoint or "scratch")}
    values.update({f"norm/{component}": norm for component, norm in cell.norms})
    return values


def write(run_dir, trial_id, hparams, result):
    """Writes `hparams` and the result's final AP (reported and selection split) at its last step."""
    with tf.summary.create_file_writer(os.path.join(run_dir, "hparams")).as_default():
        hp.hparams(hparams, trial_id=trial_id)
        for tag, key in METRICS.items():
            if result.get(key):
                tf.summary.scalar(tag, result[key]["AP"], step=result["steps"])
        tf.summary.flush()
