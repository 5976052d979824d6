"""Which devices carry a cell's N replicas (per-replica BN groups): a pure function, no TensorFlow.

`replicas: N` in a sweep is the number of per-replica BN groups on every kind of hardware:
- TPU: N must equal the cores.
- G GPUs on each of W workers: N = W x local replicas; local == G mirrors over the GPUs, local < G
  uses the first `local` GPUs (the rest stay free for other cells), local a multiple of G splits
  each GPU into local / G logical GPUs (each with an equal share of memory), anything else is refused.
- CPU only, one worker: the CPU is split into N logical devices (BN statistics stay per device).
- CPU only, several workers: TensorFlow's multi-worker strategy uses one CPU device per worker
  (logical splits are ignored), so N must equal W.
"""
import dataclasses


class DevicePlanError(ValueError):
    """The replicas cannot be laid out on these devices; the message says what would work."""


@dataclasses.dataclass(frozen=True)
class DevicePlan:
    kind: str                # 'cpu', 'gpu' or 'tpu'
    workers: int
    physical_per_worker: int  # GPUs (or TPU cores, or 1 CPU) each worker uses
    splits: int              # logical devices per physical device (1 = none)
    memory_mb_per_logical: object = None  # GPU memory limit of each logical GPU (None: TensorFlow's default)

    @property
    def local_replicas(self):
        return self.physical_per_worker * self.splits

    @property
    def replicas(self):
        return self.workers * self.local_replicas

    def describe(self):
        split = f", each split in {self.splits}" if self.splits > 1 else ""
        where = f"{self.workers} workers x " if self.workers > 1 else ""
        return f"{self.replicas} replicas = {where}{self.physical_per_worker} {self.kind.upper()}{split}"


def plan_devices(replicas, gpus=0, tpu_cores=0, workers=1, gpu_memory_mb=None):
    """The DevicePlan of `replicas` on `gpus` GPUs (or `tpu_cores`) per worker and `workers` workers."""
    if replicas < 1 or workers < 1:
        raise DevicePlanError(f"replicas {replicas} and workers {workers} must be positive")
    if tpu_cores:
        if replicas != tpu_cores * workers:
            raise DevicePlanError(f"replicas {replicas} on a TPU of {tpu_cores * workers} cores; valid: "
                                  f"replicas = {tpu_cores * workers} (one per core)")
        return DevicePlan("tpu", workers, tpu_cores, 1)
    if replicas % workers:
        raise DevicePlanError(f"replicas {replicas} cannot be split over {workers} workers; valid: a multiple "
                              f"of {workers}")
    local = replicas // workers
    if not gpus:
        if workers > 1 and local != 1:
            raise DevicePlanError(f"replicas {replicas} on {workers} CPU-only workers: TensorFlow's multi-worker "
                                  f"strategy uses one CPU device per worker; valid: replicas = {workers}")
        return DevicePlan("cpu", workers, 1, local)
    if local <= gpus:
        return DevicePlan("gpu", workers, local, 1, gpu_memory_mb)
    if local > gpus and local % gpus == 0:
        splits = local // gpus
        memory = gpu_memory_mb // splits if gpu_memory_mb else None
        return DevicePlan("gpu", workers, gpus, splits, memory)
    multiples = ", ".join(str(workers * gpus * k) for k in (1, 2, 4, 8))
    raise DevicePlanError(f"replicas {replicas} on {workers} worker(s) with {gpus} GPUs each: {local} local replicas "
                          f"is neither the GPU count nor a multiple of it; valid: {multiples}, ... (or expose "
                          f"fewer GPUs with CUDA_VISIBLE_DEVICES)")
