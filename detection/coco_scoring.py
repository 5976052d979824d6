"""COCO box scoring of saved detections, as Model Garden's COCOEvaluator scores them.

Model Garden's protocol (official/vision/evaluation/coco_evaluator.py): pycocotools' COCOeval on
the images that have detections, maxDets[2] = max_num_eval_detections. Per-category AP is the
same average as AP (over IoU thresholds 0.50:0.95 and 101 recall points, area `all`, the last
maxDets) restricted to one category; over the categories with ground truth it averages to AP.
Pure pycocotools: any COCO tool can re-score the saved files the same way.
"""
import contextlib
import gzip
import io
import json

import numpy as np
import tensorflow as tf
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def to_json_ready(detections):
    """Model Garden's COCO annotations (numpy scalars and arrays) as plain JSON values; floats
    exact (float32 -> float64 -> repr), so a re-score ranks and matches them as the evaluator did."""
    return [{"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
             "bbox": [float(v) for v in d["bbox"]], "score": float(d["score"])}
            for d in detections]


def save_detections(path, detections):
    """Writes COCO results JSON, gzip-compressed, through tf.io.gfile (local paths or gs://)."""
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(gzip.compress(json.dumps(to_json_ready(detections)).encode()))


def load_detections(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return json.loads(gzip.decompress(f.read()))


def load_ground_truth(annotation_file):
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        with tf.io.gfile.GFile(annotation_file) as f:
            dataset = json.load(f)
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
    return coco


def score(ground_truth, detections, max_dets=100):
    """(12 COCO stats as a list, {category name: AP}) of `detections` against a COCO object."""
    with contextlib.redirect_stdout(io.StringIO()):
        results = ground_truth.loadRes(detections) if detections else COCO()
        evaluation = COCOeval(ground_truth, results, iouType="bbox")
        evaluation.params.imgIds = [d["image_id"] for d in detections]
        evaluation.params.maxDets[2] = max_dets
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # precision: [IoU thresholds, recall points, categories, areas, maxDets]; -1 where no ground truth
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    per_category = {}
    for k, category_id in enumerate(evaluation.params.catIds):
        valid = precision[:, :, k][precision[:, :, k] > -1]
        if valid.size:
            per_category[ground_truth.cats[category_id]["name"]] = float(np.mean(valid))
    return [float(s) for s in evaluation.stats], per_category
