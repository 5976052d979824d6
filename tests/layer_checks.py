"""Shared checks for every layer: tf_keras-ness, config round trip, eager vs graph."""
import numpy as np
import tensorflow as tf
import tf_keras


def sublayers(layer):
    """The layer and every layer nested inside it."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def assert_all_tf_keras(layer):
    """Fails on any nested layer that is not a tf_keras (Keras 2) layer.

    A Keras 3 layer inside a tf_keras model builds and runs, but its weights are not
    tracked by the model, so Model Garden would never train them.
    """
    foreign = [type(sub).__module__ + "." + type(sub).__name__
               for sub in sublayers(layer) if not isinstance(sub, tf_keras.layers.Layer)]
    assert not foreign, f"non-tf_keras layers inside {layer.name}: {foreign}"
    # Also catches objects that are not Layers at all but hold variables.
    nested_vars = {id(v) for v in layer.weights}
    for attr in vars(layer).values():
        for var in getattr(attr, "weights", []) or []:
            assert id(var) in nested_vars, f"{layer.name}: weight {var.name} is not tracked"


def assert_config_round_trip(layer, x):
    """serialize -> deserialize gives the same config and, with copied weights, the same output."""
    clone = tf_keras.layers.deserialize(tf_keras.layers.serialize(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, training=False), layer(x, training=False), rtol=1e-6, atol=1e-6)


def assert_eager_equals_graph(layer, x, jit_compile=False):
    """The layer gives the same output eagerly and inside tf.function (optionally XLA)."""
    layer(x)  # build
    state = layer.get_weights()  # training-mode calls may move statistics (batch renorm)
    eager = layer(x, training=True)
    layer.set_weights(state)
    graph = tf.function(lambda t: layer(t, training=True), jit_compile=jit_compile)(x)
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-5)
