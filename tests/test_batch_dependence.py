"""Which norms couple the samples of a batch (BN family) and which do not (FRN, GN, LN, IN)."""
import numpy as np
import pytest
import tensorflow as tf

from norm_layers import get_norm_act

INDEPENDENT = ["frn", "frn_relu", "frn_learned_eps", "gn", "ln", "in", "frozen_bn", "none"]
COUPLED = ["bn", "sync_bn", "batch_renorm"]


def _sample0_output(name, rest_scale):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 6, 32)).astype(np.float32)
    x[1:] = x[1:] * rest_scale + rest_scale
    tf.random.set_seed(0)
    unit = get_norm_act(name)(32)
    return unit(x, training=True).numpy()[0]


@pytest.mark.parametrize("name", INDEPENDENT)
def test_sample_output_ignores_the_rest_of_the_batch(name):
    np.testing.assert_allclose(_sample0_output(name, 1.0), _sample0_output(name, 7.0), atol=1e-5)


@pytest.mark.parametrize("name", COUPLED)
def test_batch_norms_depend_on_the_rest_of_the_batch(name):
    assert np.abs(_sample0_output(name, 1.0) - _sample0_output(name, 7.0)).max() > 0.1


def _replica_outputs(name):
    """2 replicas (logical CPUs), 2 samples each; replica 1's samples are shifted by +5."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 3, 4)).astype(np.float32)
    x[2:] += 5.0
    with strategy.scope():
        unit = get_norm_act(name, act="linear", epsilon=1e-5)(4)
        unit.build([None, 3, 3, 4])
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    out = strategy.run(lambda t: unit(t, training=True), args=(batch,))
    return x, np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])


def _bn_reference(x):
    mean = x.mean(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(x.var(axis=(0, 1, 2)) + 1e-5)


def test_bn_keeps_per_replica_statistics():
    x, out = _replica_outputs("bn")
    np.testing.assert_allclose(out[:2], _bn_reference(x[:2]), atol=1e-4)
    np.testing.assert_allclose(out[2:], _bn_reference(x[2:]), atol=1e-4)


def test_sync_bn_uses_global_statistics():
    x, out = _replica_outputs("sync_bn")
    np.testing.assert_allclose(out, _bn_reference(x), atol=1e-4)
