"""`run_sweep.py gather`: comparison tables (Markdown, CSV, JSON) and a plot from cell results.

Generated, never hand-edited; works mid-sweep: cells without a result show as pending, failed
and diverged cells as such. AP values are COCO AP (pycocotools) in points (x100).
"""
import csv
import io
import statistics

from common.coco_stats import STATS
from common.storage import write_atomic, write_json_atomic
from sweep.reports import curves, gaps_during_training, model_selection
from sweep.reports.figures import legend_if_any, save_png
from sweep.reports.stats import LEVEL, interval, paired_record
from sweep.store.layout import report_path
from sweep.store.results import check_result, read_cell_results
from sweep.store.status import DIVERGED, FAILED, FINISHED, PENDING

# The controls, labelled with what they isolate (the other norms keep their names): `in` is GN at one
# channel per group (Wu & He 2018, Sec. 3.1), where GN's 32 groups tend on narrow layers; `frn_relu`
# is FRN without its TLU (Singh & Krishnan 2020, Sec. 3.2: FRN's normalization alone, ReLU after it).
CONTROL_LABELS = {"in": "in (InstanceNorm + ReLU: GN at 1 channel per group)",
                  "frn_relu": "frn_relu (FRN without TLU: FRN + ReLU)"}


def display_name(norm):
    """A norm's name in the tables: the name, or its CONTROL_LABELS entry."""
    return CONTROL_LABELS.get(norm, norm)


def _row(cell, result):
    status = result["status"] if result else PENDING
    row = {"id": cell.id, "block": cell.block, "norm": cell.norm_label, "batch": cell.batch,
           "per_replica": cell.per_replica_batch, "lr_mult": cell.lr_mult, "lr": cell.lr, "steps": cell.steps,
           "seed": cell.seed, "init": cell.init_checkpoint or "scratch", "status": status}
    coco = (result or {}).get("coco") if status == FINISHED else None
    # pycocotools reports -1 for an area range without ground truth (e.g. APl with no object above 96 px)
    row.update({k: (round(100 * coco[k], 2) if coco and coco[k] >= 0 else None) for k in STATS})
    selection = (result or {}).get("coco_selection") if status == FINISHED else None
    row["AP_select"] = round(100 * selection["AP"], 2) if selection else None
    row["wall_s"] = round(result["wall_seconds"], 1) if result and "wall_seconds" in result else None
    row["images_per_s"] = round(result["images_per_second"], 1) if result and result.get("images_per_second") else None
    row["devices"] = _devices((result or {}).get("devices"))
    row["per_category"] = (result or {}).get("per_category") if status == FINISHED else None
    row["diverged_step"] = (result or {}).get("diverged_step")
    return row


def _devices(record):
    """'2 cpu' / '8 gpu' / '8 gpu (2 physical)': what ran the replicas (detection/strategy.py)."""
    if not record:
        return None
    physical = record.get("physical_gpus")
    split = f" ({physical} physical)" if record["kind"] == "gpu" and physical and physical != record["count"] else ""
    return f"{record['count']} {record['kind']}{split}"


def _best(rows):
    """The entry of one (block, norm, B): the lr multiplier m that sweep/reports/model_selection.py
    chooses, and the reported AP at that m as mean, std, 95% t interval and seed count
    (sweep/reports/stats.py)."""
    by_m = {}
    for r in rows:
        if r["status"] == FINISHED:
            by_m.setdefault(r["lr_mult"], []).append(r)
    if not by_m:
        return None
    m, on = model_selection.mean_ap_on_selection(by_m)
    spread = interval([r["AP"] for r in by_m[m]])
    return {"AP": round(spread["mean"], 2), "std": _round(spread["std"]), "ci": _round(spread["ci"]), "lr_mult": m,
            "seeds": spread["n"], "chosen_on": on, "m_at_edge": len(by_m) > 2 and m in (min(by_m), max(by_m)),
            "per_category": _mean_per_category(by_m[m])}


