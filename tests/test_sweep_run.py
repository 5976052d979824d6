"""Tables from cell results (finished, running, failed, diverged) and the pretrain dependency.

A real sweep killed, corrupted, run twice at once and diverging: test_sweep_reliability.py."""
import json
import os

import pytest

from sweep.reports import tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_result(results_dir, cell, status, ap=None, seed_shift=0.0):
    from common.storage import write_json_atomic
    from sweep.store.layout import cell_result_path
    from sweep.store.results import RESULT_FORMAT
    payload = {"status": status, "cell": cell.as_dict(), "wall_seconds": 10.0, "format": RESULT_FORMAT}
    if status == "finished":
        payload.update(coco={k: ap + seed_shift for k in tables.STATS}, steps=cell.steps, images_per_second=5.0,
                       devices={"kind": "gpu", "count": 8, "physical_gpus": 2 if cell.batch == 4 else 8})
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
    from sweep.grid.spec import parse
    sweep = parse(document)
    name, cells = sweep.name, sweep.cells
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
    assert (best["AP"], best["lr_mult"], best["seeds"], best["std"]) == (10.5, 0.01, 2, 0.707)
    assert built["main"]["scratch: frn"][16]["best"]["AP"] == 32.5
    versus = {(r["batch"], r["norm"]): r for r in built["finetuned_vs_scratch"]}
    assert versus[(4, "frn")]["finetuned_AP"] == 35.0 and versus[(4, "frn")]["scratch_minus_finetuned"] == -3.5
    paired = {(r["vs"], r["batch"]): r for r in built["frn_paired"]}
    assert paired[("bn", 16)]["pairs"] == 4 and paired[("bn", 4)]["pairs"] == 2  # b4 m0.1: bn failed, frn s1 pending
    assert paired[("bn", 4)]["mean_diff"] == 21.0 and paired[("bn", 4)]["distinguishable"]
    grid = {r["id"]: r for r in built["grid"]}
    assert sorted(r["status"] for r in grid.values()).count("pending") == 1
    markdown = (results_dir / "tables.md").read_text()
    assert "10.5 ± 6.4 <sub>m=0.01, n=2</sub>" in markdown and "diverged" in markdown  # t(0.975, 1) = 12.706
    assert (results_dir / "tables.csv").read_text().count("\n") == len(cells) + 1
    devices = {r["batch"]: r["devices"] for r in grid.values() if r["status"] == "finished"}
    assert devices == {16: "8 gpu", 4: "8 gpu (2 physical)"}  # what ran the replicas, from each result
    assert "| 8 gpu (2 physical) |" in markdown


def test_the_controls_are_labelled_rows_and_paired_with_frn(tmp_path):
    """in (InstanceNorm + ReLU) and frn_relu (FRN without TLU): their own rows, and in the FRN-minus table."""
    from sweep.grid.spec import parse
    sweep = parse({"sweep": "c", "base": {"replicas": 2}, "scaling": {"base_batch": 16, "base_steps": 10},
                   "blocks": {"scratch": {"grid": {"norm": ["frn", "in", "frn_relu"], "batch": [16, 4],
                                                   "seed": [0, 1, 2]}}}})
    aps = {"frn": 0.20, "in": 0.10, "frn_relu": 0.18}
    for cell in sweep.cells:
        _fake_result(tmp_path, cell, "finished", aps[cell.norm_label], 0.01 * cell.seed * (cell.norm_label == "frn"))
    built = tables.gather(sweep.name, sweep.cells, str(tmp_path), with_plot=False)
    assert list(built["main"]) == ["scratch: frn", "scratch: in (InstanceNorm + ReLU: GN at 1 channel per group)",
                                   "scratch: frn_relu (FRN without TLU: FRN + ReLU)"]
    paired = {(r["vs"], r["batch"]): r["mean_diff"] for r in built["frn_paired"]}
    assert paired == {("frn_relu", 16): 3.0, ("frn_relu", 4): 3.0, ("in", 16): 11.0, ("in", 4): 11.0}
    markdown = (tmp_path / "tables.md").read_text()
    assert "| in (InstanceNorm + ReLU: GN at 1 channel per group) | 16 | 3 | +11.00 ± " in markdown
    assert "| frn_relu (FRN without TLU: FRN + ReLU) | 4 | 3 | +3.00 ± " in markdown


def test_gather_with_nothing_finished_plots_without_a_warning(tmp_path):
    """No legend on empty plots: matplotlib's 'No artists with labels' UserWarning would leak to stderr."""
    import warnings

    from sweep.grid.spec import parse
    sweep = parse({"sweep": "e", "blocks": {"scratch": {"grid": {"norm": ["bn", "frn"]}}}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        built = tables.gather(sweep.name, sweep.cells, str(tmp_path))
    assert built["counts"]["pending"] == 2
    assert (tmp_path / "ap_vs_batch.png").stat().st_size and (tmp_path / "curves.png").stat().st_size


def test_fine_tuned_cell_fails_clearly_when_its_pretraining_failed(tmp_path, monkeypatch):
    """A failed pretrain step must never turn a fine-tuned cell into a from-scratch one."""
    from sweep.execution import runner
    from sweep.grid.spec import parse
    document = {"sweep": "p", "pretrain": {"steps": 5},
                "blocks": {"ft": {"base": {"init_checkpoint": "pretrain"}, "grid": {"batch": [16]}}}}
    sweep = parse(document)
    name, cells = sweep.name, sweep.cells
    monkeypatch.setattr(runner, "ensure_pretrained", lambda *args: None)
    monkeypatch.setattr(runner, "run_child", lambda *a, **k: pytest.fail("a cell was started"))
    statuses = runner.run(sweep, results_root=str(tmp_path / "results"), runs_root=str(tmp_path / "runs"),
                          log=lambda line: None)
    assert statuses == {cells[0].id: "failed"}
    saved = json.loads((tmp_path / "results" / name / "cells" / f"{cells[0].id}.json").read_text())
    assert "pretrain step failed" in saved["error"]
