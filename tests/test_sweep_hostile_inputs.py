"""Every bad sweep file is refused before anything runs: through the CLI, as a user would meet it.

Each case runs `run_sweep.py` in a subprocess and asserts exit code 2, one line on stderr naming
the key (or file), no traceback, nothing written (no results/, runs/ or generated data) and an
answer within the subprocess timeout: a hang fails the test instead of blocking CI.
"""
import os
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml

from tests.detection_data import tiny_dataset
from tests.sweep_documents import minimal_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAN_TIMEOUT = 20  # seconds; `plan` answers in well under one (no TensorFlow)
RUN_TIMEOUT = 120  # `run` imports TensorFlow and Model Garden before its checks


def _base(**changes):
    """A valid embedded sweep (6 cells); changes are 'a/b/c' paths -> values."""
    return minimal_sweep("h", **changes)


def _cli(tmp_path, command, config, *extra, timeout=PLAN_TIMEOUT):
    env = dict(os.environ, FRN_BENCH_DATA=str(tmp_path / "generated"), CUDA_VISIBLE_DEVICES="-1",
               TF_CPP_MIN_LOG_LEVEL="3")
    roots = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")] if command != "plan" else []
    result = subprocess.run([sys.executable, "run_sweep.py", command, str(config), *roots, *extra], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout, env=env)
    return result


def _assert_refused(tmp_path, result, *needles):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    for written in ("results", "runs", "generated"):
        assert not (tmp_path / written).exists(), f"{written}/ was created by a refused command"


def _write(tmp_path, document_or_text):
    path = tmp_path / "sweep.yaml"
    path.write_text(document_or_text if isinstance(document_or_text, str) else yaml.safe_dump(document_or_text))
    return path


# -- 1. non-finite numbers ------------------------------------------------------------------------
NON_FINITE = [
    ("blocks/scratch/grid/lr_mult", ".nan", "lr_mult"),
    ("blocks/scratch/grid/lr_mult", ".inf", "lr_mult"),
    ("base/lr_mult", "-.inf", "base.lr_mult"),
    ("base/momentum", ".nan", "base.momentum"),
    ("base/bn_momentum", ".inf", "base.bn_momentum"),
    ("base/weight_decay", ".nan", "base.weight_decay"),
    ("scaling/warmup_fraction", ".nan", "scaling.warmup_fraction"),
    ("pretrain/lr", ".inf", "pretrain.lr"),
    ("blocks/scratch/grid/weight_decay", "[0.0001, .nan]", "grid.weight_decay"),
    ("blocks/scratch/grid/bn_momentum", "[.inf]", "grid.bn_momentum"),
]


@pytest.mark.parametrize("dotted, literal, key", NON_FINITE, ids=[f"{d}={v}" for d, v, _ in NON_FINITE])
def test_non_finite_numbers_are_refused(tmp_path, dotted, literal, key):
    placeholder = 12345.678
    text = yaml.safe_dump(_base(**{dotted: placeholder})).replace(str(placeholder), literal)
    _assert_refused(tmp_path, _cli(tmp_path, "plan", _write(tmp_path, text)), key, "finite")


def test_an_lr_multiplier_whose_lr_overflows_is_refused(tmp_path):
    document = _base(**{"blocks/scratch/grid/lr_mult": [1e308], "blocks/scratch/grid/batch": [64]})
    _assert_refused(tmp_path, _cli(tmp_path, "plan", _write(tmp_path, document)), "lr_mult", "inf")


# -- 2. values outside their meaning ----------------------------------------------------------------
OUT_OF_RANGE = [
    ({"base/bn_momentum": 1.5}, "base.bn_momentum: 1.5"),
    ({"base/bn_momentum": 1.0}, "base.bn_momentum: 1.0"),
    ({"base/momentum": -0.1}, "base.momentum: -0.1"),
    ({"base/image_size": 0}, "base.image_size: 0"),
    ({"base/image_size": -64}, "base.image_size: -64"),
    ({"base/image_size": 100}, "image_size: 100 is not a multiple of 32"),
    ({"base/image_size": 600, "scale": "paper"}, "image_size: 600 is not a multiple of 128"),
    ({"base/seed": -1}, "base.seed: -1"),
    ({"blocks/scratch/grid/seed": [0, 2**64]}, "grid.seed: 18446744073709551616"),
    ({"base/gn_groups": 10**6}, "base.gn_groups: 1000000"),
    ({"base/gn_groups": 1024}, "gn_groups: 1024 groups exceed the 512 channels"),
    ({"base/weight_decay": 2.0}, "base.weight_decay: 2.0"),
    ({"scaling/warmup_fraction": 1.0}, "scaling.warmup_fraction: 1.0"),
    ({"base/replicas": 0}, "base.replicas: 0"),
    ({"pretrain/image_size": 50}, "pretrain.image_size: 50 is not a multiple of 32"),
    ({"pretrain/lr": 0}, "pretrain.lr: 0"),
    ({"pretrain/seed": -5}, "pretrain.seed: -5"),
    ({"scaling/base_steps": 10**12}, "scaling.base_steps: 1000000000000"),
]


