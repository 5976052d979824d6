"""Can an evaluated split be scored? Its TFRecords against its annotation file, read cheaply.

Only `image/source_id`, `image/filename` and `image/object/class/label` of each record are parsed
(no image is decoded; COCO val2017 takes seconds). A split must hold at least one record; every
record's image id must be listed in the annotation file under the same file name (so the JSON of
another split is caught even when the ids overlap) and appear once; the split must have at least
one non-crowd box there (else AP is undefined); and every category id in the records must be below
num_classes and listed in the file's categories. Each check returns one line, or None.
"""
import collections
import functools

import tensorflow as tf

from detection.data.coco_json import is_id

FEATURES = {"image/source_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "image/object/class/label": tf.io.VarLenFeature(tf.int64)}
Records = collections.namedtuple("Records", "ids names labels")  # per file: [source id], [file name], Counter


def files(pattern):
    patterns = pattern if isinstance(pattern, (list, tuple)) else str(pattern).split(",")
    return sorted(f for p in patterns for f in tf.io.gfile.glob(p.strip()))


def stamp(path):
    """(path, size, mtime): a cache key that changes when the file does."""
    stat = tf.io.gfile.stat(path)
    return path, stat.length, stat.mtime_nsec


@functools.lru_cache(maxsize=256)
def _read(key):
    path = key[0]
    ids, names, labels = [], [], collections.Counter()
    parse = lambda batch: tf.io.parse_example(batch, FEATURES)  # noqa: E731
    for batch in tf.data.TFRecordDataset(path, buffer_size=1 << 23).batch(1024).map(parse):
        ids += [s.decode("utf-8", "replace") for s in batch["image/source_id"].numpy()]
        names += [s.decode("utf-8", "replace") for s in batch["image/filename"].numpy()]
        labels.update(batch["image/object/class/label"].values.numpy().tolist())
    return Records(ids, names, labels)


def read(path):
    """The image ids, file names and category counts of one TFRecord file (cached while it is unchanged)."""
    return _read(stamp(path))


def _first_error(path, error):
    text = (getattr(error, "message", "") or str(error)).strip().splitlines()
    return f"{path}: its records lack the detection features ({text[0][:120] if text else type(error).__name__})"


def split_problem(key, pattern, annotation_key, annotation_file, summary, num_classes):
    """Why the split `task.<key>` cannot be evaluated against `summary` (coco_json.summarize), or None.

    annotation_key: the config key of `annotation_file`, for the message.
    """
    where = f"task.{key}.input_path"
    against = f"{annotation_key} {annotation_file}"
    seen, total, boxes, crowd = {}, 0, 0, 0
    for path in files(pattern):
        try:
            records = read(path)
        except (tf.errors.OpError, ValueError) as error:
            return f"{where}: {_first_error(path, error)}"
        total += len(records.ids)
        for source_id, name in zip(records.ids, records.names):
            image_id = int(source_id) if source_id.lstrip("-").isdigit() else None
            if image_id is None:
                return (f"{where}: {path} has image/source_id {source_id!r}, not an integer COCO image id (convert "
                        f"with python -m detection.data.coco_tfrecords)")
            if image_id in seen:
                return f"{where}: image id {image_id} is in {path} and again in {seen[image_id]}; each image once"
            seen[image_id] = path
            if image_id not in summary.images:
                listed = sorted(i for i in summary.images if is_id(i))
                span = f"{listed[0]}..{listed[-1]}" if listed else "none"
                missing = sum(1 for s in records.ids if not s.lstrip("-").isdigit() or int(s) not in summary.images)
                return (f"{where}: {path} has image id {image_id} ({missing} of its {len(records.ids)} ids in all) that "
                        f"{against} does not list (its image ids: {span}, {len(listed)} images): the annotation file "
                        f"of another split?")
            listed_name = summary.images[image_id]
            if name and listed_name and name != listed_name:
                return (f"{where}: {path} has image id {image_id} as {name!r}, {against} lists it as {listed_name!r}: "
                        f"the annotation file of another split?")
            boxes += summary.boxes[image_id]
            crowd += summary.crowd[image_id]
        for label in sorted(records.labels):
            if label >= num_classes or label < 1:
                return (f"task.model.num_classes {num_classes}: {path} has boxes of category id {label}; valid: ids 1 to "
                        f"{num_classes - 1} (num_classes must exceed the largest id, 0 is the background)")
            if label not in summary.categories:
                return (f"{where}: {path} has boxes of category id {label}, which {against} does not list in "
                        f"'categories' (ids: {', '.join(map(str, sorted(summary.categories)))})")
    if not total:
        return f"{where} {pattern!r}: no records; an evaluated split needs at least one image"
    if not boxes:
        extra = f" ({crowd} crowd boxes only, which COCO evaluation ignores)" if crowd else ""
        return (f"{where} {pattern!r}: its {total} images have no boxes in {against}{extra}; COCO AP is undefined "
                f"without ground truth")
    return None
