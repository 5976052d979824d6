"""Maxout (Goodfellow et al., ICML 2013), discussed beside PReLU and TLU in FRN Sec. 3.1."""
import tensorflow as tf
import tf_keras

from norm_layers.serializable import register


@register
class Maxout(tf_keras.layers.Layer):
    """Max over contiguous groups of channels: unit i = max(x[..., i*k:(i+1)*k]).

    Channels-last; C input channels give `num_units` outputs, k = C / num_units. It changes
    the channel count, so it is a standalone layer, not an activation of the norm-act unit.
    """

    def __init__(self, num_units, **kwargs):
        super().__init__(**kwargs)
        self.num_units = int(num_units)
        if self.num_units < 1:
            raise ValueError(f"Maxout num_units must be >= 1, got {num_units}")

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        if channels is None or channels % self.num_units:
            raise ValueError(
                f"{self.name}: channels ({channels}) must be a multiple of "
                f"num_units ({self.num_units})")
        self.group_size = channels // self.num_units
        super().build(input_shape)

    def call(self, inputs):
        leading = tf.shape(inputs)[:-1]
        grouped = tf.reshape(
            inputs, tf.concat([leading, [self.num_units, self.group_size]], axis=0))
        outputs = tf.reduce_max(grouped, axis=-1)
        outputs.set_shape(inputs.shape[:-1].concatenate([self.num_units]))
        return outputs

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.num_units])

    def get_config(self):
        config = super().get_config()
        config.update(num_units=self.num_units)
        return config
