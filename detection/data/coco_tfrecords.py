"""COCO-format datasets to TFRecords with Model Garden's own converter, one path for all data.

Real COCO 2017 (or any COCO-format dataset you bring), from the command line:

    python -m official.vision.data.create_coco_tf_record --logtostderr \\
      --image_dir=coco/train2017 --object_annotations_file=coco/annotations/instances_train2017.json \\
      --output_file_prefix=data/coco/train --num_shards=256

`convert` below runs the same converter in-process (no worker pool) for generated data.
"""
import glob
import json

import tensorflow as tf
from official.vision.data import create_coco_tf_record as converter
from official.vision.data import tfrecord_lib


def convert(image_dir, annotations_file, output_prefix, num_shards=1):
    """Writes `{output_prefix}-0000i-of-0000N.tfrecord`; returns the number of skipped boxes."""
    images = converter._load_images_info(annotations_file)  # pylint: disable=protected-access
    by_image, id_to_name = converter._load_object_annotations(annotations_file)  # pylint: disable=protected-access
    examples = converter.generate_annotations(
        images=images, image_dirs=[image_dir], img_to_obj_annotation=by_image, id_to_name_map=id_to_name)
    return tfrecord_lib.write_tf_record_dataset(
        output_prefix, examples, converter.create_tf_example, num_shards, multiple_processes=0)


def shard_pattern(output_prefix):
    return f"{output_prefix}-*-of-*.tfrecord"


def count_records(pattern):
    files = sorted(glob.glob(pattern))
    return sum(1 for _ in tf.data.TFRecordDataset(files)) if files else 0


def max_category_id(annotations_file):
    with tf.io.gfile.GFile(annotations_file) as f:
        categories = json.load(f)["categories"]
    return max(c["id"] for c in categories)
