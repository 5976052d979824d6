"""ResNet v2: pre-activation bottlenecks (He et al., "Identity Mappings", ECCV 2016).

The paper's classifier (FRN Sec. 4.1). Layout of tf_keras.applications.ResNet50V2 except that
the stride sits in the first block of each stage (as in ResNet v1 here) so that stage outputs
are the levels; convs have no bias. Level 5 ends with the final norm + activation.
"""
import tf_keras

from backbones.base import MultilevelBackbone, scaled
from backbones.resnet_v1 import VARIANTS, stage_blocks


def bottleneck_v2(x, in_channels, filters, strides, norm_act, conv, name):
    preact = norm_act(in_channels, name=f"{name}_preact_norm")(x)
    if strides > 1 or in_channels != 4 * filters:
        shortcut = conv(4 * filters, 1, strides, name=f"{name}_shortcut_conv")(preact)
    else:
        shortcut = x
    x = conv(filters, 1, name=f"{name}_conv1")(preact)
    x = norm_act(filters, name=f"{name}_norm1")(x)
    x = conv(filters, 3, strides, name=f"{name}_conv2")(x)
    x = norm_act(filters, name=f"{name}_norm2")(x)
    x = conv(4 * filters, 1, name=f"{name}_conv3")(x)
    return tf_keras.layers.Add(name=f"{name}_add")([x, shortcut])


class ResNetV2(MultilevelBackbone):
    """Pre-activation ResNet; endpoints '2'..'5' (strides 4..32)."""

    ARCH, VARIANTS = "resnet_v2", VARIANTS

    @staticmethod
    def _build(inputs, setting, make, conv):
        blocks, width = setting
        channels = scaled(64, width)
        x = conv(channels, 7, 2, name="stem_conv")(inputs)
        x = tf_keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
        endpoints = {}
        for level, block, filters, strides in stage_blocks(blocks, width):
            x = bottleneck_v2(x, channels, filters, strides, make, conv, f"l{level}_b{block + 1}")
            channels = 4 * filters
            endpoints[str(level)] = x  # the stage's last block stays
        endpoints["5"] = make(channels, name="post_norm")(x)
        return endpoints
