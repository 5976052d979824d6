"""The tf.distribute strategy of a cell: N replicas with per-replica BN statistics.

On a machine without accelerators, `replicas=N` splits the CPU into N logical devices so a
MirroredStrategy runs N replicas of B/N images each, exactly as N GPUs would (BN statistics stay
per replica; only `sync_bn` all-reduces them). Otherwise Model Garden's runtime config decides:
GPUs (mirrored), several workers (multi_worker_mirrored with TF_CONFIG) or a TPU.
"""
import functools
import json
import os

import tensorflow as tf
from official.common import distribute_utils


def split_cpu(replicas):
    """Makes at least `replicas` logical CPU devices; must run before TensorFlow starts its runtime."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:  # runtime already initialized: use what exists if it is enough
        pass
    available = len(tf.config.list_logical_devices("CPU"))
    if available < replicas:
        raise RuntimeError(f"{replicas} CPU replicas requested but TensorFlow already started with "
                           f"{available} logical CPU devices; run the cell in a fresh process")


@functools.lru_cache(maxsize=None)
def _cpu_mirrored(replicas):
    """Mirrored replicas on logical CPUs, reducing through one device instead of collectives.

    Collective all-reduce keys are per strategy object: two strategies over the same devices in
    one process (tests, notebooks) reuse them and fail with 'Shape mismatch in the collective
    instance'. Reduction to one device has no such keys and costs the same on one CPU.
    """
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)],
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


def train_strategy(runtime, replicas=None):
    """`replicas` emulated CPU replicas if given and no GPU is present, else the runtime's strategy."""
    if replicas and not tf.config.list_physical_devices("GPU"):
        split_cpu(replicas)
        return _cpu_mirrored(replicas)
    return distribute_utils.get_distribution_strategy(
        distribution_strategy=runtime.distribution_strategy, num_gpus=runtime.num_gpus,
        all_reduce_alg=runtime.all_reduce_alg, num_packs=runtime.num_packs, tpu_address=runtime.tpu)


def eval_strategy():
    """COCO evaluation runs on one device: Model Garden's eval step keeps only local results."""
    return tf.distribute.OneDeviceStrategy("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")


def is_chief():
    """Whether this process is the (only or first) worker, the one that evaluates and writes results."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = cluster.get("task", {})
    return task.get("type", "chief") == "chief" or (
        task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster.get("cluster", {}))

