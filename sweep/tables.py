"""`run_sweep.py gather`: comparison tables (Markdown, CSV, JSON) and a plot from cell results.

Generated, never hand-edited; works mid-sweep: cells without a result show as pending, failed
and diverged cells as such. AP values are COCO AP (pycocotools) in points (x100).
"""
import csv
import io
import os
import statistics

from common.coco_stats import STATS
from common.storage import write_atomic, write_json_atomic
from sweep.results import DIVERGED, FAILED, FINISHED, check_result, read_cell_results


def _row(cell, result):
    status = result["status"] if result else "pending"
    row = {"id": cell.id, "block": cell.block, "norm": cell.norm_label, "batch": cell.batch,
           "per_replica": cell.per_replica_batch, "lr_mult": cell.lr_mult, "lr": cell.lr, "steps": cell.steps,
           "seed": cell.seed, "init": cell.init_checkpoint or "scratch", "status": status}
    coco = (result or {}).get("coco") if status == FINISHED else None
    # pycocotools reports -1 for an area range without ground truth (e.g. APl with no object above 96 px)
    row.update({k: (round(100 * coco[k], 2) if coco and coco[k] >= 0 else None) for k in STATS})
    row["wall_s"] = round(result["wall_seconds"], 1) if result and "wall_seconds" in result else None
    row["images_per_s"] = round(result["images_per_second"], 1) if result and result.get("images_per_second") else None
    row["devices"] = _devices((result or {}).get("devices"))
    row["diverged_step"] = (result or {}).get("diverged_step")
    return row


def _devices(record):
    """'2 cpu' / '8 gpu' / '8 gpu (2 physical)': what ran the replicas (detection/strategy.py)."""
    if not record:
        return None
    physical = record.get("physical_gpus")
    split = f" ({physical} physical)" if record["kind"] == "gpu" and physical and physical != record["count"] else ""
    return f"{record['count']} {record['kind']}{split}"


def _mean_std(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def _best(rows):
    """(mean AP, std, lr_mult, seeds) of the best lr multiplier among finished rows, by mean over seeds."""
    by_m = {}
    for r in rows:
        if r["status"] == FINISHED:
            by_m.setdefault(r["lr_mult"], []).append(r["AP"])
    if not by_m:
        return None
    m, aps = max(by_m.items(), key=lambda item: statistics.mean(item[1]))
    mean, std = _mean_std(aps)
    return {"AP": round(mean, 2), "std": round(std, 2), "lr_mult": m, "seeds": len(aps)}


def _cell_text(best, rows):
    if best:
        spread = f" ± {best['std']:.1f}" if best["seeds"] > 1 else ""
        return f"{best['AP']:.1f}{spread} <sub>m={best['lr_mult']:g}</sub>"
    statuses = {r["status"] for r in rows}
    return "diverged" if statuses == {DIVERGED} else "failed" if FAILED in statuses or DIVERGED in statuses else "pending"


def build(name, cells, results_dir):
    results = read_cell_results(results_dir)
    invalid = {c.id: problem for c in cells if c.id in results and (problem := check_result(results[c.id], c))}
    rows = [_row(c, None if c.id in invalid else results.get(c.id)) for c in cells]
    batches = sorted({(r["batch"], r["per_replica"]) for r in rows}, reverse=True)
    main = {}
    for block in dict.fromkeys(r["block"] for r in rows):
        for norm in dict.fromkeys(r["norm"] for r in rows if r["block"] == block):
            for batch, _ in batches:
                group = [r for r in rows if (r["block"], r["norm"], r["batch"]) == (block, norm, batch)]
                if group:
                    main.setdefault(f"{block}: {norm}", {})[batch] = {"best": _best(group), "text": _cell_text(_best(group), group)}
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
                               "finetuned_AP": base and base["AP"], "scratch_AP": best and best["AP"],
                               "scratch_minus_finetuned": round(best["AP"] - base["AP"], 2) if base and best else None})
    paired = _paired(scratch)
    counts = {s: sum(r["status"] == s for r in rows) for s in (FINISHED, FAILED, DIVERGED, "pending")}
    return {"sweep": name, "counts": counts, "invalid": invalid, "batches": batches, "main": main, "finetuned_vs_scratch": versus,
            "frn_paired": paired, "grid": rows}


