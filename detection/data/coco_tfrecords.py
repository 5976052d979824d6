"""COCO-format datasets to TFRecords with Model Garden's own converter, one path for all data.

Real COCO 2017 (or any COCO-format dataset you bring), from the command line:

    python -m detection.data.coco_tfrecords --image_dir coco/train2017 \\
      --annotations coco/annotations/instances_train2017.json --output_prefix data/coco/train --num_shards 256

`convert` runs Model Garden's converter in-process (no worker pool) on a checked dataset:
- refused, before anything is written: a JSON that is not COCO or not consistent (non-integer or
  repeated ids, an annotation naming an unknown image or category, category id 0; see
  detection/data/coco_json.py), a file_name outside --image_dir, a missing image file;
- refused while converting (each image is decoded by TensorFlow's decoder, as training will): an
  image that cannot be decoded (truncated, corrupt), an unsupported format (TIFF, GIF, WebP), a
  decoded size other than the JSON's width x height (an EXIF-rotated photo whose JSON gives the
  displayed size), more than 100M pixels (detection/data/image_check.py). Such an image is refused,
  not skipped (skipping would silently shrink the split: a validation set scored on fewer images
  than its JSON lists): fix the file or remove it (and its annotations) from the JSON;
- dropped and counted, with one warning: boxes that cannot train a detector (negative or zero size,
  outside the image, malformed, or no bbox at all, e.g. segmentation-only annotations).
Crowd boxes (iscrowd 1) are kept as such; images without boxes are kept; an EXIF orientation is
ignored as TensorFlow ignores it (counted in a warning: boxes must be in the stored pixel frame).
A refusal is one line on stderr naming the file, the image or annotation id and what is wrong,
exit code 2, and leaves no output: shards are written under temporary names and renamed at the
end, replacing any earlier shards of the same prefix.
"""
import collections
import glob
import json
import math
import os
import re
import sys

from absl import logging

from common.legacy_keras import use_legacy_keras

if __name__ == "__main__":  # the command line: its one error line must not drown in TensorFlow's C++ logs
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
use_legacy_keras()

import tensorflow as tf  # noqa: E402
from official.vision.data import create_coco_tf_record as converter  # noqa: E402

from detection.data import coco_json, image_check  # noqa: E402
from detection.data.coco_json import DatasetError  # noqa: E402


def box_problem(box, width, height):
    """Why a COCO [x, y, w, h] box cannot train a detector in a width x height image, or None."""
    if box is None:
        return "no bbox"
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
    but encodes negative x or y as negative coordinates and fails on malformed or missing boxes;
    all of those are dropped here, counted by reason, and reported once as a warning. A kept box
    without `iscrowd` gets iscrowd 0 (pycocotools' default; Model Garden's converter needs the key).
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
                kept[image_id].append(annotation if "iscrowd" in annotation else {**annotation, "iscrowd": 0})
    return kept, dict(skipped)


def shard_names(output_prefix, num_shards):
    return [f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def _earlier_shards(output_prefix):
    """Shards of this prefix from an earlier conversion (any shard count), which the new ones replace."""
    name = re.compile(re.escape(os.path.basename(output_prefix)) + r"-\d{5}-of-\d{5}\.tfrecord")
    return [f for f in tf.io.gfile.glob(shard_pattern(output_prefix)) if name.fullmatch(os.path.basename(f))]


def _checked(image_dir, annotations_file, num_shards):
    """The checked JSON and {image id: path}; DatasetError for everything found without decoding an image."""
    if not (isinstance(num_shards, int) and num_shards >= 1):
        raise DatasetError(f"--num_shards {num_shards!r}: at least 1")
    if not tf.io.gfile.isdir(image_dir):
        raise DatasetError(f"--image_dir {image_dir}: not a directory")
    coco = coco_json.read(annotations_file)
    coco_json.check(coco, annotations_file)
    paths = {}
    for image in coco["images"]:
        where = f"{annotations_file}: image id {image['id']} ({image['file_name']!r})"
        try:
            paths[image["id"]] = image_check.inside(image_dir, image["file_name"])
        except image_check.UnusableImage as error:
            raise DatasetError(f"{where}: {error}") from None
        if not tf.io.gfile.exists(paths[image["id"]]):
            raise DatasetError(f"{where}: not found in --image_dir {image_dir}")
    return coco, paths


def convert(image_dir, annotations_file, output_prefix, num_shards=1):
    """Writes `{output_prefix}-0000i-of-0000N.tfrecord`; returns {reason: count} of skipped boxes.

    Raises DatasetError (one line; nothing written) for a dataset it refuses (module docstring).
    """
    coco, paths = _checked(image_dir, annotations_file, num_shards)
    images = coco["images"]
    by_image = collections.defaultdict(list)
    for annotation in coco["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    by_image, skipped = valid_boxes(by_image, images)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    folder = os.path.dirname(os.path.abspath(output_prefix))
    made_folder = not tf.io.gfile.isdir(folder)
    tf.io.gfile.makedirs(folder)
    final = shard_names(output_prefix, num_shards)
    temporary = [f"{name}.tmp-{os.getpid()}" for name in final]  # outside shard_pattern: never read as data
    writers, rotated = [], 0
    try:
        writers = [tf.io.TFRecordWriter(name) for name in temporary]
        for index, image in enumerate(images):
            try:
                rotated += image_check.check(paths[image["id"]], image["width"], image["height"])
            except image_check.UnusableImage as error:
                raise DatasetError(f"{annotations_file}: image id {image['id']} ({image['file_name']!r}): "
                                   f"{error}") from None
            example, _ = converter.create_tf_example(image, [image_dir], bbox_annotations=by_image.get(image["id"]),
                                                     id_to_name_map=names)
            writers[index % num_shards].write(example.SerializeToString())
        for writer in writers:
            writer.close()
    except BaseException:  # a refused image, a full disk, Ctrl-C: leave nothing behind
        for writer in writers:
            writer.close()
        for name in temporary:
            if tf.io.gfile.exists(name):
                tf.io.gfile.remove(name)
        if made_folder and not tf.io.gfile.listdir(folder):
            tf.io.gfile.rmtree(folder)
        raise
    for stale in set(_earlier_shards(output_prefix)) - set(final):
        tf.io.gfile.remove(stale)
    for name, done in zip(temporary, final):
        tf.io.gfile.rename(name, done, overwrite=True)
    if skipped:
        logging.warning("%s: skipped %d invalid boxes (%s)", annotations_file, sum(skipped.values()),
                        ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())))
    if rotated:
        logging.warning("%s: %d images carry an EXIF orientation, which TensorFlow ignores: their boxes must be in "
                        "the stored pixel frame", annotations_file, rotated)
    return skipped


def shard_pattern(output_prefix):
    return f"{output_prefix}-*-of-*.tfrecord"


def count_records(pattern):
    files = sorted(glob.glob(pattern))
    return sum(1 for _ in tf.data.TFRecordDataset(files)) if files else 0


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image_dir", required=True, help="the folder the JSON's file_names are relative to")
    parser.add_argument("--annotations", required=True, help="COCO instances JSON")
    parser.add_argument("--output_prefix", required=True, help="writes PREFIX-0000i-of-0000N.tfrecord")
    parser.add_argument("--num_shards", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        skipped = convert(args.image_dir, args.annotations, args.output_prefix, args.num_shards)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"records": count_records(shard_pattern(args.output_prefix)), "skipped_boxes": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
