"""results/<sweep>/curves.png: training loss and AP vs step, one line per cell, one colour per norm.

The AP points are the cell's evaluations during training (`scaling.evals`); the last one is the
AP the tables report (never the best step's). Cells without curves (pending, or recorded before
curves were kept) are left out.
"""

from sweep.reports.figures import save_png
from sweep.store.status import FINISHED


def series(cells, results):
    """[(norm label, cell id, loss points, AP points)] of the finished cells, in grid order."""
    found = []
    for cell in cells:
        result = results.get(cell.id) or {}
        if result.get("status") != FINISHED:
            continue
        loss = (result.get("losses") or {}).get("total_loss") or []
        ap = result.get("ap_curve") or ([[result["steps"], result["coco"]["AP"]]] if result.get("coco") else [])
        found.append((cell.norm_label, cell.id, loss, ap))
    return found


def plot(cells, results, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lines = series(cells, results)
    colours = {norm: f"C{i % 10}" for i, norm in enumerate(dict.fromkeys(norm for norm, *_ in lines))}
    fig, (loss_ax, ap_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    labelled = set()
    for norm, _, loss, ap in lines:
        if loss:  # the legend names each norm once, on its first drawn loss curve
            label = None if norm in labelled else norm
            labelled.add(norm)
            loss_ax.plot(*zip(*loss), color=colours[norm], alpha=0.6, linewidth=0.9, label=label)
        if ap:
            steps, values = zip(*ap)
            ap_ax.plot(steps, [100 * v for v in values], color=colours[norm], alpha=0.6, marker=".", linewidth=0.9)
            ap_ax.plot(steps[-1:], [100 * values[-1]], color=colours[norm], marker="o")  # the reported AP
    loss_ax.set_yscale("log")
    loss_ax.set(xlabel="step", ylabel="training loss (total)")
    ap_ax.set(xlabel="step", ylabel="COCO AP x100 (reported split)")
    for ax in (loss_ax, ap_ax):
        ax.grid(alpha=0.3)
    if labelled:
        loss_ax.legend(fontsize=7)
    fig.suptitle(f"{title}: one line per cell; large dot = the final AP the tables report", fontsize=9)
    save_png(fig, path, dpi=100)
