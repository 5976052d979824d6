"""One table of normalizations and one lookup, `get_norm_act`, used by every block.

Each entry pairs a builder with the activation the paper uses with it (BN/GN/... + ReLU,
FRN + TLU, EvoNorm: built in, so `linear`). BN, BRN, GN, LN and IN are tf_keras layers; FRN,
TLU, Maxout, EvoNorm and the weight-standardized convolution are ours. An entry may also ask
for weight-standardized convolutions before its norm (`gn_ws`): `NormActFactory.conv_layer`.
"""
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import tf_keras

from norm_layers.activations import check_activation
from norm_layers.evonorm import EvoNormB0, EvoNormS0
from norm_layers.frn import FilterResponseNormalization
from norm_layers.names import NORM_NAMES
from norm_layers.norm_act import NormAct
from norm_layers.standardized_conv import StandardizedConv2D

_BN_MOMENTUM = 0.99   # Model Garden's default norm_momentum
_BN_EPSILON = 1e-3    # Model Garden's default norm_epsilon
_GN_EPSILON = 1e-5    # Wu & He 2018 / Detectron
_FRN_EPSILON = 1e-6   # FRN Sec. 3.1
_EVONORM_EPSILON = 1e-5  # the EvoNorm paper's reference implementation


def gn_groups(channels, groups):
    """The largest group count <= `groups` that divides `channels` (GN needs C % G == 0)."""
    for g in range(min(groups, channels), 0, -1):
        if channels % g == 0:
            return g
    raise ValueError(f"GroupNormalization needs channels >= 1, got {channels}")


def _bn(channels, name, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON):
    """Per-replica batch statistics: plain BN under any tf.distribute strategy."""
    return tf_keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=name)


def _sync_bn(channels, name, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON):
    """Batch statistics all-reduced across replicas."""
    return tf_keras.layers.BatchNormalization(
        momentum=momentum, epsilon=epsilon, synchronized=True, name=name)


def _frozen_bn(channels, name, epsilon=_BN_EPSILON):
    """Inference statistics and a frozen affine (tf_keras BN with trainable=False), for fine-tuning."""
    return tf_keras.layers.BatchNormalization(epsilon=epsilon, trainable=False, name=name)


def _batch_renorm(channels, name, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                  renorm_momentum=0.99, rmax=3.0, dmax=5.0):
    """Batch Renormalization (Ioffe 2017); rmax=3, dmax=5 are that paper's relaxed limits."""
    return tf_keras.layers.BatchNormalization(
        momentum=momentum, epsilon=epsilon, renorm=True, renorm_momentum=renorm_momentum,
        renorm_clipping={"rmax": rmax, "rmin": 1.0 / rmax, "dmax": dmax}, name=name)


def _gn(channels, name, groups=32, epsilon=_GN_EPSILON):
    """GroupNorm (Wu & He 2018); fewer groups when `channels` is not a multiple of `groups`."""
    return tf_keras.layers.GroupNormalization(
        groups=gn_groups(channels, groups), epsilon=epsilon, name=name)


def _ln(channels, name, epsilon=_GN_EPSILON):
    """LayerNorm as in the GN and FRN papers: over (H, W, C) per sample, per-channel affine.

    That is GroupNormalization with one group; tf_keras' LayerNormalization over (H, W, C)
    would learn an (H, W, C)-shaped affine and so needs a static spatial size.
    """
    return tf_keras.layers.GroupNormalization(groups=1, epsilon=epsilon, name=name)


def _in(channels, name, epsilon=_GN_EPSILON):
    """InstanceNorm: GroupNormalization with one group per channel."""
    return tf_keras.layers.GroupNormalization(groups=-1, epsilon=epsilon, name=name)


def _frn(channels, name, epsilon=_FRN_EPSILON, learned_epsilon=False):
    return FilterResponseNormalization(
        epsilon=epsilon, learned_epsilon=learned_epsilon, name=name)


def _frn_learned_eps(channels, name, epsilon=_FRN_EPSILON):
    """FRN with eps = 1e-6 + |eps_l| (Sec. 3.1.1: 1x1 maps, dense layers)."""
    return FilterResponseNormalization(epsilon=epsilon, learned_epsilon=True, name=name)


def _evonorm_b0(channels, name, nonlinear=True, momentum=_BN_MOMENTUM, epsilon=_EVONORM_EPSILON):
    """EvoNorm-B0 (Liu et al. 2020): batch variance (per replica, moving average for inference)."""
    return EvoNormB0(nonlinear=nonlinear, momentum=momentum, epsilon=epsilon, name=name)


