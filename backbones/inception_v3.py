"""InceptionV3 (Szegedy et al., CVPR 2016), filter counts of tf_keras.applications.InceptionV3.

Every conv is followed by a norm-act unit. 'same' padding throughout (Keras uses 'valid' in
the stem and reductions) so each level is exactly half the previous one, as FPN needs; this
does not change any parameter count. The auxiliary head is in backbones/classification.py.
"""
import tf_keras

from backbones.base import MultilevelBackbone, scaled

# variant -> (modules at 35x35, at 17x17, at 8x8; width multiplier)
VARIANTS = {
    "full": ((3, 4, 2), 1.0),
    "small": ((1, 1, 1), 0.25),
}
# 17x17 modules: the width of their 7x7 factorized branches (mixed4 .. mixed7)
SEVEN_WIDTHS = (128, 160, 160, 192)


class _Units:
    """conv + norm-act units with running names."""

    def __init__(self, norm_act, conv, width):
        self.norm_act, self.conv, self.width = norm_act, conv, width

    def __call__(self, x, filters, kernel, strides=1, name=None):
        filters = scaled(filters, self.width)
        x = self.conv(filters, kernel, strides, name=f"{name}_conv")(x)
        return self.norm_act(filters, name=f"{name}_norm")(x)

    def chain(self, x, specs, name):
        for index, (filters, kernel, *strides) in enumerate(specs):
            x = self(x, filters, kernel, *strides, name=f"{name}_{index}")
        return x


def _concat(branches, name):
    return tf_keras.layers.Concatenate(name=name)(branches)


def _avg_pool_branch(x, unit, filters, name):
    pooled = tf_keras.layers.AveragePooling2D(3, 1, padding="same", name=f"{name}_pool")(x)
    return unit(pooled, filters, 1, name=f"{name}_proj")


def module_a(x, unit, pool_filters, name):
    """35x35 module (Fig. 5): 1x1, 5x5, double 3x3 and pooled branches."""
    return _concat([
        unit(x, 64, 1, name=f"{name}_b1x1"),
        unit.chain(x, [(48, 1), (64, 5)], f"{name}_b5x5"),
        unit.chain(x, [(64, 1), (96, 3), (96, 3)], f"{name}_b3x3dbl"),
        _avg_pool_branch(x, unit, pool_filters, f"{name}_bpool"),
    ], name)


def reduction_a(x, unit, name):
    """35x35 -> 17x17 (mixed3)."""
    return _concat([
        unit(x, 384, 3, 2, name=f"{name}_b3x3"),
        unit.chain(x, [(64, 1), (96, 3), (96, 3, 2)], f"{name}_b3x3dbl"),
        tf_keras.layers.MaxPool2D(3, 2, padding="same", name=f"{name}_bpool")(x),
    ], name)


def module_b(x, unit, width7, name):
    """17x17 module with factorized 7x7 convolutions (Fig. 6)."""
    return _concat([
        unit(x, 192, 1, name=f"{name}_b1x1"),
        unit.chain(x, [(width7, 1), (width7, (1, 7)), (192, (7, 1))], f"{name}_b7x7"),
        unit.chain(x, [(width7, 1), (width7, (7, 1)), (width7, (1, 7)), (width7, (7, 1)), (192, (1, 7))],
                   f"{name}_b7x7dbl"),
        _avg_pool_branch(x, unit, 192, f"{name}_bpool"),
    ], name)


def reduction_b(x, unit, name):
    """17x17 -> 8x8 (mixed8)."""
    return _concat([
        unit.chain(x, [(192, 1), (320, 3, 2)], f"{name}_b3x3"),
        unit.chain(x, [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2)], f"{name}_b7x7x3"),
        tf_keras.layers.MaxPool2D(3, 2, padding="same", name=f"{name}_bpool")(x),
    ], name)


def module_c(x, unit, name):
    """8x8 module with expanded filter banks (Fig. 7)."""
    b3 = unit(x, 384, 1, name=f"{name}_b3x3")
    b3dbl = unit.chain(x, [(448, 1), (384, 3)], f"{name}_b3x3dbl")
    return _concat([
        unit(x, 320, 1, name=f"{name}_b1x1"),
        _concat([unit(b3, 384, (1, 3), name=f"{name}_b3x3_1x3"),
                 unit(b3, 384, (3, 1), name=f"{name}_b3x3_3x1")], f"{name}_b3x3_cat"),
        _concat([unit(b3dbl, 384, (1, 3), name=f"{name}_b3x3dbl_1x3"),
                 unit(b3dbl, 384, (3, 1), name=f"{name}_b3x3dbl_3x1")], f"{name}_b3x3dbl_cat"),
        _avg_pool_branch(x, unit, 192, f"{name}_bpool"),
    ], name)


class InceptionV3(MultilevelBackbone):
    """Endpoints: '2' stem (stride 4, 192 ch), '3' mixed2, '4' mixed7, '5' mixed10."""

    ARCH, VARIANTS = "inception_v3", VARIANTS

    @staticmethod
    def _build(inputs, setting, make, conv):
        (n_a, n_b, n_c), width = setting
        unit = _Units(make, conv, width)
        x = unit.chain(inputs, [(32, 3, 2), (32, 3), (64, 3)], "stem_a")
        x = tf_keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool1")(x)
        x = unit.chain(x, [(80, 1), (192, 3)], "stem_b")
        endpoints = {"2": x}
        x = tf_keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool2")(x)
        mixed = 0
        for i in range(n_a):
            x = module_a(x, unit, 32 if i == 0 else 64, f"mixed{mixed}")
            mixed += 1
        endpoints["3"] = x
        x = reduction_a(x, unit, f"mixed{mixed}")
        mixed += 1
        for i in range(n_b):
            x = module_b(x, unit, SEVEN_WIDTHS[i], f"mixed{mixed}")
            mixed += 1
        endpoints["4"] = x
        x = reduction_b(x, unit, f"mixed{mixed}")
        mixed += 1
        for _ in range(n_c):
            x = module_c(x, unit, f"mixed{mixed}")
            mixed += 1
        endpoints["5"] = x
        return endpoints
