"""FRN minus each norm at every AP evaluation during training (sweep/reports/gaps_during_training.py), checked with
scipy on fabricated AP curves; the last point is the paired table's difference."""
import numpy as np
import pytest
import yaml
from scipy import stats as scipy_stats

from common.coco_stats import STATS
from common.storage import write_json_atomic
from sweep.grid.spec import load
from sweep.reports import tables
from sweep.store.layout import cell_result_path
from sweep.store.results import RESULT_FORMAT

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def _sweep(tmp_path, evals=4):
    """BN, GN and FRN from scratch, and fine-tuned BN and FRN blocks (at their own m: they must not pair)."""
    document = {"sweep": "gaps", "base": {"replicas": 2}, "pretrain": {"steps": 10, "images": 20},
                "scaling": {"base_batch": 16, "base_steps": 40, "evals": evals},
                "blocks": {"scratch": {"grid": {"norm": ["bn", "gn", "frn"], "batch": [16, 4],
                                                "lr_mult": [0.03, 0.1], "seed": [0, 1, 2]}},
                           **{f"finetuned_{norm}": {"base": {"norm": norm, "init_checkpoint": "pretrain"},
                                                    "grid": {"batch": [16, 4], "lr_mult": [0.3], "seed": [0, 1, 2]}}
                              for norm in ("bn", "frn")}}}
    path = tmp_path / "gaps.yaml"
    path.write_text(yaml.safe_dump(document))
    return load(str(path))


def _fabricate(sweep, folder, rng, fractions=FRACTIONS, diverged=(), no_curve=()):
    """A result with a random AP curve for every cell (its last point off the final COCO AP, which counts; no
    curve for the cells in `no_curve`); returns {(norm, B, m, seed): [AP x100 per fraction]} of the from-scratch
    cells as the tables round them (2 decimals), None where a cell has only its final AP."""
    curves = {}
    for cell in sweep.cells:
        aps = [float(a) for a in rng.uniform(0.05, 0.4, len(fractions))]
        diverges = cell.id in diverged
        result = {"status": "diverged" if diverges else "finished", "cell": cell.as_dict(), "format": RESULT_FORMAT,
                  "wall_seconds": 1.0, "steps": cell.steps, "diverged_step": 3 if diverges else None,
                  "coco": {k: aps[-1] for k in STATS}}
        if cell.id not in no_curve:
            result["ap_curve"] = [[round(f * cell.steps), a] for f, a in zip(fractions, aps[:-1] + [aps[-1] + 0.1])]
        write_json_atomic(cell_result_path(str(folder), cell.id), result)
        if not diverges and cell.init_checkpoint is None:
            curves[(cell.norm_label, cell.batch, cell.lr_mult, cell.seed)] = [
                round(100 * a, 2) if cell.id not in no_curve or f == 1.0 else None for f, a in zip(fractions, aps)]
    return curves


def _expected(curves, other, batch, point):
    keys = sorted(k for k in curves if k[0] == "frn" and k[1] == batch and (other, *k[1:]) in curves
                  and curves[k][point] is not None and curves[(other, *k[1:])][point] is not None)
    frn = np.array([curves[k][point] for k in keys])
    them = np.array([curves[(other, *k[1:])][point] for k in keys])
    d = frn - them
    low, high = scipy_stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    return d.mean(), (high - low) / 2, scipy_stats.ttest_rel(frn, them).pvalue, len(d)


def test_the_gap_at_each_evaluation_matches_scipy_and_ends_at_the_paired_tables(tmp_path):
    sweep = _sweep(tmp_path)
    folder = tmp_path / "results" / "gaps"
    setting = {(c.norm_label, c.batch, c.lr_mult, c.seed, c.init_checkpoint is None): c.id for c in sweep.cells}
    curves = _fabricate(sweep, folder, np.random.default_rng(3), diverged={setting[("gn", 16, 0.1, 2, True)]},
                        no_curve={setting[("bn", 4, 0.03, 1, True)]})
    built = tables.build(sweep.name, sweep.cells, str(folder))
    gaps = {(g["vs"], g["batch"]): g["points"] for g in built["frn_gaps_during_training"]}
    assert sorted(gaps) == [("bn", 4), ("bn", 16), ("gn", 4), ("gn", 16)]
    for (other, batch), points in gaps.items():
        assert [p["fraction"] for p in points] == list(FRACTIONS)
        for point, got in enumerate(points):
            mean, half, p, n = _expected(curves, other, batch, point)
            # the diverged GN cell has no pair; the BN cell without a curve pairs at its final AP only
            assert got["pairs"] == n == {("gn", 16): 5, ("bn", 4): 5 if point < 3 else 6}.get((other, batch), 6)
            assert got["mean_diff"] == pytest.approx(mean, abs=0.006)
            assert got["ci"] == pytest.approx(half, abs=0.006)
            assert got["p_t"] == pytest.approx(p, rel=1e-4)
        final = next(r for r in built["frn_paired"] if (r["vs"], r["batch"]) == (other, batch))
        assert {k: final[k] for k in ("pairs", "mean_diff", "ci")} == {k: points[-1][k] for k in
                                                                         ("pairs", "mean_diff", "ci")}
    text = tables.markdown(built)
    section = text.split("## FRN minus each other norm during training")[1].split("\n## ")[0]
    assert "| vs | B | pairs | 25% | 50% | 75% | 100% |" in section
    rows = [line for line in section.splitlines() if line.startswith("| bn |") or line.startswith("| gn |")]
    assert [r.split(" | ")[:3] for r in rows] == [["| bn", "16", "6"], ["| bn", "4", "6"], ["| gn", "16", "5"],
                                                   ["| gn", "4", "6"]]
    for row, (other, batch) in zip(rows, (("bn", 16), ("bn", 4), ("gn", 16), ("gn", 4))):
        for point, text_cell in enumerate(row.strip(" |").split(" | ")[3:]):
            mean, half, _, n = _expected(curves, other, batch, point)
            star = "*" if abs(mean) > half else ""
            mean, half = round(mean, 2), round(half, 2)  # as the tables record them, then shown to 0.1
            assert text_cell == f"{mean:+.1f} ± {half:.1f}{star}" + (" (n=5)" if (other, batch, n) == ("bn", 4, 5)
                                                                      else ""), (other, batch, point)


def test_no_section_without_evaluations_during_training(tmp_path):
    sweep = _sweep(tmp_path, evals=1)
    folder = tmp_path / "results" / "gaps"
    _fabricate(sweep, folder, np.random.default_rng(4), fractions=(1.0,))
    built = tables.build(sweep.name, sweep.cells, str(folder))
    assert built["frn_gaps_during_training"] == [] and built["frn_paired"]
    assert "during training" not in tables.markdown(built)
