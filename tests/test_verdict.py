"""The verdict across scale (sweep/reports/verdict.py) on fabricated rungs: paired stats checked with scipy, missing rungs."""
import json
import os

import numpy as np
import pytest
import yaml
from scipy import stats as scipy_stats

from common.coco_stats import STATS
from common.storage import write_json_atomic
from sweep.errors import SweepConfigError
from sweep.grid.spec import load
from sweep.reports import ladder as ladders
from sweep.reports import verdict
from sweep.store.layout import cell_result_path
from sweep.store.results import RESULT_FORMAT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sweep_file(folder, name, norms, batches=(16, 4)):
    document = {"sweep": name, "base": {"replicas": 2}, "scaling": {"base_batch": 16, "base_steps": 10},
                "blocks": {"scratch": {"grid": {"norm": norms, "batch": list(batches), "lr_mult": [0.01, 0.1],
                                                "seed": [0, 1, 2]}}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _fabricate(sweep, results_root, rng):
    """A finished result with a random AP for every cell; returns {(norm, B, m, seed): AP x100}."""
    aps = {}
    for cell in sweep.cells:
        ap = float(rng.uniform(0.05, 0.4))
        write_json_atomic(cell_result_path(str(results_root / sweep.name), cell.id),
                          {"status": "finished", "cell": cell.as_dict(), "format": RESULT_FORMAT, "wall_seconds": 1.0,
                           "steps": cell.steps, "coco": {k: ap for k in STATS}})
        aps[(cell.norm_label, cell.batch, cell.lr_mult, cell.seed)] = round(100 * ap, 2)
    return aps


def _expected(aps, other, batch):
    """FRN minus `other` at `batch`, computed here from scratch with scipy."""
    keys = sorted(k for k in aps if k[0] == "frn" and k[1] == batch)
    frn = np.array([aps[k] for k in keys])
    them = np.array([aps[(other, *k[1:])] for k in keys])
    diffs = frn - them
    low, high = scipy_stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=scipy_stats.sem(diffs))
    return {"mean": diffs.mean(), "half": (high - low) / 2, "p": scipy_stats.ttest_rel(frn, them).pvalue, "n": len(diffs)}


@pytest.fixture
def ladder(tmp_path):
    run = _sweep_file(tmp_path, "rung_a", ["bn", "gn", "frn"])
    _sweep_file(tmp_path, "rung_b", ["bn", "gn", "frn"])
    results = tmp_path / "results"
    aps = _fabricate(load(str(run)), results, np.random.default_rng(0))
    ladder_file = tmp_path / "ladder.yaml"
    ladder_file.write_text(yaml.safe_dump({"verdict": "v", "versus": ["gn", "bn"], "rungs": [
        {"label": "A (run)", "sweep": str(run), "results": str(results)},
        {"label": "B (missing)", "sweep": str(tmp_path / "rung_b.yaml"), "results": str(results)}]}))
    return ladder_file, aps, tmp_path / "out"


def test_paired_differences_per_rung_and_batch_match_scipy(ladder):
    ladder_file, aps, out = ladder
    built = verdict.gather(str(ladder_file), str(out))
    rows = {(r["rung"], r["per_replica"]): r for r in built["rows"]}
    assert sorted(rows) == [("A (run)", 2), ("A (run)", 8), ("B (missing)", 2), ("B (missing)", 8)]
    for per, batch in ((8, 16), (2, 4)):
        for other in ("gn", "bn"):
            got, want = rows[("A (run)", per)]["versus"][other], _expected(aps, other, batch)
            assert got["pairs"] == want["n"] == 6
            assert got["mean_diff"] == pytest.approx(want["mean"], abs=0.006)
            assert got["ci"] == pytest.approx(want["half"], abs=0.006)
            assert got["p_t"] == pytest.approx(want["p"], rel=1e-6)
        assert not rows[("B (missing)", per)]["run"]
        assert rows[("B (missing)", per)]["versus"] == {"gn": None, "bn": None}
    text = (out / "v" / "verdict.md").read_text()
    assert text.count("not run yet") == 4  # two columns x two batches of the missing rung
    a_row = next(line for line in text.splitlines() if line.startswith("| A (run) | 8 (B=16)"))
    want = _expected(aps, "gn", 16)
    assert f"{want['mean']:+.1f} ± {want['half']:.1f}" in a_row and "n=6" in a_row
    assert json.loads((out / "v" / "verdict.json").read_text())["rows"] == json.loads(json.dumps(built["rows"]))
    assert (out / "v" / "verdict.png").read_bytes()[:4] == b"\x89PNG"


def test_the_change_from_the_baseline_rung_is_the_paired_difference_of_differences(tmp_path):
    results, rng = tmp_path / "results", np.random.default_rng(1)
    base = _fabricate(load(str(_sweep_file(tmp_path, "base", ["bn", "gn", "frn"]))), results, rng)
    moved = _fabricate(load(str(_sweep_file(tmp_path, "moved", ["bn", "gn", "frn"]))), results, rng)
    ladder_file = tmp_path / "ladder.yaml"
    ladder_file.write_text(yaml.safe_dump({"verdict": "v", "versus": ["gn", "bn"], "baseline": "base", "rungs": [
        {"label": "base", "sweep": str(tmp_path / "base.yaml"), "results": str(results)},
        {"label": "moved", "sweep": str(tmp_path / "moved.yaml"), "results": str(results)},
        {"label": "missing", "sweep": str(tmp_path / "base.yaml"), "results": str(tmp_path / "none")},
        {"label": "same cells", "sweep": str(tmp_path / "base.yaml"), "results": str(results)}]}))
    built = verdict.gather(str(ladder_file), str(tmp_path / "out"))
    rows = {(r["rung"], r["batch"]): r for r in built["rows"]}
    for batch in (16, 4):
        assert "change" not in rows[("base", batch)] and rows[("missing", batch)]["change"] == {"gn": None, "bn": None}
        for other in ("gn", "bn"):
            keys = sorted(k for k in base if k[0] == "frn" and k[1] == batch)
            gap = {name: np.array([aps[k] - aps[(other, *k[1:])] for k in keys]) for name, aps in
                   (("base", base), ("moved", moved))}
            d = gap["moved"] - gap["base"]
            low, high = scipy_stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
            got = rows[("moved", batch)]["change"][other]
            assert got["pairs"] == 6 and got["mean_diff"] == pytest.approx(d.mean(), abs=0.006)
            assert got["ci"] == pytest.approx((high - low) / 2, abs=0.006)
            assert got["p_t"] == pytest.approx(scipy_stats.ttest_rel(gap["moved"], gap["base"]).pvalue, rel=1e-6)
            assert "identical" not in got and rows[("same cells", batch)]["change"][other]["identical"]
    text = (tmp_path / "out" / "v" / "verdict.md").read_text()
    assert "| change of FRN - gn from base |" in text and text.count("(baseline)") == 4
    assert text.count("0 (n=6): the same cells in both") == 4


def test_shipped_ladder_keeps_the_old_headline_as_its_first_row():
    """configs/ladder.yaml: the embedded study's committed results as 'r0 (32 groups, before)' (README's numbers)."""
    built = verdict.build(ladders.load(os.path.join(ROOT, "configs", "ladder.yaml")))
    before = {r["per_replica"]: r["versus"] for r in built["rows"] if r["rung"] == "r0 (32 groups, before)"}
    assert (before[8]["gn"]["mean_diff"], before[2]["gn"]["mean_diff"]) == (pytest.approx(-8.7, abs=0.05),
                                                                             pytest.approx(-9.7, abs=0.05))
    assert (before[8]["bn"]["mean_diff"], before[2]["bn"]["mean_diff"]) == (pytest.approx(3.2, abs=0.05),
                                                                             pytest.approx(5.6, abs=0.05))


@pytest.mark.parametrize("change, message", [
    ({"versus": ["frn"]}, r"versus: 'frn' is not a norm to pair FRN with; valid: bn, "),
    ({"versus": ["gnn"]}, r"versus: 'gnn' is not a norm to pair FRN with \(did you mean 'gn'\?\)"),
    ({"rungs": []}, r"rungs: expected a list"),
    ({"baseline": "y"}, r"baseline: 'y' is not a rung's label; valid: 'x'"),
    ({"rungs": [{"label": "x", "sweep": "configs/nope.yaml"}]}, r"configs/nope.yaml: cannot read the sweep file"),
    ({"rungs": [{"label": "x", "sweep": "configs/default.yaml", "result": "r"}]},
     r"rungs.0.result: unknown key \(did you mean 'results'\?\)"),
])
def test_bad_ladder_gives_one_line_error(tmp_path, change, message):
    document = {"verdict": "v", "rungs": [{"label": "x", "sweep": "configs/default.yaml"}], **change}
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SweepConfigError, match=message) as error:
        ladders.load(str(path))
    assert "\n" not in str(error.value)


