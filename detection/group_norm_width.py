"""Each component's group count by the cell's gn_groups_policy (norm_layers/group_policy.py).

`width` scales a component's gn_groups by its width relative to the full-size R50-FPN detector, so
every group norm (gn, gn_ws, evonorm_s0) keeps the channels per group of its full-size counterpart
(Wu & He 2018, Sec. 3.1 and Table 3). The embedded detectors are a quarter of the full width
(backbone variant 'small', FPN and heads at 64 of 256 filters): G = 32 -> 8; the embedded Faster
R-CNN's box head an eighth (fcs of 128 of 1,024): G = 4.
"""
from backbones.registration import BACKBONES
from detection.configs import norm_configs
from norm_layers.group_policy import DEFAULT_POLICY, group_count

# (field, its value in the full-size detectors: Model Garden's retinanet_resnetfpn_coco and
# fasterrcnn_resnetfpn_coco, as frn_retinanet_coco / frn_faster_rcnn_coco use them)
FULL_WIDTH = {"num_filters": 256, "fc_dims": 1024}


def _fraction(config, field):
    return getattr(config, field) / FULL_WIDTH[field]


def _box_head(model):
    """Faster R-CNN's box head normalizes its convs (num_filters) and its fcs (fc_dims): one width for both."""
    head = model.detection_head
    widths = {_fraction(head, field) for field, used in (("num_filters", head.num_convs), ("fc_dims", head.num_fcs))
              if used}
    if len(widths) > 1:
        raise ValueError(f"detection_head: num_filters {head.num_filters} and fc_dims {head.fc_dims} are different "
                         f"fractions of the full {FULL_WIDTH['num_filters']} and {FULL_WIDTH['fc_dims']}; "
                         f"gn_groups_policy 'width' needs one (valid: both the same fraction, or policy 'fixed')")
    return widths.pop() if widths else 1.0


def _backbone(model):
    kind = model.backbone.type
    if kind not in BACKBONES:
        raise ValueError(f"backbone {kind!r} has no width variants; gn_groups_policy 'width' needs one of "
                         f"{', '.join(BACKBONES)} (or policy 'fixed')")
    return BACKBONES[kind].width(model.backbone.get().variant)


# component -> its width relative to the full-size detector, from the model config
WIDTHS = {
    "backbone": _backbone,
    "decoder": lambda model: _fraction(model.decoder.get(), "num_filters"),
    "head": lambda model: _fraction(model.head, "num_filters"),
    "rpn_head": lambda model: _fraction(model.rpn_head, "num_filters"),
    "detection_head": _box_head,
}


def widths(model_config):
    """{component: width relative to the full-size detector} of a RetinaNet or FasterRCNN model config."""
    return {component: WIDTHS[component](model_config) for component in norm_configs(model_config)}


def apply(model_config, policy):
    """Sets every component's gn_groups by `policy` from its configured gn_groups and its width; the
    default policy leaves the config as it is."""
    if policy == DEFAULT_POLICY:
        return model_config
    norms = norm_configs(model_config)
    for component, width in widths(model_config).items():
        norms[component].gn_groups = group_count(policy, norms[component].gn_groups, width)
    return model_config
