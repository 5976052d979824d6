"""detection/data/deepforest_trees.py on a generated stand-in for the DeepForest wheel: tiling, the half-inside
rule, the split by bands of rows in each scene, the converter's TFRecords, the manifest, and the pinned checksum."""
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from detection.data import coco_tfrecords
from detection.data import deepforest_trees as trees

TILE = 32


def _voc(boxes):
    objects = "".join(f"<object><name>Tree</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                      f"<ymax>{d}</ymax></bndbox></object>" for a, b, c, d in boxes)
    return f"<annotation><filename>x.png</filename>{objects}</annotation>"


def _png(width, height, seed):
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# scene 0: 6 tile rows x 3 columns and a 10 px strip left out on the right and the bottom; its bands:
# train rows 0-3, select row 4 (round(0.9) = 1), val row 5 (round(1.2) = 1)
BOXES_0 = [(2, 2, 12, 12),        # inside tile (row 0, col 0)
           (20, 40, 40, 50),      # 12 of 20 px in column 0, 8 in column 1 -> column 0, clipped to x < 32
           (24, 24, 40, 40),      # a quarter in each of four tiles -> in none
           (100, 4, 104, 8),      # in the strip past the last column -> in none
           (40, 140, 50, 150),    # row 4: select
           (40, 170, 50, 180)]    # row 5: val
# scene 1: 3 tile rows x 2 columns, one row per split (each split has at least one row of every scene)
BOXES_1 = [(1, 1, 30, 30), (33, 33, 60, 60), (5, 70, 20, 90)]


@pytest.fixture
def wheel(tmp_path):
    path = tmp_path / trees.WHEEL
    with zipfile.ZipFile(path, "w") as z:
        for scene, size, boxes, seed in [(trees.SCENES[0], (3 * TILE + 10, 6 * TILE + 10), BOXES_0, 0),
                                         (trees.SCENES[1], (2 * TILE, 3 * TILE), BOXES_1, 1)]:
            z.writestr(f"deepforest/data/{scene}.png", _png(*size, seed))
            z.writestr(f"deepforest/data/{scene}.xml", _voc(boxes))
    return path


def test_the_scenes_become_tiles_with_their_boxes_in_bands_of_rows_of_each_scene(wheel, tmp_path):
    out = tmp_path / "trees"
    manifest = trees.build(str(wheel), str(out), size=TILE, expected_sha256=None)
    assert manifest["splits"] == {"train": {"images": 4 * 3 + 2, "boxes": 3},
                                  "select": {"images": 3 + 2, "boxes": 2},
                                  "val": {"images": 3 + 2, "boxes": 2}}
    bboxes = {split: sorted(a["bbox"] for a in json.loads((out / f"instances_{split}.json").read_text())["annotations"])
              for split in trees.SPLITS}
    assert bboxes == {"train": [[1, 1, 29, 29], [2, 2, 10, 10], [20, 8, 12, 10]],  # (20, 40): row 1, clipped
                      "select": [[1, 1, 27, 27], [8, 12, 10, 10]],  # (40, 140) in the tile at (32, 128)
                      "val": [[5, 6, 15, 20], [8, 10, 10, 10]]}
    train = json.loads((out / "instances_train.json").read_text())
    assert all(a["area"] == a["bbox"][2] * a["bbox"][3] and a["category_id"] == 1 for a in train["annotations"])
    for split, info in manifest["splits"].items():  # the suite's converter wrote one record per tile
        assert coco_tfrecords.count_records(coco_tfrecords.shard_pattern(str(out / split))) == info["images"]
    first = train["images"][0]  # tiles are the scene's pixels
    scene = Image.open(io.BytesIO(zipfile.ZipFile(wheel).read(f"deepforest/data/{trees.SCENES[0]}.png")))
    tile = Image.open(out / "images" / first["file_name"])
    assert np.array_equal(np.asarray(tile), np.asarray(scene)[:TILE, :TILE])
    source = manifest["source"]
    assert (source["package"], source["version"], source["licence"]) == ("deepforest", "2.1.0", "MIT")
    assert source["wheel_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_a_scene_too_short_for_three_bands_is_refused():
    with pytest.raises(trees.DatasetError, match="2 tile rows"):
        trees.split_rows("scene", 2)
    assert {k: list(v) for k, v in trees.split_rows("scene", 19).items()} == {  # the large crop: 2472 px
        "train": list(range(12)), "select": [12, 13, 14], "val": [15, 16, 17, 18]}


def test_a_wheel_other_than_the_pinned_one_is_refused_in_one_line_and_nothing_is_written(wheel, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        trees.main(["--wheel", str(wheel), "--out", str(tmp_path / "trees")])
    assert "SHA-256" in str(stop.value) and trees.WHEEL_SHA256 in str(stop.value) and "\n" not in str(stop.value)
    assert not (tmp_path / "trees").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".trees-")]
