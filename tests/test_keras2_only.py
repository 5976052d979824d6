"""Model Garden is tf_keras (Keras 2): a Keras 3 layer inside it is silently never trained."""
import keras  # Keras 3, installed with TensorFlow 2.20
import pytest
import tensorflow as tf
import tf_keras

from norm_layers import NormAct
from tests.layer_checks import assert_all_tf_keras


class _HoldsKeras3Dense(tf_keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(3)

    def call(self, x):
        return self.inner(x)


def test_keras3_layer_inside_tf_keras_is_caught():
    """The check used on every unit fails on exactly the bug it guards against."""
    layer = _HoldsKeras3Dense()
    layer(tf.ones([2, 4]))
    assert len(layer.trainable_weights) == 0  # the bug: its 2 weights are not tracked
    with pytest.raises(AssertionError, match="not tracked"):
        assert_all_tf_keras(layer)


def test_norm_act_refuses_a_keras3_norm():
    with pytest.raises(TypeError, match="must be a tf_keras layer"):
        NormAct(keras.layers.BatchNormalization(), "relu")


def test_tf_keras_is_keras2():
    assert tf_keras.__version__.startswith("2.")
