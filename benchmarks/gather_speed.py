"""Times `run_sweep.py gather` over 1,000 synthetic cell results (target: under 1 s).

    python -m benchmarks.gather_speed [--cells-per-norm 100] [--repeats 5]

The grid is 10 norms x 4 batch sizes x 5 lr multipliers x 5 seeds = 1,000 cells, with random COCO
stats; 5% of the cells failed, 3% diverged and 2% have no result yet (pending). The baseline, timed
in the same run, is the floor any gather pays: reading and parsing the 1,000 JSON files.
Prints the median of each and their ratio. No TensorFlow is imported.
"""
import argparse
import os
import random
import statistics
import tempfile
import time

from common.storage import write_json_atomic
from sweep.grid.spec import parse
from sweep.reports import tables
from sweep.store.layout import cell_result_path
from sweep.store.results import RESULT_FORMAT, read_cell_results
from sweep.store.status import DIVERGED, FAILED, FINISHED

NORMS = ["bn", "sync_bn", "frozen_bn", "batch_renorm", "gn", "ln", "in", "frn", "frn_relu", "frn_learned_eps"]
SWEEP = {"sweep": "gather_bench", "detector": "retinanet", "data": "embedded",
         "base": {"replicas": 8},
         "scaling": {"base_batch": 64, "base_steps": 125000},
         "blocks": {"scratch": {"grid": {"norm": NORMS, "batch": [64, 32, 16, 8],
                                         "lr_mult": [0.01, 0.03, 0.05, 0.1, 0.2], "seed": [0, 1, 2, 3, 4]}}}}


def synthetic_results(cells, results_dir, seed=0):
    rng = random.Random(seed)
    for cell in cells:
        draw = rng.random()
        if draw < 0.02:
            continue  # pending: no result yet
        status = FAILED if draw < 0.07 else DIVERGED if draw < 0.10 else FINISHED
        result = {"status": status, "id": cell.id, "cell": cell.as_dict(), "wall_seconds": rng.uniform(100, 900),
                  "format": RESULT_FORMAT}
        if status == FINISHED:
            result.update(coco={k: rng.uniform(0, 0.5) for k in tables.STATS}, images_per_second=rng.uniform(5, 50),
                          steps=cell.steps, final_loss=rng.uniform(0.3, 1.0))
        elif status == DIVERGED:
            result["diverged_step"] = rng.randrange(cell.steps)
        write_json_atomic(cell_result_path(results_dir, cell.id), result)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sweep = parse(SWEEP)
    name, cells = sweep.name, sweep.cells
    with tempfile.TemporaryDirectory() as root:
        results_dir = os.path.join(root, name)
        synthetic_results(cells, results_dir)
        floor = median_time(lambda: read_cell_results(results_dir), args.repeats)
        no_plot = median_time(lambda: tables.gather(name, cells, results_dir, with_plot=False), args.repeats)
        full = median_time(lambda: tables.gather(name, cells, results_dir), args.repeats)
        counts = tables.build(name, cells, results_dir)["counts"]
    print(f"{len(cells)} cells ({counts}); median of {args.repeats}")
    print(f"read + parse the cell JSONs (baseline): {floor * 1000:8.1f} ms")
    print(f"gather, tables only (md, csv, json):    {no_plot * 1000:8.1f} ms  ({no_plot / floor:.1f}x baseline)")
    print(f"gather with the PNG plot:               {full * 1000:8.1f} ms  ({full / floor:.1f}x baseline)")
    print(f"target under 1 s: {'met' if full < 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
