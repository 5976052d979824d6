"""The swappable unit of the suite: a normalization followed by its activation."""
import tensorflow as tf
import tf_keras

from norm_layers.activations import build_activation, check_activation
from norm_layers.frn import FilterResponseNormalization
from norm_layers.serializable import register
from norm_layers.tlu import TLU


@register
class NormAct(tf_keras.layers.Layer):
    """norm(x) then activation, as one layer (FRN only makes sense with its TLU).

    Args:
      norm: a tf_keras layer (or its `tf_keras.layers.serialize` dict), or None for no
        normalization.
      activation: a name from `norm_layers.activations.ACTIVATIONS`; 'linear' for none.
    The activation layer is made in `build`, where the input rank is known (PReLU shares
    its slope over the spatial axes).
    """

    def __init__(self, norm=None, activation="linear", **kwargs):
        super().__init__(**kwargs)
        if isinstance(norm, dict):
            norm = tf_keras.layers.deserialize(norm)
        if norm is not None and not isinstance(norm, tf_keras.layers.Layer):
            raise TypeError(
                f"{self.name}: norm must be a tf_keras layer (Keras 3 layers are not "
                f"trained inside tf_keras models), got {type(norm).__module__}."
                f"{type(norm).__name__}")
        self.norm = norm
        self.activation = check_activation(activation)
        self.act = None

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        self.act = build_activation(self.activation, input_shape.rank)
        for layer in (self.norm, self.act):
            if layer is not None and not layer.built:
                with tf.name_scope(layer.name):
                    layer.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        if isinstance(self.norm, FilterResponseNormalization) and isinstance(self.act, TLU):
            # One op with analytic gradients instead of two layers (norm_layers/frn_ops.py).
            return self.norm.normalize(inputs, tau=self.act.tau)
        x = inputs
        if self.norm is not None:
            x = self.norm(x, training=training)
        if self.act is not None:
            x = self.act(x)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            norm=tf_keras.layers.serialize(self.norm) if self.norm is not None else None,
            activation=self.activation,
        )
        return config