def _paired(scratch):
    """FRN minus each other norm, paired over seeds at equal (B, m): mean ± std of the differences."""
    keyed = {(r["norm"], r["batch"], r["lr_mult"], r["seed"]): r["AP"] for r in scratch if r["status"] == FINISHED}
    out = []
    for other in sorted({n for n, *_ in keyed if n != "frn"}):
        diffs = [keyed[("frn", b, m, s)] - ap for (n, b, m, s), ap in keyed.items()
                 if n == other and ("frn", b, m, s) in keyed]
        seeds = {s for (n, _, _, s) in keyed if n == other}
        if diffs and len(seeds) > 1:
            mean, std = _mean_std(diffs)
            out.append({"vs": other, "pairs": len(diffs), "mean_diff": round(mean, 2), "std": round(std, 2)})
    return out


def markdown(tables):
    lines = [f"# Sweep `{tables['sweep']}`", "",
             "Generated by `python run_sweep.py gather`; do not edit. COCO AP (pycocotools) x100; "
             "each entry is the best lr multiplier m (mean over seeds ± std when there are several). "
             "An empty APs/APm/APl or ARs/ARm/ARl: no ground-truth object in that size range.", "",
             "Cells: " + ", ".join(f"{v} {k}" for k, v in tables["counts"].items()), ""]
    if tables["invalid"]:
        lines += [f"Ignored {len(tables['invalid'])} result files (shown as pending; a rerun redoes those cells):", ""]
        lines += [f"- `{cell_id}`: {problem}" for cell_id, problem in tables["invalid"].items()] + [""]
    lines += ["## Main table", ""]
    header = "| normalization | " + " | ".join(f"B={b} ({p}/replica)" for b, p in tables["batches"]) + " |"
    lines += [header, "|---" * (len(tables["batches"]) + 1) + "|"]
    for label, by_batch in tables["main"].items():
        lines.append(f"| {label} | " + " | ".join(by_batch.get(b, {}).get("text", "") for b, _ in tables["batches"]) + " |")
    if tables["finetuned_vs_scratch"]:
        lines += ["", "## Fine-tuned BN baseline vs best from-scratch cell", "",
                  "| B | per replica | norm (scratch) | fine-tuned AP | scratch AP | scratch - fine-tuned |", "|---|---|---|---|---|---|"]
        for r in tables["finetuned_vs_scratch"]:
            fmt = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
            lines.append(f"| {r['batch']} | {r['per_replica']} | {r['norm']} | {fmt(r['finetuned_AP'])} | "
                         f"{fmt(r['scratch_AP'])} | {fmt(r['scratch_minus_finetuned'])} |")
    if tables["frn_paired"]:
        lines += ["", "## FRN minus other norms, paired over seeds", "", "| vs | pairs | mean diff | std |", "|---|---|---|---|"]
        lines += [f"| {r['vs']} | {r['pairs']} | {r['mean_diff']:+.2f} | {r['std']:.2f} |" for r in tables["frn_paired"]]
    lines += ["", "## Full grid", "", "| " + " | ".join(GRID_COLUMNS) + " |", "|---" * len(GRID_COLUMNS) + "|"]
    for r in tables["grid"]:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in GRID_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


GRID_COLUMNS = ["id", "block", "norm", "batch", "per_replica", "lr_mult", "lr", "steps", "seed", "init", "status",
                *STATS, "wall_s", "images_per_s", "devices", "diverged_step"]


def csv_text(tables):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=GRID_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(tables["grid"])
    return out.getvalue()


def plot(tables, path):
    """AP vs per-replica batch, one line per normalization (best m), headless."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    per_replica = dict(tables["batches"])
    for label, by_batch in tables["main"].items():
        points = sorted((per_replica[b], v["best"]["AP"]) for b, v in by_batch.items() if v["best"])
        if points:
            ax.plot(*zip(*points), marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("images per replica")
    ax.set_ylabel("COCO AP (x100)")
    ax.set_title(f"sweep {tables['sweep']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, image.getvalue())


def gather(name, cells, results_dir, with_plot=True):
    """Writes tables.md / tables.csv / tables.json (and ap_vs_batch.png); returns the tables."""
    tables = build(name, cells, results_dir)
    write_atomic(os.path.join(results_dir, "tables.md"), markdown(tables))
    write_atomic(os.path.join(results_dir, "tables.csv"), csv_text(tables))
    write_json_atomic(os.path.join(results_dir, "tables.json"), tables, indent=None)
    if with_plot:
        plot(tables, os.path.join(results_dir, "ap_vs_batch.png"))
    return tables
