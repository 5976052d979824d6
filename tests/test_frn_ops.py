"""The fused FRN(+TLU) op (norm_layers/frn_ops.py) against autograd of the plain formula,
finite differences in float64, and through the layers (every shape class, XLA, mixed precision)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from norm_layers import FilterResponseNormalization, NormAct
from norm_layers.frn_ops import frn

SHAPES = {"nhwc": (2, 5, 7, 3), "1x1": (3, 1, 1, 4), "batch_channels": (5, 6), "nlc": (2, 9, 3)}


def autograd_frn(x, gamma, beta, eps, tau=None):
    """Eq. 1-3 written plainly; TensorFlow differentiates it (the pre-fusion layer)."""
    axes = list(range(1, x.shape.rank - 1))
    nu2 = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True) if axes else tf.square(x)
    y = gamma * x * tf.math.rsqrt(nu2 + eps) + beta
    return y if tau is None else tf.maximum(tau, y)  # ties to tau, as TLU


def _inputs(shape, dtype, seed, with_tlu):
    rng = np.random.default_rng(seed)
    channels = shape[-1]
    x = rng.normal(size=shape) * rng.uniform(0.1, 5.0, size=channels)
    values = [x, rng.uniform(0.5, 2.0, channels), rng.normal(size=channels), np.array(1e-3)]
    if with_tlu:
        values.append(rng.normal(scale=0.5, size=channels))
    return [tf.constant(v, dtype) for v in values]


def _value_and_grads(fn, inputs, projection):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = fn(*inputs)
        loss = tf.reduce_sum(out * projection)
    return out, tape.gradient(loss, inputs)


@pytest.mark.parametrize("with_tlu", [False, True])
@pytest.mark.parametrize("shape_class", sorted(SHAPES))
def test_values_and_every_gradient_match_autograd(shape_class, with_tlu):
    shape = SHAPES[shape_class]
    inputs = _inputs(shape, tf.float32, len(shape_class), with_tlu)
    projection = tf.random.stateless_normal(shape, seed=[1, 2])
    fused, fused_grads = _value_and_grads(frn, inputs, projection)
    plain, plain_grads = _value_and_grads(autograd_frn, inputs, projection)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5)
    names = ["x", "gamma", "beta", "eps", "tau"]
    for name, got, want in zip(names, fused_grads, plain_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("with_tlu", [False, True])
@pytest.mark.parametrize("shape_class", ["nhwc", "batch_channels"])
def test_gradients_match_finite_differences_in_float64(shape_class, with_tlu):
    inputs = _inputs(SHAPES[shape_class], tf.float64, 3, with_tlu)
    theoretical, numerical = tf.test.compute_gradient(frn, inputs, delta=1e-6)
    for index, (got, want) in enumerate(zip(theoretical, numerical)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"input {index}")


def test_ties_send_the_gradient_to_tau():
    """Zero padding: FRN maps x = 0 to beta; with beta = tau the TLU is at its tie (Sec. 3.1)."""
    x = tf.zeros([1, 2, 2, 2])
    gamma, beta, tau = tf.ones([2]), tf.zeros([2]), tf.zeros([2])
    _, grads = _value_and_grads(lambda x, t: frn(x, gamma, beta, 1e-6, t), [x, tau], tf.ones([1, 2, 2, 2]))
    np.testing.assert_array_equal(grads[0], np.zeros([1, 2, 2, 2]))
    np.testing.assert_array_equal(grads[1], [4.0, 4.0])


def _frn_tlu_unit(learned):
    return NormAct(FilterResponseNormalization(learned_epsilon=learned), "tlu")


def _randomize(unit, seed):
    rng = np.random.default_rng(seed)
    for var in unit.trainable_weights:
        var.assign(rng.uniform(0.5, 1.5, var.shape) if "gamma" in var.name else rng.normal(scale=0.3, size=var.shape))


@pytest.mark.parametrize("learned", [False, True])
def test_norm_act_uses_the_fused_op_and_matches_two_separate_layers(learned):
    """NormAct(FRN, TLU) equals FRN then TLU called as separate layers, values and gradients."""
    x = tf.random.stateless_normal([2, 6, 6, 5], seed=[3, 4]) * 3.0
    unit = _frn_tlu_unit(learned)
    unit(x)
    _randomize(unit, 8)

    def separate(x):
        return unit.act(unit.norm(x))

    def loss_and_grads(fn):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn(x) * tf.range(5, dtype=tf.float32))
        return loss, tape.gradient(loss, unit.trainable_weights)

    fused_loss, fused_grads = loss_and_grads(unit)
    plain_loss, plain_grads = loss_and_grads(separate)
    np.testing.assert_allclose(fused_loss, plain_loss, rtol=1e-5)
    for var, got, want in zip(unit.trainable_weights, fused_grads, plain_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=var.name)


@pytest.mark.parametrize("learned", [False, True])
def test_xla_gradients_match_eager_with_dynamic_spatial_size(learned):
    unit = _frn_tlu_unit(learned)
    unit(tf.zeros([1, 3, 3, 4]))
    _randomize(unit, 9)

    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(unit(x)))
        return tape.gradient(loss, [x] + unit.trainable_weights)

    spec = [tf.TensorSpec([None, None, None, 4], tf.float32)]
    xla = tf.function(grads, input_signature=spec, jit_compile=True)
    for shape in [(2, 5, 7, 4), (1, 1, 1, 4)]:
        x = tf.random.stateless_normal(shape, seed=[5, 6])
        for got, want in zip(xla(x), grads(x)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_mixed_precision_gradients_follow_float32(policy):
    """float16 compute: statistics and gradients in float32, close to the float32 unit's."""
    x = tf.random.stateless_normal([2, 6, 6, 4], seed=[7, 8]) * 100.0  # x^2 past float16's max
    x = tf.cast(tf.cast(x, tf.float16), tf.float32)
    reference = _frn_tlu_unit(True)
    reference(x)
    _randomize(reference, 10)
    policy("mixed_float16")
    unit = _frn_tlu_unit(True)
    unit(x)
    unit.set_weights(reference.get_weights())
    results = []
    for layer, inp in ((unit, tf.cast(x, tf.float16)), (reference, x)):
        with tf.GradientTape() as tape:
            out = layer(inp)
            loss = tf.reduce_sum(tf.cast(out, tf.float32))
        results.append((out, tape.gradient(loss, layer.trainable_weights)))
    (low, low_grads), (full, full_grads) = results
    assert low.dtype == tf.float16 and all(g.dtype == tf.float32 for g in low_grads)
    np.testing.assert_allclose(tf.cast(low, tf.float32), full, rtol=2e-3, atol=4e-3)
    for got, want in zip(low_grads, full_grads):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=2e-2)


def test_saved_model_round_trip_keeps_the_fused_unit(tmp_path):
    inputs = tf_keras.Input([None, None, 3])
    model = tf_keras.Model(inputs, _frn_tlu_unit(True)(inputs))
    _randomize(model.layers[-1], 11)
    x = tf.random.stateless_normal([2, 4, 4, 3], seed=[9, 9])
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = tf_keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
