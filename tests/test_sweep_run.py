"""A tiny sweep end to end: cells run in child processes, a SIGKILLed cell resumes, tables are built."""
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from detection.sweep import tables
from detection.sweep.spec import load
from detection_data import tiny_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    data = tiny_dataset(folder / "data")
    document = {
        "sweep": "tiny", "detector": "retinanet", "scale": "embedded",
        "data": {"train": data.tfrecords("train"), "val": data.tfrecords("val"),
                 "annotations": data.annotations("val"), "num_classes": data.num_classes},
        "base": {"replicas": 2, "batch": 4, "image_size": 64, "bn_momentum": 0.9,
                 "overrides": {"task.validation_data.global_batch_size": 4, "trainer.validation_steps": 2}},
        "scaling": {"base_batch": 4, "base_steps": 24, "warmup_fraction": 0.1},
        "blocks": {"scratch": {"grid": {"norm": ["frn", "gn"], "lr_mult": [0.01]}}},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _sweep(path, tmp, *extra):
    return subprocess.Popen([sys.executable, "run_sweep.py", "run", str(path), "--results", str(tmp / "results"),
                             "--runs", str(tmp / "runs"), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _checkpoint_written(run_dir):
    return os.path.isdir(run_dir) and any(name.endswith(".index") for name in os.listdir(run_dir))


def test_killed_cell_resumes_and_every_cell_finishes_once(sweep_file, tmp_path):
    name, cells = load(str(sweep_file))
    first_cell_dir = tmp_path / "runs" / name / cells[0].id
    process = _sweep(sweep_file, tmp_path)
    parent = psutil.Process(process.pid)
    deadline = time.time() + 300
    while not _checkpoint_written(first_cell_dir) and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert _checkpoint_written(first_cell_dir), "the first cell never wrote a checkpoint"
    children = [c for c in parent.children(recursive=True) if "detection.sweep.cell_main" in " ".join(c.cmdline())]
    assert children, "no cell process to kill"
    for child in children:
        child.send_signal(signal.SIGKILL)  # a real kill mid-cell
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 1, output  # the killed cell is reported unfinished
    assert "failed" in output

    rerun = _sweep(sweep_file, tmp_path)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output
    results_dir = tmp_path / "results" / name
    results = {p.name[:-5]: json.loads(p.read_text()) for p in (results_dir / "cells").glob("*.json")}
    assert sorted(results) == sorted(c.id for c in cells)
    assert all(r["status"] == "finished" and r["steps"] == 24 for r in results.values())
    resumed = results[cells[0].id]
    assert 0 < resumed["steps_this_run"] < 24  # continued from its checkpoint, not from step 0
    assert "finished before, skipped" not in output.split(cells[0].id)[0]

    third = _sweep(sweep_file, tmp_path)  # everything finished: nothing trains again
    output, _ = third.communicate(timeout=300)
    assert third.returncode == 0 and output.count("finished before, skipped") == len(cells), output

    built = json.loads((results_dir / "tables.json").read_text())
    assert built["counts"]["finished"] == 2 and (results_dir / "ap_vs_batch.png").stat().st_size > 1000
    markdown = (results_dir / "tables.md").read_text()
    assert "| scratch: frn |" in markdown and "| scratch: gn |" in markdown


def _fake_result(results_dir, cell, status, ap=None, seed_shift=0.0):
    from detection.sweep.results import cell_result_path, write_json_atomic
    payload = {"status": status, "cell": cell.as_dict(), "wall_seconds": 10.0}
    if status == "finished":
        payload.update(coco={k: ap + seed_shift for k in tables.STATS}, steps=cell.steps, images_per_second=5.0)
    if status == "diverged":
        payload["diverged_step"] = 12
    write_json_atomic(cell_result_path(str(results_dir), cell.id), payload)


def test_gather_with_finished_running_failed_and_diverged_cells(tmp_path):
    document = {"sweep": "g", "base": {"replicas": 1},
                "scaling": {"base_batch": 16, "base_steps": 10},
                "blocks": {"scratch": {"grid": {"norm": ["bn", "frn"], "batch": [16, 4], "lr_mult": [0.01, 0.1],
                                                "seed": [0, 1]}},
                           "finetuned": {"base": {"norm": {"backbone": "frozen_bn", "decoder": "bn", "head": "bn"},
                                                  "init_checkpoint": "ckpt"}, "grid": {"batch": [16, 4]}}}}
    from detection.sweep.spec import parse
    name, cells = parse(document)
    results_dir = tmp_path / name
    aps = {("bn", 16): 0.30, ("bn", 4): 0.10, ("frn", 16): 0.32, ("frn", 4): 0.31}
    for cell in cells:
        if cell.block == "finetuned":
            _fake_result(results_dir, cell, "finished", 0.40 if cell.batch == 16 else 0.35)
        elif cell.lr_mult == 0.1 and cell.norm_label == "bn" and cell.batch == 4:
            _fake_result(results_dir, cell, "diverged" if cell.seed == 0 else "failed")
        elif cell.lr_mult == 0.1 and cell.norm_label == "frn" and cell.batch == 4 and cell.seed == 1:
            continue  # still running: no result yet
        else:
            shift = 0.01 * cell.seed - (0.05 if cell.lr_mult == 0.1 else 0.0)
            _fake_result(results_dir, cell, "finished", aps[(cell.norm_label, cell.batch)], shift)
    (results_dir / "cells" / "half.json.tmp-1").write_text('{"status": "fin')  # a half-written file
    built = tables.gather(name, cells, str(results_dir))
    assert built["counts"] == {"finished": 15, "failed": 1, "diverged": 1, "pending": 1}
    best = built["main"]["scratch: bn"][4]["best"]
    assert (best["AP"], best["lr_mult"], best["seeds"], best["std"]) == (10.5, 0.01, 2, 0.71)
    assert built["main"]["scratch: frn"][16]["best"]["AP"] == 32.5
    versus = {(r["batch"], r["norm"]): r for r in built["finetuned_vs_scratch"]}
    assert versus[(4, "frn")]["finetuned_AP"] == 35.0 and versus[(4, "frn")]["scratch_minus_finetuned"] == -3.5
    paired = {r["vs"]: r for r in built["frn_paired"]}
    assert paired["bn"]["pairs"] == 6 and paired["bn"]["mean_diff"] > 0
    grid = {r["id"]: r for r in built["grid"]}
    assert sorted(r["status"] for r in grid.values()).count("pending") == 1
    markdown = (results_dir / "tables.md").read_text()
    assert "10.5 ± 0.7 <sub>m=0.01</sub>" in markdown and "diverged" in markdown
    assert (results_dir / "tables.csv").read_text().count("\n") == len(cells) + 1


def test_fine_tuned_cell_fails_clearly_when_its_pretraining_failed(tmp_path, monkeypatch):
    """A failed pretrain step must never turn a fine-tuned cell into a from-scratch one."""
    from detection.sweep import runner
    from detection.sweep.spec import parse
    document = {"sweep": "p", "pretrain": {"steps": 5},
                "blocks": {"ft": {"base": {"init_checkpoint": "pretrain"}, "grid": {"batch": [16]}}}}
    name, cells = parse(document)
    monkeypatch.setattr(runner, "ensure_pretrained", lambda *args: None)
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: pytest.fail("a cell was started"))
    statuses = runner.run(name, cells, results_root=str(tmp_path / "results"), runs_root=str(tmp_path / "runs"),
                          log=lambda line: None)
    assert statuses == {cells[0].id: "failed"}
    saved = json.loads((tmp_path / "results" / name / "cells" / f"{cells[0].id}.json").read_text())
    assert "pretrain step failed" in saved["error"]
