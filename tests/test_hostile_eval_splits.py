"""Converted splits that cannot be evaluated are refused by `run`'s checks before anything trains.

Each case points the tiny experiment's validation (or selection) split at broken data and calls
validate_experiment, what preflight runs for every cell: one line naming the file, the bad value
and what is valid. The records' ids and labels are parsed, no image is decoded. Through the CLI
(exit 2, nothing written): tests/test_sweep_hostile_inputs.py.
"""
import json
import shutil

import pytest
import tensorflow as tf

from detection.data import split_checks
from detection.validate import ConfigError, validate_experiment
from tests.detection_data import tiny_dataset, tiny_experiment


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("splits") / "data")


def _val_json(data, tmp_path, change):
    """The tiny val JSON changed by `change(coco)`, written to tmp_path."""
    coco = json.loads(open(data.annotations("val")).read())
    change(coco)
    path = tmp_path / "val_changed.json"
    path.write_text(json.dumps(coco))
    return str(path)


def _shift_ids(coco):
    for entry in coco["images"]:
        entry["id"] += 1000
    for entry in coco["annotations"]:
        entry["image_id"] += 1000


def _val_labels(data):
    return sorted(split_checks.read(tf.io.gfile.glob(data.tfrecords("val"))[0]).labels)


def _without_categories(coco, ids):
    coco["categories"] = [c for c in coco["categories"] if c["id"] not in ids]
    coco["annotations"] = [a for a in coco["annotations"] if a["category_id"] not in ids]


def _empty_records(data, tmp_path):
    with tf.io.TFRecordWriter(str(tmp_path / "empty.tfrecord")):
        pass
    return {"validation_data": str(tmp_path / "empty.tfrecord")}


def _copied_shard(data, tmp_path):
    source = tf.io.gfile.glob(data.tfrecords("val"))[0]
    shutil.copy(source, tmp_path / "copy-00000-of-00001.tfrecord")
    return {"validation_data": f"{data.tfrecords('val')},{tmp_path / 'copy-00000-of-00001.tfrecord'}"}


def _other_source_id(data, tmp_path):
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff\xd8"])),
        "image/source_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"img_7"]))}))
    with tf.io.TFRecordWriter(str(tmp_path / "named.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    return {"validation_data": str(tmp_path / "named.tfrecord")}


# case: (f(data, tmp_path) -> {what _configured changes: value}, needles of the one line)
REFUSED = {
    "empty val set": (_empty_records, ["task.validation_data.input_path", "empty.tfrecord", "file(s) hold no records"]),
    "val JSON of another split (other ids)": (
        lambda d, t: {"annotation_file": _val_json(d, t, _shift_ids)},
        ["val-00000-of-00001.tfrecord has image id 1 (8 of its 8 ids in all) that task.annotation_file",
         "(its image ids: 1001..1008, 8 images): the annotation file of another split?"]),
    "val JSON of another split (same ids)": (
        lambda d, t: {"annotation_file": d.annotations("train")},
        ["has image id 1 as 'val_00001.jpg', task.annotation_file", "lists it as 'train_00001.jpg'"]),
    "val without boxes": (lambda d, t: {"annotation_file": _val_json(d, t, lambda c: c["annotations"].clear())},
                          ["its 8 images have no boxes in task.annotation_file", "COCO AP is undefined"]),
    "val with crowd boxes only": (
        lambda d, t: {"annotation_file": _val_json(d, t, lambda c: [a.update(iscrowd=1) for a in c["annotations"]])},
        ["have no boxes", "crowd boxes only, which COCO evaluation ignores"]),
    "category id >= num_classes": (
        lambda d, t: {"annotation_file": _val_json(d, t, lambda c: _without_categories(c, {max(_val_labels(d))})),
                      "num_classes": max(_val_labels(d)), "selection": ""},
        ["task.model.num_classes", "has boxes of category id", "valid: ids 1 to"]),
    "record category not in the JSON's categories": (
        lambda d, t: {"annotation_file": _val_json(d, t, lambda c: _without_categories(c, {_val_labels(d)[0]}))},
        ["has boxes of category id", "which task.annotation_file", "does not list in 'categories'"]),
    "the same images twice (a copied shard)": (_copied_shard, ["is in", "and again in", "each image once"]),
    "a source id that is not an integer": (_other_source_id, ["has image/source_id 'img_7', not an integer"]),
    "val annotation without bbox (segmentation only)": (
        lambda d, t: {"annotation_file": _val_json(d, t, lambda c: c["annotations"][0].pop("bbox"))},
        ["task.annotation_file", "annotation id 1 lacks bbox (each entry of 'annotations' needs"]),
    "float image id in the val JSON": (
        lambda d, t: {"annotation_file": _val_json(d, t, lambda c: c["images"][0].update(id=1.0))},
        ["task.annotation_file", "image id 1.0 is not an integer"]),
    "selection JSON of another split": (
        lambda d, t: {"selection_annotations": d.annotations("val")},
        ["task.selection.input_path", "task.selection.annotation_file", "the annotation file of another split?"]),
}


def _configured(data, change):
    config = tiny_experiment("frn_retinanet_embedded", data, "frn")
    task = config.task
    task.validation_data.input_path = change.get("validation_data", task.validation_data.input_path)
    task.annotation_file = change.get("annotation_file", task.annotation_file)
    task.selection.input_path = change.get("selection", task.selection.input_path)
    task.selection.annotation_file = change.get("selection_annotations", task.selection.annotation_file)
    task.model.num_classes = change.get("num_classes", task.model.num_classes)
    return config


def test_the_tiny_splits_pass(data):
    validate_experiment(_configured(data, {}), replicas=2)


@pytest.mark.parametrize("case", REFUSED)
def test_a_split_that_cannot_be_evaluated_is_refused_in_one_line(data, tmp_path, case):
    make, needles = REFUSED[case]
    with pytest.raises(ConfigError) as error:
        validate_experiment(_configured(data, make(data, tmp_path)), replicas=2)
    line = str(error.value)
    assert "\n" not in line and all(n in line for n in needles), line
