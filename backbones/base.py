"""What every backbone shares: multilevel endpoints, output_specs, conv defaults, config."""
import collections.abc

import tensorflow as tf
import tf_keras

from norm_layers import NormActFactory, get_norm_act

# Model Garden's ResNet defaults, so our BN ResNet-50 matches its initialisation.
KERNEL_INITIALIZER = "VarianceScaling"


class Conv:
    """Bias-free convolutions (every conv here is followed by a norm) with shared settings."""

    def __init__(self, kernel_regularizer=None, padding="same"):
        self.kernel_regularizer = as_regularizer(kernel_regularizer)
        self.padding = padding

    def __call__(self, filters, kernel_size, strides=1, name=None, padding=None):
        return tf_keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding=padding or self.padding,
            use_bias=False, kernel_initializer=KERNEL_INITIALIZER,
            kernel_regularizer=self.kernel_regularizer, name=name)


def as_regularizer(value):
    """A tf_keras regularizer from itself, its serialized dict (from get_config), or None."""
    if isinstance(value, collections.abc.Mapping):
        value = dict(value)
    return tf_keras.regularizers.get(value)


def as_factory(norm_act):
    """A NormActFactory from a factory, its dict form, a norm name, or None (BN+ReLU)."""
    if norm_act is None:
        return get_norm_act("bn")
    if isinstance(norm_act, NormActFactory):
        return norm_act
    if isinstance(norm_act, str):
        return get_norm_act(norm_act)
    return NormActFactory.from_dict(norm_act)


def pick_variant(variants, variant, arch):
    if variant not in variants:
        raise ValueError(f"unknown {arch} variant {variant!r}; valid variants: {', '.join(variants)}")
    return variants[variant]


def scaled(width, multiplier):
    return max(8, int(round(width * multiplier)))


class MultilevelBackbone(tf_keras.Model):
    """A functional backbone whose outputs are feature maps keyed by level ('2'..'5').

    Level L has stride 2^L; `output_specs` maps each level to its shape, which is what Model
    Garden's decoders (FPN) and heads read.
    """

    def __init__(self, inputs, endpoints, config, **kwargs):
        self._config_dict = dict(config)
        self._output_specs = {level: endpoints[level].get_shape() for level in endpoints}
        super().__init__(inputs=inputs, outputs=endpoints, **kwargs)

    @property
    def output_specs(self):
        return self._output_specs

    def get_config(self):
        return dict(self._config_dict)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def input_shape_of(input_specs):
    """[batch, H, W, C] from a tf_keras InputSpec, a shape list, or None (any H, W; RGB)."""
    if input_specs is None:
        return [None, None, None, 3]
    shape = input_specs.shape if isinstance(input_specs, tf_keras.layers.InputSpec) else input_specs
    return list(tf.TensorShape(shape).as_list())


def backbone_config(input_specs, variant, norm_act, kernel_regularizer):
    """The serializable constructor arguments every backbone keeps."""
    return {
        "input_specs": input_shape_of(input_specs),
        "variant": variant,
        "norm_act": as_factory(norm_act).to_dict(),
        "kernel_regularizer": tf_keras.regularizers.serialize(as_regularizer(kernel_regularizer))
        if kernel_regularizer is not None else None,
    }
