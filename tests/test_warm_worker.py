"""Many cells per process (sweep/execution/cell_worker.py): the same results as a process per cell, memory that
does not grow from cell to cell, and a killed worker that costs only its cell."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from sweep.grid.spec import load
from tests.tiny_sweep import write_tiny_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(sweep_file, where, *extra):
    return subprocess.Popen([sys.executable, "run_sweep.py", "run", str(sweep_file), "--results", str(where / "results"),
                             "--runs", str(where / "runs"), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _ap(where, name):
    folder = where / "results" / name / "cells"
    return {p.name[:-5]: json.loads(p.read_text())["coco"]["AP"] for p in folder.glob("*.json")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The sweep, and its cells each trained in a process of its own (the reference)."""
    folder = tmp_path_factory.mktemp("warm")
    sweep_file = write_tiny_sweep(folder, name="warm", norms=("frn", "gn", "bn"))
    fresh = _run(sweep_file, folder / "fresh", "--process-per-cell")
    out, _ = fresh.communicate(timeout=900)
    assert fresh.returncode == 0, out[-3000:]
    assert "worker cell" not in out
    return folder, sweep_file


def test_one_worker_gives_each_cell_the_ap_of_its_own_process_and_keeps_its_memory(tiny):
    folder, sweep_file = tiny
    warm = _run(sweep_file, folder / "warm")
    out, _ = warm.communicate(timeout=900)
    assert warm.returncode == 0, out[-3000:]
    assert _ap(folder / "warm", "warm") == pytest.approx(_ap(folder / "fresh", "warm"), abs=1e-6)
    assert re.findall(r"worker cell (\d+)", out) == ["1", "2", "3"]  # one process for the three cells
    cleared = [float(s) for s in re.findall(r"cleared in (\d+\.\d) s", out)]
    assert len(cleared) == 3 and max(cleared) < 10, cleared  # no cell waits for its predecessor's teardown
    for cell in load(str(sweep_file)).cells:  # each cell's own output went to its own log
        log = (folder / "warm" / "runs" / "warm" / cell.id / "log.txt").read_text()
        assert f"cell {cell.id}: started" in log and log.count(": started;") == 1
    assert "WARNING:tensorflow" not in out  # nothing of a cell's leaks into the runner's output


def _kept_mib(out):
    """What the worker kept once all its cells were collected, with no cell running (its closing line)."""
    kept = re.findall(r"its worker ran (\d+) cells? and kept (\d+) MiB once they were collected", out)
    assert len(kept) == 1, out[-3000:]
    return int(kept[0][0]), float(kept[0][1])


def test_a_worker_keeps_no_memory_from_cell_to_cell(tmp_path):
    """Three FRN cells of one shape: a worker that ran two of them keeps what a worker that ran one keeps.
    TensorFlow's registry of custom gradients kept every FRN cell's graphs (about 185 MiB a cell) until
    the worker released them (norm_layers/gradient_registry.py)."""
    sweep_file = write_tiny_sweep(tmp_path, name="same", norms=("frn",), lr_mult=[0.01, 0.02, 0.03])
    first = load(str(sweep_file)).cells[0].id
    one = _run(sweep_file, tmp_path, "--only", first)
    out_one, _ = one.communicate(timeout=900)
    two = _run(sweep_file, tmp_path)  # the two cells left, in a new worker
    out_two, _ = two.communicate(timeout=900)
    assert one.returncode == 0 and two.returncode == 0, (out_one + out_two)[-3000:]
    (cells_one, kept_one), (cells_two, kept_two) = _kept_mib(out_one), _kept_mib(out_two)
    assert (cells_one, cells_two) == (1, 2)
    assert kept_two - kept_one < 64, (kept_one, kept_two)


def _worker_pid(runner_pid):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if b"sweep.execution.cell_worker" in command and parent == runner_pid:
            return int(pid)
    return None


def test_a_killed_worker_costs_its_cell_only_and_the_rerun_resumes_it(tiny, tmp_path):
    folder, sweep_file = tiny
    cells = load(str(sweep_file)).cells
    runner = _run(sweep_file, tmp_path)
    run_dir = tmp_path / "runs" / "warm" / cells[0].id
    deadline = time.time() + 600
    while time.time() < deadline and not list(run_dir.glob("ckpt-*.index")):  # the first periodic checkpoint
        assert runner.poll() is None, runner.communicate()[0][-3000:]
        time.sleep(0.1)
    os.kill(_worker_pid(runner.pid), signal.SIGKILL)  # a crash of the worker, mid-cell
    out, _ = runner.communicate(timeout=900)
    assert runner.returncode == 1, out[-3000:]  # the killed cell has no result: a retry fixes it
    assert not (tmp_path / "results" / "warm" / "cells" / f"{cells[0].id}.json").exists()
    done = _ap(tmp_path, "warm")
    assert sorted(done) == sorted(c.id for c in cells[1:])  # a fresh worker ran the others
    assert re.findall(r"worker cell (\d+)", out) == ["1", "2"]
    rerun = _run(sweep_file, tmp_path)
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out[-3000:]
    resumed = json.loads((tmp_path / "results" / "warm" / "cells" / f"{cells[0].id}.json").read_text())
    assert resumed["steps"] - resumed["steps_this_run"] >= 4  # from its last checkpoint, not from scratch
    assert _ap(tmp_path, "warm") == pytest.approx(_ap(folder / "fresh", "warm"), abs=1e-6)
