"""TLU against the NumPy reference and the paper's derivatives (Sec. 3.1, Eq. 3)."""
import numpy as np
import pytest
import tensorflow as tf

from norm_layers import TLU
from tests import numpy_reference as ref
from tests.layer_checks import assert_config_round_trip, assert_eager_equals_graph


@pytest.mark.parametrize("shape", [(2, 5, 6, 4), (3, 1, 1, 4), (5, 4)])
def test_matches_numpy_reference(shape):
    rng = np.random.default_rng(len(shape))
    y = rng.normal(size=shape).astype(np.float32)
    layer = TLU()
    layer(y)
    np.testing.assert_array_equal(layer.tau.numpy(), np.zeros(4))
    tau = rng.normal(size=4).astype(np.float32)
    layer.tau.assign(tau)
    np.testing.assert_array_less(np.abs(layer(y).numpy() - ref.tlu(y, tau)), 1e-6)


def test_gradients_follow_the_paper_including_ties():
    """dz/dy = [y > tau], dz/dtau = [y <= tau]; a tie (y == tau) sends the gradient to tau."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 4, 4, 5)).astype(np.float32)
    tau = rng.normal(size=5).astype(np.float32)
    y[:, 0, 0, :] = tau  # exact ties
    y[:, 1, 1, :] = 0.0
    layer = TLU()
    layer(y)
    layer.tau.assign(tau)
    y_t = tf.constant(y)
    upstream = rng.normal(size=y.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(y_t)
        z = layer(y_t)
    dy, dtau = tape.gradient(z, [y_t, layer.tau], output_gradients=tf.constant(upstream))
    dz_dy, dz_dtau = ref.tlu_grads(y, tau)
    np.testing.assert_allclose(dy, upstream * dz_dy, rtol=1e-6)
    np.testing.assert_allclose(dtau, (upstream * dz_dtau).sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


def test_xla_graph_and_config():
    y = tf.random.normal([2, 7, 7, 3])
    layer = TLU(name="tlu_x")
    assert_eager_equals_graph(layer, y, jit_compile=True)
    layer.tau.assign([0.1, -0.2, 0.3])
    assert_config_round_trip(layer, y)


def test_mixed_precision_keeps_float32_tau(policy):
    policy("mixed_float16")
    layer = TLU()
    out = layer(tf.cast(tf.random.normal([2, 3, 3, 2]), tf.float16))
    assert out.dtype == tf.float16 and layer.tau.dtype == tf.float32
