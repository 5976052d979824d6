"""Maxout against the NumPy reference."""
import numpy as np
import pytest
import tensorflow as tf

from norm_layers import Maxout
from tests import numpy_reference as ref
from tests.layer_checks import assert_config_round_trip


@pytest.mark.parametrize("shape, units", [((2, 5, 5, 12), 4), ((3, 8), 2), ((2, 6, 6), 6)])
def test_matches_numpy_reference(shape, units):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    layer = Maxout(units)
    out = layer(x)
    assert out.shape == shape[:-1] + (units,)
    np.testing.assert_array_equal(out, ref.maxout(x, units))


def test_dynamic_shape_and_config():
    layer = Maxout(3)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 9])])
    x = np.random.default_rng(1).normal(size=(2, 4, 3, 9)).astype(np.float32)
    np.testing.assert_array_equal(fn(x), ref.maxout(x, 3))
    assert_config_round_trip(layer, x)


def test_bad_channel_count():
    with pytest.raises(ValueError, match="multiple of num_units"):
        Maxout(4)(tf.zeros([1, 6]))
    with pytest.raises(ValueError, match="num_units must be >= 1"):
        Maxout(0)
