"""A COCO instances JSON, read and checked for consistency: one line per problem (DatasetError).

Shared by the converter (detection/data/coco_tfrecords.py) and `run`'s preflight (detection/validate.py).
Checked: `images`, `annotations` and `categories` are lists of objects with their keys; image,
annotation and category ids are integers (not floats, not booleans) and unique; every annotation
names a listed image and a listed category; category ids are at least 1 (Model Garden's class 0
is the background). For scoring (`evaluated=True`) every annotation also needs the 4-number `bbox`
pycocotools matches against; the converter instead drops and counts annotations without a usable box.
"""
import collections
import json
import math

import tensorflow as tf

SECTIONS = ("images", "annotations", "categories")
KEYS = {"images": ("id", "file_name", "width", "height"), "annotations": ("id", "image_id", "category_id", "area"),
        "categories": ("id", "name")}
EVALUATED_KEYS = {"images": ("id",), "annotations": ("id", "image_id", "category_id", "bbox", "area"),
                  "categories": ("id", "name")}


class DatasetError(ValueError):
    """A dataset that cannot be converted or scored; `str(error)` is one line naming the file, the entry and
    what is wrong."""


def read(path):
    """The parsed JSON of `path` (any value; check() says whether it is COCO)."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            text = f.read()
    except tf.errors.OpError as error:
        raise DatasetError(f"{path}: cannot be read ({type(error).__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not JSON (truncated?): {error}") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not JSON (not UTF-8 text: {error.reason} at byte {error.start})") from None


def is_id(value):
    return isinstance(value, int) and not isinstance(value, bool)


NAMES = {"images": "image", "annotations": "annotation", "categories": "category"}


def _ids(path, coco, section):
    """{id: entry} of `coco[section]`; refuses non-integer and repeated ids."""
    found, what = {}, NAMES[section]
    for entry in coco[section]:
        value = entry["id"]
        if not is_id(value):
            raise DatasetError(f"{path}: {what} id {value!r} is not an integer ({type(value).__name__}); COCO ids are "
                               f"integers")
        if value in found:
            raise DatasetError(f"{path}: {what} id {value} appears more than once in '{section}'; ids must be unique")
        found[value] = entry
    return found


def _listing(ids):
    ids = sorted(ids)
    return ", ".join(map(str, ids)) if len(ids) <= 8 else f"{ids[0]}..{ids[-1]}, {len(ids)} ids"


def check(coco, path, evaluated=False):
    """Raises DatasetError for the first inconsistency of `coco` (the parsed JSON of `path`)."""
    if not isinstance(coco, dict):
        raise DatasetError(f"{path}: a {type(coco).__name__}, not a COCO instances object with {', '.join(SECTIONS)}")
    keys = EVALUATED_KEYS if evaluated else KEYS
    for section in SECTIONS:
        entries = coco.get(section)
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: '{section}' is missing or not a list; a COCO instances JSON has "
                               f"{', '.join(SECTIONS)}")
        for entry in entries:
            missing = [k for k in keys[section] if not isinstance(entry, dict) or k not in entry]
            if missing and isinstance(entry, dict) and "id" in entry:
                raise DatasetError(f"{path}: {NAMES[section]} id {entry['id']!r} lacks {', '.join(missing)} (each "
                                   f"entry of '{section}' needs {', '.join(keys[section])})")
            if missing:
                raise DatasetError(f"{path}: an entry of '{section}' lacks {', '.join(missing)} (each needs "
                                   f"{', '.join(keys[section])}): {str(entry)[:80]}")
    images = _ids(path, coco, "images")
    categories = _ids(path, coco, "categories")
    if not categories:
        raise DatasetError(f"{path}: 'categories' is empty; list every category id the annotations use")
    if min(categories) < 1:
        raise DatasetError(f"{path}: category id {min(categories)}: class 0 and below are Model Garden's background; "
                           f"valid: ids from 1")
    for category in coco["categories"]:
        if not isinstance(category["name"], str):
            raise DatasetError(f"{path}: category id {category['id']}: name {category['name']!r} is not a string")
    if not evaluated:
        for image in coco["images"]:
            if not (isinstance(image["file_name"], str) and image["file_name"]):
                raise DatasetError(f"{path}: image id {image['id']}: file_name {image['file_name']!r} is not a file name")
            if not all(is_id(image[k]) and image[k] > 0 for k in ("width", "height")):
                raise DatasetError(f"{path}: image id {image['id']}: width {image['width']!r} and height "
                                   f"{image['height']!r} must be positive integers (pixels)")
    _ids(path, coco, "annotations")
    for annotation in coco["annotations"]:
        where = f"{path}: annotation id {annotation['id']}"
        if annotation["image_id"] not in images or not is_id(annotation["image_id"]):
            raise DatasetError(f"{where} points to image id {annotation['image_id']!r}, which 'images' does not list "
                               f"(ids: {_listing(images)})")
        if annotation["category_id"] not in categories or not is_id(annotation["category_id"]):
            raise DatasetError(f"{where} has category_id {annotation['category_id']!r}, which 'categories' does not "
                               f"list (ids: {_listing(categories)})")
        if not _is_number(annotation["area"]):
            raise DatasetError(f"{where}: area {annotation['area']!r} is not a finite number")
        crowd = annotation.get("iscrowd", 0)
        if not (isinstance(crowd, int) and crowd in (0, 1)):
            raise DatasetError(f"{where}: iscrowd {annotation['iscrowd']!r}; valid: 0 or 1")
        box = annotation.get("bbox")
        if evaluated and not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))):
            raise DatasetError(f"{where}: bbox {str(box)[:60]} is not [x, y, width, height] of finite numbers "
                               f"(COCO evaluation matches every box)")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


Summary = collections.namedtuple("Summary", "images categories boxes crowd")


def summarize(coco):
    """What evaluation needs of a checked JSON: {image id: file_name or None}, {category id: name}, and the
    Counters of non-crowd and crowd boxes per image id."""
    boxes, crowd = collections.Counter(), collections.Counter()
    for annotation in coco["annotations"]:
        (crowd if annotation.get("iscrowd") else boxes)[annotation["image_id"]] += 1
    return Summary({image["id"]: image.get("file_name") for image in coco["images"]},
                   {c["id"]: c["name"] for c in coco["categories"]}, boxes, crowd)
