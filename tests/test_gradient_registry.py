"""norm_layers/gradient_registry.py: a traced FRN graph stays alive through TensorFlow's gradient registry
until its custom gradients are released, and is collected after; other entries are left alone."""
import gc
import weakref

import numpy as np
import tensorflow as tf

from norm_layers import frn_ops, gradient_registry


def _traced_frn_graph():
    """A weak reference to the graph of a tf.function that differentiates FRN + TLU, and the gradient it gave."""
    gamma, beta, tau = (tf.Variable(np.full(3, v, np.float32)) for v in (1.5, 0.1, -0.2))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(frn_ops.frn(x, gamma, beta, 1e-6, tau))
        return tape.gradient(loss, gamma)

    x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32))
    concrete = step.get_concrete_function(x)
    return weakref.ref(concrete.graph), concrete(x).numpy()


def test_a_traced_frn_graph_outlives_its_function_until_its_custom_gradients_are_released():
    before = gradient_registry.custom_gradient_names()
    graph, gradient = _traced_frn_graph()
    assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)
    gc.collect()
    assert graph() is not None  # TensorFlow's registry holds it (if this fails, TensorFlow fixed its leak)
    assert gradient_registry.release_since(before) >= 1
    gc.collect()
    assert graph() is None
    assert gradient_registry.custom_gradient_names() == before  # entries registered before are kept


def test_release_keeps_the_entries_of_the_snapshot_and_counts_only_new_ones():
    _traced_frn_graph()
    snapshot = gradient_registry.custom_gradient_names()
    assert snapshot and gradient_registry.release_since(snapshot) == 0
    assert gradient_registry.custom_gradient_names() == snapshot
    gradient_registry.release_since(set())
    assert not gradient_registry.custom_gradient_names()
