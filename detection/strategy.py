"""The tf.distribute strategy of a cell: N replicas with per-replica BN statistics on any hardware.

`replicas=N` is laid out by detection/device_plan.py: N GPUs mirrored, or fewer GPUs each split
into logical GPUs, or the CPU split into N logical devices, or N workers (TF_CONFIG). A
MirroredStrategy over those devices runs N replicas of B/N images each; BN statistics stay per
replica (only `sync_bn` all-reduces them). Without `replicas`, Model Garden's runtime config
decides. `configure_devices` must run before anything starts TensorFlow's runtime.
"""
import functools
import json
import os
import shutil
import subprocess
import sys

import tensorflow as tf
from official.common import distribute_utils

from detection.device_plan import DevicePlanError, plan_devices

DEFAULT_GPU_MEMORY_MB = 16_000  # when nvidia-smi cannot tell (logical GPUs need a memory limit)


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


def cluster_workers():
    """Workers (chief included) in TF_CONFIG, or 1 without it."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def _gpu_memory_mb():
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20).stdout.split()
            return int(0.9 * min(int(v) for v in out)) if out else DEFAULT_GPU_MEMORY_MB
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return DEFAULT_GPU_MEMORY_MB


def configure_devices(replicas):
    """Plans `replicas` on this machine's devices and makes the logical devices; returns the DevicePlan.

    Raises DevicePlanError when the replicas do not fit (e.g. 6 replicas on 4 GPUs).
    """
    gpus = physical_gpus()
    plan = plan_devices(replicas, gpus=len(gpus), workers=cluster_workers(),
                        gpu_memory_mb=_gpu_memory_mb() if gpus else None)
    if plan.splits > 1:
        physical = gpus if plan.kind == "gpu" else tf.config.list_physical_devices("CPU")[:1]
        config = tf.config.LogicalDeviceConfiguration(memory_limit=plan.memory_mb_per_logical)
        try:
            for device in physical:
                tf.config.set_logical_device_configuration(device, [config] * plan.splits)
        except RuntimeError:  # runtime already initialized: use what exists if it is enough
            pass
        available = len(tf.config.list_logical_devices(plan.kind.upper()))
        if available < plan.local_replicas:
            raise DevicePlanError(f"{plan.describe()} requested but TensorFlow already started with {available} "
                                  f"logical {plan.kind.upper()} devices; run the cell in a fresh process")
    if plan.workers > 1:
        _multi_worker()  # collectives must be configured before anything starts the runtime
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


def task_name():
    """'chief', 'worker 1', ... from TF_CONFIG ('chief' without it)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return "chief" if is_chief() else f"{task.get('type')} {task.get('index')}"


def is_chief():
    """Whether this process is the (only or first) worker, the one that evaluates and writes results."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = cluster.get("task", {})
    return task.get("type", "chief") == "chief" or (
        task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster.get("cluster", {}))
