"""EvoNorm-B0 and EvoNorm-S0 (Liu, Brock, Simonyan & Le, NeurIPS 2020, arXiv 2004.02967, Table 1).

Both are normalization-activation layers: the nonlinearity is part of the layer, so the unit's
separate activation is `linear` (norm_layers/registry.py). With `nonlinear=False` (the registry
passes apply_act=False: the norm before a residual add) the layer keeps its normalization and
drops the gate: S0 -> x / s_{w,h,c/g}(x), B0 -> x / sqrt(s2_{b,w,h}(x) + eps), each then
gamma * . + beta, the same role BN or GN without ReLU plays there.

Statistics are variances (mean-subtracted), computed in float32 (float64 for float64 layers)
under mixed precision; the output has the compute dtype. Channels last, dynamic spatial size.
"""
import tensorflow as tf
import tf_keras

from norm_layers.serializable import register


class _EvoNorm(tf_keras.layers.Layer):
    def __init__(self, nonlinear=True, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.nonlinear = bool(nonlinear)
        self.epsilon = float(epsilon)

    def _weights(self, input_shape, min_rank):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank is None or input_shape.rank < min_rank or input_shape[-1] is None:
            raise ValueError(f"{self.name}: {type(self).__name__} needs a channels-last input of rank >= {min_rank} "
                             f"with a known channel count, got shape {input_shape}")
        channels = input_shape[-1]
        self.input_spec = tf_keras.layers.InputSpec(min_ndim=min_rank, axes={-1: channels})
        weight = lambda name, init: self.add_weight(name, shape=(channels,), initializer=init,  # noqa: E731
                                                    experimental_autocast=False)
        self.gamma, self.beta = weight("gamma", "ones"), weight("beta", "zeros")
        self.v1 = weight("v1", "ones") if self.nonlinear else None
        return channels

    def _dtype(self):
        return tf.float64 if self.compute_dtype == "float64" else tf.float32

    def _affine(self, y, dtype):
        return tf.cast(y * tf.cast(self.gamma, dtype) + tf.cast(self.beta, dtype), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "nonlinear": self.nonlinear, "epsilon": self.epsilon}


@register
class EvoNormS0(_EvoNorm):
    """EvoNorm-S0, batch-independent: y = x * sigmoid(v1 * x) / s_{w,h,c/g}(x) * gamma + beta.

    s_{w,h,c/g}: the standard deviation over the spatial axes and the `groups` channel groups of
    each sample, sqrt(var + eps) (the paper uses 32 groups, as GN). A (batch, channels) input
    takes its statistics over each group's channels.
    """

    def __init__(self, groups=32, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        channels = self._weights(input_shape, 2)
        if self.groups < 1 or channels % self.groups:
            raise ValueError(f"{self.name}: {channels} channels are not divisible into {self.groups} groups")
        super().build(input_shape)

    def call(self, inputs):
        dtype = self._dtype()
        x = tf.cast(inputs, dtype)
        shape = tf.shape(x)
        channels = x.shape[-1]
        grouped = tf.reshape(x, tf.concat([shape[:-1], [self.groups, channels // self.groups]], 0))
        axes = list(range(1, x.shape.rank - 1)) + [x.shape.rank]  # spatial axes and the channels of a group
        _, variance = tf.nn.moments(grouped, axes, keepdims=True)
        std = tf.reshape(tf.broadcast_to(tf.sqrt(variance + self.epsilon), tf.shape(grouped)), shape)
        numerator = x * tf.sigmoid(tf.cast(self.v1, dtype) * x) if self.nonlinear else x
        return self._affine(numerator / std, dtype)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@register
class EvoNormB0(_EvoNorm):
    """EvoNorm-B0, batch-dependent: y = x / max(sqrt(s2_{b,w,h}(x) + eps), v1 * x + sqrt(s2_{w,h}(x) + eps))
    * gamma + beta.

    s2_{b,w,h}: the variance over the batch and spatial axes per channel (per replica, as BN);
    in inference the moving average `moving_variance` (momentum as BN's) replaces it. s2_{w,h}:
    the variance over the spatial axes per sample and channel, so the nonlinear form needs a
    spatial input (rank >= 3); without the gate a (batch, channels) input works.
    """

    def __init__(self, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        channels = self._weights(input_shape, 3 if self.nonlinear else 2)
        self.moving_variance = self.add_weight(
            "moving_variance", shape=(channels,), initializer="ones", trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ, aggregation=tf.VariableAggregation.MEAN,
            experimental_autocast=False)
        super().build(input_shape)

    def call(self, inputs, training=None):
        if training is None:
            training = tf_keras.backend.learning_phase()
        dtype = self._dtype()
        x = tf.cast(inputs, dtype)
        if training and self.trainable:
            _, variance = tf.nn.moments(x, list(range(x.shape.rank - 1)))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + tf.cast(variance, self.moving_variance.dtype) * (1.0 - self.momentum))
        else:
            variance = tf.cast(self.moving_variance, dtype)
        denominator = tf.sqrt(variance + self.epsilon)
        if self.nonlinear:
            _, instance = tf.nn.moments(x, list(range(1, x.shape.rank - 1)), keepdims=True)
            denominator = tf.maximum(denominator, tf.cast(self.v1, dtype) * x + tf.sqrt(instance + self.epsilon))
        return self._affine(x / denominator, dtype)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}
