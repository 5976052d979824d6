"""The channels per group of a built model's group norms, for its cell result.

GN's behaviour is set by its channels per group C/G (Wu & He 2018, Sec. 3.1 and Table 3; 1 per group is
InstanceNorm), so a cell records them: the count of group-norm layers (GroupNormalization, which also
carries gn_ws, ln and in, and EvoNorm-S0) and the min / median / max of C/G over them.
"""
import statistics

import tf_keras

from norm_layers.evonorm import EvoNormS0

GROUP_NORM_LAYERS = (tf_keras.layers.GroupNormalization, EvoNormS0)


def channels_per_group(model):
    """C/G of every built group-norm layer of `model`, in layer order (after build, GN's groups=-1 is C)."""
    return [int(layer.gamma.shape[-1]) // layer.groups
            for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, GROUP_NORM_LAYERS) and layer.built]


def group_norm_stats(model):
    """{"group_norm_layers", "channels_per_group": {min, median, max} or None when there is none}."""
    values = channels_per_group(model)
    spread = {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else None
    return {"group_norm_layers": len(values), "channels_per_group": spread}
