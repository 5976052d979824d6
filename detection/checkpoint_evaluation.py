"""COCO evaluation of a run's checkpoints on the chief: the final (and intermediate) scores of a cell,
the result fields they fill, and eval-only re-scoring of a finished run (`detection.train --mode eval`)."""
import json
import os
import time

import tensorflow as tf
from official.modeling import performance

from common.storage import read_text, write_json_atomic
from detection import coco_scoring, evaluation, experiments, metrics, strategy
from detection.cell_runner import build_runner, load_params
from detection.phases import PhaseClock
from detection.validate import ConfigError


class Evaluator:
    """The chief's eval runner, built on first use; evaluates the latest (or a named) checkpoint."""

    def __init__(self, params, run_dir, clock):
        self.params, self.run_dir, self.clock = params, run_dir, clock
        self.runner = self.score = None

    def __call__(self, names=("val", "select"), checkpoint=None):
        if self.runner is None:
            strat = strategy.eval_strategy()
            self.runner = build_runner(strat, self.params, self.run_dir, "eval")
            self.score = evaluation.SplitEvaluator(self.runner, strat, self.params)
            self.clock.mark("eval_build")
        # the manager's latest_checkpoint is read once, when it is built: name the checkpoint
        # expect_partial: the eval runner has no optimizer, whose slots every training checkpoint holds
        with self.runner.controller.strategy.scope():
            self.runner.controller.checkpoint_manager.checkpoint.restore(
                checkpoint or tf.train.latest_checkpoint(self.run_dir)).expect_partial()
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


def record_evaluation(found, run_dir, step):
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
    evaluate = Evaluator(params, run_dir, clock)
    found = evaluate(checkpoint=checkpoint)
    path = os.path.join(run_dir, "metrics.json")
    result = json.loads(read_text(path)) if tf.io.gfile.exists(path) else {"params": params.as_dict()}
    result.update(record_evaluation(found, run_dir, evaluate.step))
    result["eval_seconds"] = clock.total("eval_")
    write_json_atomic(path, result)
    return result
