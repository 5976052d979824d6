"""Thresholded Linear Unit, FRN's activation (Singh & Krishnan 2020, Sec. 3.1, Eq. 3)."""
import tensorflow as tf
import tf_keras

from norm_layers.serializable import register


@register
class TLU(tf_keras.layers.Layer):
    """z = max(y, tau) with a learned per-channel threshold tau (init 0).

    Gradients follow the paper: dz/dy = [y > tau], dz/dtau = [y <= tau]; ties go to tau,
    which matters because FRN maps exact zeros (padding) to beta = tau = 0 at init.
    """

    def __init__(self, tau_initializer="zeros", tau_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.tau_initializer = tf_keras.initializers.get(tau_initializer)
        self.tau_regularizer = tf_keras.regularizers.get(tau_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[-1] if input_shape.rank else None
        if channels is None:
            raise ValueError(f"{self.name}: TLU needs a known channel count, got {input_shape}")
        self.input_spec = tf_keras.layers.InputSpec(min_ndim=2, axes={-1: channels})
        self.tau = self.add_weight(
            "tau", shape=(channels,), initializer=self.tau_initializer,
            regularizer=self.tau_regularizer)
        super().build(input_shape)

    def call(self, inputs):
        # tf.maximum sends the gradient of a tie to its first argument: tau first.
        return tf.maximum(tf.cast(self.tau, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            tau_initializer=tf_keras.initializers.serialize(self.tau_initializer),
            tau_regularizer=tf_keras.regularizers.serialize(self.tau_regularizer),
        )
        return config
