"""A cell spanning 2 workers (TF_CONFIG on localhost), each worker a sweep runner as a cluster starts
it: a preemption signal stops both at the same step, both resume at the chief's step, only the chief
evaluates and writes the result, and both runners exit 0. Marked slow (two TensorFlow processes with
collectives on 2 cores)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from sweep.grid.spec import load
from tests.tiny_sweep import write_tiny_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def _ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(sweep_file, tmp_path, ports):
    """Two runners of the one-shard sweep, worker 0 the chief, as sweep/cluster/worker_env.py would start them."""
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    processes = []
    for kind, index in (("chief", 0), ("worker", 0)):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}),
                   CUDA_VISIBLE_DEVICES="-1")
        log = open(tmp_path / f"{kind}-runner.log", "a")
        processes.append(subprocess.Popen(
            [sys.executable, "run_sweep.py", "run", str(sweep_file), "--shard", "0/1", "--results",
             str(tmp_path / "results"), "--runs", str(tmp_path / "runs")], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))
    return processes


def _starting_steps(log, task):
    return [int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines()
            if line.startswith(f"{task}: training from step ")]


def test_two_workers_stop_together_resume_at_the_chiefs_step_and_the_chief_alone_records(tmp_path):
    sweep_file = write_tiny_sweep(tmp_path, name="mw", norms=("gn",))
    cell = load(str(sweep_file)).cells[0]  # replicas 2 = 2 workers x 1 CPU device
    run_dir = tmp_path / "runs" / "mw" / cell.id  # on a shared filesystem, as on a cluster: both log here
    result = tmp_path / "results" / "mw" / "cells" / f"{cell.id}.json"

    processes = _start_workers(sweep_file, tmp_path, _ports(2))
    deadline = time.time() + 600
    while not (run_dir / "progress.json").exists() and time.time() < deadline:  # the first loop trained
        assert all(p.poll() is None for p in processes), (tmp_path / "chief-runner.log").read_text()[-3000:]
        time.sleep(0.2)
    for process in processes:  # Slurm's --signal reaches every process of every task
        os.killpg(process.pid, signal.SIGUSR1)
    codes = [p.wait(timeout=300) for p in processes]
    log = (run_dir / "log.txt").read_text()
    assert codes == [75, 75], log[-3000:]
    saved = [int(part.split(":")[0]) for part in log.split("preempted at step ")[1:]]
    assert len(saved) == 2 and saved[0] == saved[1] > 0  # the workers agreed on the step (the save is collective)
    assert json.loads((run_dir / "preemptions.json").read_text())[0]["saved_step"] == saved[0]
    assert not result.exists()

    processes = _start_workers(sweep_file, tmp_path, _ports(2))
    codes = [p.wait(timeout=900) for p in processes]
    runner_logs = [(tmp_path / f"{kind}-runner.log").read_text() for kind in ("chief", "worker")]
    assert codes == [0, 0], runner_logs[0][-3000:] + runner_logs[1][-3000:]
    assert "worker 0 done; the chief recorded finished" in runner_logs[1]
    chief_steps, worker_steps = _starting_steps(run_dir / "log.txt", "chief"), _starting_steps(run_dir / "log.txt", "worker 0")
    assert chief_steps == worker_steps == [0, saved[0]]  # both resumed at the chief's checkpoint
    recorded = json.loads(result.read_text())
    assert recorded["status"] == "finished" and recorded["steps"] == 24
    assert recorded["steps_this_run"] == 24 - saved[0] and recorded["preemptions"][0]["saved_step"] == saved[0]
    assert recorded["devices"]["workers"] == 2 and recorded["replicas"] == 2
    assert recorded["coco"]["AP"] >= 0 and runner_logs[0].count("AP ") == 1  # one evaluation, the chief's
