"""FPN (Lin et al., CVPR 2017) with its norms from norm_layers, laid out as Model Garden's FPN.

Lateral 1x1 convs, nearest top-down upsampling + sum, 3x3 output convs, stride-2 convs for
levels above the backbone's (with the activation before each but the first), then one norm
per level with no activation, as Model Garden's FPN does with BN.
"""
import tf_keras
from official.vision.ops import spatial_transform_ops


def _conv(filters, kernel_size, strides, regularizer, name, layer=tf_keras.layers.Conv2D):
    return layer(filters, kernel_size, strides=strides, padding="same", kernel_initializer="VarianceScaling",
                 kernel_regularizer=regularizer, name=name)


class NormFPN(tf_keras.Model):
    """Multilevel features '{min_level}'..'{max_level}' with `num_filters` channels each."""

    def __init__(self, input_specs, norm_act, min_level=3, max_level=7, num_filters=256,
                 kernel_regularizer=None, **kwargs):
        inputs = {level: tf_keras.Input(shape=spec[1:]) for level, spec in input_specs.items()}
        top = min(max(int(level) for level in inputs), max_level)
        lateral = {level: _conv(num_filters, 1, 1, kernel_regularizer, f"lateral_{level}")(inputs[str(level)])
                   for level in range(min_level, top + 1)}
        feats = {top: lateral[top]}
        for level in range(top - 1, min_level - 1, -1):
            upsampled = spatial_transform_ops.nearest_upsampling(feats[level + 1], 2)  # reshape+tile: XLA has no ResizeNearestNeighborGrad
            feats[level] = tf_keras.layers.Add(name=f"topdown_{level}")([upsampled, lateral[level]])
        for level in range(min_level, top + 1):
            feats[level] = _conv(num_filters, 3, 1, kernel_regularizer, f"post_hoc_{level}", norm_act.conv_layer)(feats[level])
        for level in range(top + 1, max_level + 1):
            x = feats[level - 1]
            if level > top + 1:
                x = norm_act.act_only(name=f"coarser_{level}_act")(x)
            feats[level] = _conv(num_filters, 3, 2, kernel_regularizer, f"coarser_{level}", norm_act.conv_layer)(x)
        outputs = {str(level): norm_act(num_filters, apply_act=False, name=f"norm_{level}")(feats[level])
                   for level in range(min_level, max_level + 1)}
        self._output_specs = {level: tensor.get_shape() for level, tensor in outputs.items()}
        self._config_dict = dict(input_specs={k: list(v) for k, v in input_specs.items()},
                                 norm_act=norm_act.to_dict(), min_level=min_level, max_level=max_level,
                                 num_filters=num_filters)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    @property
    def output_specs(self):
        return self._output_specs

    def get_config(self):
        return dict(self._config_dict)

