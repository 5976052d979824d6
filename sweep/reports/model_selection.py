"""The reports' model-selection rule: which lr multiplier m an entry (block, norm, B) reports.

One named policy (DomainBed's model_selection.py idea; the paper tunes the learning rate per
normalization, Sec. 4): the m with the best mean AP over seeds on the selection split
(`data.select_val`), or on the reported split when some finished cell has no selection AP, and the
tables then say that the choice saw the numbers they report. Ties go to the smaller m.
"""
import statistics


def mean_ap_on_selection(by_m):
    """{m: [finished table rows]} -> (the chosen m, "selection" or "report": the split it was chosen on)."""
    on = "selection" if all(r["AP_select"] is not None for rows in by_m.values() for r in rows) else "report"
    key = "AP_select" if on == "selection" else "AP"
    return max(sorted(by_m), key=lambda m: statistics.fmean(r[key] for r in by_m[m])), on
