"""ResNet v1 with bottleneck blocks (He et al. 2016), laid out as Model Garden's ResNet-50.

Stride sits on the 3x3 conv ("v1.5", as in Model Garden); the norm before each residual add
has no activation and the activation after the add comes from the same factory (TLU for FRN).
"""
import tf_keras

from backbones.base import MultilevelBackbone, scaled

# variant -> (blocks per stage for levels 2..5, width multiplier)
VARIANTS = {
    "full": ((3, 4, 6, 3), 1.0),     # ResNet-50
    "small": ((1, 1, 1, 1), 0.25),   # CPU runs: 4 bottlenecks, widths 16-32-64-128 (x4 out)
}
STAGE_FILTERS = (64, 128, 256, 512)


def bottleneck_v1(x, filters, strides, projection, norm_act, conv, name):
    shortcut = x
    if projection:
        shortcut = conv(4 * filters, 1, strides, name=f"{name}_shortcut_conv")(x)
        shortcut = norm_act(4 * filters, apply_act=False, name=f"{name}_shortcut_norm")(shortcut)
    x = conv(filters, 1, name=f"{name}_conv1")(x)
    x = norm_act(filters, name=f"{name}_norm1")(x)
    x = conv(filters, 3, strides, name=f"{name}_conv2")(x)
    x = norm_act(filters, name=f"{name}_norm2")(x)
    x = conv(4 * filters, 1, name=f"{name}_conv3")(x)
    x = norm_act(4 * filters, apply_act=False, name=f"{name}_norm3")(x)
    x = tf_keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return norm_act.act_only(name=f"{name}_out_act")(x)


def stage_blocks(blocks, width):
    """(level, block index, filters, strides) of every bottleneck: levels 2..5, stride 2 on the first
    block of levels 3..5 (so each stage output is one level)."""
    for level, (repeats, filters) in enumerate(zip(blocks, STAGE_FILTERS), start=2):
        for block in range(repeats):
            yield level, block, scaled(filters, width), 2 if (block == 0 and level > 2) else 1


class ResNetV1(MultilevelBackbone):
    """Endpoints '2'..'5' (strides 4..32); the BN 'full' variant is Model Garden's ResNet-50."""

    ARCH, VARIANTS = "resnet_v1", VARIANTS

    @staticmethod
    def _build(inputs, setting, make, conv):
        blocks, width = setting
        stem = scaled(64, width)
        x = conv(stem, 7, 2, name="stem_conv")(inputs)
        x = make(stem, name="stem_norm")(x)
        x = tf_keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
        endpoints = {}
        for level, block, filters, strides in stage_blocks(blocks, width):
            x = bottleneck_v1(x, filters, strides, block == 0, make, conv, f"l{level}_b{block + 1}")
            endpoints[str(level)] = x  # the stage's last block stays
        return endpoints
