"""Issue 6 in CI: a killed sweep, corrupt state, two concurrent runners and a diverging cell, each
compared with an uninterrupted run of the same tiny sweep (same seed, so the same AP to 1e-6).

The long version, 20+ kills at random moments, is benchmarks/kill_harness.py.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sweep.grid.spec import load
from sweep.store.results import RESULT_FORMAT
from tests.tiny_sweep import write_tiny_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(sweep_file, where, *extra):
    """run_sweep.py in its own process group (so a kill can take the whole group, children included)."""
    return subprocess.Popen([sys.executable, "run_sweep.py", "run", str(sweep_file), "--results",
                             str(where / "results"), "--runs", str(where / "runs"), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def _results(where, name):
    folder = where / "results" / name / "cells"
    return {p.name[:-5]: json.loads(p.read_text()) for p in folder.glob("*.json")}


def _grid(where, name, ignore=("wall_s", "images_per_s")):
    rows = json.loads((where / "results" / name / "tables.json").read_text())["grid"]
    return [{k: v for k, v in row.items() if k not in ignore} for row in rows]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny sweep and its uninterrupted reference run (with an override that changes nothing,
    which each result records)."""
    folder = tmp_path_factory.mktemp("reliability")
    sweep_file = write_tiny_sweep(folder, jobs=1)
    sweep = load(str(sweep_file))
    name, cells = sweep.name, sweep.cells
    reference = folder / "reference"
    code, output = _finish(_start(sweep_file, reference, "--set", "jobs=1"))
    assert code == 0, output
    assert [r.get("overrides") for r in _results(reference, name).values()] == [["jobs=1"]] * len(cells)
    return {"folder": folder, "file": sweep_file, "name": name, "cells": cells, "reference": reference,
            "ap": {cid: r["coco"]["AP"] for cid, r in _results(reference, name).items()}}


def _same_ap(tiny, results):
    assert sorted(results) == sorted(tiny["ap"])
    for cell_id, result in results.items():
        assert result["status"] == "finished" and result["steps"] == 24
        assert result["coco"]["AP"] == pytest.approx(tiny["ap"][cell_id], abs=1e-6), cell_id


def _checkpoint_written(run_dir):
    return os.path.isdir(run_dir) and any(name.endswith(".index") for name in os.listdir(run_dir))


def test_killed_process_group_resumes_to_the_uninterrupted_tables(tiny, tmp_path):
    name, cells = tiny["name"], tiny["cells"]
    process = _start(tiny["file"], tmp_path)
    first = tmp_path / "runs" / name / cells[0].id
    deadline = time.time() + 300
    while not _checkpoint_written(first) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert _checkpoint_written(first), "the first cell never wrote a checkpoint"
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its cell process, mid-cell
    process.wait()
    assert not (tmp_path / "results" / name / "cells" / f"{cells[0].id}.json").exists()

    code, output = _finish(_start(tiny["file"], tmp_path))
    assert code == 0, output
    assert "taking over" in output  # the dead runner's claim
    results = _results(tmp_path, name)
    _same_ap(tiny, results)
    assert 0 < results[cells[0].id]["steps_this_run"] < 24  # resumed from its checkpoint, not step 0
    assert _grid(tmp_path, name) == _grid(tiny["reference"], name)

    code, output = _finish(_start(tiny["file"], tmp_path))  # all finished: nothing trains again
    assert code == 0 and output.count("finished before, skipped") == len(cells), output


