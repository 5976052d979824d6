"""`run_sweep.py plan`: every cell of a sweep and the totals, without TensorFlow."""


def describe(name, cells, overrides=()):
    """The plan as text lines: one per cell, then the totals. overrides: the --set texts applied."""
    header = f"{'cell':<44} {'norm':<34} {'B':>4} {'B/rep':>5} {'m':>6} {'lr':>9} {'steps':>8}  init"
    lines = [f"sweep {name}: {len(cells)} cells"]
    if overrides:
        lines.append("overrides: " + " ".join(f"--set {text}" for text in overrides))
    lines.append(header)
    for cell in cells:
        lines.append(f"{cell.id:<44} {cell.norm_label:<34} {cell.batch:>4} {cell.per_replica_batch:>5} "
                     f"{cell.lr_mult:>6g} {cell.lr:>9.6g} {cell.steps:>8}  {cell.init_checkpoint or 'scratch'}")
    steps = sum(c.steps for c in cells)
    images = sum(c.steps * c.batch for c in cells)
    lines.append(f"total: {len(cells)} cells, {steps:,} steps, {images:,} training images")
    return lines
