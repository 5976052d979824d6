"""Broken bring-your-own COCO datasets through the converter: each refused with one line, or converted as stated.

Every case starts from a valid 3-image dataset (tests/coco_files.py) and breaks one thing. A refusal
is exit code 2, one `error: ...` line on stderr naming the file and the image or annotation id, no
traceback and no output folder; a conversion states its record count and skipped boxes, every
record decodes with Model Garden's own decoder, as training reads it, and the converted split passes
preflight's evaluation checks. Splits that convert but cannot be evaluated:
tests/test_hostile_eval_splits.py.
"""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from official.vision.dataloaders import tf_example_decoder
from PIL import Image

from detection.data import coco_tfrecords, split_checks
from detection.validate import ConfigError, check_split
from tests.coco_files import SIZE, dataset, encoded, png_header, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _truncated():
    data = encoded()
    return data[:len(data) * 2 // 3]


def _put(image_dir, coco, image_id, data, name=None):
    """Replaces image `image_id`'s file with `data` (under `name`, relative to image_dir)."""
    image = coco["images"][image_id - 1]
    (image_dir / image["file_name"]).unlink()
    image["file_name"] = name or image["file_name"]
    path = image_dir / image["file_name"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _size(coco, image_id, width, height):
    coco["images"][image_id - 1].update(width=width, height=height)


# case: (break the dataset: f(root, image_dir, coco) -> None or the JSON text to write, needles of the line)
REFUSED = {
    "truncated JSON": (lambda r, d, c: json.dumps(c)[:57],
                       "not JSON (truncated?): Expecting property name enclosed in double quotes: line 1 column 58"),
    "missing image": (lambda r, d, c: (d / "2.jpg").unlink(), "image id 2 ('2.jpg'): not found in --image_dir"),
    "unknown category": (lambda r, d, c: c["annotations"][0].update(category_id=99),
                         "annotation id 1 has category_id 99, which 'categories' does not list (ids: 1, 2)"),
    "annotation of an unknown image": (lambda r, d, c: c["annotations"][2].update(image_id=42),
                                       "annotation id 3 points to image id 42, which 'images' does not list"),
    "duplicate image id": (lambda r, d, c: c["images"][1].update(id=1), "image id 1 appears more than once"),
    "duplicate annotation id": (lambda r, d, c: c["annotations"][1].update(id=1),
                                "annotation id 1 appears more than once"),
    "float image id": (lambda r, d, c: c["images"][0].update(id=1.0), "image id 1.0 is not an integer (float)"),
    "float category id": (lambda r, d, c: c["categories"][1].update(id=2.5), "category id 2.5 is not an integer"),
    "category id 0": (lambda r, d, c: c["categories"].append({"id": 0, "name": "zero"}),
                      "category id 0: class 0 and below are Model Garden's background"),
    "annotation without area": (lambda r, d, c: c["annotations"][1].pop("area") and None, "annotation id 2 lacks area"),
    "width as a string": (lambda r, d, c: c["images"][2].update(width="48"), "must be positive integers"),
    "file_name ../x.jpg": (lambda r, d, c: (r / "x.jpg").write_bytes(encoded()) and c["images"][0].update(
        file_name="../x.jpg"), "image id 1 ('../x.jpg'): its file_name leaves --image_dir"),
    "absolute file_name": (lambda r, d, c: c["images"][0].update(file_name=str(d / "1.jpg")), "leaves --image_dir"),
    "undecodable image (truncated JPEG, last)": (lambda r, d, c: _put(d, c, 3, _truncated()),
                                                 "image id 3 ('3.jpg'): cannot be decoded by TensorFlow"),
    "not an image": (lambda r, d, c: _put(d, c, 2, b"<html>404</html>"), "image id 2 ('2.jpg'): is not an image"),
    "TIFF": (lambda r, d, c: _put(d, c, 2, encoded(fmt="TIFF")), "is TIFF, which Model Garden's decoder cannot read"),
    "GIF": (lambda r, d, c: _put(d, c, 2, encoded(fmt="GIF")), "is GIF"),
    "WebP": (lambda r, d, c: _put(d, c, 2, encoded(fmt="WEBP")), "is WEBP"),
    "size other than the JSON's": (lambda r, d, c: _size(c, 1, 64, 64), "is 48x32 pixels (width x height), the JSON "
                                                                       "says 64x64"),
    "EXIF-rotated JPEG, JSON gives the displayed size": (
        lambda r, d, c: _put(d, c, 1, encoded(exif=_exif(6))) or _size(c, 1, SIZE[1], SIZE[0]),
        "EXIF orientation 6 rotates it for display"),
    "PNG of 12000x9000 (header only)": (lambda r, d, c: _put(d, c, 1, png_header(12000, 9000), "1.png")
                                        or _size(c, 1, 12000, 9000), "over the 100,000,000 accepted"),
    "PNG bomb of 50000x50000 (header only)": (lambda r, d, c: _put(d, c, 1, png_header(50000, 50000), "1.png"),
                                              "its header declares over"),
}


def _convert(tmp_path, capsys, image_dir, annotations, shards=1):
    prefix = tmp_path / "out" / "train"
    code = coco_tfrecords.main(["--image_dir", str(image_dir), "--annotations", annotations,
                                "--output_prefix", str(prefix), "--num_shards", str(shards)])
    return code, capsys.readouterr(), str(prefix)


@pytest.mark.parametrize("case", REFUSED)
def test_a_broken_dataset_is_refused_with_one_line_and_leaves_nothing(tmp_path, capsys, case):
    brk, needle = REFUSED[case]
    image_dir, coco = dataset(tmp_path)
    annotations = write_json(tmp_path / "instances.json", brk(tmp_path, image_dir, coco) or coco)
    code, out, _ = _convert(tmp_path, capsys, image_dir, annotations)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1, out.err
    assert lines[0].startswith(f"error: {annotations}: ") and needle in lines[0], lines[0]
    assert not (tmp_path / "out").exists() and out.out == ""


def _decoded(prefix):
    decoder = tf_example_decoder.TfExampleDecoder()
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(coco_tfrecords.shard_pattern(prefix)))
    return {int(d["source_id"]): d for d in (decoder.decode(r) for r in records)}


# case: (change, skipped boxes; every case converts 3 records; as a validation split, preflight accepts
# all but the segmentation-only JSON, which pycocotools cannot score: the line it is refused with)
CONVERTED = {
    "CMYK JPEG": (lambda r, d, c: _put(d, c, 1, encoded(mode="CMYK")), {}),
    "16-bit PNG": (lambda r, d, c: _put(d, c, 2, encoded(fmt="PNG", mode="I;16"), "2.png"), {}),
    "grayscale JPEG and RGBA PNG": (lambda r, d, c: _put(d, c, 1, encoded(mode="L")) or _put(
        d, c, 2, encoded(fmt="PNG", mode="RGBA"), "2.png"), {}),
    "EXIF-rotated JPEG, JSON gives the stored size": (lambda r, d, c: _put(d, c, 1, encoded(exif=_exif(6))), {}),
    "huge 8000x6000 JPEG": (lambda r, d, c: _put(d, c, 1, encoded((8000, 6000), flat=True)) or _size(
        c, 1, 8000, 6000), {}),
    "iscrowd box": (lambda r, d, c: c["annotations"][0].update(iscrowd=1), {}),
    "no iscrowd key": (lambda r, d, c: c["annotations"][0].pop("iscrowd"), {}),
    "segmentation-only annotation": (lambda r, d, c: c["annotations"].append(
        {"id": 9, "image_id": 1, "category_id": 1, "segmentation": [[4, 4, 14, 4, 14, 12]], "area": 40}),
        {"no bbox": 1}, "annotation id 9 lacks bbox"),
    "unicode, nested file names": (lambda r, d, c: _put(d, c, 2, encoded(), "sous dossier/ñandú/画像 2.jpg"), {}),
}


@pytest.mark.parametrize("case", CONVERTED)
def test_an_unusual_but_valid_dataset_converts_and_decodes(tmp_path, capsys, caplog, case):
    """Converts, decodes with Model Garden's decoder at the JSON's size, and as a validation split passes
    preflight (or not, as stated). Huge image: 8000x6000 decodes to 144 MB, once in the converter's check
    and once here; a flat JPEG keeps the file and the record under 1 MB."""
    change, skipped, *refused_as_val = CONVERTED[case]
    image_dir, coco = dataset(tmp_path)
    change(tmp_path, image_dir, coco)
    annotations = write_json(tmp_path / "instances.json", coco)
    code, out, prefix = _convert(tmp_path, capsys, image_dir, annotations)
    assert code == 0 and json.loads(out.out) == {"records": 3, "skipped_boxes": skipped}, out
    decoded = _decoded(prefix)
    for image in coco["images"]:
        assert tuple(decoded[image["id"]]["image"].shape) == (image["height"], image["width"], 3)
    names = split_checks.read(coco_tfrecords.shard_names(prefix, 1)[0]).names
    assert names == [image["file_name"] for image in coco["images"]]
    boxes = {i: d["groundtruth_is_crowd"].numpy().tolist() for i, d in decoded.items()}
    assert boxes == {1: [case == "iscrowd box"], 2: [False], 3: [False]}
    if case.startswith("EXIF"):
        assert "1 images carry an EXIF orientation, which TensorFlow ignores" in caplog.text
    try:
        check_split("validation_data", coco_tfrecords.shard_pattern(prefix), "task.annotation_file", annotations, 3)
        assert not refused_as_val
    except ConfigError as error:
        assert refused_as_val and refused_as_val[0] in str(error), error


def test_reconverting_replaces_earlier_shards_and_a_refusal_keeps_them(tmp_path, capsys):
    image_dir, coco = dataset(tmp_path)
    annotations = write_json(tmp_path / "instances.json", coco)
    assert _convert(tmp_path, capsys, image_dir, annotations, shards=3)[0] == 0
    code, _, prefix = _convert(tmp_path, capsys, image_dir, annotations, shards=2)
    assert code == 0 and sorted(os.listdir(tmp_path / "out")) == ["train-00000-of-00002.tfrecord",
                                                                 "train-00001-of-00002.tfrecord"]
    (image_dir / "3.jpg").write_bytes(b"broken")
    assert _convert(tmp_path, capsys, image_dir, annotations, shards=4)[0] == 2
    assert len(os.listdir(tmp_path / "out")) == 2 and len(_decoded(prefix)) == 3


def test_the_command_line_prints_one_line_and_no_traceback(tmp_path):
    image_dir, coco = dataset(tmp_path)
    annotations = write_json(tmp_path / "instances.json", coco)
    (image_dir / "2.jpg").write_bytes(_truncated())
    result = subprocess.run([sys.executable, "-m", "detection.data.coco_tfrecords", "--image_dir", str(image_dir),
                             "--annotations", annotations, "--output_prefix", str(tmp_path / "out" / "val")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.splitlines() == [f"error: {annotations}: image id 2 ('2.jpg'): cannot be decoded by "
                                          f"TensorFlow (jpeg::Uncompress failed. Invalid JPEG data or crop window.)"]
    assert not (tmp_path / "out").exists()