@pytest.mark.parametrize("changes, needle", OUT_OF_RANGE, ids=[n for _, n in OUT_OF_RANGE])
def test_values_outside_their_meaning_are_refused(tmp_path, changes, needle):
    _assert_refused(tmp_path, _cli(tmp_path, "plan", _write(tmp_path, _base(**changes))), needle, "valid")


DATA_VALUES = [
    ("ten", "data.num_classes: 'ten' has type str"),
    (-3, "data.num_classes: -3 is out of range"),
    (True, "data.num_classes: True has type bool"),
    (1, "data.num_classes: 1 is out of range"),
]


@pytest.mark.parametrize("num_classes, needle", DATA_VALUES, ids=[n for _, n in DATA_VALUES])
def test_bad_num_classes_are_refused(tmp_path, num_classes, needle):
    document = _base(data={"train": "a*", "val": "b*", "annotations": "c.json", "num_classes": num_classes})
    _assert_refused(tmp_path, _cli(tmp_path, "plan", _write(tmp_path, document)), needle)


# -- 3. sizes ----------------------------------------------------------------------------------------
def test_a_grid_of_millions_of_cells_is_refused_before_expansion(tmp_path):
    axes = {"blocks/scratch/grid/seed": list(range(300)), "blocks/scratch/grid/lr_mult": [0.01 * (i + 1) for i in range(300)],
            "blocks/scratch/grid/weight_decay": [1e-5 * i for i in range(300)]}
    result = _cli(tmp_path, "plan", _write(tmp_path, _base(**axes)))
    _assert_refused(tmp_path, result, "blocks: the grids expand to 162,000,000 cells", "at most 100,000")


def test_blocks_add_up_to_the_cell_limit(tmp_path):
    blocks = {f"b{i}": {"grid": {"seed": list(range(400)), "lr_mult": [0.01 * (j + 1) for j in range(50)]}}
              for i in range(6)}  # 6 x 20,000 = 120,000
    _assert_refused(tmp_path, _cli(tmp_path, "plan", _write(tmp_path, _base(blocks=blocks))), "120,000 cells")


def test_a_sweep_file_over_one_mebibyte_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("sweep: h\n# " + "x" * (1 << 20) + "\n")
    _assert_refused(tmp_path, _cli(tmp_path, "plan", path), "huge.yaml", "at most 1,048,576")


# -- 4. special files --------------------------------------------------------------------------------
def _fifo(tmp_path):
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


def _link_to_fifo(tmp_path):
    link = tmp_path / "link.yaml"
    link.symlink_to(_fifo(tmp_path))
    return link


SPECIAL = {
    "fifo nobody writes": _fifo,
    "symlink to a fifo": _link_to_fifo,
    "character device /dev/zero": lambda tmp_path: "/dev/zero",
    "character device /dev/null": lambda tmp_path: "/dev/null",
    "a directory": lambda tmp_path: tmp_path,
}


@pytest.mark.parametrize("kind", SPECIAL)
def test_a_sweep_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = SPECIAL[kind](tmp_path)
    result = _cli(tmp_path, "plan", path)
    _assert_refused(tmp_path, result, str(path), "not a regular file")


# -- 5. --only that matches nothing ------------------------------------------------------------------
@pytest.mark.parametrize("only", ["scratch-frm-*", "no-such-cell", "scratch-bn-*,typo-*"])
def test_only_matching_no_cell_is_an_error_with_examples(tmp_path, only):
    result = _cli(tmp_path, "plan", _write(tmp_path, _base()), "--only", only)
    _assert_refused(tmp_path, result, "--only:", "matches no cell", "scratch-bn-b16-m0.1-s0-")


