"""Child process of a sweep: runs one cell and writes its result file (finished/failed/diverged).

    python -m detection.sweep.cell_main --cell runs/<sweep>/<id>/cell.json --result results/<sweep>/cells/<id>.json

cell.json: {"cell": the Cell as a dict, "init_checkpoint": its resolved checkpoint (the pretrain
step's directory for init_checkpoint: pretrain)}.
"""
import argparse
import json
import math
import os
import time
import traceback

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _diverged_step(run_dir):
    """The first summary step whose training loss is NaN or inf, or None."""
    from detection import metrics
    for tag, points in metrics.scalar_curves(os.path.join(run_dir, "train")).items():
        if tag.endswith("loss"):
            for step, value in points:
                if not math.isfinite(value):
                    return step
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cell", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    with open(args.cell) as f:
        spec = json.load(f)  # {"cell": Cell.as_dict(), "init_checkpoint": the resolved checkpoint}
    cell = spec["cell"]
    run_dir = os.path.dirname(os.path.abspath(args.cell))
    from detection import strategy
    if cell["replicas"] > 1:
        strategy.split_cpu(cell["replicas"])  # before anything starts TensorFlow's runtime
    from detection.sweep.results import DIVERGED, FAILED, FINISHED, RESULT_FORMAT, write_json_atomic
    start = time.time()
    result = {"cell": cell, "id": os.path.basename(run_dir), "format": RESULT_FORMAT,
              "init_checkpoint": spec["init_checkpoint"]}
    try:
        import tf_keras
        from detection.sweep.cell_params import experiment_config
        from detection.train import run_cell
        tf_keras.utils.set_random_seed(cell["seed"])
        params = experiment_config(dict(cell, init_checkpoint=spec["init_checkpoint"]))
        metrics = run_cell(params, run_dir, replicas=cell["replicas"])
        losses = [v for points in metrics["losses"].values() for _, v in points]
        diverged = _diverged_step(run_dir) if not all(math.isfinite(v) for v in losses) else None
        result.update(metrics, status=DIVERGED if diverged is not None else FINISHED, diverged_step=diverged)
    except Exception as error:  # recorded, and the sweep goes on with the next cell
        step = error.step if type(error).__name__ == "Diverged" else _diverged_step(run_dir)  # detection.train.Diverged
        result.update(status=DIVERGED if step is not None else FAILED, diverged_step=step,
                      error=f"{type(error).__name__}: {error}"[:1000], traceback=traceback.format_exc()[-4000:])
    result["wall_seconds"] = time.time() - start
    write_json_atomic(args.result, result)
    print(json.dumps({"status": result["status"], "AP": result.get("coco", {}).get("AP")}))
    return 0 if result["status"] == FINISHED else 1


if __name__ == "__main__":
    from detection.sweep.child_exit import exit_now
    exit_now(main())
