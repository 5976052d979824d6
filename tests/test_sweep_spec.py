"""Sweep YAML: the paper's scaling rules exactly, stable cell ids, and one clear error per bad config."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from sweep.errors import SweepConfigError
from sweep.grid.cell import Cell, identity_of
from sweep.grid.spec import load, parse
from sweep.reports import ladder as ladders
from sweep.store.results import check_result
from tests.sweep_documents import DELETE, minimal_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = os.path.join(ROOT, "configs", "coco_retinanet_paper.yaml")


def test_paper_grid_follows_the_scaling_rules_exactly():
    sweep = load(PAPER)
    name, cells = sweep.name, sweep.cells
    assert name == "coco_retinanet_paper" and len(cells) == 72
    scratch = {(c.norm_label, c.batch, c.lr_mult): c for c in cells if c.block == "scratch"}
    assert len(scratch) == 7 * 3 * 3
    for (_, batch, m), cell in scratch.items():
        assert cell.lr == pytest.approx(m * batch / 64)
        assert cell.steps == 125_000 * 64 // batch
        assert cell.replicas == 8 and cell.per_replica_batch == batch // 8
        assert cell.init_checkpoint is None and cell.experiment == "frn_retinanet_coco"
    example = scratch[("frn", 16, 0.05)]
    assert (example.lr, example.steps) == (0.0125, 500_000)
    assert sorted({c.steps for c in scratch.values()}) == [125_000, 250_000, 500_000]
    finetuned = [c for c in cells if c.block == "finetuned"]
    assert sorted((c.batch, c.lr_mult, c.steps) for c in finetuned) == sorted(
        (b, m, 25_000 * 64 // b) for b in (64, 32, 16) for m in (0.01, 0.05, 0.1))
    assert all(c.norm_label == "frozen_bn/bn/bn" and c.init_checkpoint for c in finetuned)
    assert all(c.weight_decay == 4e-4 and c.momentum == 0.9 for c in cells)
    assert {c.warmup_steps for c in scratch.values() if c.batch == 64} == {500}


def test_faster_rcnn_grid():
    cells = load(os.path.join(ROOT, "configs", "coco_faster_rcnn.yaml")).cells
    assert len(cells) == 72 and all(c.experiment == "frn_faster_rcnn_coco" for c in cells)
    assert dict(cells[0].norms).keys() == {"backbone", "decoder", "rpn_head", "detection_head"}


def test_cell_ids_are_stable_and_distinct():
    first = load(PAPER).cells
    second = load(PAPER).cells
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert first[0].id.startswith("scratch-bn-b64-m0.01-s0-")


def _minimal(**changes):
    return minimal_sweep("t", **changes)


_DELETE = DELETE

BAD = [
    ({"sweep": "../../x"}, r"sweep: '\.\./\.\./x' is not a valid sweep name"),
    ({"sweep": _DELETE}, r"sweep: None is not a valid sweep name"),
    ({"detectr": "retinanet"}, r"detectr: unknown key \(did you mean 'detector'\?\)"),
    ({"detector": "yolo"}, r"detector: unknown detector 'yolo'; valid: retinanet, faster_rcnn"),
    ({"base/replica": 2}, r"base.replica: unknown key \(did you mean 'replicas'\?\)"),
    ({"base/replicas": "two"}, r"base.replicas: 'two' has type str; expected int"),
    ({"base/replicas": 0}, r"base.replicas: 0 is out of range; valid: in \[1, 4096\]"),
    ({"base/replicas": 3}, r"batch: 16 is not divisible by the 3 replicas; valid: a positive multiple of 3"),
    ({"base/weight_decay": -1e-4}, r"weight_decay: -0.0001 is out of range; valid: in \[0, 1\)"),
    ({"base/overrides": [1, 2]}, r"base.overrides: \[1, 2\] has type list; expected dict"),
    ({"blocks/scratch/grid/norm": [{"backbone": "frn"}]}, r"grid.norm: no norm for decoder, head"),
    ({"scaling/base_steps": 0}, r"base_steps: 0 is out of range; valid: in \[1, 1e\+09\]"),
    ({"scaling/base_batch": -64}, r"base_batch: -64 is out of range; valid: in \[1, 65536\]"),
    ({"scaling/schedule": "linear"}, r"schedule: unknown schedule 'linear'; valid: cosine, step"),
    ({"scaling/warmup_fraction": 1.5}, r"warmup_fraction: 1.5 is out of range; valid: in \[0, 1\)"),
    ({"scaling/base_stepz": 10}, r"scaling.base_stepz: unknown key \(did you mean 'base_steps'\?\)"),
    ({"blocks": {}}, r"blocks: expected a mapping .* at least one block"),
    ({"blocks": {"../evil": {"grid": {}}}}, r"blocks: '\.\./evil' is not a valid block name"),
    ({"blocks/scratch/grid/norm": []}, r"blocks.scratch.grid.norm: empty axis"),
    ({"blocks/scratch/grid/norm": ["bn", "frm"]}, r"grid.norm.backbone: unknown norm 'frm' \(did you mean 'frn'\?\)"),
    ({"blocks/scratch/grid/batch": [16, 7]}, r"blocks.scratch.grid.batch: 7 is not divisible by the 2 replicas"),
    ({"blocks/scratch/grid/batch": [16.5]}, r"grid.batch: 16.5 has type float; expected int"),
    ({"blocks/scratch/grid/batch": [True]}, r"grid.batch: True has type bool; expected int"),
    ({"blocks/scratch/grid/lr_mult": [0.1, -0.1]}, r"lr_mult: -0.1 is out of range; valid: a positive number"),
    ({"blocks/scratch/grid/lr_mult": [0]}, r"lr_mult: 0 is out of range; valid: a positive number"),
    ({"blocks/scratch/grid/nrom": ["bn"]}, r"blocks.scratch.grid.nrom: unknown key \(did you mean 'norm'\?\)"),
    ({"blocks/scratch/grid/batch": [1_000_000]}, r"batch: 1000000 is out of range; valid: in \[1, 65536\]"),
    ({"blocks/scratch/grid/batch": [32768], "scaling/base_steps": 1}, r"batch: 32768 gives 0 steps"),
    ({"blocks/scratch/grid/activation": ["gelu"]}, r"activation: unknown activation 'gelu'"),
    ({"blocks/scratch/gird": {}}, r"blocks.scratch.gird: unknown key \(did you mean 'grid'\?\)"),
    ({"data": "imagenet"}, r"data: 'imagenet' is not 'embedded' or a mapping"),
    ({"data": {"train": "a*", "val": "b*"}}, r"data.annotations: None must be a path"),
    ({"data": {"train": "a*", "val": "b*", "annotations": "c.json", "select_val": "s*"}},
     r"data.select_val: given without data.select_annotations; the selection split needs both"),
    ({"data": {"train": "a*", "val": "b*", "annotations": "c.json", "select_val": "", "select_annotations": "s.json"}},
     r"data.select_val: '' must be a path or glob"),
    ({"pretrain": {"images": 4}}, r"pretrain.images: 4 is out of range; valid: in \[8, 1e\+06\]"),
    ({"blocks/scratch/base": {"init_checkpoint": "pretrain"}}, r"'pretrain' needs a top-level pretrain section"),
    ({"pretrain": {"steps": 0}}, r"pretrain.steps: 0 is out of range; valid: in \[1, 1e\+07\]"),
    ({"pretrain": {"stpes": 10}}, r"pretrain.stpes: unknown key \(did you mean 'steps'\?\)"),
    ({"jobs": 0}, r"jobs: 0 is out of range; valid: in \[1, 64\]"),
    ({"jobs": 10**6}, r"jobs: 1000000 is out of range; valid: in \[1, 64\]"),
    ({"jobs": "2"}, r"jobs: '2' has type str; expected int"),
    ({"sweep": "a/b"}, r"sweep: 'a/b' is not a valid sweep name"),
    ({"sweep": "x" * 65}, r"sweep: 'x+' is not a valid sweep name"),
    ({"sweep": "/etc/passwd"}, r"sweep: '/etc/passwd' is not a valid sweep name"),
    ({"blocks": {"..": {"grid": {}}}}, r"blocks: '\.\.' is not a valid block name"),
    ({"base/replicas": 10**6}, r"base.replicas: 1000000 is out of range; valid: in \[1, 4096\]"),
    ({"base/gn_groups_policy": "wide"},
     r"blocks.scratch.base.gn_groups_policy: unknown gn_groups_policy 'wide' \(did you mean 'width'\?\); valid: fixed, width"),
    ({"base/gn_groups_policy": 8}, r"base.gn_groups_policy: 8 has type int; expected str"),
]


@pytest.mark.parametrize("changes, message", BAD, ids=[m[:40] for _, m in BAD])
def test_malformed_config_gives_one_line_error(changes, message):
    with pytest.raises(SweepConfigError, match=message) as error:
        parse(_minimal(**changes), "t.yaml")
    assert "\n" not in str(error.value)


def test_minimal_config_is_valid():
    cells = parse(_minimal()).cells
    assert [(c.norm_label, c.batch, c.steps, c.lr) for c in cells[:3]] == [
        ("bn", 16, 100, 0.1), ("bn", 8, 200, 0.05), ("bn", 4, 400, 0.025)]


def _cli(tmp_path, text_or_bytes):
    path = tmp_path / "sweep.yaml"
    (path.write_bytes if isinstance(text_or_bytes, bytes) else path.write_text)(text_or_bytes)
    code = ("import sys, run_sweep; rc = run_sweep.main(['plan', sys.argv[1]]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("content, message", [
    ("sweep: t\nblocks: {a: {grid: {batch: [16, 7]}}}\nbase: {replicas: 2}\n", "7 is not divisible by the 2 replicas"),
    ("sweep: t\nblocks: [unclosed\n", "malformed YAML"),
    ("sweep: t\n  bad indent: 1\n x: 2\n", "malformed YAML"),
    (b"sweep: t\xff\xfe\n", "not UTF-8"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_cli_exit_code_2_without_tensorflow(tmp_path, content, message):
    result = _cli(tmp_path, content)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_plan_lists_every_cell_without_tensorflow(tmp_path):
    result = _cli(tmp_path, yaml.safe_dump(_minimal()))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sweep t: 6 cells" and lines[-1].startswith("total: 6 cells, 1,400 steps")


def test_pretrain_feeds_the_fine_tuned_block():
    cells = parse(_minimal(**{"pretrain": {"steps": 50}, "blocks/ft": {
        "base": {"init_checkpoint": "pretrain", "norm": {"backbone": "frozen_bn", "decoder": "bn", "head": "bn"}},
        "scaling": {"base_steps": 20}, "grid": {"batch": [16, 4]}}})).cells
    tuned = [c for c in cells if c.block == "ft"]
    assert [(c.batch, c.steps) for c in tuned] == [(16, 20), (4, 80)]
    assert all(dict(c.pretrain)["steps"] == 50 for c in tuned)
    assert all(c.pretrain is None for c in cells if c.block == "scratch")


def test_missing_file(tmp_path):
    with pytest.raises(SweepConfigError, match="cannot read the sweep file"):
        load(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".yaml")))
def test_every_shipped_sweep_file_loads(name):
    """Sweep files, and ladder files (a `verdict` key: sweep/reports/ladder.py), whose rungs are sweep files."""
    path = os.path.join(ROOT, "configs", name)
    with open(path) as f:
        if "verdict" in yaml.safe_load(f):
            ladder = ladders.load(path)
            assert ladder.name == name[:-5] and all(rung.sweep.cells for rung in ladder.rungs)
            return
    sweep = load(path)
    assert sweep.name == name[:-5] and sweep.cells


def test_gn_groups_policy_is_in_a_cells_id_and_record_only_when_not_the_default():
    plain, fixed, width = (parse(_minimal(**changes)).cells[0] for changes in
                           ({}, {"base/gn_groups_policy": "fixed"}, {"base/gn_groups_policy": "width"}))
    assert plain == fixed and plain.id == fixed.id and plain.gn_groups_policy == "fixed"
    assert "gn_groups_policy" not in plain.as_dict() and "gn_groups_policy" not in plain.identity
    assert width.id != plain.id and width.as_dict()["gn_groups_policy"] == width.identity["gn_groups_policy"] == "width"
    assert Cell.from_dict(width.as_dict()) == width and Cell.from_dict(plain.as_dict()) == plain
    recorded = json.loads(json.dumps({**plain.as_dict(), "gn_groups_policy": "fixed"}))  # as a result file has it
    assert identity_of(recorded) == plain.identity


@pytest.mark.parametrize("name", ["default", "embedded_study", "embedded_study_edges"])
def test_every_committed_reference_result_is_still_its_cells_result(name):
    """Cell ids and identities did not move: each committed result file is a valid result of a cell of its sweep."""
    cells = {c.id: c for c in load(os.path.join(ROOT, "configs", f"{name}.yaml")).cells}
    folder = os.path.join(ROOT, "results", "reference", name, "cells")
    recorded = {f[:-5] for f in os.listdir(folder) if f.endswith(".json")}
    assert recorded == set(cells)
    for cell_id in recorded:
        with open(os.path.join(folder, f"{cell_id}.json")) as f:
            assert check_result(json.load(f), cells[cell_id]) is None, cell_id


def _twins(one, other, key=lambda c: (c.norm_label, c.batch, c.lr_mult, c.seed)):
    """(cell, its twin) for every cell of sweep file `one` with a twin in `other`, matched by `key`."""
    theirs = {key(c): c for c in load(os.path.join(ROOT, "configs", other)).cells}
    pairs = [(c, theirs[key(c)]) for c in load(os.path.join(ROOT, "configs", one)).cells if key(c) in theirs]
    assert pairs
    return pairs


def _differ(cell, twin):
    a, b = identity_of(cell.as_dict()), identity_of(twin.as_dict())
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


@pytest.mark.parametrize("rung, moved", [
    ("ladder_r1_schedule4x.yaml", {"steps", "warmup_steps"}),
    ("ladder_r2_resolution2x.yaml", {"image_size"}),
    ("ladder_r3_real_trees.yaml", {"data", "overrides"}),  # real photos; their val split evaluated whole
])
def test_each_later_ladder_rung_moves_one_factor_from_r0(rung, moved):
    pairs = _twins(rung, "ladder_r0.yaml")
    assert len(pairs) == 36 and {c.lr_mult for c, _ in pairs} == {0.03, 0.1}
    for cell, twin in pairs:
        assert _differ(cell, twin) == {"sweep"} | moved and cell.evals == twin.evals == 4
        if "steps" in moved:
            assert cell.steps == 4 * twin.steps
        if "image_size" in moved:
            assert (twin.image_size, cell.image_size) == (None, 256)  # None: the generated data's 128 px
        if "data" in moved:
            assert dict(cell.data)["val"].startswith("data/trees/") and dict(cell.overrides) == {
                "task.validation_data.global_batch_size": "22", "trainer.validation_steps": "4"}  # 86 tiles


def test_ladder_r0_is_the_embedded_study_with_groups_that_follow_the_width():
    pairs = _twins("ladder_r0.yaml", "embedded_study.yaml")
    assert {c.norm_label for c, _ in pairs} == {"bn", "gn", "frn"} and len(pairs) == 36
    assert all(_differ(cell, twin) == {"sweep", "gn_groups_policy"} for cell, twin in pairs)
    r0 = load(os.path.join(ROOT, "configs", "ladder_r0.yaml")).cells
    assert {c.norm_label for c in r0} == {"bn", "gn", "frn", "in", "frn_relu"} and len(r0) == 60
    assert all(c.evals == 4 and c.gn_groups_policy == "width" for c in r0)


def test_ladder_r0s_committed_bn_and_frn_cells_reproduce_the_studys_bit_for_bit():
    """Groups that follow the width change GN layers only: r0's BN and FRN cells are the embedded study's, run
    again (another day, same kind of CPU), and their committed APs agree to the last digit; GN's differ."""
    committed = {}
    for name in ("embedded_study", "ladder_r0"):
        cells = {c.id: c for c in load(os.path.join(ROOT, "configs", f"{name}.yaml")).cells}
        folder = os.path.join(ROOT, "results", "reference", name, "cells")
        for cell_id in {f[:-5] for f in os.listdir(folder) if f.endswith(".json")} & set(cells):
            with open(os.path.join(folder, f"{cell_id}.json")) as f:
                cell, result = cells[cell_id], json.load(f)
            if cell.block == "scratch" and result["status"] == "finished":
                committed.setdefault(name, {})[(cell.norm_label, cell.batch, cell.lr_mult, cell.seed)] = result["coco"]["AP"]
    shared = set(committed["embedded_study"]) & set(committed["ladder_r0"])
    same = {k for k in shared if committed["embedded_study"][k] == committed["ladder_r0"][k]}
    assert {k for k in shared if k[0] in ("bn", "frn")} == same and len(same) >= 8
    assert not any(k[0] == "gn" for k in same)


def test_the_lr_edge_probe_extends_the_studys_gn_cells():
    """configs/embedded_study_edges.yaml: GN at m = 0.3 with every other setting of the study's GN cells."""
    study = {(c.batch, c.seed): c for c in load(os.path.join(ROOT, "configs", "embedded_study.yaml")).cells
             if c.block == "scratch" and c.norm_label == "gn" and c.lr_mult == 0.1}
    probe = load(os.path.join(ROOT, "configs", "embedded_study_edges.yaml")).cells
    assert sorted((c.batch, c.seed) for c in probe) == sorted(study) and len(probe) == 6
    differ = ("sweep", "lr_mult", "lr")
    for cell in probe:
        twin = study[(cell.batch, cell.seed)]
        assert cell.lr_mult == 0.3 and cell.lr == pytest.approx(3 * twin.lr)
        same = {k: v for k, v in identity_of(cell.as_dict()).items() if k not in differ}
        assert same == {k: v for k, v in identity_of(twin.as_dict()).items() if k not in differ}
