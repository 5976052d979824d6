"""Group counts that follow the width (gn_groups_policy: width) and the channels per group a cell records.

Wu & He 2018 (Sec. 3.1, Table 3): GN's behaviour is set by its channels per group. The embedded RetinaNet
with GN's 32 groups has a median of 2 channels per group over its 26 GN layers; with the groups following
its quarter width it has the full R50-FPN RetinaNet's median, 8 (counted from the full config, unbuilt).
"""
import statistics

import pytest
from official.core import exp_factory, task_factory

import detection.registry_imports  # noqa: F401
from backbones.base import scaled
from backbones.resnet_v1 import VARIANTS, stage_blocks
from detection import group_norm_width
from detection.cell_config import experiment_config
from detection.configs import norm_configs
from detection.norm_stats import channels_per_group, group_norm_stats
from norm_layers.group_policy import group_count
from norm_layers.registry import gn_groups
from sweep.grid.spec import parse
from tests.sweep_documents import minimal_sweep


def test_group_count_policies():
    assert group_count("fixed", 32, 0.25) == 32
    assert group_count("width", 32, 0.25) == 8 and group_count("width", 32, 0.125) == 4
    assert group_count("width", 32, 1.0) == 32 and group_count("width", 2, 0.1) == 1
    with pytest.raises(ValueError, match=r"^unknown gn_groups_policy 'wide'; valid: fixed, width$"):
        group_count("wide", 32, 0.25)


def test_every_backbone_names_its_variants_width():
    from backbones.registration import BACKBONES
    assert {name: (cls.width("full"), cls.width("small")) for name, cls in BACKBONES.items()} == {
        name: (1.0, 0.25) for name in BACKBONES}
    with pytest.raises(ValueError, match=r"^unknown vgg_a variant 'tiny'; valid variants: full, small$"):
        BACKBONES["vgg_a"].width("tiny")


@pytest.mark.parametrize("experiment, widths", [
    ("frn_retinanet_embedded", {"backbone": 0.25, "decoder": 0.25, "head": 0.25}),
    ("frn_retinanet_coco", {"backbone": 1.0, "decoder": 1.0, "head": 1.0}),
    ("frn_faster_rcnn_embedded", {"backbone": 0.25, "decoder": 0.25, "rpn_head": 0.25, "detection_head": 0.125}),
    ("frn_faster_rcnn_coco", {"backbone": 1.0, "decoder": 1.0, "rpn_head": 1.0, "detection_head": 1.0}),
])
def test_component_widths_relative_to_the_full_detector(experiment, widths):
    assert group_norm_width.widths(exp_factory.get_exp_config(experiment).task.model) == widths


def _cell(norm="gn", policy=None, detector="retinanet"):
    changes = {"blocks/scratch/grid/norm": [norm], "blocks/scratch/grid/batch": [16], "detector": detector}
    if policy:
        changes["base/gn_groups_policy"] = policy
    return parse(minimal_sweep(**changes)).cells[0]


@pytest.mark.parametrize("detector, groups", [("retinanet", {"backbone": 8, "decoder": 8, "head": 8}),
                                              ("faster_rcnn", {"backbone": 8, "decoder": 8, "rpn_head": 8,
                                                               "detection_head": 4})])
def test_a_width_cell_sets_each_components_groups(detector, groups):
    for norm in ("gn", "gn_ws", "evonorm_s0"):
        params = experiment_config(_cell(norm, "width", detector), generate_data=False)
        assert {c: n.gn_groups for c, n in norm_configs(params.task.model).items()} == groups
    fixed = experiment_config(_cell("gn", None, detector), generate_data=False)
    assert {n.gn_groups for n in norm_configs(fixed.task.model).values()} == {32}


def _planned_cpg(model):
    """C/G of every norm of a resnet_v1 RetinaNet, counted from its config alone (nothing is built)."""
    blocks, width = VARIANTS[model.backbone.resnet_v1.variant]
    backbone = [scaled(64, width)]
    for _, block, filters, _ in stage_blocks(blocks, width):
        backbone += [filters, filters, 4 * filters] + ([4 * filters] if block == 0 else [])
    levels = model.max_level - model.min_level + 1
    per_component = {"backbone": backbone, "decoder": [model.decoder.norm_fpn.num_filters] * levels,
                     "head": [model.head.num_filters] * (2 * model.head.num_convs * levels)}
    groups = {c: n.gn_groups for c, n in norm_configs(model).items()}
    return sorted(c // gn_groups(c, groups[component]) for component, channels in per_component.items() for c in channels)


@pytest.mark.parametrize("norm, policy, expected", [
    ("gn", None, {"group_norm_layers": 26, "channels_per_group": {"min": 1, "median": 2, "max": 16}}),
    ("gn", "width", {"group_norm_layers": 26, "channels_per_group": {"min": 2, "median": 8, "max": 64}}),
    ("evonorm_s0", "width", {"group_norm_layers": 26, "channels_per_group": {"min": 2, "median": 8, "max": 64}}),
    ("in", "width", {"group_norm_layers": 26, "channels_per_group": {"min": 1, "median": 1, "max": 1}}),
    ("bn", "width", {"group_norm_layers": 0, "channels_per_group": None}),
])
def test_a_built_embedded_retinanet_records_its_channels_per_group(norm, policy, expected):
    params = experiment_config(_cell(norm, policy), generate_data=False)
    model = task_factory.get_task(params.task).build_model()
    assert group_norm_stats(model) == expected
    if norm in ("gn", "evonorm_s0"):  # the count from the config is the built model's
        assert sorted(channels_per_group(model)) == _planned_cpg(params.task.model)


def test_width_groups_give_the_embedded_model_the_full_r50_fpn_median():
    full = exp_factory.get_exp_config("frn_retinanet_coco").task.model
    for norm in norm_configs(full).values():
        norm.norm = "gn"
    full_cpg = _planned_cpg(full)
    assert len(full_cpg) == 98 and statistics.median(full_cpg) == 8  # 53 backbone, 5 FPN, 40 head norms
    embedded = experiment_config(_cell("gn", "width"), generate_data=False).task.model
    before = experiment_config(_cell("gn"), generate_data=False).task.model
    assert statistics.median(_planned_cpg(embedded)) == statistics.median(full_cpg) == 8
    assert statistics.median(_planned_cpg(before)) == 2
