"""Replicas are the per-replica BN groups on every kind of hardware: the device plan, branch by branch."""
import pytest

from detection.device_plan import DevicePlan, DevicePlanError, plan_devices


@pytest.mark.parametrize("replicas, kwargs, expected", [
    (8, {"gpus": 8}, DevicePlan("gpu", 1, 8, 1)),                         # the paper's 8 GPUs
    (8, {"gpus": 1, "gpu_memory_mb": 80_000}, DevicePlan("gpu", 1, 1, 8, 10_000)),  # 8 groups emulated on 1 GPU
    (8, {"gpus": 4, "gpu_memory_mb": 40_000}, DevicePlan("gpu", 1, 4, 2, 20_000)),
    (8, {"gpus": 2}, DevicePlan("gpu", 1, 2, 4, None)),                    # no memory known: TF's default
    (16, {"gpus": 8, "workers": 2}, DevicePlan("gpu", 2, 8, 1)),           # 2 machines x 8 GPUs
    (16, {"gpus": 4, "workers": 2, "gpu_memory_mb": 16_000}, DevicePlan("gpu", 2, 4, 2, 8_000)),
    (8, {"tpu_cores": 8}, DevicePlan("tpu", 1, 8, 1)),
    (4, {}, DevicePlan("cpu", 1, 1, 4)),                                   # CPU split into 4 logical devices
    (1, {}, DevicePlan("cpu", 1, 1, 1)),
    (2, {"workers": 2}, DevicePlan("cpu", 2, 1, 1)),                       # one CPU device per worker
    (2, {"gpus": 4}, DevicePlan("gpu", 1, 2, 1)),                          # fewer replicas than GPUs: 2 of them
    (2, {"gpus": 8, "gpu_memory_mb": 30_000}, DevicePlan("gpu", 1, 2, 1, 30_000)),  # the default on 8 GPUs
])
def test_layouts(replicas, kwargs, expected):
    plan = plan_devices(replicas, **kwargs)
    assert plan == expected and plan.replicas == replicas


@pytest.mark.parametrize("replicas, kwargs, message", [
    (6, {"gpus": 4}, r"replicas 6 on 1 worker\(s\) with 4 GPUs each: 6 local replicas is neither the GPU count nor a multiple of it; "
                     r"valid: 4, 8, 16, 32"),
    (12, {"gpus": 8}, r"12 local replicas is neither"),
    (8, {"tpu_cores": 4}, r"valid: replicas = 4 \(one per core\)"),
    (3, {"workers": 2}, r"cannot be split over 2 workers"),
    (4, {"workers": 2}, r"CPU-only workers: .* one CPU device per worker; valid: replicas = 2"),
    (0, {}, r"must be positive"),
])
def test_impossible_layouts_are_refused_with_what_would_work(replicas, kwargs, message):
    with pytest.raises(DevicePlanError, match=message):
        plan_devices(replicas, **kwargs)


def test_describe_names_the_layout():
    assert plan_devices(8, gpus=2).describe() == "8 replicas = 2 GPU, each split in 4"
    assert plan_devices(16, gpus=8, workers=2).describe() == "16 replicas = 2 workers x 8 GPU"
