"""Normalization + activation units for the FRN benchmark (docs/ARCHITECTURE.md).

`get_norm_act(name, **options)` returns a factory `make(channels, apply_act=True, name=None)`;
every layer is a tf_keras (Keras 2) layer so Model Garden trains its weights. Names resolve
lazily, so `norm_layers.names` (the table's names) imports without TensorFlow.
"""
import importlib

_EXPORTS = {
    "ACTIVATIONS": "norm_layers.activations",
    "EvoNormB0": "norm_layers.evonorm",
    "EvoNormS0": "norm_layers.evonorm",
    "FilterResponseNormalization": "norm_layers.frn",
    "StandardizedConv2D": "norm_layers.standardized_conv",
    "Maxout": "norm_layers.maxout",
    "NormAct": "norm_layers.norm_act",
    "NORMS": "norm_layers.registry",
    "NormActFactory": "norm_layers.registry",
    "applicable_options": "norm_layers.registry",
    "get_norm_act": "norm_layers.registry",
    "gn_groups": "norm_layers.registry",
    "TLU": "norm_layers.tlu",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'norm_layers' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
