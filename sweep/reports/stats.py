"""Seed statistics of the tables: t intervals over seeds and paired FRN-vs-other tests (scipy).

One seed is never evidence (training is chaotic: another CPU moves one cell's AP by a third), so
every table entry carries its seed count, and an FRN-vs-other difference is called only when its
95% interval excludes 0.
"""
import math
import statistics

from scipy import stats as scipy_stats

LEVEL = 0.95


def interval(values, level=LEVEL):
    """{mean, std, ci, n}: ci is the half-width of the two-sided t interval of the mean over `values`
    (None for a single value, which has no spread to estimate)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "std": None, "ci": None, "n": n}
    std = statistics.stdev(values)
    return {"mean": mean, "std": std, "ci": float(scipy_stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n), "n": n}


def paired(differences, level=LEVEL):
    """The t interval of paired differences, the paired-t and sign-test p-values (two-sided), and
    `distinguishable`: False when the interval covers 0 (or there are fewer than 2 pairs)."""
    result = interval(differences, level)
    if result["n"] < 2:
        return {**result, "p_t": None, "p_sign": None, "distinguishable": False}
    if result["std"] == 0:
        p_t = 1.0 if result["mean"] == 0 else 0.0
    else:
        p_t = float(scipy_stats.ttest_1samp(differences, 0.0).pvalue)
    nonzero = [d for d in differences if d != 0]
    p_sign = float(scipy_stats.binomtest(sum(d > 0 for d in nonzero), len(nonzero), 0.5).pvalue) if nonzero else 1.0
    low, high = result["mean"] - result["ci"], result["mean"] + result["ci"]
    return {**result, "p_t": p_t, "p_sign": p_sign, "distinguishable": low > 0 or high < 0}


def paired_record(differences):
    """The paired test of `differences` as the tables record it (means rounded to 0.01), or None below 2 pairs."""
    if len(differences) < 2:
        return None
    test = paired(differences)
    return {"pairs": test["n"], "mean_diff": round(test["mean"], 2), "ci": round(test["ci"], 2), "p_t": test["p_t"],
            "p_sign": test["p_sign"], "distinguishable": test["distinguishable"]}
