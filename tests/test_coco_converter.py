"""Any COCO-format dataset converts with Model Garden's converter and loads in the detection pipeline."""
import json

import numpy as np
import tensorflow as tf
from official.core import task_factory
from official.vision.dataloaders import tf_example_decoder
from PIL import Image

from detection.data import coco_tfrecords
from detection.validate import check_coco_json, validate_experiment
from tests.detection_data import tiny_dataset, tiny_experiment


def _user_dataset(root):
    """3 images: one without boxes, one with 150 boxes, category ids 3, 7 and 12 (non-contiguous)."""
    images_dir = root / "images"
    images_dir.mkdir()
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for image_id, count in ((1, 0), (2, 150), (3, 2)):
        name = f"{image_id}.jpg"
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(images_dir / name)
        images.append({"id": image_id, "file_name": name, "height": 80, "width": 96})
        for k in range(count):
            x, y = int(rng.integers(0, 80)), int(rng.integers(0, 64))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": (3, 7, 12)[k % 3],
                                "bbox": [x, y, 12, 10], "area": 120, "iscrowd": 0})
    categories = [{"id": i, "name": f"c{i}"} for i in (3, 7, 12)]
    annotations_file = root / "instances.json"
    annotations_file.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return str(images_dir), str(annotations_file)


def test_converts_and_decodes_every_box(tmp_path):
    images_dir, annotations_file = _user_dataset(tmp_path)
    prefix = str(tmp_path / "records" / "train")
    tf.io.gfile.makedirs(str(tmp_path / "records"))
    assert coco_tfrecords.convert(images_dir, annotations_file, prefix, num_shards=2) == {}
    files = sorted(tf.io.gfile.glob(coco_tfrecords.shard_pattern(prefix)))
    assert len(files) == 2 and coco_tfrecords.count_records(coco_tfrecords.shard_pattern(prefix)) == 3
    decoder = tf_example_decoder.TfExampleDecoder()
    decoded = {int(d["source_id"]): d for d in (decoder.decode(r) for r in tf.data.TFRecordDataset(files))}
    assert decoded[1]["groundtruth_classes"].shape[0] == 0
    assert decoded[2]["groundtruth_classes"].shape[0] == 150
    assert set(decoded[2]["groundtruth_classes"].numpy()) == {3, 7, 12}
    assert check_coco_json(annotations_file) == 12


def test_user_dataset_loads_in_the_retinanet_pipeline(tmp_path):
    images_dir, annotations_file = _user_dataset(tmp_path)
    prefix = str(tmp_path / "train")
    coco_tfrecords.convert(images_dir, annotations_file, prefix)
    config = tiny_experiment("frn_retinanet_embedded", tiny_dataset(tmp_path / "tiny"), "frn")
    task = config.task
    task.train_data.input_path = task.validation_data.input_path = coco_tfrecords.shard_pattern(prefix)
    task.annotation_file = annotations_file
    task.model.num_classes = 13  # above the largest category id, 12
    for data in (task.train_data, task.validation_data):
        data.parser.max_num_instances = 200  # keep all 150 boxes of image 2
        data.global_batch_size = 3
    validate_experiment(config, replicas=1)
    detection_task = task_factory.get_task(task)
    images, labels = next(iter(detection_task.build_inputs(task.train_data)))
    assert images.shape == (3, 64, 64, 3) and float(tf.reduce_sum(labels["box_weights"])) > 0
    _, labels = next(iter(detection_task.build_inputs(task.validation_data)))
    truth = labels["groundtruths"]
    counts = dict(zip(truth["source_id"].numpy().tolist(), truth["num_detections"].numpy().reshape(-1).tolist()))
    assert counts == {1: 0, 2: 150, 3: 2}


def test_invalid_boxes_are_skipped_counted_and_reported(tmp_path, caplog):
    """Hostile COCO JSON: boxes outside the image, negative or zero size, malformed; all dropped with a count."""
    images_dir, annotations_file = _user_dataset(tmp_path)
    coco = json.loads(open(annotations_file).read())
    bad = [[90, 10, 12, 10],          # past the right edge (width 96)
           [-5, 10, 12, 10],          # negative x: Model Garden's converter alone would encode it
           [10, -3, 12, 10],          # negative y
           [10, 10, -12, 10],         # negative width
           [10, 10, 12, 0],           # zero height
           [10, 10, float("nan"), 4],  # not finite
           [10, 10, 12]]              # malformed
    for k, box in enumerate(bad):
        coco["annotations"].append({"id": 1000 + k, "image_id": 3, "category_id": 3, "bbox": box, "area": 1,
                                    "iscrowd": 0})
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(coco))
    prefix = str(tmp_path / "hostile")
    skipped = coco_tfrecords.convert(images_dir, str(hostile), prefix)
    assert skipped == {"outside the image": 3, "non-positive width or height": 2, "malformed": 2}
    assert "skipped 7 invalid boxes" in caplog.text
    decoder = tf_example_decoder.TfExampleDecoder()
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(coco_tfrecords.shard_pattern(prefix)))
    decoded = {int(d["source_id"]): d for d in (decoder.decode(r) for r in records)}
    assert decoded[3]["groundtruth_classes"].shape[0] == 2  # only the 2 valid boxes of image 3
    boxes = np.concatenate([d["groundtruth_boxes"].numpy() for d in decoded.values()])
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
