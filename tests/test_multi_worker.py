"""A cell spanning 2 workers (TF_CONFIG on localhost): trains, is killed, resumes with both workers at
the chief's step, and only the chief evaluates and writes the result. Marked slow (two TensorFlow
processes with collectives on 2 cores)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from common.storage import write_json_atomic
from sweep.spec import load
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


def _start_workers(run_dir, result, ports):
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    processes = []
    for kind, index in (("chief", 0), ("worker", 0)):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}),
                   CUDA_VISIBLE_DEVICES="-1")
        log = open(run_dir / f"{kind}.log", "a")
        processes.append(subprocess.Popen([sys.executable, "-m", "sweep.cell_main", "--spec", str(run_dir / "spec.json"),
                                           "--result", str(result)], cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
    return processes


def _starting_steps(log):
    return [int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines() if ": training from step " in line]


def test_two_workers_resume_from_the_chiefs_checkpoint_and_the_chief_alone_records(tmp_path):
    sweep = load(str(write_tiny_sweep(tmp_path, name="mw", norms=("gn",))))
    cell = sweep.cells[0]  # replicas 2 = 2 workers x 1 CPU device
    run_dir = tmp_path / "runs" / cell.id
    run_dir.mkdir(parents=True)
    write_json_atomic(str(run_dir / "spec.json"), {"cell": cell.as_dict(), "init_checkpoint": None})
    result = tmp_path / "results" / f"{cell.id}.json"
    ports = _ports(2)

    processes = _start_workers(run_dir, result, ports)
    deadline = time.time() + 600
    while not list(run_dir.glob("ckpt-*.index")) and time.time() < deadline:
        assert all(p.poll() is None for p in processes), (run_dir / "chief.log").read_text()[-3000:]
        time.sleep(0.2)
    assert list(run_dir.glob("ckpt-*.index")), "the chief never wrote a checkpoint"
    for process in processes:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not result.exists()

    processes = _start_workers(run_dir, result, _ports(2))
    codes = [p.wait(timeout=900) for p in processes]
    chief_log, worker_log = (run_dir / "chief.log").read_text(), (run_dir / "worker.log")
    assert codes == [0, 0], chief_log[-3000:] + worker_log.read_text()[-3000:]
    chief_steps, worker_steps = _starting_steps(run_dir / "chief.log"), _starting_steps(worker_log)
    assert chief_steps[0] == worker_steps[0] == 0
    assert chief_steps[1] == worker_steps[1] > 0  # both resumed at the chief's checkpoint
    recorded = json.loads(result.read_text())
    assert recorded["status"] == "finished" and recorded["steps"] == 24
    assert recorded["steps_this_run"] == 24 - chief_steps[1]
    assert recorded["devices"]["workers"] == 2 and recorded["replicas"] == 2
    assert "coco" in recorded and "COCO" not in worker_log.read_text()  # the chief alone evaluated