def _mean_per_category(rows):
    """{class: mean AP x100 over the rows' seeds}, or None when some row has no per-class AP."""
    if not rows or any(not r.get("per_category") for r in rows):
        return None
    names = sorted(set().union(*(r["per_category"] for r in rows)))
    return {n: round(100 * statistics.fmean(r["per_category"].get(n, 0.0) for r in rows), 2) for n in names}


def _round(value):
    return None if value is None else round(value, 3)


def _cell_text(best, rows):
    if best:
        spread = f" ± {best['ci']:.1f}" if best["ci"] is not None else ""
        edge = "†" if best["m_at_edge"] else ""
        return f"{best['AP']:.1f}{spread} <sub>m={best['lr_mult']:g}{edge}, n={best['seeds']}</sub>"
    statuses = {r["status"] for r in rows}
    return DIVERGED if statuses == {DIVERGED} else FAILED if FAILED in statuses or DIVERGED in statuses else PENDING


def build(name, cells, results_dir, results=None):
    results = read_cell_results(results_dir) if results is None else results
    invalid = {c.id: problem for c in cells if c.id in results and (problem := check_result(results[c.id], c))}
    rows = [_row(c, None if c.id in invalid else results.get(c.id)) for c in cells]
    batches = sorted({(r["batch"], r["per_replica"]) for r in rows}, reverse=True)
    main = {}
    for block in dict.fromkeys(r["block"] for r in rows):
        for norm in dict.fromkeys(r["norm"] for r in rows if r["block"] == block):
            for batch, _ in batches:
                group = [r for r in rows if (r["block"], r["norm"], r["batch"]) == (block, norm, batch)]
                if group:
                    best = _best(group)
                    main.setdefault(f"{block}: {display_name(norm)}", {})[batch] = {"best": best, "text": _cell_text(best, group)}
    scratch = [r for r in rows if r["init"] == "scratch"]
    tuned = [r for r in rows if r["init"] != "scratch"]
    versus = []
    for batch, per in batches:
        if not any(r["batch"] == batch for r in tuned):
            continue  # no fine-tuned cell at this B in the grid
        base = _best([r for r in tuned if r["batch"] == batch])
        for norm in dict.fromkeys(r["norm"] for r in scratch):
            best = _best([r for r in scratch if (r["norm"], r["batch"]) == (norm, batch)])
            if base or best:
                versus.append({"batch": batch, "per_replica": per, "norm": norm,
                               "finetuned_AP": base and base["AP"], "finetuned_ci": base and base["ci"],
                               "scratch_AP": best and best["AP"], "scratch_ci": best and best["ci"],
                               "scratch_minus_finetuned": round(best["AP"] - base["AP"], 2) if base and best else None})
    bests = [v["best"] for by_batch in main.values() for v in by_batch.values() if v["best"]]
    counts = {s: sum(r["status"] == s for r in rows) for s in (FINISHED, FAILED, DIVERGED, PENDING)}
    return {"sweep": name, "counts": counts, "invalid": invalid, "batches": batches, "main": main, "finetuned_vs_scratch": versus,
            "frn_paired": _paired(scratch), "grid": rows,
            "frn_gaps_during_training": gaps_during_training.frn_gaps(
                cells, {k: v for k, v in results.items() if k not in invalid}),
            "seeds": sorted({b["seeds"] for b in bests}), "chosen_on": sorted({b["chosen_on"] for b in bests})}


def frn_differences(rows):
    """{(other norm, B): {(m, seed): FRN's AP minus the other's}} over the finished from-scratch rows."""
    keyed = {(r["norm"], r["batch"], r["lr_mult"], r["seed"]): r["AP"] for r in rows
             if r["init"] == "scratch" and r["status"] == FINISHED}
    out = {}
    for (norm, batch, m, seed), ap in sorted(keyed.items()):
        if norm != "frn" and ("frn", batch, m, seed) in keyed:
            out.setdefault((norm, batch), {})[(m, seed)] = keyed[("frn", batch, m, seed)] - ap
    return out


