"""What every backbone shares: multilevel endpoints, output_specs, conv defaults, config."""
import collections.abc

import tensorflow as tf
import tf_keras

from norm_layers import NormActFactory, get_norm_act

# Model Garden's ResNet defaults, so our BN ResNet-50 matches its initialisation.
KERNEL_INITIALIZER = "VarianceScaling"


class Conv:
    """Bias-free convolutions (every conv here is followed by a norm) with shared settings;
    `layer`: the conv class the norm asks for (weight-standardized for `gn_ws`)."""

    def __init__(self, kernel_regularizer=None, padding="same", layer=tf_keras.layers.Conv2D):
        self.kernel_regularizer = as_regularizer(kernel_regularizer)
        self.padding = padding
        self.layer = layer

    def __call__(self, filters, kernel_size, strides=1, name=None, padding=None):
        return self.layer(
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


def scaled(width, multiplier):
    return max(8, int(round(width * multiplier)))


class MultilevelBackbone(tf_keras.Model):
    """A functional backbone whose outputs are feature maps keyed by level ('2'..'5').

    Level L has stride 2^L; `output_specs` maps each level to its shape, which is what Model
    Garden's decoders (FPN) and heads read. A subclass names its architecture (`ARCH`), its
    `VARIANTS` (variant -> setting) and builds its layers in `_build`; the constructor, input,
    norm-act factory, convolutions and serializable config are shared here.
    """

    ARCH = None
    VARIANTS = {}
    WIDTH_OF = staticmethod(lambda setting: setting[1])  # VARIANTS[variant] -> its width multiplier

    def __init__(self, input_specs=None, variant="full", norm_act=None, kernel_regularizer=None, **kwargs):
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown {self.ARCH} variant {variant!r}; valid variants: {', '.join(self.VARIANTS)}")
        make = as_factory(norm_act)
        inputs = tf_keras.Input(shape=input_shape_of(input_specs)[1:])
        endpoints = self._build(inputs, self.VARIANTS[variant], make, Conv(kernel_regularizer, layer=make.conv_layer))
        self._config_dict = {
            "input_specs": input_shape_of(input_specs),
            "variant": variant,
            "norm_act": make.to_dict(),
            "kernel_regularizer": tf_keras.regularizers.serialize(as_regularizer(kernel_regularizer))
            if kernel_regularizer is not None else None,
        }
        self._output_specs = {level: endpoints[level].get_shape() for level in endpoints}
        super().__init__(inputs=inputs, outputs=endpoints, name=kwargs.pop("name", f"{self.ARCH}_{variant}"),
                         **kwargs)

    @classmethod
    def width(cls, variant):
        """The variant's width multiplier, relative to 'full' (1.0)."""
        if variant not in cls.VARIANTS:
            raise ValueError(f"unknown {cls.ARCH} variant {variant!r}; valid variants: {', '.join(cls.VARIANTS)}")
        return cls.WIDTH_OF(cls.VARIANTS[variant])

    @staticmethod
    def _build(inputs, setting, norm_act, conv):
        """The layers from `inputs`; returns {level: feature map}. `setting` is VARIANTS[variant]."""
        raise NotImplementedError

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


def task_inputs(task_config):
    """(InputSpec [None, H, W, C] from model.input_size, l2 kernel regularizer or None) of a task.

    Model Garden's convention: l2(weight_decay / 2), which matches tf.nn.l2_loss.
    """
    input_specs = tf_keras.layers.InputSpec(shape=[None] + list(task_config.model.input_size))
    weight_decay = task_config.losses.l2_weight_decay
    return input_specs, (tf_keras.regularizers.l2(weight_decay / 2.0) if weight_decay else None)