def _evonorm_s0(channels, name, nonlinear=True, groups=32, epsilon=_EVONORM_EPSILON):
    """EvoNorm-S0 (Liu et al. 2020): group statistics; fewer groups where `channels` needs it, as GN."""
    return EvoNormS0(nonlinear=nonlinear, groups=gn_groups(channels, groups), epsilon=epsilon, name=name)


def _none(channels, name):
    return None


@dataclasses.dataclass(frozen=True)
class _Norm:
    build: Callable[..., tf_keras.layers.Layer | None]
    act: str  # the activation paired with this norm by default
    standardize_weights: bool = False  # the convolutions before it are weight-standardized (Qiao et al.)

    @property
    def gated(self):
        """The layer holds its own nonlinearity (EvoNorm): the factory passes `nonlinear=apply_act`."""
        return "nonlinear" in inspect.signature(self.build).parameters

    @property
    def options(self):
        return tuple(p for p in tuple(inspect.signature(self.build).parameters)[2:] if p != "nonlinear")


NORMS = {
    "bn": _Norm(_bn, "relu"),
    "sync_bn": _Norm(_sync_bn, "relu"),
    "frozen_bn": _Norm(_frozen_bn, "relu"),
    "batch_renorm": _Norm(_batch_renorm, "relu"),
    "gn": _Norm(_gn, "relu"),
    "ln": _Norm(_ln, "relu"),
    "in": _Norm(_in, "relu"),
    "frn": _Norm(_frn, "tlu"),
    "frn_relu": _Norm(_frn, "relu"),
    "frn_learned_eps": _Norm(_frn_learned_eps, "tlu"),
    "evonorm_b0": _Norm(_evonorm_b0, "linear"),
    "evonorm_s0": _Norm(_evonorm_s0, "linear"),
    "gn_ws": _Norm(_gn, "relu", standardize_weights=True),
    "none": _Norm(_none, "relu"),
}


if tuple(NORMS) != NORM_NAMES:  # the TensorFlow-free list used by sweep validation
    raise ImportError(f"norm_layers.names.NORM_NAMES {NORM_NAMES} != registry {tuple(NORMS)}")


@dataclasses.dataclass(frozen=True)
class NormActFactory:
    """Builds `NormAct` units: `make(channels, apply_act=True, name=None)`.

    `apply_act=False` gives the norm alone, e.g. before a residual add (for FRN: no TLU; for
    EvoNorm: the layer without its gate, norm_layers/evonorm.py).
    `conv_layer`: the convolution class of the convs this unit follows (weight-standardized for `gn_ws`).
    """
    norm: str
    act: str
    options: tuple = ()  # sorted (key, value) pairs, so factories hash and compare

    def __call__(self, channels, apply_act=True, name=None) -> NormAct:
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        spec = NORMS[self.norm]
        gate = {"nonlinear": apply_act} if spec.gated else {}
        norm = spec.build(channels, self.norm, **dict(self.options), **gate)
        return NormAct(norm, self.act if apply_act else "linear", name=name)

    @property
    def conv_layer(self):
        return StandardizedConv2D if NORMS[self.norm].standardize_weights else tf_keras.layers.Conv2D

    def act_only(self, name=None) -> NormAct:
        """The paired activation alone, e.g. after a residual add (TLU for FRN, ReLU for BN)."""
        return NormAct(None, self.act, name=name)

    def for_1x1_maps(self) -> "NormActFactory":
        """This factory with FRN's learned epsilon switched on (Sec. 3.1.1: 1x1 maps, dense layers).

        Norms without a `learned_epsilon` option are returned unchanged.
        """
        if "learned_epsilon" not in NORMS[self.norm].options:
            return self
        return get_norm_act(self.norm, self.act, **{**dict(self.options), "learned_epsilon": True})

    def to_dict(self):
        return {"norm": self.norm, "act": self.act, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, config):
        return get_norm_act(config["norm"], config["act"], **config.get("options", {}))


def _check_norm(name):
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; valid norms: {', '.join(NORMS)}")
    return NORMS[name]


def applicable_options(name: str, **candidates: Any) -> dict:
    """The non-None `candidates` that norm `name` accepts (shared configs set all families)."""
    options = _check_norm(name).options
    return {k: v for k, v in candidates.items() if k in options and v is not None}


def get_norm_act(name: str, act: str | None = None, **options: Any) -> NormActFactory:
    """The norm+act factory for `name` (see NORMS); `act` overrides the paired activation.

    Options are the keyword arguments of that norm's builder (momentum, epsilon, groups,
    learned_epsilon, ...); an unknown name or option raises a ValueError listing the valid ones.
    """
    spec = _check_norm(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for norm {name!r}; valid options: "
            f"{', '.join(spec.options) or '(none)'}")
    return NormActFactory(name, check_activation(act or spec.act), tuple(sorted(options.items())))
