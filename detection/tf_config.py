"""This process's place in a multi-worker cell, read from TF_CONFIG (no TensorFlow).

The chief (task `chief`, or worker 0 when there is no chief) is the one worker that evaluates and
writes the cell's result (detection/multi_worker.py); the sweep runner reads this too, so a
non-chief waits for the chief's result instead of reporting the cell unfinished.
"""
import json
import os


def _tf_config(environ=None):
    return json.loads((os.environ if environ is None else environ).get("TF_CONFIG", "{}") or "{}")


def cluster_workers(environ=None):
    """Workers (chief included) in TF_CONFIG, or 1 without it."""
    cluster = _tf_config(environ).get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief(environ=None):
    """Whether this process is the (only or first) worker, the one that evaluates and writes results."""
    config = _tf_config(environ)
    task = config.get("task", {})
    return task.get("type", "chief") == "chief" or (
        task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in config.get("cluster", {}))


def task_name(environ=None):
    """'chief', 'worker 1', ... from TF_CONFIG ('chief' without it)."""
    task = _tf_config(environ).get("task", {})
    return "chief" if is_chief(environ) else f"{task.get('type')} {task.get('index')}"
