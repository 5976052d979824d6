"""What the sweep needs to know of each detector, importable without TensorFlow.

Sweep files are validated against these before any model is built (sweep/grid/spec.py);
detection/experiments.py checks at import that every registered experiment agrees (its name,
its normalized components, its coarsest feature stride, its widest normalized layer), so adding
a detector or a scale means one row here plus its experiment, and a wrong row fails at once.
"""
DETECTORS = {"retinanet": "frn_retinanet", "faster_rcnn": "frn_faster_rcnn"}  # -> experiment name prefix
SCALES = {"embedded": "embedded", "paper": "coco"}  # the CPU-sized models or the paper's R50-FPN -> suffix
# the components that carry a norm_activation config, in the order of detection/configs.py norm_configs
COMPONENTS = {"retinanet": ("backbone", "decoder", "head"),
              "faster_rcnn": ("backbone", "decoder", "rpn_head", "detection_head")}
# (detector, scale) -> the stride of the coarsest feature level (2^max_level): inputs are a multiple of it
COARSEST_STRIDE = {("retinanet", "embedded"): 32, ("faster_rcnn", "embedded"): 32,
                   ("retinanet", "paper"): 128, ("faster_rcnn", "paper"): 64}
# scale -> channels of the widest normalized layer (the backbone's last stage). GN uses the largest
# group count <= gn_groups that divides a layer's channels (norm_layers/registry.py), so a narrow
# layer gets fewer groups; more groups than the widest layer has channels is InstanceNorm everywhere.
WIDEST_CHANNELS = {"embedded": 512, "paper": 2048}


def experiment_name(detector, scale):
    """The registered Model Garden experiment of `detector` at `scale` (detection/experiments.py)."""
    return f"{DETECTORS[detector]}_{SCALES[scale]}"
