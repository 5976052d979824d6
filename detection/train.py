"""One cell: train a detector experiment with Model Garden's trainer, then COCO-evaluate it.

    python -m detection.train --experiment frn_retinanet_embedded --run_dir runs/demo --replicas 4 \\
        --params_override 'task.model.backbone.resnet_v1.norm_activation.norm=frn'

The run directory gets checkpoints (resumed from on a rerun), TensorBoard summaries, the
resolved `params.yaml` and `metrics.json`: 12 COCO stats, losses, steps, wall time, images/s,
versions. Training uses `--replicas` emulated CPU replicas (or the runtime's GPUs/workers/TPU);
COCO evaluation runs on one device of the chief.
"""
import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata

from common.legacy_keras import use_legacy_keras

use_legacy_keras()

import orbit  # noqa: E402
import tensorflow as tf  # noqa: E402
from official.core import exp_factory, task_factory, train_utils  # noqa: E402
from official.modeling import hyperparams, performance  # noqa: E402
from official.vision.evaluation import coco_evaluator  # noqa: E402

import detection.registry_imports  # noqa: E402,F401
from common.batching import batch_problem  # noqa: E402
from common.storage import write_json_atomic  # noqa: E402
from detection import metrics, strategy  # noqa: E402
from detection.divergence import DivergenceCheck  # noqa: E402
from detection.multi_worker import ExperimentRunner  # noqa: E402
from detection.preemption import CheckpointOnSignal  # noqa: E402
from detection.validate import ConfigError, validate_experiment  # noqa: E402

PACKAGES = ("tensorflow", "tf-keras", "tf-models-official", "numpy", "pycocotools")


def versions():
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine():
    """The CPU model and core count: AP moves with the CPU (bitwise-different kernels), so every
    result names the machine it came from."""
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "system": platform.system()}


def _readable(checkpoint):
    """Whether every tensor of `checkpoint` reads back (a truncated index or data file does not)."""
    try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
        return True
    except Exception:  # DataLossError, NotFoundError, or IndexError ("Read less bytes than requested")
        return False


def roll_back_corrupt_checkpoints(run_dir, log=print):
    """Moves unreadable checkpoints of `run_dir` aside (newest first) so training resumes from the
    newest good one, or from scratch when none is good; returns the moved checkpoint prefixes."""
    state = tf.train.get_checkpoint_state(run_dir)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    paths = [p if os.path.isabs(p) or "://" in p else os.path.join(run_dir, p) for p in paths]
    moved = []
    while paths and not _readable(paths[-1]):
        bad = paths.pop()
        for name in tf.io.gfile.glob(bad + ".*"):
            tf.io.gfile.rename(name, os.path.join(os.path.dirname(name), "corrupt-" + os.path.basename(name)),
                               overwrite=True)
        moved.append(bad)
        log(f"checkpoint {bad} is unreadable (truncated or corrupt); moved aside as corrupt-*, "
            f"resuming from {paths[-1] if paths else 'scratch'}")
    if moved:
        if paths:
            tf.compat.v1.train.update_checkpoint_state(run_dir, paths[-1], all_model_checkpoint_paths=paths)
        else:
            tf.io.gfile.remove(os.path.join(run_dir, "checkpoint"))
    return moved


def checkpoint_step(run_dir):
    """The global step of `run_dir`'s latest checkpoint (0 when there is none)."""
    latest = tf.train.latest_checkpoint(run_dir)
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _runner(strat, params, run_dir, mode):
    task = task_factory.get_task(params.task, logging_dir=run_dir)
    if mode == "train" and hasattr(task, "resume_step"):
        task.resume_step = checkpoint_step(run_dir)
    runner = ExperimentRunner(distribution_strategy=strat, task=task, mode=mode, params=params, model_dir=run_dir)
    if mode == "train":  # run before Model Garden's own train actions (orbit calls them in order)
        step = runner.trainer.global_step
        runner.controller.train_actions = [DivergenceCheck(step, params.trainer.loss_upper_bound),
                                           CheckpointOnSignal(runner.controller.checkpoint_manager, step),
                                           *runner.controller.train_actions]
    return runner


