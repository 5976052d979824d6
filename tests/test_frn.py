"""FRN against the float64 NumPy reference and the paper's properties (Sec. 3, Eq. 1-2)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from norm_layers import FilterResponseNormalization
from tests import numpy_reference as ref
from tests.layer_checks import assert_config_round_trip, assert_eager_equals_graph

SHAPES = [(2, 7, 5, 8), (3, 1, 1, 6), (4, 10), (2, 9, 4), (1, 16, 16, 3)]


def _random_affine(layer, rng):
    channels = layer.gamma.shape[0]
    layer.gamma.assign(rng.uniform(0.5, 2.0, channels))
    layer.beta.assign(rng.normal(size=channels))
    return layer.gamma.numpy(), layer.beta.numpy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [1e-6, 1e-2])
def test_matches_numpy_reference(shape, eps):
    rng = np.random.default_rng(sum(shape))
    x = (rng.normal(size=shape) * rng.uniform(0.01, 10.0, size=shape[-1])).astype(np.float32)
    layer = FilterResponseNormalization(epsilon=eps)
    layer(x)
    gamma, beta = _random_affine(layer, rng)
    got = layer(x).numpy()
    np.testing.assert_array_less(np.abs(got - ref.frn(x, gamma, beta, eps)), 1e-5)


def test_init_and_per_channel_parameters():
    layer = FilterResponseNormalization()
    layer(tf.ones([2, 4, 4, 5]))
    assert layer.gamma.shape == (5,) and layer.beta.shape == (5,)
    np.testing.assert_array_equal(layer.gamma.numpy(), np.ones(5))
    np.testing.assert_array_equal(layer.beta.numpy(), np.zeros(5))
    assert layer.epsilon == 1e-6
    assert [v.name.split("/")[-1] for v in layer.trainable_weights] == ["gamma:0", "beta:0"]


def test_channels_do_not_mix():
    """Output channel c depends on input channel c only (no Dense over channels)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 6, 4)).astype(np.float32)
    layer = FilterResponseNormalization()
    before = layer(x).numpy()
    x[..., 1:] *= 50.0
    x[..., 1:] += 3.0
    after = layer(x).numpy()
    np.testing.assert_allclose(after[..., 0], before[..., 0], rtol=1e-6)


