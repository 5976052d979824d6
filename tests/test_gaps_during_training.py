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
    document = {"sweep": "gaps", "base": {"replicas": 2},
                "scaling": {"base_batch": 16, "base_steps": 40, "evals": evals},
                "blocks": {"scratch": {"grid": {"norm": ["bn", "gn", "frn"], "batch": [16, 4],
                                                "lr_mult": [0.03, 0.1], "seed": [0, 1, 2]}}}}
    path = tmp_path / "gaps.yaml"
    path.write_text(yaml.safe_dump(document))
    return load(str(path))


def _fabricate(sweep, folder, rng, fractions=FRACTIONS, diverged=()):
    """A result with a random AP curve for every cell; returns {(norm, B, m, seed): [AP x100 per fraction]}."""
    curves = {}
    for cell in sweep.cells:
        aps = [round(float(a), 4) for a in rng.uniform(0.05, 0.4, len(fractions))]
        diverges = cell.id in diverged
        write_json_atomic(cell_result_path(str(folder), cell.id), {
            "status": "diverged" if diverges else "finished", "cell": cell.as_dict(), "format": RESULT_FORMAT,
            "wall_seconds": 1.0, "steps": cell.steps, "diverged_step": 3 if diverges else None,
            "coco": {k: aps[-1] for k in STATS},
            "ap_curve": [[round(f * cell.steps), a] for f, a in zip(fractions, aps)]})
        if not diverges:
            curves[(cell.norm_label, cell.batch, cell.lr_mult, cell.seed)] = [100 * a for a in aps]
    return curves


def _expected(curves, other, batch, point):
    keys = sorted(k for k in curves if k[0] == "frn" and k[1] == batch and (other, *k[1:]) in curves)
    frn = np.array([curves[k][point] for k in keys])
    them = np.array([curves[(other, *k[1:])][point] for k in keys])
    d = frn - them
    low, high = scipy_stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    return d.mean(), (high - low) / 2, scipy_stats.ttest_rel(frn, them).pvalue, len(d)


def test_the_gap_at_each_evaluation_matches_scipy_and_ends_at_the_paired_tables(tmp_path):
    sweep = _sweep(tmp_path)
    folder = tmp_path / "results" / "gaps"
    diverged = next(c.id for c in sweep.cells if (c.norm_label, c.batch, c.lr_mult, c.seed) == ("gn", 16, 0.1, 2))
    curves = _fabricate(sweep, folder, np.random.default_rng(3), diverged={diverged})
    built = tables.build(sweep.name, sweep.cells, str(folder))
    gaps = {(g["vs"], g["batch"]): g["by_fraction"] for g in built["frn_gaps_during_training"]}
    assert sorted(gaps) == [("bn", 4), ("bn", 16), ("gn", 4), ("gn", 16)]
    for (other, batch), by_fraction in gaps.items():
        assert sorted(by_fraction) == list(FRACTIONS)
        for point, fraction in enumerate(FRACTIONS):
            mean, half, p, n = _expected(curves, other, batch, point)
            got = by_fraction[fraction]
            assert got["pairs"] == n == (5 if (other, batch) == ("gn", 16) else 6)  # the diverged cell has no pair
            assert got["mean_diff"] == pytest.approx(mean, abs=0.006)
            assert got["ci"] == pytest.approx(half, abs=0.006)
            assert got["p_t"] == pytest.approx(p, rel=1e-4)
        final = next(r for r in built["frn_paired"] if (r["vs"], r["batch"]) == (other, batch))
        assert {k: final[k] for k in ("pairs", "mean_diff", "ci")} == {k: by_fraction[1.0][k] for k in
                                                                         ("pairs", "mean_diff", "ci")}
    text = tables.markdown(built)
    assert "## FRN minus each other norm during training" in text
    mean, half, _, _ = _expected(curves, "gn", 4, 0)
    section = text.split("## FRN minus each other norm during training")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| gn | 4 | 6 | "))
    assert row.split(" | ")[3].startswith(f"{mean:+.1f} ± {half:.1f}")


def test_no_section_without_evaluations_during_training(tmp_path):
    sweep = _sweep(tmp_path, evals=1)
    folder = tmp_path / "results" / "gaps"
    _fabricate(sweep, folder, np.random.default_rng(4), fractions=(1.0,))
    built = tables.build(sweep.name, sweep.cells, str(folder))
    assert built["frn_gaps_during_training"] == [] and built["frn_paired"]
    assert "during training" not in tables.markdown(built)