def test_corrupt_checkpoint_and_result_files_rerun_only_their_cells(tiny, tmp_path):
    name, cells = tiny["name"], tiny["cells"]
    shutil.copytree(tiny["reference"], tmp_path, dirs_exist_ok=True)
    cells_dir = tmp_path / "results" / name / "cells"
    first, second = cells_dir / f"{cells[0].id}.json", cells_dir / f"{cells[1].id}.json"
    run_dir = tmp_path / "runs" / name / cells[0].id
    steps = sorted(int(p.name.split("-")[1].split(".")[0]) for p in run_dir.glob("ckpt-*.index"))
    newest = next(run_dir.glob(f"ckpt-{steps[-1]}.data-*"))
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a truncated checkpoint
    first.write_text(first.read_text()[:40])  # a half-written metrics JSON
    stale = json.loads(second.read_text())
    stale["format"] = RESULT_FORMAT - 1  # a results file from another sweep version
    second.write_text(json.dumps(stale))
    tables_before = (tmp_path / "results" / name / "tables.md").stat().st_mtime

    code, output = _finish(_start(tiny["file"], tmp_path))
    assert code == 0, output
    assert f"{cells[0].id}: its result file unreadable" in output
    assert f"{cells[1].id}: its result file written by another version" in output
    assert "is unreadable (truncated or corrupt)" in (run_dir / "log.txt").read_text()
    results = _results(tmp_path, name)
    _same_ap(tiny, results)
    assert results[cells[0].id]["steps_this_run"] == 24 - steps[-2]  # from the newest good checkpoint
    assert results[cells[1].id]["steps_this_run"] == 0   # its checkpoint was fine: evaluated again only
    assert len(list(cells_dir.glob("*.invalid-*"))) == 2  # set aside for inspection, never read as results
    assert (tmp_path / "results" / name / "tables.md").stat().st_mtime > tables_before


def test_two_concurrent_runners_run_every_cell_exactly_once(tiny, tmp_path):
    name, cells = tiny["name"], tiny["cells"]
    runners = [_start(tiny["file"], tmp_path) for _ in range(2)]
    finished = [_finish(r) for r in runners]
    assert [code for code, _ in finished] == [0, 0], finished
    started = [line for _, output in finished for line in output.splitlines() if line.endswith("steps=24 ...")]
    # log lines: "<date> <time> <host> | [k/n] <cell id>: ..."
    assert sorted(line.split(" | ", 1)[1].split(":")[0].split("] ")[1] for line in started) == sorted(c.id for c in cells)
    results = _results(tmp_path, name)
    _same_ap(tiny, results)
    assert all(r["steps_this_run"] == 24 for r in results.values())


def test_a_diverging_cell_is_recorded_with_its_step_and_the_sweep_goes_on(tiny, tmp_path):
    sweep_file = write_tiny_sweep(tmp_path, name="diverge", norms=("frn",), lr_mult=[1e6, 0.01],
                                  data=_tiny_data(tiny))
    sweep = load(str(sweep_file))
    name, cells = sweep.name, sweep.cells
    code, output = _finish(_start(sweep_file, tmp_path))
    assert code == 0, output  # a divergence is a recorded result, not a failure a retry may fix
    results = _results(tmp_path, name)
    absurd, sane = sorted(cells, key=lambda c: -c.lr_mult)
    assert results[absurd.id]["status"] == "diverged" and 0 < results[absurd.id]["diverged_step"] <= 24
    assert "diverged by step" in results[absurd.id]["error"]
    assert results[sane.id]["status"] == "finished"
    assert f"diverged: {absurd.id}" in output
    assert "| scratch: frn |" in (tmp_path / "results" / name / "tables.md").read_text()
    code, output = _finish(_start(sweep_file, tmp_path))  # a diverged cell is a result: not rerun
    assert code == 0 and "diverged before, skipped" in output


def _tiny_data(tiny):
    from tests.detection_data import tiny_dataset
    return tiny_dataset(tiny["folder"] / "data")