def _evaluate_selection(evaluator, eval_strat, params):
    """COCO stats on the selection split (task.selection), or None when the experiment has none.

    Reuses the evaluator's model and traced eval step: only its dataset and the task's COCO
    evaluator (the ground truth) are swapped, then the whole split is evaluated.
    """
    selection = params.task.selection
    if not selection.input_path:
        return None
    task = evaluator.trainer.task
    data = params.task.validation_data.replace(input_path=selection.input_path)
    evaluator.trainer.eval_dataset = orbit.utils.make_distributed_dataset(eval_strat, task.build_inputs, data)
    limit = getattr(params.task, "max_num_eval_detections", None)  # RetinaNet's task has it, Mask R-CNN's does not
    options = {} if limit is None else {"max_num_eval_detections": limit}
    task.coco_metric = coco_evaluator.COCOEvaluator(annotation_file=selection.annotation_file, include_mask=False,
                                                    per_category_metrics=params.task.per_category_metrics, **options)
    return evaluator.controller.evaluate(steps=-1)


def run_cell(params, run_dir, replicas=None):
    """Trains (resuming from `run_dir`'s latest checkpoint) and evaluates; returns the metrics dict."""
    validate_experiment(params, replicas)
    # Model Garden's entry point sets the policy from runtime.mixed_precision_dtype; so do we.
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype or "float32")
    tf.io.gfile.makedirs(run_dir)
    train_strat = strategy.train_strategy(params.runtime, replicas)
    n = train_strat.num_replicas_in_sync
    if replicas and n != replicas:  # the study's variable: never trained under another count
        raise ConfigError(f"the strategy runs {n} replicas, the cell asks for {replicas} "
                          f"(devices: {strategy.device_record(train_strat)['devices']})")
    batch = params.task.train_data.global_batch_size
    if batch_problem(batch, n):
        raise ConfigError(f"task.train_data.global_batch_size {batch_problem(batch, n)}")
    if strategy.is_chief():
        train_utils.serialize_config(params, run_dir)  # params.yaml, the resolved config

    if strategy.is_chief():
        roll_back_corrupt_checkpoints(run_dir)
    start = time.time()
    runner = _runner(train_strat, params, run_dir, "train")
    first_step = int(runner.trainer.global_step.numpy())
    print(f"{strategy.task_name()}: training from step {first_step}", flush=True)
    with train_strat.scope():
        runner.controller.train(steps=params.trainer.train_steps)  # raises Diverged (detection/divergence.py)
    last_step = int(runner.trainer.global_step.numpy())
    train_seconds = time.time() - start
    if not strategy.is_chief():
        return {}

    start = time.time()
    eval_strat = strategy.eval_strategy()
    evaluator = _runner(eval_strat, params, run_dir, "eval")
    with eval_strat.scope():
        eval_logs = evaluator.controller.evaluate(steps=params.trainer.validation_steps)
        selection_logs = _evaluate_selection(evaluator, eval_strat, params)
    eval_seconds = time.time() - start

    curves = metrics.scalar_curves(os.path.join(run_dir, "train"))
    losses = {tag: points for tag, points in curves.items() if tag.endswith("loss")}
    result = {
        "coco": metrics.coco_stats(eval_logs),
        "coco_selection": selection_logs and metrics.coco_stats(selection_logs),
        "losses": losses,
        "final_loss": losses["total_loss"][-1][1] if losses.get("total_loss") else None,
        "steps": last_step,
        "steps_this_run": last_step - first_step,
        "replicas": n,
        "devices": strategy.device_record(train_strat),
        "global_batch_size": batch,
        "per_replica_batch_size": batch // n,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "images_per_second": (last_step - first_step) * batch / train_seconds if last_step > first_step else None,
        "versions": versions(),
        "machine": machine(),
        "params": params.as_dict(),
    }
    write_json_atomic(os.path.join(run_dir, "metrics.json"), result)
    return result


def load_params(experiment, overrides=(), config_files=()):
    """An experiment by name with YAML files and `a.b=c` overrides applied strictly."""
    params = exp_factory.get_exp_config(experiment)
    for path in config_files:
        params = hyperparams.override_params_dict(params, path, is_strict=True)
    for override in overrides:
        params = hyperparams.override_params_dict(params, override, is_strict=True)
    params.validate()
    params.lock()
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--replicas", type=int, default=None,
                        help="per-replica BN groups: GPUs (split into logical GPUs if fewer), CPU devices or workers")
    parser.add_argument("--config_file", action="append", default=[])
    parser.add_argument("--params_override", action="append", default=[])
    args = parser.parse_args(argv)
    try:
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
