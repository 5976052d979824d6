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
"""
import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata

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

import tensorflow as tf  # noqa: E402
from official.core import exp_factory, task_factory, train_utils  # noqa: E402
from official.modeling import hyperparams, performance  # noqa: E402

import detection.registry_imports  # noqa: E402,F401
from common.batching import batch_problem  # noqa: E402
from common.storage import read_text, write_json_atomic  # noqa: E402
from detection import coco_scoring, evaluation, experiments, metrics, norm_stats, preemption, strategy  # noqa: E402
from detection.divergence import DivergenceCheck  # noqa: E402
from detection.multi_worker import ExperimentRunner  # noqa: E402
from detection.phases import PROGRESS_FILE, LoopTimes, PhaseClock  # noqa: E402
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


def _runner(strat, params, run_dir, mode, loop_times=None):
    task = task_factory.get_task(params.task, logging_dir=run_dir)
    if mode == "train" and hasattr(task, "resume_step"):
        task.resume_step = checkpoint_step(run_dir)
    runner = ExperimentRunner(distribution_strategy=strat, task=task, mode=mode, params=params, model_dir=run_dir)
    if mode == "train":  # run before Model Garden's own train actions (orbit calls them in order)
        step = runner.trainer.global_step
        multi_worker = strategy.cluster_workers() > 1
        preemption.stop_between_steps(runner.trainer, multi_worker)
        on_signal = preemption.CheckpointOnSignal(
            runner.controller.checkpoint_manager, step, run_dir if strategy.is_chief() else None,
            preemption.agree_across_workers(strat) if multi_worker else None)
        runner.controller.train_actions = [DivergenceCheck(step, params.trainer.loss_upper_bound), on_signal,
                                           *([loop_times] if loop_times else []),
                                           *runner.controller.train_actions]
    return runner


def eval_points(params, first_step):
    """The steps before the last at which training pauses for an AP point on the reported split:
    multiples of `trainer.validation_interval` (Model Garden's knob) after `first_step`."""
    total, every = params.trainer.train_steps, params.trainer.validation_interval
    return [step for step in range(every, total, every) if step > first_step] if 0 < every < total else []


class _Evaluator:
    """The chief's eval runner, built on first use; evaluates the latest (or a named) checkpoint."""

    def __init__(self, params, run_dir, clock):
        self.params, self.run_dir, self.clock = params, run_dir, clock
        self.runner = self.score = None

    def __call__(self, names=("val", "select"), checkpoint=None):
        if self.runner is None:
            strat = strategy.eval_strategy()
            self.runner = _runner(strat, self.params, self.run_dir, "eval")
            self.score = evaluation.SplitEvaluator(self.runner, strat, self.params)
            self.clock.mark("eval_build")
        # the manager's latest_checkpoint is read once, when it is built: name the checkpoint
        self.runner.controller.restore_checkpoint(checkpoint or tf.train.latest_checkpoint(self.run_dir))
        found = {}
        for name, path, annotations, summaries in evaluation.splits(self.params, self.run_dir):
            if name in names:
                steps = self.params.trainer.validation_steps if name == "val" else -1
                found[name] = self.score(path, annotations, summaries, steps)
                self.clock.mark("eval_" + name)
        return found

    @property
    def step(self):
        return int(self.runner.controller.global_step.numpy())


def _record_evaluation(found, run_dir, step):
    """The result fields of a final evaluation; the detections go to the run directory (gzip COCO JSON)."""
    for name, split in found.items():
        coco_scoring.save_detections(os.path.join(run_dir, f"detections_{name}.json.gz"), split["detections"])
    val, select = found["val"], found.get("select")
    ap_curve = metrics.scalar_curves(os.path.join(run_dir, "validation")).get("AP", [])
    return {
        "coco": val["coco"],
        "coco_selection": select and select["coco"],
        "per_category": val["per_category"],
        "per_category_selection": select and select["per_category"],
        "ap_curve": [[s, ap] for s, ap in ap_curve if s <= step],
        "eval_step": step,
        "detections": {name: f"detections_{name}.json.gz" for name in found},
    }


def run_cell(params, run_dir, replicas=None, clock=None):
    """Trains (resuming from `run_dir`'s latest checkpoint) and evaluates; returns the metrics dict.

    With `trainer.validation_interval` below `train_steps`, training pauses at its multiples for
    an AP point on the reported split (the result's `ap_curve`); `coco` is always the final step's.
    """
    clock = clock or PhaseClock()
    clock.mark("startup")
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
        roll_back_corrupt_checkpoints(run_dir)
    progress = (os.path.join(run_dir, PROGRESS_FILE), params.trainer.train_steps, batch) if strategy.is_chief() else None
    loop_times = LoopTimes(None, progress)
    runner = _runner(train_strat, params, run_dir, "train", loop_times)
    loop_times.global_step = runner.trainer.global_step
    first_step = int(runner.trainer.global_step.numpy())
    print(f"{strategy.task_name()}: training from step {first_step}", flush=True)
    clock.mark("build")
    evaluate = _Evaluator(params, run_dir, clock)
    train_seconds = 0.0
    for target in eval_points(params, first_step) + [params.trainer.train_steps]:
        loop_times.start()
        with train_strat.scope():
            runner.controller.train(steps=target)  # raises Diverged (detection/divergence.py)
            if target < params.trainer.train_steps:
                runner.controller.save_checkpoint()  # every worker: a multi-worker save is collective
        train_seconds += clock.mark("train") - loop_times.segments[-1][0][0]
        if target < params.trainer.train_steps and strategy.is_chief():
            point = evaluate(names=("val",))["val"]["coco"]["AP"]
            print(f"step {target}: AP {100 * point:.1f} on the reported split", flush=True)
    last_step = int(runner.trainer.global_step.numpy())
    if not strategy.is_chief():
        return {}
    result = _record_evaluation(evaluate(), run_dir, last_step)
    curves = metrics.scalar_curves(os.path.join(run_dir, "train"))
    losses = {tag: points for tag, points in curves.items() if tag.endswith("loss")}
    steady, trace, steady_total = loop_times.split()
    result.update({
        "losses": losses,
        "final_loss": losses["total_loss"][-1][1] if losses.get("total_loss") else None,
        "steps": last_step,
        "steps_this_run": last_step - first_step,
        "preemptions": preemption.read_records(run_dir),  # saves on a signal before this run, and where
        "replicas": n,
        "group_norm": norm_stats.group_norm_stats(runner.trainer.model),  # channels per group (GN paper Sec. 3.1)
        "devices": strategy.device_record(train_strat),
        "global_batch_size": batch,
        "per_replica_batch_size": batch // n,
        "train_seconds": train_seconds,
        "eval_seconds": clock.total("eval_"),
        "images_per_second": (last_step - first_step) * batch / train_seconds if last_step > first_step else None,
        "steady_step_seconds": steady,
        "steady_train_seconds": steady_total,  # benchmarks/cell_phases.py: training minus tracing and excess
        "versions": versions(),
        "machine": machine(),
        "params": params.as_dict(),
    })
    clock.mark("record")
    result["phases"] = dict(clock.phases, trace=trace)
    write_json_atomic(os.path.join(run_dir, "metrics.json"), result)
    return result


def load_run_params(run_dir):
    """The resolved config a run trained with (its params.yaml), under whichever of our
    experiments it fits strictly."""
    path = os.path.join(run_dir, "params.yaml")
    if not tf.io.gfile.exists(path):
        raise ConfigError(f"{run_dir} has no params.yaml: not a run directory of detection.train")
    errors = []
    for name in experiments.NAMES:
        try:
            return load_params(name, config_files=[path])
        except (KeyError, ValueError, AttributeError) as error:
            errors.append(f"{name}: {error}")
    raise ConfigError(f"{path} fits none of our experiments: {'; '.join(errors)}")


def evaluate_run(run_dir, checkpoint=None):
    """Eval only: scores the run's latest (or the named) checkpoint with its params.yaml and
    updates its metrics.json (training fields kept); returns the metrics dict."""
    clock = PhaseClock(time.time())
    params = load_run_params(run_dir)
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype or "float32")
    if checkpoint is None and not tf.train.latest_checkpoint(run_dir):
        raise ConfigError(f"{run_dir} has no checkpoint to evaluate")
    evaluate = _Evaluator(params, run_dir, clock)
    found = evaluate(checkpoint=checkpoint)
    path = os.path.join(run_dir, "metrics.json")
    result = json.loads(read_text(path)) if tf.io.gfile.exists(path) else {"params": params.as_dict()}
    result.update(_record_evaluation(found, run_dir, evaluate.step))
    result["eval_seconds"] = clock.total("eval_")
    write_json_atomic(path, result)
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
