"""`run_sweep.py compare`, the per-class table, curves.png and the step-weighted ETA, on hand-made
cell results (sweep/reports/compare.py, sweep/reports/tables.py, sweep/reports/curves.py, sweep/execution/runner.py)."""
import os
import subprocess
import sys

import pytest

from sweep.execution import runner
from sweep.grid.spec import parse
from sweep.reports import compare, tables
from tests.test_sweep_run import _fake_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sweep(name, block, norms, seeds):
    return parse({"sweep": name, "base": {"replicas": 1}, "scaling": {"base_batch": 16, "base_steps": 10},
                  "blocks": {block: {"grid": {"norm": norms, "batch": [16, 4], "lr_mult": [0.1], "seed": seeds}}}})


def test_compare_matches_cells_by_settings_and_lists_the_one_sided(tmp_path):
    # A: bn and gn, seeds 0-1. B: another sweep and block name, bn and frn, seeds 0-2.
    a, b = _sweep("a", "scratch", ["bn", "gn"], [0, 1]), _sweep("b", "other", ["bn", "frn"], [0, 1, 2])
    ap_a = {(16, 0): 0.20, (16, 1): 0.24, (4, 0): 0.10, (4, 1): 0.12}
    ap_b = {(16, 0): 0.23, (16, 1): 0.25, (16, 2): 0.30, (4, 0): 0.06, (4, 1): 0.12, (4, 2): 0.5}
    for cell in a.cells:
        _fake_result(tmp_path / "a", cell, "finished", ap_a[(cell.batch, cell.seed)])
    for cell in b.cells:
        _fake_result(tmp_path / "b", cell, "finished", ap_b[(cell.batch, cell.seed)])
    found = compare.compare(str(tmp_path / "a"), str(tmp_path / "b"))
    # bn at B=16: seeds 0, 1 match (+3.0, +1.0): mean +2.0, t(0.975, 1) x std(sqrt 2) / sqrt 2 = 12.706
    groups = {(g["label"], g["batch"]): g for g in found["groups"]}
    assert set(groups) == {("scratch: bn", 16), ("scratch: bn", 4)}
    assert groups[("scratch: bn", 16)]["n"] == 2
    assert groups[("scratch: bn", 16)]["mean_diff"] == pytest.approx(2.0)
    assert groups[("scratch: bn", 16)]["ci"] == pytest.approx(12.706, abs=1e-3)
    assert groups[("scratch: bn", 4)]["mean_diff"] == pytest.approx(-2.0)
    assert groups[("scratch: bn", 16)]["std_a"] == pytest.approx(2.828, abs=1e-3)  # 20 and 24
    diffs = sorted(round(c["diff"], 6) for c in found["cells"])
    assert diffs == [-4.0, 0.0, 1.0, 3.0]
    only_a = {i.split("-")[1] for i in found["only_a"]}
    assert only_a == {"gn"} and len(found["only_a"]) == 4
    assert len(found["only_b"]) == 8  # frn x 2 B x 3 seeds, and bn's seed 2 at both B
    assert sum("-bn-" in i for i in found["only_b"]) == 2


def test_compare_command_prints_its_table_writes_it_with_out_and_refuses_a_bad_side(tmp_path):
    a = _sweep("a", "scratch", ["bn"], [0])
    for side, ap in (("a", 0.2), ("b", 0.25)):
        for cell in a.cells:
            _fake_result(tmp_path / side, cell, "finished", ap)
    out = tmp_path / "cmp.md"
    done = subprocess.run([sys.executable, "run_sweep.py", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| scratch: bn | 16 | 1 | +5.00 |" in out.read_text() and out.read_text().strip() == done.stdout.strip()
    printed = subprocess.run([sys.executable, "run_sweep.py", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                              "--results", str(tmp_path / "results")], cwd=ROOT, capture_output=True, text=True)
    assert printed.returncode == 0 and "| scratch: bn | 16 | 1 | +5.00 |" in printed.stdout, printed.stderr
    assert not (tmp_path / "results").exists()  # without --out: stdout only (no results/compare/)
    bad = subprocess.run([sys.executable, "run_sweep.py", "compare", str(tmp_path / "a"), str(tmp_path / "nope")],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr and "neither a result folder nor a sweep file" in bad.stderr


def test_per_class_table_and_curves_plot(tmp_path):
    sweep = _sweep("p", "scratch", ["bn"], [0, 1])
    from common.storage import write_json_atomic
    from sweep.store.layout import cell_result_path
    for cell in sweep.cells:
        _fake_result(tmp_path, cell, "finished", 0.2)
        path = cell_result_path(str(tmp_path), cell.id)
        result = __import__("json").loads(open(path).read())
        result["per_category"] = {"circle": 0.1 + 0.1 * cell.seed, "square": 0.3}
        result["ap_curve"] = [[5, 0.1], [10, 0.2]]
        result["losses"] = {"total_loss": [[5, 2.0], [10, 1.0]]}
        write_json_atomic(path, result)
    built = tables.gather(sweep.name, sweep.cells, str(tmp_path))
    assert built["main"]["scratch: bn"][16]["best"]["per_category"] == {"circle": 15.0, "square": 30.0}
    markdown = (tmp_path / "tables.md").read_text()
    assert "| scratch: bn | 16 | 15.0 | 30.0 |" in markdown
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_eta_weights_the_remaining_cells_by_their_steps():
    # 100 s for a 100-step cell: a 400-step cell left takes 400 s, on 2 lanes 200 s
    assert runner.eta_seconds([(100.0, 100)], [400], 2) == pytest.approx(200.0)
    # the mean-duration estimate would say 100 s per cell, whatever its steps
    assert runner.eta_seconds([(100.0, 100), (50.0, 25)], [25, 25], 1) == pytest.approx(50 * 150 / 125)
    assert runner.eta_seconds([], [100], 1) == 0.0


def test_progress_line_reads_the_cells_progress_file(tmp_path):
    assert runner.progress_line(str(tmp_path), "[1/2] c") is None  # nothing written yet
    (tmp_path / "progress.json").write_text('{"step": 25, "steps": 400, "images_per_second": 61.44, "loss": 1.8}')
    assert runner.progress_line(str(tmp_path), "[1/2] c") == "[1/2] c: step 25/400, 61.4 images/s, loss 1.800"
