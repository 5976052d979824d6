"""Weight Standardization (Qiao, Wang, Liu, Shen & Yuille, arXiv 1903.10520, Eq. 5-6).

W_hat[:, :, :, o] = (W[:, :, :, o] - mean_o) / sqrt(var_o + eps): each output channel's kernel
is standardized over its fan-in (kernel height, width and input channels) before the
convolution, every call, so gradients flow through the standardization. Paired with GN it is
the `gn_ws` normalization (norm_layers/registry.py).
"""
import tensorflow as tf
import tf_keras

from norm_layers.serializable import register


@register
class StandardizedConv2D(tf_keras.layers.Conv2D):
    """A tf_keras Conv2D whose kernel is weight-standardized per output channel (eps 1e-5)."""

    def __init__(self, *args, ws_epsilon=1e-5, **kwargs):
        super().__init__(*args, **kwargs)
        self.ws_epsilon = float(ws_epsilon)

    def convolution_op(self, inputs, kernel):
        dtype = tf.float64 if kernel.dtype == tf.float64 else tf.float32
        weights = tf.cast(kernel, dtype)
        mean, variance = tf.nn.moments(weights, axes=[0, 1, 2], keepdims=True)
        standardized = (weights - mean) * tf.math.rsqrt(variance + self.ws_epsilon)
        return super().convolution_op(inputs, tf.cast(standardized, kernel.dtype))

    def get_config(self):
        return {**super().get_config(), "ws_epsilon": self.ws_epsilon}
