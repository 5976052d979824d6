"""COCO evaluation of a run's model on one split with Model Garden's evaluator, keeping its detections.

The eval runner's controller, model and traced eval step are reused for every split and every
checkpoint: only the dataset, the task's COCO evaluator (ground truth) and the summary folder are
swapped. Each split's result: the 12 COCO stats, per-category AP and the scored detections.
"""
import os

import numpy as np
import orbit
import tensorflow as tf
from official.vision.evaluation import coco_evaluator, coco_utils

from detection import coco_scoring, metrics


class RecordingCOCOEvaluator(coco_evaluator.COCOEvaluator):
    """Model Garden's COCO evaluator that keeps the COCO-format detections it scored."""

    detections = None

    def evaluate(self):
        # the conversion rewrites the boxes in place (yxyx -> xywh): convert a copy, or the
        # evaluator would score doubly converted boxes
        copied = {key: [np.array(batch, copy=True) for batch in batches] for key, batches in self._predictions.items()}
        self.detections = coco_utils.convert_predictions_to_coco_annotations(copied)
        return super().evaluate()


class SplitEvaluator:
    """Scores the eval runner's model on any split, keeping one input pipeline per split (building
    one converts Model Garden's parser with autograph again: 3.4 s a time on 2 cores,
    benchmarks/cell_phases.py; the runner built the reported split's already) and one summary
    writer per folder."""

    def __init__(self, runner, strat, params):
        self.runner, self.strategy, self.params = runner, strat, params
        self.datasets = {params.task.validation_data.input_path: runner.trainer.eval_dataset}
        self.summaries = {}
        # the evaluator's maxDets[2]: the task's max_num_eval_detections (RetinaNet), else COCO's 100
        self.max_detections = getattr(params.task, "max_num_eval_detections", None)

    def __call__(self, input_path, annotation_file, summary_dir, steps=-1):
        """{"coco": 12 stats, "per_category": {name: AP}, "detections": [...]} of one split.

        `summary_dir`: where the eval summaries go (`validation` for the reported split, so AP vs
        step reads back from it; the selection split writes elsewhere).
        """
        task, controller = self.runner.trainer.task, self.runner.controller
        if input_path not in self.datasets:
            data = self.params.task.validation_data.replace(input_path=input_path)
            self.datasets[input_path] = orbit.utils.make_distributed_dataset(self.strategy, task.build_inputs, data)
        self.runner.trainer.eval_dataset = self.datasets[input_path]
        options = {"max_num_eval_detections": self.max_detections} if self.max_detections else {}
        task.coco_metric = RecordingCOCOEvaluator(annotation_file=annotation_file, include_mask=False,
                                                  per_category_metrics=False, **options)
        if summary_dir not in self.summaries:
            self.summaries[summary_dir] = orbit.utils.SummaryManager(summary_dir, tf.summary.scalar,
                                                                     global_step=controller.global_step)
        controller.eval_summary_manager = self.summaries[summary_dir]
        with self.strategy.scope():
            logs = controller.evaluate(steps=steps)
        self.summaries[summary_dir].flush()  # AP vs step is read back from these files
        detections = task.coco_metric.detections or []
        _, per_category = coco_scoring.score(coco_scoring.load_ground_truth(annotation_file),
                                             coco_scoring.to_json_ready(detections), self.max_detections or 100)
        return {"coco": metrics.coco_stats(logs), "per_category": per_category, "detections": detections}


def splits(params, run_dir):
    """(name, input_path, annotation_file, summary_dir) of the reported split and, when the task
    names one, the selection split."""
    found = [("val", params.task.validation_data.input_path, params.task.annotation_file,
              os.path.join(run_dir, "validation"))]
    selection = getattr(params.task, "selection", None)
    if selection is not None and selection.input_path:
        found.append(("select", selection.input_path, selection.annotation_file, os.path.join(run_dir, "selection")))
    return found
