"""The activations a norm-act unit may end with, by name."""
import tf_keras

from norm_layers.names import ACTIVATION_NAMES
from norm_layers.tlu import TLU


def _relu(rank):
    return tf_keras.layers.ReLU(name="relu")


def _tlu(rank):
    return TLU(name="tlu")


def _prelu(rank):
    # One slope per channel, shared over the spatial axes, so any H, W works.
    return tf_keras.layers.PReLU(shared_axes=list(range(1, rank - 1)) or None, name="prelu")


ACTIVATIONS = {
    "relu": _relu,
    "tlu": _tlu,
    "prelu": _prelu,
    "linear": None,
}
if tuple(ACTIVATIONS) != ACTIVATION_NAMES:
    raise ImportError(f"norm_layers.names.ACTIVATION_NAMES {ACTIVATION_NAMES} != {tuple(ACTIVATIONS)}")


def check_activation(name):
    """Raises a ValueError naming `name` and the valid activations if it is unknown."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; valid activations: {', '.join(ACTIVATIONS)}")
    return name


def build_activation(name, rank):
    """The activation layer `name` for inputs of `rank` (None for 'linear')."""
    builder = ACTIVATIONS[check_activation(name)]
    return builder(rank) if builder else None
