"""The embedded dataset: a seeded, generated COCO-format detection task for CPU runs.

128x128 images with textured, cluttered backgrounds and 1-6 objects from 4 shape classes
(ellipse, rectangle, triangle, ring) of varied size, colour and some overlap. Written as JPEGs
+ instances JSON, then converted by Model Garden's converter (detection/data/coco_tfrecords.py),
so real COCO and this data share one loading path. Generated once and cached; regenerated when
missing, corrupt or made with other parameters. No download anywhere.

Splits: `train`, `val` (the reported split) and `select` (the selection split: lr multipliers are
chosen on it, so the reported AP is not inflated by the choice). `select` is drawn from its own
seed, so `train` and `val` are the same images with or without it.
"""
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from common.paths import DATA_ROOT
from detection.data import coco_tfrecords

CATEGORIES = [{"id": 1, "name": "ellipse"}, {"id": 2, "name": "rectangle"},
              {"id": 3, "name": "triangle"}, {"id": 4, "name": "ring"}]
DEFAULT_ROOT = os.environ.get("FRN_BENCH_DATA", os.path.join(DATA_ROOT, "embedded"))
VERSION = 1


@dataclasses.dataclass(frozen=True)
class Spec:
    train_images: int = 1500
    val_images: int = 200
    select_images: int = 200
    image_size: int = 128
    min_objects: int = 1
    max_objects: int = 6
    min_size: int = 12
    max_size: int = 56
    seed: int = 0

    def key(self):
        text = json.dumps({"version": VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Dataset:
    root: str
    spec: Spec

    def annotations(self, split):
        return os.path.join(self.root, f"instances_{split}.json")

    def images(self, split):
        return os.path.join(self.root, "images", split)

    def tfrecords(self, split):
        return coco_tfrecords.shard_pattern(os.path.join(self.root, split))

    @property
    def splits(self):
        """(split, image count) of every split this dataset has."""
        counts = (("train", self.spec.train_images), ("val", self.spec.val_images), ("select", self.spec.select_images))
        return tuple((split, count) for split, count in counts if count)

    @property
    def num_classes(self):
        """Model Garden's num_classes: above the largest category id (0 is background)."""
        return max(c["id"] for c in CATEGORIES) + 1


def _background(rng, size):
    """Smooth colour gradient + noise + random lines and blobs: texture and clutter."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(40, 200, 3) + rng.uniform(-60, 60, 3) * x[..., None] + rng.uniform(-60, 60, 3) * y[..., None]
    image = Image.fromarray(np.clip(base + rng.normal(0, 18, (size, size, 3)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 9)):
        points = [tuple(rng.integers(0, size, 2).tolist()) for _ in range(2)]
        draw.line(points, fill=tuple(rng.integers(0, 256, 3).tolist()), width=int(rng.integers(1, 3)))
    for _ in range(rng.integers(0, 4)):  # small distractor dots, below the smallest object size
        cx, cy = rng.integers(0, size, 2)
        r = int(rng.integers(1, 4))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(rng.integers(0, 256, 3).tolist()))
    return image


def _iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _draw_object(draw, rng, category, box):
    x, y, w, h = box
    colour = tuple(rng.integers(0, 256, 3).tolist())
    if category == 1:
        draw.ellipse([x, y, x + w - 1, y + h - 1], fill=colour)
    elif category == 2:
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=colour)
    elif category == 3:
        apex = x + rng.uniform(0, 1) * (w - 1)
        draw.polygon([(apex, y), (x, y + h - 1), (x + w - 1, y + h - 1)], fill=colour)
    else:
        width = max(2, int(min(w, h) * rng.uniform(0.15, 0.3)))
        draw.ellipse([x, y, x + w - 1, y + h - 1], outline=colour, width=width)


def draw_image(rng, spec):
    """One image and its boxes [(category_id, [x, y, w, h])]; boxes overlap with IoU < 0.4."""
    image = _background(rng, spec.image_size)
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        for _attempt in range(20):
            w, h = (int(v) for v in rng.integers(spec.min_size, spec.max_size + 1, 2))
            box = [int(rng.integers(0, spec.image_size - w + 1)), int(rng.integers(0, spec.image_size - h + 1)), w, h]
            if all(_iou(box, other) < 0.4 for _, other in objects):
                category = int(rng.integers(1, len(CATEGORIES) + 1))
                _draw_object(draw, rng, category, box)
                objects.append((category, box))
                break
    return image, objects


def _write_split(root, split, count, spec, rng):
    image_dir = os.path.join(root, "images", split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image, objects = draw_image(rng, spec)
        image_id = index + 1
        name = f"{split}_{image_id:05d}.jpg"
        image.save(os.path.join(image_dir, name), quality=92)
        images.append({"id": image_id, "file_name": name, "height": spec.image_size, "width": spec.image_size})
        for category, box in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    annotations_file = os.path.join(root, f"instances_{split}.json")
    with open(annotations_file, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": CATEGORIES}, f)
    coco_tfrecords.convert(image_dir, annotations_file, os.path.join(root, split))


def _is_complete(dataset):
    try:
        with open(os.path.join(dataset.root, "manifest.json")) as f:
            manifest = json.load(f)
        if manifest.get("key") != dataset.spec.key():
            return False
        for split, count in dataset.splits:
            with open(dataset.annotations(split)) as f:
                if len(json.load(f)["images"]) != count:
                    return False
            if coco_tfrecords.count_records(dataset.tfrecords(split)) != count:
                return False
        return True
    except (OSError, ValueError, KeyError, tf.errors.OpError):  # missing, corrupt or truncated files
        return False


DEFAULT_SPEC = Spec()  # the embedded default's data


def ensure(root=DEFAULT_ROOT, spec=DEFAULT_SPEC):
    """The dataset at `root`, generated (deterministically from spec.seed) unless already complete.

    Concurrent callers (a sweep's parallel cells) wait on an flock; generation happens in a
    temporary folder renamed into place, so a killed generator never leaves a half dataset.
    """
    dataset = Dataset(root, spec)
    if _is_complete(dataset):
        return dataset
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    with open(f"{root}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if this process dies
        if _is_complete(dataset):  # made by whoever held the lock before us
            return dataset
        building = f"{root}.building"
        for stale in (building, root):
            if os.path.exists(stale):
                shutil.rmtree(stale)
        os.makedirs(building)
        rng = np.random.default_rng(spec.seed)
        _write_split(building, "train", spec.train_images, spec, rng)
        _write_split(building, "val", spec.val_images, spec, rng)
        if spec.select_images:  # its own stream: train and val do not depend on whether it exists
            _write_split(building, "select", spec.select_images, spec, np.random.default_rng([spec.seed, 1]))
        with open(os.path.join(building, "manifest.json"), "w") as f:
            json.dump({"key": spec.key(), "spec": dataclasses.asdict(spec), "version": VERSION}, f)
        os.rename(building, root)
    return dataset
