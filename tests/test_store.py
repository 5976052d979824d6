"""The store (sweep/store/): the committed results are where layout.py says, and `eval` touches only a
result of this very cell (sweep/execution/reevaluate.py through results.load_result)."""
import json
import os
import subprocess

import pytest

from common.storage import write_json_atomic
from sweep.execution import reevaluate as reevaluate_module
from sweep.grid.spec import load, parse
from sweep.store import layout
from sweep.store.results import RESULT_FORMAT
from sweep.store.status import EVALUATED, FINISHED, SKIPPED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_committed_default_results_are_where_the_layout_puts_them():
    sweep = load(os.path.join(ROOT, "configs", "default.yaml"))
    results_dir = layout.results_dir(os.path.join(ROOT, "results", "reference"), sweep.name)
    for cell in sweep.cells:
        assert os.path.exists(layout.cell_result_path(results_dir, cell.id)), cell.id
    units = {layout.pretrain_unit(c.pretrain) for c in sweep.cells if c.pretrain}
    assert units and all(os.path.exists(layout.unit_result_path(results_dir, u)) for u in units), units


def _sweep(**base):
    return parse({"sweep": "s", "base": base, "scaling": {"base_batch": 16, "base_steps": 10},
                  "blocks": {"b": {"grid": {"norm": ["bn", "frn"]}}}})


def _finished(cell):
    return {"status": FINISHED, "format": RESULT_FORMAT, "cell": cell.as_dict(), "id": cell.id,
            "coco": {"AP": 0.25}, "steps": cell.steps}


@pytest.fixture
def no_eval_process(monkeypatch):
    calls = []
    monkeypatch.setattr(reevaluate_module.subprocess, "run", lambda *a, **k: calls.append(a) or subprocess.CompletedProcess(a, 1))
    return calls


def test_eval_leaves_a_result_of_another_version_of_the_cell_untouched(tmp_path, no_eval_process):
    sweep, other = _sweep(), _sweep(bn_momentum=0.9)  # another config: its cells have other ids
    cell, stranger = sweep.cells[0], other.cells[0]
    results_dir = layout.results_dir(str(tmp_path / "results"), sweep.name)
    path = layout.cell_result_path(results_dir, cell.id)
    write_json_atomic(path, _finished(stranger))  # a file under this cell's name, of another config
    os.makedirs(layout.run_dir(str(tmp_path / "runs"), sweep.name, cell.id))
    open(os.path.join(layout.run_dir(str(tmp_path / "runs"), sweep.name, cell.id), "params.yaml"), "w").close()
    before = open(path).read()
    statuses = reevaluate_module.reevaluate(sweep, [cell], str(tmp_path / "results"), str(tmp_path / "runs"),
                                            log=lambda line: None)
    assert statuses[cell.id].startswith(f"{SKIPPED}: its result file its resolved cell config differs"), statuses
    assert open(path).read() == before and no_eval_process == []


def test_eval_rescores_a_finished_cell_and_skips_the_others_with_the_reason(tmp_path, monkeypatch):
    sweep = _sweep()
    done, missing = sweep.cells
    results_root, runs_root = str(tmp_path / "results"), str(tmp_path / "runs")
    results_dir = layout.results_dir(results_root, sweep.name)
    write_json_atomic(layout.cell_result_path(results_dir, done.id), _finished(done))
    run_dir = layout.run_dir(runs_root, sweep.name, done.id)
    os.makedirs(run_dir)
    open(os.path.join(run_dir, "params.yaml"), "w").close()

    def fake_eval(command, **kwargs):  # what detection.train --mode eval writes
        assert command[-1] == run_dir
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump({"coco": {"AP": 0.5}, "eval_step": 10}, f)
        return subprocess.CompletedProcess(command, 0)
    monkeypatch.setattr(reevaluate_module.subprocess, "run", fake_eval)
    statuses = reevaluate_module.reevaluate(sweep, sweep.cells, results_root, runs_root, log=lambda line: None)
    assert statuses == {done.id: EVALUATED, missing.id: f"{SKIPPED}: not finished"}
    with open(layout.cell_result_path(results_dir, done.id)) as f:
        result = json.load(f)
    assert result["coco"] == {"AP": 0.5} and result["eval_step"] == 10 and result["steps"] == done.steps
