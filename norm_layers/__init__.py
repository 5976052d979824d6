"""Normalization + activation units for the FRN benchmark (DESIGN.md: norm_layers/).

`get_norm_act(name, **options)` returns a factory `make(channels, apply_act=True, name=None)`;
every layer is a tf_keras (Keras 2) layer so Model Garden trains its weights.
"""
from norm_layers.activations import ACTIVATIONS
from norm_layers.frn import FilterResponseNormalization
from norm_layers.maxout import Maxout
from norm_layers.norm_act import NormAct
from norm_layers.registry import NORMS, NormActFactory, applicable_options, get_norm_act, gn_groups
from norm_layers.tlu import TLU

__all__ = [
    "ACTIVATIONS", "NORMS", "FilterResponseNormalization", "Maxout", "NormAct",
    "NormActFactory", "TLU", "applicable_options", "get_norm_act", "gn_groups",
]
