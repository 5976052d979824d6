"""An experiment by name with its overrides, and Model Garden's runner for it with our train actions."""
from official.core import exp_factory, task_factory
from official.modeling import hyperparams

import detection.registry_imports  # noqa: F401  (the tasks and experiments this builds)
from detection import preemption, strategy
from detection.checkpoints import checkpoint_step
from detection.divergence import DivergenceCheck
from detection.multi_worker import ExperimentRunner


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


def build_runner(strat, params, run_dir, mode, loop_times=None):
    """Model Garden's task and trainer for `params` in `run_dir` (ExperimentRunner, detection/multi_worker.py);
    in train mode with our train actions first: divergence (detection/divergence.py), a signal's
    checkpoint (detection/preemption.py) and the loop timer (detection/phases.py)."""
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
