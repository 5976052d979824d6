"""One cell: train with Model Garden's trainer (resuming from the run directory), pausing for AP
points, then evaluate on the chief and record the result (metrics.json)."""
import os

import tensorflow as tf
from official.core import train_utils
from official.modeling import performance

from common.batching import batch_problem
from common.storage import write_json_atomic
from detection import metrics, norm_stats, preemption, strategy
from detection.cell_runner import build_runner
from detection.checkpoint_evaluation import Evaluator, record_evaluation
from detection.checkpoints import roll_back_corrupt_checkpoints
from detection.environment import machine, versions
from detection.phases import PROGRESS_FILE, LoopTimes, PhaseClock
from detection.validate import ConfigError, validate_experiment


def eval_points(params, first_step):
    """The steps before the last at which training pauses for an AP point on the reported split:
    multiples of `trainer.validation_interval` (Model Garden's knob) after `first_step`."""
    total, every = params.trainer.train_steps, params.trainer.validation_interval
    return [step for step in range(every, total, every) if step > first_step] if 0 < every < total else []


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
    runner = build_runner(train_strat, params, run_dir, "train", loop_times)
    loop_times.global_step = runner.trainer.global_step
    first_step = int(runner.trainer.global_step.numpy())
    print(f"{strategy.task_name()}: training from step {first_step}", flush=True)
    clock.mark("build")
    evaluate = Evaluator(params, run_dir, clock)
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
    result = record_evaluation(evaluate(), run_dir, last_step)
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
