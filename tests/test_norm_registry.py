"""Every name in the norm table: builds, trains, serializes, has the right weights."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from norm_layers import NORMS, NormAct, get_norm_act, gn_groups
from tests import numpy_reference as ref
from tests.layer_checks import assert_all_tf_keras, assert_config_round_trip, assert_eager_equals_graph

C = 64
# (trainable, non-trainable) parameter counts of one unit on C channels, default activation.
PARAMS = {
    "bn": (2 * C, 2 * C),
    "sync_bn": (2 * C, 2 * C),
    "frozen_bn": (0, 4 * C),
    "batch_renorm": (2 * C, 5 * C),  # + moving stddev, renorm mean and stddev
    "gn": (2 * C, 0),
    "ln": (2 * C, 0),
    "in": (2 * C, 0),
    "frn": (3 * C, 0),  # gamma, beta, tau
    "frn_relu": (2 * C, 0),
    "frn_learned_eps": (3 * C + 1, 0),  # + the scalar eps_l
    "evonorm_b0": (3 * C, C),  # gamma, beta, v1; moving variance
    "evonorm_s0": (3 * C, 0),  # gamma, beta, v1
    "gn_ws": (2 * C, 0),  # the weight standardization is in the convolutions (norm_layers/standardized_conv.py)
    "none": (0, 0),
}
DEFAULT_ACT = {"frn": "tlu", "frn_learned_eps": "tlu", "evonorm_b0": "linear", "evonorm_s0": "linear"}


def test_table_is_complete():
    from norm_layers.names import NORM_NAMES
    assert set(NORMS) == set(PARAMS) and tuple(NORMS) == NORM_NAMES


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


@pytest.mark.parametrize("name", sorted(PARAMS))
@pytest.mark.parametrize("shape", [(4, 6, 5, C), (4, C)])
def test_builds_trains_and_counts(name, shape):
    if name == "evonorm_b0" and len(shape) == 2:
        with pytest.raises(ValueError, match="rank >= 3"):  # its instance variance needs spatial axes
            get_norm_act(name)(C)(tf.zeros(shape))
        return
    unit = get_norm_act(name)(C, name="unit")
    assert isinstance(unit, NormAct) and unit.activation == DEFAULT_ACT.get(name, "relu")
    inputs = tf_keras.Input(shape[1:])
    model = tf_keras.Model(inputs, unit(inputs))
    assert_all_tf_keras(unit)
    assert (_count(model.trainable_weights), _count(model.non_trainable_weights)) == PARAMS[name]

    x = tf.random.normal(shape, seed=1) * 3.0 + 0.5
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x, training=True)
        loss = tf.reduce_sum(y * tf.random.normal(shape, seed=2))
    grads = tape.gradient(loss, [x] + model.trainable_weights)
    assert np.isfinite(y.numpy()).all()
    names = ["input"] + [v.name for v in model.trainable_weights]
    for var_name, grad in zip(names, grads):
        assert grad is not None, f"no gradient for {var_name}"
        if name == "in" and len(shape) == 2:
            continue  # IN of a 1x1 map outputs relu(beta = 0): every gradient is zero by definition
        assert np.abs(grad.numpy()).sum() > 0, f"zero gradient for {var_name}"


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_serializes_and_runs_in_graph_and_xla(name):
    unit = get_norm_act(name)(16)
    x = tf.random.normal([2, 5, 5, 16])
    unit(x)
    assert_config_round_trip(unit, x)
    assert_eager_equals_graph(unit, x)
    assert_eager_equals_graph(unit, x, jit_compile=True)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown norm 'frm'; valid norms: bn, sync_bn, .*frn.*none"):
        get_norm_act("frm")
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; valid activations: relu, tlu, prelu, linear"):
        get_norm_act("gn", act="gelu")
    with pytest.raises(ValueError, match=r"unknown option\(s\) grups for norm 'gn'; valid options: groups, epsilon"):
        get_norm_act("gn", grups=8)
    with pytest.raises(ValueError, match="channels must be a positive int"):
        get_norm_act("bn")(0)


def test_apply_act_false_gives_the_norm_alone():
    x = tf.random.normal([2, 4, 4, 8])
    unit = get_norm_act("frn")(8, apply_act=False)
    y = unit(x)
    assert unit.act is None and not any("tau" in v.name for v in unit.weights)
    assert (y.numpy() < 0).any()  # no TLU/ReLU clipping at tau = 0
    np.testing.assert_allclose(y, ref.frn(x.numpy(), 1.0, 0.0), atol=1e-5)


def test_activation_override_and_prelu_on_any_spatial_size():
    unit = get_norm_act("gn", act="prelu", groups=4)(8)
    fn = tf.function(unit, input_signature=[tf.TensorSpec([None, None, None, 8])])
    fn(tf.random.normal([1, 3, 3, 8]))
    fn(tf.random.normal([2, 7, 5, 8]))
    assert [tuple(w.shape) for w in unit.act.weights] == [(1, 1, 8)]
    assert get_norm_act("gn", act="tlu")(8).activation == "tlu"


def test_options_reach_the_layers():
    bn = get_norm_act("bn", momentum=0.9, epsilon=1e-5)(8).norm
    assert (bn.momentum, bn.epsilon, bn.synchronized) == (0.9, 1e-5, False)
    assert get_norm_act("sync_bn")(8).norm.synchronized
    renorm = get_norm_act("batch_renorm", rmax=2.0, dmax=1.0)(8).norm
    assert renorm.renorm and renorm.renorm_clipping == {"rmax": 2.0, "rmin": 0.5, "dmax": 1.0}
    frozen = get_norm_act("frozen_bn")(8).norm
    assert not frozen.trainable
    frn = get_norm_act("frn", epsilon=1e-4, learned_epsilon=True)(8).norm
    assert (frn.epsilon, frn.learned_epsilon) == (1e-4, True)
    assert get_norm_act("frn_learned_eps")(8).norm.learned_epsilon
    assert get_norm_act("gn", groups=8)(64).norm.groups == 8


def test_factories_compare_by_value():
    assert get_norm_act("gn", groups=8) == get_norm_act("gn", groups=8)
    assert get_norm_act("gn", groups=8) != get_norm_act("gn", groups=16)
    assert hash(get_norm_act("bn", momentum=0.9, epsilon=1e-5)) == hash(get_norm_act("bn", epsilon=1e-5, momentum=0.9))


@pytest.mark.parametrize("channels, groups, expected", [(64, 32, 32), (16, 32, 16), (48, 32, 24),
                                                         (40, 32, 20), (7, 32, 7), (96, 32, 32)])
def test_gn_group_fallback(channels, groups, expected):
    assert gn_groups(channels, groups) == expected


@pytest.mark.parametrize("name, channels, groups", [("gn", 48, 24), ("gn", 64, 32), ("ln", 12, 1), ("in", 12, 12)])
def test_group_family_matches_numpy(name, channels, groups):
    x = np.random.default_rng(0).normal(size=(3, 5, 4, channels)).astype(np.float32) * 2 + 1
    unit = get_norm_act(name, act="linear")(channels)
    np.testing.assert_allclose(unit(x, training=True), ref.group_norm(x, groups, 1e-5), atol=1e-4)


def test_frozen_bn_uses_inference_statistics_even_when_training():
    unit = get_norm_act("frozen_bn", act="linear")(4)
    x = tf.random.normal([8, 3, 3, 4]) * 5 + 2
    unit(x)
    unit.norm.moving_mean.assign([1.0, 2.0, 3.0, 4.0])
    unit.norm.moving_variance.assign([4.0, 4.0, 4.0, 4.0])
    expected = (x.numpy() - [1.0, 2.0, 3.0, 4.0]) / np.sqrt(4.0 + 1e-3)
    np.testing.assert_allclose(unit(x, training=True), expected, atol=1e-5)
    np.testing.assert_allclose(unit.norm.moving_mean.numpy(), [1.0, 2.0, 3.0, 4.0])
