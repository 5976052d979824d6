"""The reports' lr-multiplier choice (sweep/reports/model_selection.py) on hand-made rows."""
from sweep.reports.model_selection import mean_ap_on_selection


def _rows(*pairs):
    return [{"AP": ap, "AP_select": sel} for ap, sel in pairs]


def test_the_best_mean_on_the_selection_split_wins_not_the_reported_ap():
    by_m = {0.01: _rows((30.0, 10.0), (30.0, 12.0)), 0.1: _rows((5.0, 14.0), (5.0, 9.0))}
    assert mean_ap_on_selection(by_m) == (0.1, "selection")  # selection means 11.0 vs 11.5


def test_without_a_selection_ap_somewhere_the_reported_split_decides():
    by_m = {0.01: _rows((30.0, 10.0)), 0.1: _rows((5.0, None))}
    assert mean_ap_on_selection(by_m) == (0.01, "report")


def test_ties_go_to_the_smaller_m():
    by_m = {0.1: _rows((7.0, 3.0)), 0.05: _rows((7.0, 3.0)), 0.5: _rows((1.0, 3.0))}
    assert mean_ap_on_selection(by_m) == (0.05, "selection")
