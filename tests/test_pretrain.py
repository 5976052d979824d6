"""The pretrain step (the fine-tuned baseline's backbone): deterministic, on a distinct source set."""
import json
import os

import numpy as np
import tensorflow as tf

from sweep.execution import pretrain_main

TINY = {"steps": 4, "batch": 4, "lr": 0.01, "images": 12, "image_size": 64, "norm": "bn", "seed": 0}


def _values(checkpoint_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(checkpoint_dir))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("backbone/")}


def test_pretrain_is_deterministic_and_writes_a_backbone_checkpoint(tmp_path):
    first = pretrain_main.pretrain(TINY, str(tmp_path / "a"), data_root=str(tmp_path / "data"))
    second = pretrain_main.pretrain(TINY, str(tmp_path / "b"), data_root=str(tmp_path / "data"))
    a, b = _values(first["checkpoint_dir"]), _values(second["checkpoint_dir"])
    assert len(a) > 50 and a.keys() == b.keys()
    moving = [name for name in a if "moving_mean" in name]
    assert moving and not np.allclose(a[moving[0]], 0.0)  # BN statistics were trained, not left at init
    assert all(np.array_equal(a[name], b[name]) for name in a), "same seed, same machine: same values"
    assert first["source_coco"] == second["source_coco"] and first["steps"] == 4
    other = pretrain_main.pretrain({**TINY, "seed": 1}, str(tmp_path / "c"), data_root=str(tmp_path / "data"))
    c = _values(other["checkpoint_dir"])
    assert any(not np.array_equal(a[name], c[name]) for name in a)  # the seed matters


def test_the_source_set_shares_no_image_with_the_embedded_data(tmp_path):
    from detection.data import embedded
    spec = pretrain_main.source_spec(TINY)
    assert spec.seed != embedded.Spec().seed and spec.select_images == 0
    source = embedded.ensure(str(tmp_path / "source"), spec)
    target = embedded.ensure(str(tmp_path / "target"), embedded.Spec(train_images=12, val_images=3, select_images=0,
                                                                       image_size=64))
    def boxes(data):
        with open(data.annotations("train")) as f:
            return json.dumps(sorted((a["image_id"], a["bbox"]) for a in json.load(f)["annotations"]))
    assert boxes(source) != boxes(target)
    assert os.path.exists(source.annotations("val")) and not os.path.exists(source.annotations("select"))