# -- 6. data files that are not what they claim (run's checks) ----------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("hostile") / "data")


def _files_document(data, **changes):
    files = {"train": data.tfrecords("train"), "val": data.tfrecords("val"), "annotations": data.annotations("val"),
             "num_classes": data.num_classes}
    files.update(changes)
    return _base(data=files, scale="embedded", **{"base/image_size": 64, "blocks/scratch/grid/batch": [4],
                                "blocks/scratch/grid/norm": ["frn"]})


def _record_file(path, payloads):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    return str(path)


def _bad_data(tmp_path, data):
    example_without_image = tf.train.Example(features=tf.train.Features(feature={
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[64]))})).SerializeToString()
    (tmp_path / "notes.txt").write_text("these are not records\n" * 20)
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    (tmp_path / "broken.json").write_text('{"images": [')
    (tmp_path / "no_categories.json").write_text('{"images": [], "annotations": []}')
    (tmp_path / "bad_entry.json").write_text('{"images": [{"id": 1}], "annotations": [{"image_id": 1}], '
                                             '"categories": [{"id": 1}]}')
    return {
        "train glob names a JSON file": ({"train": data.annotations("train")}, "train_data.input_path"),
        "train glob names a text file": ({"train": str(tmp_path / "notes.txt")}, "notes.txt"),
        "val records are not Examples": ({"val": _record_file(tmp_path / "raw.tfrecord", [b"\x00\x01junk"] * 3)},
                                         "validation_data.input_path"),
        "train Examples have no image": ({"train": _record_file(tmp_path / "noimg.tfrecord", [example_without_image])},
                                         "image/encoded"),
        "annotations are a JSON list": ({"annotations": str(tmp_path / "list.json")}, "list.json"),
        "annotations are broken JSON": ({"annotations": str(tmp_path / "broken.json")}, "not JSON"),
        "annotations lack categories": ({"annotations": str(tmp_path / "no_categories.json")}, "'categories'"),
        "an annotation lacks its bbox": ({"annotations": str(tmp_path / "bad_entry.json")},
                                         "an entry of 'annotations' lacks id, category_id, bbox, area"),
        "val records hold no image": ({"val": _record_file(tmp_path / "empty.tfrecord", [])}, "hold no records"),
        "val JSON of another split": ({"annotations": data.annotations("train")}, "the annotation file of another split"),
    }


BAD_DATA = ["train glob names a JSON file", "train glob names a text file", "val records are not Examples",
            "train Examples have no image", "annotations are a JSON list", "annotations are broken JSON",
            "annotations lack categories", "an annotation lacks its bbox", "val records hold no image",
            "val JSON of another split"]


@pytest.mark.parametrize("case", BAD_DATA)
def test_data_files_that_are_not_tfrecords_or_coco_are_refused_before_training(tmp_path, data, case):
    (tmp_path / "files").mkdir()
    change, needle = _bad_data(tmp_path / "files", data)[case]
    result = _cli(tmp_path, "run", _write(tmp_path, _files_document(data, **change)), timeout=RUN_TIMEOUT)
    _assert_refused(tmp_path, result, needle)


# -- 7. Model Garden fields our builders ignore --------------------------------------------------------
IGNORED = [
    ({"task.model.head.use_separable_conv": True}, "task.model.head.use_separable_conv: True"),
    ({"task.model.head.share_classification_heads": True}, "head.share_classification_heads"),
    ({"task.model.detection_generator.tflite_post_processing": {"max_detections": 10}}, "tflite_post_processing"),
    ({"task.model.norm_activation": {"activation": "swish"}}, "task.model.norm_activation"),
]


@pytest.mark.parametrize("overrides, needle", IGNORED, ids=[n for _, n in IGNORED])
def test_model_garden_fields_our_builders_ignore_are_refused(tmp_path, overrides, needle):
    document = _base(**{"base/overrides": overrides, "blocks/scratch/grid/norm": ["frn"], "blocks/scratch/grid/batch": [16]})
    result = _cli(tmp_path, "run", _write(tmp_path, document), timeout=RUN_TIMEOUT)
    _assert_refused(tmp_path, result, needle, "not used by this suite's builders")
