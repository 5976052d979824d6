"""One cell: train a detector experiment with Model Garden's trainer, then COCO-evaluate it.

    python -m detection.train --experiment frn_retinanet_embedded --run_dir runs/demo --replicas 4 \\
        --params_override 'task.model.backbone.resnet_v1.norm_activation.norm=frn'

    python -m detection.train --mode eval --run_dir runs/demo [--checkpoint runs/demo/ckpt-400]

The run directory gets checkpoints (resumed from on a rerun), TensorBoard summaries, the
resolved `params.yaml`, `metrics.json` (12 COCO stats and per-category AP of each split, AP vs
step, losses, steps, wall time per phase, images/s, versions) and the scored detections
(`detections_<split>.json.gz`, COCO results format). `--mode eval` re-scores a checkpoint.
Training uses `--replicas` emulated CPU replicas (or the runtime's GPUs/workers/TPU); COCO
evaluation runs on one device of the chief.

This file is the entry point only (Model Garden's `official/projects/*/train.py` shape): the
registrations (detection/registry_imports.py), the experiment with its overrides and Model Garden's
runner (detection/cell_runner.py), training and the result (detection/cell_training.py), checkpoint
evaluation and eval mode (detection/checkpoint_evaluation.py), checkpoint repair
(detection/checkpoints.py), what a result records of the machine (detection/environment.py).
"""
import argparse
import json
import sys

from common.legacy_keras import use_legacy_keras


def parse_args(argv=None):
    """The command line; defined before the TensorFlow imports so that `--help` and a bad option
    (`python -m detection.train ...`) answer without starting TensorFlow."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("train", "eval"), default="train",
                        help="eval: score the run directory's latest (or --checkpoint) checkpoint with its "
                             "params.yaml, no training; updates its metrics.json")
    parser.add_argument("--experiment", help="an experiment name (train mode)")
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--checkpoint", default=None, help="eval mode: a checkpoint prefix (default: the latest)")
    parser.add_argument("--replicas", type=int, default=None,
                        help="per-replica BN groups: GPUs (split into logical GPUs if fewer), CPU devices or workers")
    parser.add_argument("--config_file", action="append", default=[])
    parser.add_argument("--params_override", action="append", default=[])
    args = parser.parse_args(argv)
    if args.mode == "train" and not args.experiment:
        parser.error("--experiment is required in train mode")
    return args


if __name__ == "__main__":
    parse_args()  # --help, a missing or bad option: exits here, before TensorFlow is imported


use_legacy_keras()

import detection.registry_imports  # noqa: E402,F401  (Model Garden learns our backbones, tasks, experiments)
from detection import strategy  # noqa: E402
from detection.cell_runner import load_params  # noqa: E402
from detection.cell_training import run_cell  # noqa: E402
from detection.checkpoint_evaluation import evaluate_run  # noqa: E402
from detection.validate import ConfigError, validate_experiment  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.mode == "eval":
            result = evaluate_run(args.run_dir, args.checkpoint)
            print(json.dumps({"coco": result["coco"], "eval_step": result["eval_step"]}))
            return 0
        if args.replicas:
            strategy.configure_devices(args.replicas)  # before anything starts TensorFlow's runtime
        params = load_params(args.experiment, args.params_override, args.config_file)
        validate_experiment(params, args.replicas, experiment=args.experiment)
        result = run_cell(params, args.run_dir, args.replicas)
    except (ConfigError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result:
        print(json.dumps({"coco": result["coco"], "steps": result["steps"], "final_loss": result["final_loss"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
