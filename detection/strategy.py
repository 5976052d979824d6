"""The tf.distribute strategy of a cell: N replicas with per-replica BN statistics on any hardware.

`replicas=N` is laid out by detection/device_plan.py: N GPUs mirrored, or fewer GPUs each split
into logical GPUs, or the CPU split into N logical devices, or N workers (TF_CONFIG). A
MirroredStrategy over those devices runs N replicas of B/N images each; BN statistics stay per
replica (only `sync_bn` all-reduces them). Without `replicas`, Model Garden's runtime config
decides. `configure_devices` must run before anything starts TensorFlow's runtime.
"""
import functools
import os
import sys

import tensorflow as tf
from official.common import distribute_utils

from detection import gpu_inventory
from detection.device_plan import DevicePlanError, plan_devices
from detection.tf_config import cluster_workers, is_chief, task_name  # noqa: F401 (this module's API too)


def physical_gpus():
    """This machine's GPUs, without the C++ runtime's 'failed call to cuInit' line on stderr.

    Listing devices loads CUDA where its libraries are installed; on a machine without a GPU
    driver that prints an error line although nothing is wrong. The parent of a sweep lists them
    before any cell runs, so its one-line error promise would break: fd 2 is muted meanwhile.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            return tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def configure_devices(replicas):
    """Plans `replicas` on this process's GPUs (or CPU) and makes the logical devices; returns the DevicePlan.

    Only the GPUs the plan uses are made visible to TensorFlow. Logical GPUs (several replicas on one
    GPU, or a GPU shared with other cells: detection/gpu_inventory.py) get an equal part of the memory
    the GPU has free, times this cell's share. Raises DevicePlanError when the replicas do not fit
    (e.g. 6 replicas on 4 GPUs).
    """
    gpus = physical_gpus()
    share = gpu_inventory.memory_share()
    plan = plan_devices(replicas, gpus=len(gpus), workers=cluster_workers(),
                        gpu_memory_mb=gpu_inventory.usable_memory_mb() if gpus else None)
    physical = gpus[:plan.physical_per_worker] if plan.kind == "gpu" else tf.config.list_physical_devices("CPU")[:1]
    subset = plan.kind == "gpu" and len(physical) < len(gpus)
    logical = plan.splits > 1 or (plan.kind == "gpu" and share < 1)
    try:
        if subset:
            tf.config.set_visible_devices(physical, "GPU")
        if logical:
            config = tf.config.LogicalDeviceConfiguration(memory_limit=plan.memory_mb_per_logical)
            for device in physical:
                tf.config.set_logical_device_configuration(device, [config] * plan.splits)
    except RuntimeError:  # runtime already initialized: use what exists if it is enough
        pass
    if plan.workers > 1:
        _multi_worker()  # collectives must be configured before anything else starts the runtime
    if subset or logical:
        available = len(tf.config.list_logical_devices(plan.kind.upper()))
        if available < plan.local_replicas:
            raise DevicePlanError(f"{plan.describe()} requested but TensorFlow already started with {available} "
                                  f"logical {plan.kind.upper()} devices; run the cell in a fresh process")
    return plan


@functools.cache
def _multi_worker():
    """The multi-worker strategy of TF_CONFIG, made once per process, before the runtime starts."""
    return tf.distribute.MultiWorkerMirroredStrategy()


@functools.cache
def _mirrored(kind, count):
    """Mirrored replicas on `count` logical devices of `kind`.

    On CPU the gradients reduce through one device instead of collectives: collective all-reduce
    keys are per strategy object, and two strategies over the same devices in one process (tests,
    notebooks) reuse them and fail with 'Shape mismatch in the collective instance'. Reduction to
    one device has no such keys and costs the same on one CPU. GPUs use NCCL all-reduce.
    """
    devices = [f"/{kind}:{i}" for i in range(count)]
    if kind == "cpu":
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(devices)


def train_strategy(runtime, replicas=None):
    """`replicas` per-replica BN groups laid out by configure_devices, or the runtime's strategy."""
    if not replicas:
        return distribute_utils.get_distribution_strategy(
            distribution_strategy=runtime.distribution_strategy, num_gpus=runtime.num_gpus,
            all_reduce_alg=runtime.all_reduce_alg, num_packs=runtime.num_packs, tpu_address=runtime.tpu)
    if runtime.distribution_strategy == "tpu":
        return distribute_utils.get_distribution_strategy(distribution_strategy="tpu", tpu_address=runtime.tpu)
    plan = configure_devices(replicas)
    if plan.workers > 1:
        return _multi_worker()
    return _mirrored(plan.kind, plan.local_replicas)


def device_record(strat):
    """What ran the replicas, for the result file: kind, count and names of the replica devices."""
    devices = list(strat.extended.worker_devices)
    kinds = sorted({tf.DeviceSpec.from_string(d).device_type or "CPU" for d in devices})
    return {"kind": "/".join(k.lower() for k in kinds), "count": len(devices), "workers": cluster_workers(),
            "physical_gpus": len(tf.config.list_physical_devices("GPU")), "devices": devices}


def eval_strategy():
    """COCO evaluation runs on one device: Model Garden's eval step keeps only local results."""
    return tf.distribute.OneDeviceStrategy("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")
