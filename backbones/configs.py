"""Model Garden config dataclasses for the norm-pluggable backbones.

`Backbone` extends Model Garden's one-of backbone config with our four architectures, so
`model.backbone.type: resnet_v1` (etc.) works in any Model Garden experiment with strict
overrides. Model Garden's own `norm_activation` config cannot express FRN+TLU; ours lives in
each backbone config as `norm_activation`.
"""
import dataclasses

from official.modeling import hyperparams
from official.vision.configs import backbones as mg_backbones

from norm_layers import NormActFactory, applicable_options, get_norm_act


@dataclasses.dataclass
class NormActivation(hyperparams.Config):
    """One component's norm-act unit. Options apply to the norms that have them."""
    norm: str = "bn"                 # a name in norm_layers.NORMS
    activation: str = ""             # '' = the norm's paired activation (tlu for frn, else relu)
    bn_momentum: float = 0.99        # bn, sync_bn, batch_renorm
    epsilon: float | None = None  # None = the norm's default (BN 1e-3, GN/LN/IN 1e-5, FRN 1e-6)
    gn_groups: int = 32              # gn
    frn_learned_epsilon: bool = False  # frn, frn_relu


def norm_act_factory(config: NormActivation) -> NormActFactory:
    """The norm_layers factory a NormActivation config describes."""
    options = applicable_options(
        config.norm, momentum=config.bn_momentum, epsilon=config.epsilon,
        groups=config.gn_groups, learned_epsilon=config.frn_learned_epsilon)
    return get_norm_act(config.norm, config.activation or None, **options)


@dataclasses.dataclass
class PluggableBackbone(hyperparams.Config):
    variant: str = "full"  # 'full' (the paper's size) or 'small' (CPU runs)
    norm_activation: NormActivation = dataclasses.field(default_factory=NormActivation)


@dataclasses.dataclass
class ResNetV1(PluggableBackbone):
    """ResNet-50 v1 (bottleneck), Model Garden's layout; the detection default."""


@dataclasses.dataclass
class ResNetV2(PluggableBackbone):
    """ResNet-50 v2 (pre-activation), the paper's classifier."""


@dataclasses.dataclass
class InceptionV3(PluggableBackbone):
    """InceptionV3 (auxiliary head in the classifier)."""


@dataclasses.dataclass
class VGGA(PluggableBackbone):
    """VGG-A, 11 weight layers (fully connected layers in the classifier)."""


@dataclasses.dataclass
class Backbone(mg_backbones.Backbone):
    """Model Garden's backbone one-of plus ours."""
    resnet_v1: ResNetV1 = dataclasses.field(default_factory=ResNetV1)
    resnet_v2: ResNetV2 = dataclasses.field(default_factory=ResNetV2)
    inception_v3: InceptionV3 = dataclasses.field(default_factory=InceptionV3)
    vgg_a: VGGA = dataclasses.field(default_factory=VGGA)
