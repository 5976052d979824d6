"""Every norm-act unit under mixed_float16 / mixed_bfloat16 with large activations."""
import numpy as np
import pytest
import tensorflow as tf

from norm_layers import NORMS, get_norm_act


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("policy_name, compute", [("mixed_float16", tf.float16),
                                                   ("mixed_bfloat16", tf.bfloat16)])
def test_large_inputs_stay_finite(policy, name, policy_name, compute):
    policy(policy_name)
    unit = get_norm_act(name)(32)
    x = tf.cast(tf.random.uniform([2, 8, 8, 32], -1e3, 1e3, seed=3), compute)
    for training in (True, False):
        y = unit(x, training=training)
        assert y.dtype == compute
        assert np.isfinite(tf.cast(y, tf.float32).numpy()).all(), f"{name} training={training}"
    assert all(v.dtype == tf.float32 for v in unit.weights)
