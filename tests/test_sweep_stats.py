"""Seed statistics of the tables: t intervals, paired tests, and m chosen on the selection split."""
import math

import pytest

from sweep.grid.spec import parse
from sweep.reports import tables
from sweep.reports.stats import interval, paired
from tests.test_sweep_run import _fake_result


def test_t_interval_matches_a_t_table():
    # mean 2, std 1, n 3: half-width t(0.975, 2) x 1 / sqrt(3), with t(0.975, 2) = 4.303 from a t table
    result = interval([1.0, 2.0, 3.0])
    assert (result["mean"], result["std"], result["n"]) == (2.0, 1.0, 3)
    assert result["ci"] == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    # n 5, values 0..4: std sqrt(2.5), t(0.975, 4) = 2.776
    assert interval([0, 1, 2, 3, 4])["ci"] == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5), abs=1e-3)
    assert interval([7.0]) == {"mean": 7.0, "std": None, "ci": None, "n": 1}


def test_paired_statistics_by_hand():
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3) = sqrt 12 on 2 degrees of freedom, whose CDF is
    # 1/2 + t / (2 sqrt(2 + t^2)); the sign test: 3 of 3 positive, p = 2 / 2^3
    test = paired([1.0, 2.0, 3.0])
    t = math.sqrt(12)
    assert test["p_t"] == pytest.approx(2 * (0.5 - t / (2 * math.sqrt(2 + t * t))), abs=1e-9)
    assert test["p_sign"] == pytest.approx(0.25) and not test["distinguishable"]  # 2 - 2.48 < 0
    clear = paired([2.0, 2.1, 1.9, 2.0])
    assert clear["distinguishable"] and clear["mean"] == pytest.approx(2.0)
    negative = paired([-1.0, -1.2, -0.9, -1.1, -1.0])
    assert negative["distinguishable"] and negative["mean"] < 0 and negative["p_sign"] == pytest.approx(2 / 32)
    assert not paired([0.5])["distinguishable"]


def _selection_sweep():
    return parse({"sweep": "sel", "scaling": {"base_batch": 16, "base_steps": 10},
                  "blocks": {"scratch": {"grid": {"norm": ["bn", "frn"], "batch": [16], "lr_mult": [0.01, 0.03, 0.1],
                                                  "seed": [0, 1, 2]}}}})


def test_m_is_chosen_on_the_selection_split_and_reported_on_the_other(tmp_path):
    """m = 0.1 is best on the reported split, m = 0.03 on the selection split: the table must show
    the reported AP at m = 0.03."""
    sweep = _selection_sweep()
    report = {0.01: 0.20, 0.03: 0.25, 0.1: 0.30}
    select = {0.01: 0.21, 0.03: 0.28, 0.1: 0.22}
    for cell in sweep.cells:
        shift = 0.01 * cell.seed
        _fake_result(tmp_path, cell, "finished", report[cell.lr_mult], shift)
        _add_selection(tmp_path, cell, select[cell.lr_mult] + shift)
    built = tables.gather(sweep.name, sweep.cells, str(tmp_path), with_plot=False)
    best = built["main"]["scratch: bn"][16]["best"]
    assert (best["lr_mult"], best["AP"], best["chosen_on"], best["m_at_edge"]) == (0.03, 26.0, "selection", False)
    assert best["ci"] == pytest.approx(4.303 * 1.0 / math.sqrt(3), abs=1e-3)  # seeds 25, 26, 27
    text = (tmp_path / "tables.md").read_text()
    assert "(3 seeds per entry)" in text and "chosen per entry by the mean AP over seeds on the selection split" in text
    assert "26.0 ± 2.5 <sub>m=0.03, n=3</sub>" in text


def test_without_a_selection_split_the_table_says_so(tmp_path):
    sweep = _selection_sweep()
    for cell in sweep.cells:
        if cell.seed == 0:
            _fake_result(tmp_path, cell, "finished", {0.01: 0.2, 0.03: 0.1, 0.1: 0.3}[cell.lr_mult])
    built = tables.gather(sweep.name, sweep.cells, str(tmp_path), with_plot=False)
    best = built["main"]["scratch: frn"][16]["best"]
    assert (best["lr_mult"], best["chosen_on"], best["m_at_edge"], best["ci"]) == (0.1, "report", True, None)
    text = (tmp_path / "tables.md").read_text()
    assert "(one seed per entry: a smoke run, not evidence)" in text and "m chosen on the reported split" in text
    assert "30.0 <sub>m=0.1†, n=1</sub>" in text


def _add_selection(results_dir, cell, ap):
    import json

    from sweep.store.layout import cell_result_path
    path = cell_result_path(str(results_dir), cell.id)
    with open(path) as f:
        result = json.load(f)
    result["coco_selection"] = {k: ap for k in tables.STATS}
    with open(path, "w") as f:
        json.dump(result, f)


def test_the_study_config_plans_its_cells_and_resolves_the_pretrained_backbone():
    from sweep.grid.spec import load
    study = load("configs/embedded_study.yaml")
    blocks = [cell.block for cell in study.cells]
    assert (blocks.count("scratch"), blocks.count("finetuned"), len(study.cells)) == (108, 18, 126)
    assert {cell.seed for cell in study.cells} == {0, 1, 2} and {c.lr_mult for c in study.cells} == {0.01, 0.03, 0.1}
    norms = {cell.norm_label for cell in study.cells if cell.block == "scratch"}
    assert norms == {"bn", "batch_renorm", "gn", "frn", "evonorm_s0", "gn_ws"}
    assert all(cell.init_checkpoint == "pretrain" for cell in study.cells if cell.block == "finetuned")
    from sweep.execution.runner import SweepRun
    tuned = {cell.pretrain for cell in study.cells if cell.block == "finetuned"}
    assert tuned == {study.pretrain} and dict(study.pretrain)["steps"] > 0
    run_dir, unit, path = SweepRun(study, study.cells, "results", "runs", print, 0).pretrain_unit(study.pretrain)
    assert run_dir == f"runs/embedded_study/{unit}" and path == f"results/embedded_study/{unit}.json"