def test_scale_invariant_so_nu2_is_not_squared_twice():
    """FRN(c x) = FRN(x) when eps is negligible; it is not if nu2 is squared again."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    layer = FilterResponseNormalization()
    np.testing.assert_allclose(layer(10.0 * x), layer(x), rtol=1e-5, atol=1e-5)
    # and the normalized map has unit mean square per sample and channel
    np.testing.assert_allclose(np.mean(layer(x).numpy() ** 2, axis=(1, 2)), 1.0, rtol=1e-4)


def test_no_mean_subtraction():
    """A constant positive map normalizes to gamma + beta, not to beta as with centering."""
    layer = FilterResponseNormalization()
    out = layer(tf.fill([1, 4, 4, 2], 3.0)).numpy()
    np.testing.assert_allclose(out, np.ones_like(out), rtol=1e-6)


def test_epsilon_is_used_and_kept():
    """A small-amplitude map is shrunk by a large eps exactly as the reference says."""
    rng = np.random.default_rng(3)
    x = (1e-2 * rng.normal(size=(2, 5, 5, 3))).astype(np.float32)
    for eps in (1e-6, 1e-3, -1e-3):
        layer = FilterResponseNormalization(epsilon=eps)
        assert layer.get_config()["epsilon"] == eps
        np.testing.assert_allclose(layer(x), ref.frn(x, 1.0, 0.0, eps), atol=1e-5)
    assert not np.allclose(FilterResponseNormalization(epsilon=1e-3)(x),
                           FilterResponseNormalization(epsilon=1e-6)(x), atol=1e-2)


def test_learned_epsilon():
    """eps = |epsilon| + |eps_l|, eps_l a trainable scalar initialised to 1e-4."""
    rng = np.random.default_rng(4)
    x = (1e-2 * rng.normal(size=(4, 6))).astype(np.float32)
    layer = FilterResponseNormalization(learned_epsilon=True)
    layer(x)
    assert layer.eps_l.shape == () and layer.eps_l.trainable
    np.testing.assert_allclose(layer.eps_l.numpy(), 1e-4)
    np.testing.assert_allclose(layer(x), ref.frn(x, 1.0, 0.0, 1e-6 + 1e-4), atol=1e-5)
    layer.eps_l.assign(-2e-4)
    np.testing.assert_allclose(layer(x), ref.frn(x, 1.0, 0.0, 1e-6 + 2e-4), atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    assert abs(float(tape.gradient(loss, layer.eps_l))) > 0


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 3, 2))
    layer = FilterResponseNormalization(epsilon=1e-3, learned_epsilon=True, dtype="float64")
    layer(x)
    _random_affine(layer, rng)
    theoretical, numerical = tf.test.compute_gradient(layer, [tf.constant(x)], delta=1e-5)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
    # parameters: tape gradient of a random projection vs central differences
    projection = tf.constant(rng.normal(size=x.shape))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * projection)
    grads = tape.gradient(loss, layer.trainable_weights)
    delta = 1e-6
    for var, grad in zip(layer.trainable_weights, grads):
        start = np.array(var.numpy())
        numerical = np.zeros_like(start)
        for index in np.ndindex(start.shape):
            values = []
            for sign in (1, -1):
                moved = start.copy()
                moved[index] += sign * delta
                var.assign(moved)
                values.append(float(tf.reduce_sum(layer(x) * projection)))
            numerical[index] = (values[0] - values[1]) / (2 * delta)
        var.assign(start)
        np.testing.assert_allclose(grad, numerical, rtol=1e-5, atol=1e-6, err_msg=var.name)


def test_dynamic_spatial_size_in_tf_function():
    layer = FilterResponseNormalization()
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    rng = np.random.default_rng(6)
    for shape in [(2, 5, 7, 3), (1, 1, 1, 3), (3, 12, 4, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(fn(x), ref.frn(x, 1.0, 0.0), atol=1e-5)


@pytest.mark.parametrize("learned", [False, True])
def test_xla_and_graph_match_eager(learned):
    x = tf.random.normal([2, 9, 9, 4])
    layer = FilterResponseNormalization(learned_epsilon=learned)
    assert_eager_equals_graph(layer, x)
    assert_eager_equals_graph(layer, x, jit_compile=True)


@pytest.mark.parametrize("learned", [False, True])
def test_config_round_trip(learned):
    layer = FilterResponseNormalization(epsilon=3e-6, learned_epsilon=learned, learned_epsilon_init=2e-4,
                                        gamma_regularizer="l2", name="frn_x")
    x = tf.random.normal([2, 4, 4, 3])
    layer(x)
    assert_config_round_trip(layer, x)
    config = layer.get_config()
    assert (config["epsilon"], config["learned_epsilon"], config["learned_epsilon_init"]) == (3e-6, learned, 2e-4)


@pytest.mark.parametrize("policy_name, compute", [("mixed_float16", tf.float16),
                                                   ("mixed_bfloat16", tf.bfloat16)])
def test_mixed_precision_computes_nu2_in_float32(policy, policy_name, compute):
    """|x| up to 1e3 squares past float16's max (65504); the layer must still be exact."""
    policy(policy_name)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1e3, 1e3, size=(2, 6, 6, 4)).astype(np.float32)
    layer = FilterResponseNormalization(learned_epsilon=True)
    out = layer(tf.cast(x, compute))
    assert out.dtype == compute
    assert all(v.dtype == tf.float32 for v in layer.weights)
    out = tf.cast(out, tf.float32).numpy()
    assert np.isfinite(out).all()
    x_low = tf.cast(tf.cast(x, compute), tf.float32).numpy()  # the input the layer really saw
    tol = 2e-3 if compute == tf.float16 else 2e-2
    np.testing.assert_allclose(out, ref.frn(x_low, 1.0, 0.0, 1e-6 + 1e-4), atol=tol * 4, rtol=tol)


def test_rejects_unknown_channels_and_rank_one():
    with pytest.raises(ValueError, match="rank >= 2"):
        FilterResponseNormalization().build(tf.TensorShape([5]))
    with pytest.raises(ValueError, match="known channel count"):
        FilterResponseNormalization().build(tf.TensorShape([None, None, None, None]))


def test_weights_trained_inside_a_tf_keras_model():
    inputs = tf_keras.Input((None, None, 3))
    model = tf_keras.Model(inputs, FilterResponseNormalization()(tf_keras.layers.Conv2D(3, 3)(inputs)))
    assert len(model.trainable_weights) == 4  # conv kernel, bias, gamma, beta