def _paired(scratch):
    """FRN minus each other norm at equal (B, m, seed), per B: the mean difference, its 95% t interval,
    the paired-t and sign-test p-values, and whether the two are distinguishable."""
    out = []
    for (other, batch), by_pair in sorted(frn_differences(scratch).items(), key=lambda item: (item[0][0], -item[0][1])):
        record = paired_record(list(by_pair.values()))
        if record:
            out.append({"vs": other, "batch": batch, **record})
    return out


def _title(tables):
    seeds = tables["seeds"]
    if seeds == [1]:
        return f"# Sweep `{tables['sweep']}` (one seed per entry: a smoke run, not evidence)"
    return f"# Sweep `{tables['sweep']}`" + (f" ({'/'.join(map(str, seeds))} seeds per entry)" if seeds else "")


def _selection_text(tables):
    if tables["chosen_on"] == ["selection"]:
        return ("m is chosen per entry by the mean AP over seeds on the selection split; the AP shown is on the "
                "reported split (a different set of images), so choosing m does not inflate it.")
    return ("m chosen on the reported split (the data names no selection split; sweep files: data.select_val "
            "and data.select_annotations), which inflates each entry by the choice.")


def markdown(tables):
    level = f"{LEVEL:.0%}"
    lines = [_title(tables), "",
             "Generated by `python run_sweep.py gather`; do not edit. COCO AP (pycocotools) x100. Each entry: "
             f"mean over seeds ± the {level} t interval's half-width at the chosen lr multiplier m, with n seeds "
             "(no ± with one seed). " + _selection_text(tables) + " †: the chosen m is at the edge of the grid's m "
             "values. An empty APs/APm/APl or ARs/ARm/ARl: no ground-truth object in that size range.", "",
             "Cells: " + ", ".join(f"{v} {k}" for k, v in tables["counts"].items()), ""]
    if tables["invalid"]:
        lines += [f"Ignored {len(tables['invalid'])} result files (shown as pending; a rerun redoes those cells):", ""]
        lines += [f"- `{cell_id}`: {problem}" for cell_id, problem in tables["invalid"].items()] + [""]
    lines += ["## Main table", ""]
    header = "| normalization | " + " | ".join(f"B={b} ({p}/replica)" for b, p in tables["batches"]) + " |"
    lines += [header, "|---" * (len(tables["batches"]) + 1) + "|"]
    for label, by_batch in tables["main"].items():
        lines.append(f"| {label} | " + " | ".join(by_batch.get(b, {}).get("text", "") for b, _ in tables["batches"]) + " |")
    lines += ["", "## Noise floor: seed standard deviation at the chosen m", "",
              "The spread between seeds of one setting; a difference smaller than this is noise.", "", header,
              "|---" * (len(tables["batches"]) + 1) + "|"]
    for label, by_batch in tables["main"].items():
        cells = [by_batch.get(b, {}).get("best") for b, _ in tables["batches"]]
        lines.append(f"| {label} | " + " | ".join(
            f"{c['std']:.2f} (n={c['seeds']})" if c and c["std"] is not None else ("n=1" if c else "") for c in cells) + " |")
    if tables["finetuned_vs_scratch"]:
        fmt = lambda v, ci=None: "" if v is None else f"{v:.1f}" + (f" ± {ci:.1f}" if ci is not None else "")  # noqa: E731
        lines += ["", "## Fine-tuned BN baseline vs best from-scratch cell", "",
                  "| B | per replica | norm (scratch) | fine-tuned AP | scratch AP | scratch - fine-tuned |", "|---|---|---|---|---|---|"]
        for r in tables["finetuned_vs_scratch"]:
            lines.append(f"| {r['batch']} | {r['per_replica']} | {display_name(r['norm'])} | {fmt(r['finetuned_AP'], r['finetuned_ci'])} | "
                         f"{fmt(r['scratch_AP'], r['scratch_ci'])} | {fmt(r['scratch_minus_finetuned'])} |")
    if tables["frn_paired"]:
        lines += ["", "## FRN minus each other norm, paired at equal B, m and seed", "",
                  f"Pairs over every m and seed of the grid. {level} t interval of the mean difference; p-values of the "
                  "paired t-test and the sign test (two-sided).", "",
                  "| vs | B | pairs | FRN - other | p (t) | p (sign) | verdict |", "|---|---|---|---|---|---|---|"]
        for r in tables["frn_paired"]:
            verdict = ("FRN higher" if r["mean_diff"] > 0 else "FRN lower") if r["distinguishable"] else "not distinguishable"
            lines.append(f"| {display_name(r['vs'])} | {r['batch']} | {r['pairs']} | {r['mean_diff']:+.2f} ± {r['ci']:.2f} | "
                         f"{r['p_t']:.3f} | {r['p_sign']:.3f} | {verdict} |")
    lines += gaps_during_training.markdown_lines(tables["frn_gaps_during_training"], display_name)
    lines += _per_class_lines(tables)
    lines += ["", "## Full grid", "", "| " + " | ".join(GRID_COLUMNS) + " |", "|---" * len(GRID_COLUMNS) + "|"]
    for r in tables["grid"]:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in GRID_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _per_class_lines(tables):
    """Per-class AP of each main-table entry (mean over its seeds at the chosen m)."""
    entries = [(label, batch, v["best"]["per_category"]) for label, by_batch in tables["main"].items()
               for batch, v in by_batch.items() if v["best"] and v["best"].get("per_category")]
    if not entries:
        return []
    names = sorted(set().union(*(per for *_, per in entries)))
    lines = ["", "## Per-class AP of the main-table entries", "",
             "COCO AP x100 per class (mean over the entry's seeds at its chosen m); over the classes with ground "
             "truth it averages to the entry's AP.", "",
             "| entry | B | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for label, batch, per in entries:
        lines.append(f"| {label} | {batch} | " + " | ".join(f"{per[n]:.1f}" if n in per else "" for n in names) + " |")
    return lines


GRID_COLUMNS = ["id", "block", "norm", "batch", "per_replica", "lr_mult", "lr", "steps", "seed", "init", "status",
                *STATS, "AP_select", "wall_s", "images_per_s", "devices", "diverged_step"]


def csv_text(tables):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=GRID_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(tables["grid"])
    return out.getvalue()


def plot(tables, path):
    """AP vs per-replica batch, one line per normalization (chosen m): mean and 95% interval over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    per_replica = dict(tables["batches"])
    for label, by_batch in tables["main"].items():
        points = sorted((per_replica[b], v["best"]["AP"], v["best"]["ci"] or 0.0) for b, v in by_batch.items() if v["best"])
        if points:
            x, y, ci = zip(*points)
            ax.errorbar(x, y, yerr=ci, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("images per replica")
    ax.set_ylabel("COCO AP (x100)")
    spread = "one seed" if tables["seeds"] == [1] else f"mean ± {LEVEL:.0%} CI over seeds"
    ax.set_title(f"sweep {tables['sweep']}: {spread}", fontsize=9)
    ax.grid(alpha=0.3)
    legend_if_any(ax, fontsize=7)  # nothing finished yet: no legend
    save_png(fig, path)


def gather(name, cells, results_dir, with_plot=True):
    """Writes tables.md / tables.csv / tables.json (and ap_vs_batch.png, curves.png); returns the tables."""
    results = read_cell_results(results_dir)
    tables = build(name, cells, results_dir, results)
    write_atomic(report_path(results_dir, "tables.md"), markdown(tables))
    write_atomic(report_path(results_dir, "tables.csv"), csv_text(tables))
    write_json_atomic(report_path(results_dir, "tables.json"), tables, indent=None)
    if with_plot:
        plot(tables, report_path(results_dir, "ap_vs_batch.png"))
        curves.plot(cells, results, report_path(results_dir, "curves.png"), f"sweep {name}")
    return tables
