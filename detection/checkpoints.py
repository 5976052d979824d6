"""A run directory's checkpoints: the step to resume from, and unreadable ones moved aside first."""
import os

import tensorflow as tf


def _readable(checkpoint):
    """Whether every tensor of `checkpoint` reads back (a truncated index or data file does not)."""
    try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
        return True
    except Exception:  # DataLossError, NotFoundError, or IndexError ("Read less bytes than requested")
        return False


def roll_back_corrupt_checkpoints(run_dir, log=print):
    """Moves unreadable checkpoints of `run_dir` aside (newest first) so training resumes from the
    newest good one, or from scratch when none is good; returns the moved checkpoint prefixes."""
    state = tf.train.get_checkpoint_state(run_dir)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    paths = [p if os.path.isabs(p) or "://" in p else os.path.join(run_dir, p) for p in paths]
    moved = []
    while paths and not _readable(paths[-1]):
        bad = paths.pop()
        for name in tf.io.gfile.glob(bad + ".*"):
            tf.io.gfile.rename(name, os.path.join(os.path.dirname(name), "corrupt-" + os.path.basename(name)),
                               overwrite=True)
        moved.append(bad)
        log(f"checkpoint {bad} is unreadable (truncated or corrupt); moved aside as corrupt-*, "
            f"resuming from {paths[-1] if paths else 'scratch'}")
    if moved:
        if paths:
            tf.compat.v1.train.update_checkpoint_state(run_dir, paths[-1], all_model_checkpoint_paths=paths)
        else:
            tf.io.gfile.remove(os.path.join(run_dir, "checkpoint"))
    return moved


def checkpoint_step(run_dir):
    """The global step of `run_dir`'s latest checkpoint (0 when there is none)."""
    latest = tf.train.latest_checkpoint(run_dir)
    return int(latest.rsplit("-", 1)[1]) if latest else 0
