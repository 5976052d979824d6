"""Registers each backbone with Model Garden's `backbones.factory` (as official/projects do)."""
from official.vision.modeling.backbones import factory

from backbones.configs import norm_act_factory
from backbones.inception_v3 import InceptionV3
from backbones.resnet_v1 import ResNetV1
from backbones.resnet_v2 import ResNetV2
from backbones.vgg_a import VGGA

# backbone config type -> model class; also the valid choices named in errors
BACKBONES = {
    "resnet_v1": ResNetV1,
    "resnet_v2": ResNetV2,
    "inception_v3": InceptionV3,
    "vgg_a": VGGA,
}


def _builder(model_class):
    def build(input_specs, backbone_config, norm_activation_config=None, l2_regularizer=None, **kwargs):
        """Model Garden's `norm_activation_config` is ignored: our norm is in the backbone config."""
        config = backbone_config.get()
        return model_class(input_specs=input_specs, variant=config.variant,
                           norm_act=norm_act_factory(config.norm_activation),
                           kernel_regularizer=l2_regularizer)
    build.__name__ = f"build_{model_class.__name__}"
    return build


for _key, _class in BACKBONES.items():
    factory.register_backbone_builder(_key)(_builder(_class))
