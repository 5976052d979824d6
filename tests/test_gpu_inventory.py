"""Only cells touch GPUs: the runner's GPU lanes and a cell's device layout, on fake GPU inventories."""
import subprocess
import sys

import pytest

from detection import gpu_inventory, strategy

MACHINE = [("0", "GPU-aaa", 80_000), ("1", "GPU-bbb", 79_000), ("2", "GPU-ccc", 40_000), ("3", "GPU-ddd", 80_000)]


def _query():
    return MACHINE


def test_visible_gpus_follow_cuda_visible_devices():
    assert gpu_inventory.visible_gpus({}, _query) == [("0", 80_000), ("1", 79_000), ("2", 40_000), ("3", 80_000)]
    assert gpu_inventory.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,GPU-aaa"}, _query) == [("2", 40_000), ("GPU-aaa", 80_000)]
    assert gpu_inventory.visible_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, _query) == [("1", 79_000)]  # CUDA stops at -1
    assert gpu_inventory.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, _query) == []
    assert gpu_inventory.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}, lambda: []) == [("0", None), ("1", None)]


@pytest.mark.parametrize("gpus, jobs, expected", [
    (["0", "1", "2", "3", "4", "5", "6", "7"], 2, [{"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}]),
    (["0", "1", "2", "3"], 4, [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(4)]),
    (["0", "1", "2"], 2, [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]),  # one GPU left idle
    (["5"], 2, [{"CUDA_VISIBLE_DEVICES": "5", "FRN_GPU_MEMORY_SHARE": "0.5"}] * 2),        # two cells share a GPU
    (["0", "1"], 3, [{"CUDA_VISIBLE_DEVICES": "0", "FRN_GPU_MEMORY_SHARE": "0.5"},
                     {"CUDA_VISIBLE_DEVICES": "1", "FRN_GPU_MEMORY_SHARE": "1.0"},
                     {"CUDA_VISIBLE_DEVICES": "0", "FRN_GPU_MEMORY_SHARE": "0.5"}]),
    ([], 3, [{}, {}, {}]),
])
def test_lanes_get_disjoint_gpus(gpus, jobs, expected):
    lanes = gpu_inventory.lane_environments(gpus, jobs)
    assert lanes == expected
    if len(gpus) >= jobs:
        used = [g for lane in lanes for g in lane.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
        assert len(used) == len(set(used))


def test_usable_memory_is_the_free_memory_times_the_share():
    assert gpu_inventory.usable_memory_mb({"CUDA_VISIBLE_DEVICES": "1,2"}, _query) == 36_000  # 90% of the smaller
    assert gpu_inventory.usable_memory_mb({"CUDA_VISIBLE_DEVICES": "0", "FRN_GPU_MEMORY_SHARE": "0.5"}, _query) == 36_000
    assert gpu_inventory.usable_memory_mb({"FRN_GPU_MEMORY_SHARE": "nonsense"}, lambda: []) == 16_000


class _FakeConfig:
    """tf.config's device setters, recording what a cell asks for on a fake machine."""

    def __init__(self, gpus):
        self.gpus, self.visible, self.logical = gpus, None, {}

    def set_visible_devices(self, devices, kind):
        self.visible = list(devices)

    def set_logical_device_configuration(self, device, configs):
        self.logical[device] = [c.memory_limit for c in configs]

    def list_logical_devices(self, kind):
        if kind == "CPU":
            return ["cpu"]
        return [d for d in (self.visible or self.gpus) for _ in range(len(self.logical.get(d, [0])))]


@pytest.mark.parametrize("gpus, environ, replicas, visible, logical", [
    (4, {}, 2, ["gpu0", "gpu1"], {}),                                                    # replicas below the GPUs
    (1, {}, 4, None, {"gpu0": [4_500] * 4}),                                             # 4 logical: 90% of 20 GB / 4
    (1, {"FRN_GPU_MEMORY_SHARE": "0.5"}, 1, None, {"gpu0": [9_000]}),                    # a GPU shared by two cells
    (8, {}, 8, None, {}),                                                                # the paper's 8 GPUs
])
def test_a_cell_lays_out_its_replicas_on_a_fake_machine(monkeypatch, gpus, environ, replicas, visible, logical):
    fake = _FakeConfig([f"gpu{i}" for i in range(gpus)])
    monkeypatch.setattr(strategy, "physical_gpus", lambda: fake.gpus)
    for name in ("set_visible_devices", "set_logical_device_configuration", "list_logical_devices"):
        monkeypatch.setattr(strategy.tf.config, name, getattr(fake, name))
    monkeypatch.setattr(gpu_inventory, "_nvidia_smi", lambda: [(str(i), f"GPU-{i}", 20_000) for i in range(gpus)])
    monkeypatch.setattr(gpu_inventory.os, "environ", dict(environ))
    plan = strategy.configure_devices(replicas)
    assert plan.kind == "gpu" and plan.replicas == replicas
    assert fake.visible == visible and fake.logical == logical


def test_the_runner_never_imports_tensorflow(tmp_path):
    """The runner's own process (preflight runs in a child) never starts TensorFlow, so it holds no GPU."""
    from tests.tiny_sweep import write_tiny_sweep
    sweep_file = write_tiny_sweep(tmp_path, name="notf")
    code = ("import sys, run_sweep\n"
            "from sweep.execution import runner\n"
            "runner.run = lambda *a, **k: {}\n"  # preflight and the plan, not the training
            "rc = run_sweep.main(['run', sys.argv[1], '--results', sys.argv[2], '--runs', sys.argv[3]])\n"
            "print('TF' if 'tensorflow' in sys.modules else 'NO-TF', rc)\n")
    done = subprocess.run([sys.executable, "-c", code, str(sweep_file), str(tmp_path / "r"), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300, cwd=strategy.__file__.rsplit("/detection/", 1)[0])
    assert done.stdout.split()[-2:] == ["NO-TF", "0"], done.stdout + done.stderr
