"""Registration with Model Garden: each backbone builds through `backbones.factory` from a config."""
import pytest
import tf_keras
from official.vision.configs import common
from official.vision.modeling.backbones import factory

from backbones.configs import Backbone, NormActivation, norm_act_factory
from backbones.registration import BACKBONES
from norm_layers import TLU, FilterResponseNormalization
from tests.layer_checks import sublayers


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_builds_through_model_garden_factory(arch):
    config = Backbone(type=arch)
    config.override({arch: {"variant": "small", "norm_activation": {"norm": "frn"}}}, is_strict=True)
    model = factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]), backbone_config=config,
        norm_activation_config=common.NormActivation(), l2_regularizer=tf_keras.regularizers.l2(1e-4))
    assert isinstance(model, BACKBONES[arch])
    kinds = {type(layer) for layer in sublayers(model)}
    assert FilterResponseNormalization in kinds and TLU in kinds
    assert not any(isinstance(layer, tf_keras.layers.BatchNormalization) for layer in sublayers(model))
    assert len(model.losses) > 0  # the l2 regularizer reached the convs


def test_strict_override_rejects_unknown_fields():
    config = Backbone(type="resnet_v1")
    with pytest.raises(KeyError):
        config.override({"resnet_v1": {"norm_activation": {"nrom": "frn"}}}, is_strict=True)


def test_norm_activation_options_apply_to_the_norms_that_have_them():
    config = NormActivation(norm="gn", bn_momentum=0.9, gn_groups=8, epsilon=1e-4)
    assert norm_act_factory(config).options == (("epsilon", 1e-4), ("groups", 8))
    bn = norm_act_factory(NormActivation(norm="bn", bn_momentum=0.9, gn_groups=8))
    assert bn.options == (("momentum", 0.9),) and bn.act == "relu"
    frn = norm_act_factory(NormActivation(norm="frn", frn_learned_epsilon=True, activation="relu"))
    assert frn.options == (("learned_epsilon", True),) and frn.act == "relu"
    with pytest.raises(ValueError, match="unknown norm 'frm'"):
        norm_act_factory(NormActivation(norm="frm"))
