"""A real-photo detection set: the airborne RGB tree-crown photos and boxes that the DeepForest package
ships (Weinstein et al. 2019; PyPI `deepforest` 2.1.0, MIT licence), tiled and converted once at set-up.

    python -m detection.data.deepforest_trees --download        # pip-downloads the pinned wheel (no dependencies)
    python -m detection.data.deepforest_trees --wheel deepforest-2.1.0-py3-none-any.whl

Source: the two NEON Yellowstone crops in the wheel's `deepforest/data/` with their Pascal VOC boxes
(2299x2472 px, 574 trees; 1249x1035 px, 279 trees; about 0.1 m per pixel, median box 37-41 px). Nothing
is downloaded while a sweep runs: this command fetches the wheel (its SHA-256 pinned below), reads the
photos from it, and writes data/trees/: square tiles (PNG, lossless) with the boxes that lie at least half
inside them (clipped to the tile), one COCO JSON per split, and TFRecords through the suite's converter
(detection/data/coco_tfrecords.py), so these photos take the loading path COCO takes.

Splits, by bands of tile rows within each scene, so all three hold both scenes (as COCO's splits share
one distribution) and no tree is in two of them (a box belongs to the one tile holding most of it):
`val` (reported) = each scene's last VAL_SHARE of tile rows, `select` (lr multipliers are chosen on it) =
the SELECT_SHARE above them, `train` = the rest. A split by scene (train on one crop, report on the
other) measured transfer to an unseen site instead: BN's AP on the other crop was 0.4-0.5 x100 against 8.3
on held-out rows of its own crop. One class, "tree". manifest.json records the source (package, version,
licence, SHA-256 of the wheel and of each file used) and the tiles and boxes per split.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile

from PIL import Image

from common.paths import DATA_ROOT
from detection.data import coco_tfrecords
from detection.data.coco_json import DatasetError

PACKAGE, VERSION, LICENCE = "deepforest", "2.1.0", "MIT"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54"
SCENES = ("2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop")
SPLITS = ("train", "select", "val")
VAL_SHARE, SELECT_SHARE = 0.2, 0.15  # of each scene's tile rows, at its bottom (at least one row each)
MIN_INSIDE = 0.5    # a box belongs to a tile when at least this fraction of its area lies inside it
TILE = 128          # the embedded scale's image size
CATEGORIES = [{"id": 1, "name": "tree"}]
NUM_CLASSES = 2     # Model Garden counts the background class
DEFAULT_OUT = os.path.join(DATA_ROOT, "trees")


def read_scene(wheel, scene, digests):
    """(RGB PIL image, [(xmin, ymin, xmax, ymax)]) of one scene: its PNG and Pascal VOC XML in the wheel;
    records each file's SHA-256 in `digests`."""
    files = {ext: wheel.read(f"{PACKAGE}/data/{scene}.{ext}") for ext in ("png", "xml")}
    digests.update({f"{scene}.{ext}": hashlib.sha256(data).hexdigest() for ext, data in files.items()})
    boxes = [tuple(float(obj.find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax"))
             for obj in ElementTree.fromstring(files["xml"]).findall("object")]
    return Image.open(io.BytesIO(files["png"])).convert("RGB"), boxes


def tile_boxes(boxes, left, top, size):
    """COCO [x, y, w, h] boxes of one tile: each box with at least MIN_INSIDE of its area inside, clipped."""
    found = []
    for xmin, ymin, xmax, ymax in boxes:
        x0, y0, x1, y1 = max(xmin, left), max(ymin, top), min(xmax, left + size), min(ymax, top + size)
        area = (xmax - xmin) * (ymax - ymin)
        if x1 > x0 and y1 > y0 and area > 0 and (x1 - x0) * (y1 - y0) >= MIN_INSIDE * area:
            found.append([x0 - left, y0 - top, x1 - x0, y1 - y0])
    return found


def split_rows(scene, rows):
    """{split: its tile rows} of a scene with `rows` tile rows: train on top, then select, then val."""
    val, select = (max(1, round(rows * share)) for share in (VAL_SHARE, SELECT_SHARE))
    if rows < val + select + 1:
        raise DatasetError(f"{scene}: {rows} tile rows; train, select and val need at least one each")
    first_select, first_val = rows - val - select, rows - val
    return {"train": range(first_select), "select": range(first_select, first_val), "val": range(first_val, rows)}


def _tiles(wheel, out, size, digests):
    """Writes every split's tiles under out/images/<split>/ and returns {split: COCO dict}; the SHA-256 of
    each file read goes into `digests`."""
    splits = {name: {"images": [], "annotations": [], "categories": CATEGORIES} for name in SPLITS}
    for scene in SCENES:
        image, boxes = read_scene(wheel, scene, digests)
        rows, cols = image.height // size, image.width // size  # the partial strip at the edges is left out
        for split, band in split_rows(scene, rows).items():
            for row, col in ((row, col) for row in band for col in range(cols)):
                coco = splits[split]
                image_id = len(coco["images"]) + 1
                name = f"{split}/{scene}_r{row:02d}_c{col:02d}.png"
                os.makedirs(os.path.join(out, "images", split), exist_ok=True)
                image.crop((col * size, row * size, (col + 1) * size, (row + 1) * size)).save(
                    os.path.join(out, "images", name))
                coco["images"].append({"id": image_id, "file_name": name, "width": size, "height": size})
                for box in tile_boxes(boxes, col * size, row * size, size):
                    coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                                "category_id": 1, "bbox": box, "area": box[2] * box[3],
                                                "iscrowd": 0})
    return splits


def build(wheel_path, out=DEFAULT_OUT, size=TILE, expected_sha256=WHEEL_SHA256):
    """Tiles and converts the wheel's scenes into `out` (replacing what was there); returns the manifest."""
    with open(wheel_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if expected_sha256 and digest != expected_sha256:
        raise DatasetError(f"{wheel_path}: SHA-256 {digest} is not the pinned {WHEEL}'s {expected_sha256}")
    staging = tempfile.mkdtemp(prefix=".trees-", dir=os.path.dirname(os.path.abspath(out)) or ".")
    try:
        files = {}
        with zipfile.ZipFile(wheel_path) as wheel:
            splits = _tiles(wheel, staging, size, files)
        for split, coco in splits.items():
            annotations = os.path.join(staging, f"instances_{split}.json")
            with open(annotations, "w") as f:
                json.dump(coco, f)
            coco_tfrecords.convert(os.path.join(staging, "images"), annotations, os.path.join(staging, split))
        manifest = {"source": {"package": PACKAGE, "version": VERSION, "licence": LICENCE, "wheel": WHEEL,
                               "wheel_sha256": digest, "files": files},
                    "tile": size, "min_inside": MIN_INSIDE, "num_classes": NUM_CLASSES,
                    "splits": {split: {"images": len(coco["images"]), "boxes": len(coco["annotations"])}
                               for split, coco in splits.items()}}
        with open(os.path.join(staging, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(folder):
    """The pinned wheel, fetched by pip without its dependencies (set-up time only)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", f"{PACKAGE}=={VERSION}",
                    "-d", folder], check=True)
    return os.path.join(folder, WHEEL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", help=f"a downloaded {WHEEL}")
    source.add_argument("--download", action="store_true", help=f"pip download {PACKAGE}=={VERSION} (no dependencies)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="where the tiles, JSONs and TFRecords go (default: data/trees)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as folder:
            manifest = build(download(folder) if args.download else args.wheel, args.out)
    except (DatasetError, OSError, zipfile.BadZipFile, KeyError) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(manifest["splits"]), "->", args.out)


if __name__ == "__main__":
    main()