# -- shards of a job array (no claims) ---------------------------------------------------------------------
def test_two_concurrent_shards_give_the_same_tables_as_one_runner(tiny, tmp_path):
    """Also the determinism check: every cell trained again, in other processes, with the same config
    and seed gives the reference's AP to 1e-6 and the same grid row."""
    name = tiny["name"]
    shard_runs = [_start(tiny["file"], tmp_path, "--shard", f"{i}/2") for i in range(2)]
    finished = [_finish(r) for r in shard_runs]
    assert [code for code, _ in finished] == [0, 0], finished
    assert not (tmp_path / "results" / name / "claims").exists()  # shards never claim
    code = subprocess.run([sys.executable, "run_sweep.py", "gather", str(tiny["file"]), "--results",
                           str(tmp_path / "results")], cwd=ROOT, capture_output=True).returncode
    assert code == 0
    _same_ap(tiny, _results(tmp_path, name))
    assert _grid(tmp_path, name) == _grid(tiny["reference"], name)
    plan = json.loads((tmp_path / "results" / name / "plan.json").read_text())
    assert plan["shards"] == 2 and plan["cells"] == [c.id for c in tiny["cells"]]


def test_sigterm_saves_between_steps_and_the_requeued_shard_resumes_to_the_same_ap(tiny, tmp_path):
    """What Kubernetes does on an eviction: SIGTERM to the runner only (the container's PID 1), then a
    new pod. The runner passes the signal on, the cell saves between two steps and the runner exits 75
    (requeue me); tests/test_slurm.py sends Slurm's SIGUSR1 to every process of the task."""
    name, cell = tiny["name"], tiny["cells"][0]
    process = _start(tiny["file"], tmp_path, "--shard", "0/2")
    run_dir = tmp_path / "runs" / name / cell.id
    deadline = time.time() + 300
    while time.time() < deadline and not (run_dir / "progress.json").exists():  # the first loop (4 steps) ran
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process)
    assert code == 75 and "stopped on a signal" in output, output
    records = json.loads((run_dir / "preemptions.json").read_text())
    saved = records[0]["saved_step"]
    assert len(records) == 1 and 4 <= saved < 24 and records[0]["signal"] == "SIGTERM"
    assert records[0]["seconds_to_save"] < 60
    assert f"preempted at step {saved}: checkpoint saved" in (run_dir / "log.txt").read_text()
    assert (run_dir / f"ckpt-{saved}.index").exists()
    assert not (tmp_path / "results" / name / "cells" / f"{cell.id}.json").exists()  # neither finished nor failed

    code, output = _finish(_start(tiny["file"], tmp_path, "--shard", "0/2"))  # the requeued task
    assert code == 0, output
    result = _results(tmp_path, name)[cell.id]
    assert result["steps_this_run"] == 24 - saved and result["preemptions"] == records  # nothing trained twice
    assert result["coco"]["AP"] == pytest.approx(tiny["ap"][cell.id], abs=1e-6)

    before = (tmp_path / "results" / name / "cells" / f"{cell.id}.json").stat().st_mtime_ns
    code, output = _finish(_start(tiny["file"], tmp_path, "--shard", "0/2"))  # the same index once more
    assert code == 0 and "finished before, skipped" in output, output
    assert (tmp_path / "results" / name / "cells" / f"{cell.id}.json").stat().st_mtime_ns == before
    assert sorted(p.name for p in (tmp_path / "results" / name / "cells").iterdir()) == [f"{cell.id}.json"]


def test_eval_command_rescores_finished_cells_to_the_same_ap(tiny):
    """`run_sweep.py eval`: no training; each cell's checkpoint re-scored, AP unchanged to 1e-6,
    per-class AP and detections recorded, tables and curves regathered."""
    reference = tiny["reference"]
    done = subprocess.run([sys.executable, "run_sweep.py", "eval", str(tiny["file"]), "--results",
                           str(reference / "results"), "--runs", str(reference / "runs")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = _results(reference, tiny["name"])
    _same_ap(tiny, results)
    for cell_id, result in results.items():
        assert result["per_category"] and result["detections"] == {"val": "detections_val.json.gz"}
        assert os.path.exists(reference / "runs" / tiny["name"] / cell_id / "detections_val.json.gz")
    assert (reference / "results" / tiny["name"] / "curves.png").exists()