def test_committed_verdict_and_the_readme_headline_are_the_committed_cells_verdict():
    """results/ladder/verdict.md is what the committed cells give today, and README.md's headline shows its rows."""
    rebuilt = verdict.markdown(verdict.build(ladders.load(os.path.join(ROOT, "configs", "ladder.yaml"))))
    with open(os.path.join(ROOT, "results", "ladder", "verdict.md")) as f:
        assert f.read() == rebuilt, "new cells? regather and commit: python run_sweep.py gather configs/ladder.yaml"
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    table = "\n".join(line for line in rebuilt.splitlines() if line.startswith("|"))
    assert table.count("\n") == 11 and table in readme, "README's verdict table differs from verdict.md"


def test_gather_on_a_ladder_file_writes_every_rungs_tables_and_the_verdict(ladder, capsys):
    import run_sweep
    ladder_file, _, out = ladder
    assert run_sweep.main(["gather", str(ladder_file), "--results", str(out)]) == 0
    rung_tables = ladder_file.parent / "results" / "rung_a" / "tables.md"
    assert "Cells: 36 finished" in rung_tables.read_text()
    assert (out / "v" / "verdict.md").read_text() == verdict.markdown(verdict.build(ladders.load(str(ladder_file))))
    printed = capsys.readouterr().out
    assert f"verdict: {out / 'v' / 'verdict.md'}" in printed and "B (missing): not run yet" in printed
    assert not (ladder_file.parent / "results" / "rung_b").exists()
    assert run_sweep.main(["gather", str(ladder_file), "--set", "jobs=2"]) == 2
    assert "is a ladder file, which takes no overrides" in capsys.readouterr().err
    assert run_sweep.main(["plan", str(ladder_file)]) == 2
    assert f"{ladder_file} is a ladder file, not a sweep: `run_sweep.py gather" in capsys.readouterr().err


def test_a_sweep_file_with_a_stray_rungs_key_gets_the_sweep_loaders_error(tmp_path, capsys):
    import run_sweep
    sweep_file = tmp_path / "s.yaml"
    with open(os.path.join(ROOT, "configs", "default.yaml")) as f:
        sweep_file.write_text(yaml.safe_dump({**yaml.safe_load(f), "rungs": []}))
    assert run_sweep.main(["gather", str(sweep_file)]) == 2
    assert "rungs: unknown key" in capsys.readouterr().err and not ladders.is_ladder_file(str(sweep_file))


def test_a_ladder_file_without_its_name_says_verdict_is_missing(tmp_path):
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump({"rungs": [{"label": "x", "sweep": "configs/default.yaml"}]}))
    assert ladders.is_ladder_file(str(path))
    with pytest.raises(SweepConfigError, match=r"^verdict: missing"):
        ladders.load(str(path))
