"""Filter Response Normalization (Singh & Krishnan, CVPR 2020, arXiv 1911.09737, Sec. 3)."""
import tensorflow as tf
import tf_keras

from norm_layers.frn_ops import frn
from norm_layers.serializable import register


@register
class FilterResponseNormalization(tf_keras.layers.Layer):
    """FRN without its activation (pair it with `TLU`, Sec. 3.1).

    Eq. 1-2: nu2 = mean(x^2) over the spatial axes, per sample and channel (no mean
    subtraction); x_hat = x * rsqrt(nu2 + eps); y = gamma * x_hat + beta with per-channel
    gamma, beta (init 1, 0). eps = |epsilon| (paper: 1e-6); with `learned_epsilon`,
    eps = |epsilon| + |eps_l|, eps_l a trainable scalar (init 1e-4) as the paper uses for
    1x1 maps and dense layers (Sec. 3.1.1).

    Channels-last input of any rank >= 2 with dynamic spatial size; a (batch, channels)
    tensor is a 1x1 map (nu2 = x^2). Arithmetic is float32 (or float64) even under mixed
    precision (fp16 x^2 overflows above |x| ~ 256); the output has the compute dtype.
    """

    def __init__(self,
                 epsilon=1e-6,
                 learned_epsilon=False,
                 learned_epsilon_init=1e-4,
                 gamma_initializer="ones",
                 beta_initializer="zeros",
                 gamma_regularizer=None,
                 beta_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.learned_epsilon = bool(learned_epsilon)
        self.learned_epsilon_init = float(learned_epsilon_init)
        self.gamma_initializer = tf_keras.initializers.get(gamma_initializer)
        self.beta_initializer = tf_keras.initializers.get(beta_initializer)
        self.gamma_regularizer = tf_keras.regularizers.get(gamma_regularizer)
        self.beta_regularizer = tf_keras.regularizers.get(beta_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[-1] if input_shape.rank else None
        if input_shape.rank is None or input_shape.rank < 2 or channels is None:
            raise ValueError(
                f"{self.name}: FRN needs a channels-last input of rank >= 2 with a known "
                f"channel count, got shape {input_shape}")
        self.input_spec = tf_keras.layers.InputSpec(min_ndim=2, axes={-1: channels})
        # Weights stay float32 under mixed precision: the whole layer computes in float32.
        self.gamma = self.add_weight(
            "gamma", shape=(channels,), initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer, experimental_autocast=False)
        self.beta = self.add_weight(
            "beta", shape=(channels,), initializer=self.beta_initializer,
            regularizer=self.beta_regularizer, experimental_autocast=False)
        if self.learned_epsilon:
            self.eps_l = self.add_weight(
                "eps_l", shape=(),
                initializer=tf_keras.initializers.Constant(self.learned_epsilon_init),
                experimental_autocast=False)
        super().build(input_shape)

    def call(self, inputs):
        return self.normalize(inputs)

    def normalize(self, inputs, tau=None):
        """FRN, followed by TLU's max(y, tau) when `tau` is given, as one op (`frn_ops.frn`)."""
        # float32 at least: half precision only at the output.
        dtype = tf.float64 if self.compute_dtype == "float64" else tf.float32
        eps = tf.constant(abs(self.epsilon), dtype)
        if self.learned_epsilon:
            eps = eps + tf.abs(tf.cast(self.eps_l, dtype))
        z = frn(tf.cast(inputs, dtype), tf.cast(self.gamma, dtype), tf.cast(self.beta, dtype),
                eps, None if tau is None else tf.cast(tau, dtype))
        return tf.cast(z, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            epsilon=self.epsilon,
            learned_epsilon=self.learned_epsilon,
            learned_epsilon_init=self.learned_epsilon_init,
            gamma_initializer=tf_keras.initializers.serialize(self.gamma_initializer),
            beta_initializer=tf_keras.initializers.serialize(self.beta_initializer),
            gamma_regularizer=tf_keras.regularizers.serialize(self.gamma_regularizer),
            beta_regularizer=tf_keras.regularizers.serialize(self.beta_regularizer),
        )
        return config
