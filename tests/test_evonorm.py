"""EvoNorm-B0/S0 and weight-standardized convolutions against float64 NumPy references.

Liu et al. 2020 (arXiv 2004.02967) Table 1; Qiao et al. 2019 (arXiv 1903.10520) Eq. 5-6.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from norm_layers import EvoNormB0, EvoNormS0, StandardizedConv2D, get_norm_act

EPS = 1e-5


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def s0_reference(x, gamma, beta, v1, groups, nonlinear=True):
    n, c = x.shape[0], x.shape[-1]
    grouped = x.reshape(n, -1, groups, c // groups)  # (N, H*W, G, C/G): channel k is in group k // (C/G)
    std = np.sqrt(grouped.var(axis=(1, 3), keepdims=True) + EPS)
    std = np.broadcast_to(std, grouped.shape).reshape(x.shape)
    numerator = x * _sigmoid(v1 * x) if nonlinear else x
    return numerator / std * gamma + beta


def b0_reference(x, gamma, beta, v1, batch_variance, nonlinear=True):
    denominator = np.sqrt(batch_variance + EPS)
    if nonlinear:
        spatial = tuple(range(1, x.ndim - 1))
        instance_std = np.sqrt(x.var(axis=spatial, keepdims=True) + EPS)
        denominator = np.maximum(denominator, v1 * x + instance_std)
    return x / denominator * gamma + beta


def _randomize(layer, rng):
    for weight in layer.trainable_weights:
        weight.assign(rng.normal(1.0 if "v1" in weight.name or "gamma" in weight.name else 0.0, 0.5, weight.shape))
    return {w.name.split("/")[-1].split(":")[0]: w.numpy().astype(np.float64) for w in layer.weights}


@pytest.mark.parametrize("shape, groups", [((2, 5, 7, 8), 4), ((3, 4, 4, 6), 3), ((2, 3, 2, 5, 4), 2), ((4, 6), 3)])
@pytest.mark.parametrize("nonlinear", [True, False])
def test_s0_matches_numpy(shape, groups, nonlinear):
    rng = np.random.default_rng(sum(shape))
    layer = EvoNormS0(groups=groups, nonlinear=nonlinear)
    x = rng.normal(0.3, 2.0, shape)
    layer.build(shape)
    w = _randomize(layer, rng)
    ours = layer(x.astype(np.float32), training=True).numpy()
    expected = s0_reference(x, w["gamma"], w["beta"], w.get("v1"), groups, nonlinear)
    assert np.abs(ours - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("shape", [(4, 5, 7, 8), (3, 4, 4, 6), (2, 3, 2, 5, 4)])
@pytest.mark.parametrize("nonlinear", [True, False])
def test_b0_matches_numpy_in_training_and_inference(shape, nonlinear):
    rng = np.random.default_rng(sum(shape) + 1)
    layer = EvoNormB0(momentum=0.9, nonlinear=nonlinear)
    x = rng.normal(0.3, 2.0, shape)
    layer.build(shape)
    w = _randomize(layer, rng)
    batch_variance = x.var(axis=tuple(range(x.ndim - 1)))
    ours = layer(x.astype(np.float32), training=True).numpy()
    expected = b0_reference(x, w["gamma"], w["beta"], w.get("v1"), batch_variance, nonlinear)
    assert np.abs(ours - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())
    moving = 0.9 * 1.0 + 0.1 * batch_variance  # from its initial ones
    np.testing.assert_allclose(layer.moving_variance.numpy(), moving, rtol=1e-5)
    inference = layer(x.astype(np.float32), training=False).numpy()
    expected = b0_reference(x, w["gamma"], w["beta"], w.get("v1"), moving, nonlinear)
    assert np.abs(inference - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())


def test_epsilon_is_inside_the_square_root():
    """A constant group has zero variance: the output is x / sqrt(eps), finite, not x / 0."""
    x = np.ones((1, 3, 3, 4))
    layer = EvoNormS0(groups=2, nonlinear=False)
    np.testing.assert_allclose(layer(x.astype(np.float32)).numpy(), x / np.sqrt(EPS), rtol=1e-5)
    b0 = EvoNormB0(nonlinear=False)
    np.testing.assert_allclose(b0(x.astype(np.float32), training=True).numpy(), x / np.sqrt(EPS), rtol=1e-5)


@pytest.mark.parametrize("layer", [lambda: EvoNormS0(groups=2, dtype="float64"),
                                   lambda: EvoNormB0(dtype="float64")], ids=["s0", "b0"])
def test_gradients_match_finite_differences(layer):
    layer = layer()
    layer.build((3, 3, 4, 4))
    weights = _randomize(layer, np.random.default_rng(8))
    for seed in range(100):  # B0's max() has a kink: an input whose two branches differ everywhere
        x = np.random.default_rng(seed).normal(0.2, 1.0, (3, 3, 4, 4))
        if "v1" not in weights or _b0_branch_gap(x, weights["v1"]) > 0.05:
            break
    x = tf.constant(x)
    theoretical, numerical = tf.test.compute_gradient(lambda t: layer(t, training=True), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def _b0_branch_gap(x, v1):
    batch_std = np.sqrt(x.var(axis=(0, 1, 2)) + EPS)
    return np.abs(v1 * x + np.sqrt(x.var(axis=(1, 2), keepdims=True) + EPS) - batch_std).min()


def _conv_reference(x, kernel, standardize):
    """'same' stride-1 convolution by explicit sums, after per-output-channel standardization."""
    if standardize:
        mean = kernel.mean(axis=(0, 1, 2), keepdims=True)
        kernel = (kernel - mean) / np.sqrt(kernel.var(axis=(0, 1, 2), keepdims=True) + EPS)
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("nhwc,hwco->no", padded[:, i:i + kh, j:j + kw], kernel)
    return out


@pytest.mark.parametrize("kernel_size, channels", [(3, (5, 7)), (1, (4, 3)), (3, (2, 6))])
def test_standardized_conv_matches_numpy(kernel_size, channels):
    rng = np.random.default_rng(kernel_size + channels[0])
    x = rng.normal(0, 1, (2, 6, 5, channels[0]))
    layer = StandardizedConv2D(channels[1], kernel_size, padding="same", use_bias=False)
    layer.build(x.shape)
    kernel = rng.normal(0.3, 2.0, layer.kernel.shape)  # a mean and scale per output channel to remove
    layer.kernel.assign(kernel)
    ours = layer(x.astype(np.float32)).numpy()
    expected = _conv_reference(x, kernel, standardize=True)
    assert np.abs(ours - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())
    assert np.abs(ours - _conv_reference(x, kernel, standardize=False)).max() > 0.1  # it does standardize


def test_standardized_conv_of_a_constant_kernel_is_zero_not_nan():
    """A constant output-channel kernel has variance 0: (w - mean) / sqrt(0 + eps) = 0."""
    layer = StandardizedConv2D(2, 3, padding="same", use_bias=False)
    layer.build((1, 4, 4, 3))
    kernel = np.random.default_rng(0).normal(0, 1, layer.kernel.shape)
    kernel[..., 1] = 0.7
    layer.kernel.assign(kernel)
    out = layer(np.ones((1, 4, 4, 3), np.float32)).numpy()
    assert np.isfinite(out).all() and np.abs(out[..., 1]).max() == 0.0


def test_standardized_conv_gradient_matches_finite_differences():
    """The kernel's gradient flows through the standardization: finite differences of the
    layer's output with respect to its kernel (float64) equal the layer's own gradient."""
    layer = StandardizedConv2D(3, 3, padding="same", use_bias=False, dtype="float64")
    x = tf.constant(np.random.default_rng(3).normal(0, 1, (1, 4, 4, 2)))
    layer.build(x.shape)
    kernel = np.random.default_rng(4).normal(0.5, 1, layer.kernel.shape)
    weights = np.arange(48.0).reshape(1, 4, 4, 3) / 48.0

    def loss_of(value):
        layer.kernel.assign(value)
        return float(tf.reduce_sum(layer(x) * weights))
    delta = 1e-6
    numerical = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        step = np.zeros_like(kernel)
        step[index] = delta
        numerical[index] = (loss_of(kernel + step) - loss_of(kernel - step)) / (2 * delta)
    layer.kernel.assign(kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * weights)
    np.testing.assert_allclose(tape.gradient(loss, layer.kernel).numpy(), numerical, atol=1e-6)
    # standardization removes each output channel's mean: its kernel gradient sums to ~0 per channel
    assert np.abs(numerical.sum(axis=(0, 1, 2))).max() < 1e-6


def _sample0(unit, conv, batch, training=True):
    y = unit(conv(batch) if conv else batch, training=training)
    return y[0].numpy()


@pytest.mark.parametrize("norm, independent", [("evonorm_s0", True), ("gn_ws", True), ("evonorm_b0", False)])
def test_batch_independence(norm, independent):
    factory = get_norm_act(norm, groups=4) if norm != "evonorm_b0" else get_norm_act(norm)
    unit = factory(8)
    conv = factory.conv_layer(8, 3, padding="same", use_bias=False)
    rng = np.random.default_rng(11)
    batch = rng.normal(0, 1, (4, 6, 6, 3)).astype(np.float32)
    other = batch.copy()
    other[1:] = rng.normal(2.0, 3.0, other[1:].shape)
    same = np.allclose(_sample0(unit, conv, batch), _sample0(unit, conv, other), atol=1e-6)
    assert same == independent


def test_registry_units():
    """The activation is built in (`linear` after it), apply_act=False drops the gate, gn_ws
    standardizes the convs it follows."""
    s0 = get_norm_act("evonorm_s0", groups=32)
    unit = s0(64)
    assert unit.activation == "linear" and unit.norm.nonlinear and unit.norm.groups == 32
    assert not s0(64, apply_act=False).norm.nonlinear and s0(48).norm.groups == 24  # GN's group rule
    assert s0.act_only().act is None and s0.conv_layer is tf_keras.layers.Conv2D
    ws = get_norm_act("gn_ws", groups=32)
    assert ws.conv_layer is StandardizedConv2D and type(ws(64).norm) is tf_keras.layers.GroupNormalization
    with pytest.raises(ValueError, match="valid options: momentum, epsilon"):
        get_norm_act("evonorm_b0", nonlinear=False)


@pytest.mark.parametrize("layer", [EvoNormS0(groups=2, nonlinear=False), EvoNormB0(momentum=0.9),
                                   StandardizedConv2D(4, 3, ws_epsilon=1e-4)], ids=["s0", "b0", "ws"])
def test_serialization_round_trip(layer):
    clone = tf_keras.layers.deserialize(tf_keras.layers.serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_mixed_precision_keeps_float32_statistics():
    policy = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = EvoNormS0(groups=2)
        x = np.full((1, 2, 2, 4), 300.0, np.float16)  # x^2 overflows float16
        x[0, 0, 0] = 301.0
        y = layer(x)
        assert y.dtype == tf.float16 and np.isfinite(y.numpy()).all()
        assert layer.gamma.dtype == tf.float32
    finally:
        tf_keras.mixed_precision.set_global_policy(policy)


def test_xla_compiles_the_same_values():
    layer, b0 = EvoNormS0(groups=2), EvoNormB0()
    x = tf.random.normal([2, 5, 5, 4], seed=1)
    eager = (layer(x), b0(x, training=False))
    compiled = tf.function(lambda t: (layer(t), b0(t, training=False)), jit_compile=True)(x)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


@pytest.mark.parametrize("norm", ["evonorm_b0", "evonorm_s0", "gn_ws"])
def test_dynamic_spatial_size(norm):
    unit = get_norm_act(norm, groups=2)(4) if norm != "evonorm_b0" else get_norm_act(norm)(4)
    fn = tf.function(lambda t: unit(t, training=True), input_signature=[tf.TensorSpec([None, None, None, 4])])
    for size in (3, 6):
        assert fn(tf.random.normal([2, size, size + 1, 4])).shape == (2, size, size + 1, 4)
