"""COCO-format datasets to TFRecords with Model Garden's own converter, one path for all data.

Real COCO 2017 (or any COCO-format dataset you bring), from the command line:

    python -m detection.data.coco_tfrecords --image_dir coco/train2017 \\
      --annotations coco/annotations/instances_train2017.json --output_prefix data/coco/train --num_shards 256

`convert` runs Model Garden's converter in-process (no worker pool), after
dropping invalid boxes (negative or zero size, outside the image, malformed) with one warning that
counts them by reason; a missing image file or a JSON that is not COCO is refused with an error.
"""
import collections
import glob
import json
import math
import os

from absl import logging

import tensorflow as tf
from official.vision.data import create_coco_tf_record as converter
from official.vision.data import tfrecord_lib


def box_problem(box, width, height):
    """Why a COCO [x, y, w, h] box cannot train a detector in a width x height image, or None."""
    if not (isinstance(box, (list, tuple)) and len(box) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)):
        return "malformed"
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return "non-positive width or height"
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return "outside the image"
    return None


def valid_boxes(by_image, images):
    """Drops the boxes Model Garden's converter would mis-encode; returns (kept, {reason: count}).

    Its converter already skips boxes with w or h <= 0 or reaching past the right/bottom edge,
    but encodes negative x or y as negative coordinates and fails on malformed boxes; all of
    those are dropped here, counted by reason, and reported once as a warning.
    """
    sizes = {image["id"]: (image["width"], image["height"]) for image in images}
    kept, skipped = {}, collections.Counter()
    for image_id, annotations in by_image.items():
        width, height = sizes.get(image_id, (0, 0))
        kept[image_id] = []
        for annotation in annotations:
            problem = box_problem(annotation.get("bbox"), width, height)
            if problem:
                skipped[problem] += 1
            else:
                kept[image_id].append(annotation)
    return kept, dict(skipped)


def convert(image_dir, annotations_file, output_prefix, num_shards=1):
    """Writes `{output_prefix}-0000i-of-0000N.tfrecord`; returns {reason: count} of skipped boxes."""
    images = converter._load_images_info(annotations_file)  # pylint: disable=protected-access
    by_image, id_to_name = converter._load_object_annotations(annotations_file)  # pylint: disable=protected-access
    by_image, skipped = valid_boxes(by_image, images)
    if skipped:
        logging.warning("%s: skipped %d invalid boxes (%s)", annotations_file, sum(skipped.values()),
                        ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())))
    examples = converter.generate_annotations(
        images=images, image_dirs=[image_dir], img_to_obj_annotation=by_image, id_to_name_map=id_to_name)
    tfrecord_lib.write_tf_record_dataset(output_prefix, examples, converter.create_tf_example, num_shards,
                                         multiple_processes=0)
    return skipped


def shard_pattern(output_prefix):
    return f"{output_prefix}-*-of-*.tfrecord"


def count_records(pattern):
    files = sorted(glob.glob(pattern))
    return sum(1 for _ in tf.data.TFRecordDataset(files)) if files else 0


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image_dir", required=True)
    parser.add_argument("--annotations", required=True)
    parser.add_argument("--output_prefix", required=True)
    parser.add_argument("--num_shards", type=int, default=1)
    args = parser.parse_args(argv)
    tf.io.gfile.makedirs(os.path.dirname(os.path.abspath(args.output_prefix)))
    skipped = convert(args.image_dir, args.annotations, args.output_prefix, args.num_shards)
    print(json.dumps({"records": count_records(shard_pattern(args.output_prefix)), "skipped_boxes": skipped}))


if __name__ == "__main__":
    main()
