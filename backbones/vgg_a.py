"""VGG-A, the 11-weight-layer VGG (Simonyan & Zisserman 2015, Table 1, column A).

Eight 3x3 convs (64, 128, 256x2, 512x2, 512x2) each followed by a norm-act unit; the three
fully connected layers live in the classifier head (backbones/classification.py), where FRN
uses its learned epsilon (FRN Sec. 3.1.1). Convs have no bias (a norm follows each).
"""
import tf_keras

from backbones.base import MultilevelBackbone, scaled

# variant -> width multiplier; the block structure is fixed (it is what makes it VGG-A)
VARIANTS = {"full": 1.0, "small": 0.25}
BLOCKS = ((64,), (128,), (256, 256), (512, 512), (512, 512))


class VGGA(MultilevelBackbone):
    """Endpoints '2'..'4' are the conv outputs of blocks 3-5 (strides 4-16), '5' is pool5 (32)."""

    ARCH, VARIANTS = "vgg_a", VARIANTS
    WIDTH_OF = staticmethod(lambda setting: setting)  # the setting is the width multiplier itself

    @staticmethod
    def _build(inputs, width, make, conv):
        x = inputs
        endpoints = {}
        for block, widths in enumerate(BLOCKS, start=1):
            if block > 1:
                x = tf_keras.layers.MaxPool2D(2, 2, padding="same", name=f"pool{block - 1}")(x)
            for index, filters in enumerate(widths, start=1):
                filters = scaled(filters, width)
                x = conv(filters, 3, name=f"block{block}_conv{index}")(x)
                x = make(filters, name=f"block{block}_norm{index}")(x)
            if block >= 3:
                endpoints[str(block - 1)] = x
        endpoints["5"] = tf_keras.layers.MaxPool2D(2, 2, padding="same", name="pool5")(x)
        return endpoints
