"""Every architecture x every norm: builds, trains, has the right endpoints and sizes."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from backbones.registration import BACKBONES
from norm_layers import NORMS, FilterResponseNormalization, NormAct, get_norm_act
from tests.layer_checks import assert_all_tf_keras, sublayers

# 96 px: level 5 is 3x3, so no map is constant (IN of a constant map has no gradient)
SMALL_INPUT = tf_keras.layers.InputSpec(shape=[None, 96, 96, 3])


# Every norm on the detectors' ResNet-50 v1; on the other backbones, the norms whose plumbing
# differs (paired activation, frozen weights, weight-standardized convs, batch-dependent
# inference statistics, FRN's fused op): the per-norm layer checks are in the norm tests.
PLUMBING_NORMS = ("bn", "frozen_bn", "frn", "gn_ws", "evonorm_b0")
ARCH_NORMS = [("resnet_v1", norm) for norm in sorted(NORMS)] + [
    (arch, norm) for arch in sorted(BACKBONES) if arch != "resnet_v1" for norm in PLUMBING_NORMS]


@pytest.mark.parametrize("arch, norm", ARCH_NORMS)
def test_every_arch_and_norm_trains(arch, norm):
    model = BACKBONES[arch](SMALL_INPUT, variant="small", norm_act=get_norm_act(norm))
    assert_all_tf_keras(model)
    x = tf.random.normal([2, 96, 96, 3], seed=4)
    projections = {k: tf.random.normal([2] + v.as_list()[1:], seed=5) for k, v in model.output_specs.items()}
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        loss = tf.add_n([tf.reduce_sum(outputs[k] * projections[k]) for k in outputs])
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(np.isfinite(v.numpy()).all() for v in outputs.values())
    assert model.trainable_weights or norm == "frozen_bn"
    for var, grad in zip(model.trainable_weights, grads):
        assert grad is not None and np.abs(grad.numpy()).sum() > 0, f"no gradient for {var.name}"


# arch -> {level: channels} of the full variant
FULL_CHANNELS = {
    "resnet_v1": {"2": 256, "3": 512, "4": 1024, "5": 2048},
    "resnet_v2": {"2": 256, "3": 512, "4": 1024, "5": 2048},
    "inception_v3": {"2": 192, "3": 288, "4": 768, "5": 2048},
    "vgg_a": {"2": 256, "3": 512, "4": 512, "5": 512},
}


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_endpoints_are_levels_with_stride_two_to_the_level(arch, size):
    for variant in ("small", "full"):
        model = BACKBONES[arch](tf_keras.layers.InputSpec(shape=[None, size, size, 3]), variant=variant)
        outputs = model(tf.zeros([1, size, size, 3]))
        assert sorted(outputs) == ["2", "3", "4", "5"]
        for level, tensor in outputs.items():
            stride = 2 ** int(level)
            assert tensor.shape[1:3] == (size // stride, size // stride), (variant, level)
            assert tensor.shape[1:] == model.output_specs[level][1:]
            if variant == "full":
                assert tensor.shape[-1] == FULL_CHANNELS[arch][level]


def test_dynamic_input_size():
    model = BACKBONES["resnet_v1"](variant="small", norm_act=get_norm_act("frn"))
    for size in (64, 96):
        assert model(tf.zeros([1, size, size, 3]))["5"].shape[1] == size // 32


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def _kernels(model):
    return _count([w for w in model.weights if "kernel" in w.name])


def test_resnet50_v1_bn_equals_model_garden():
    from official.vision.modeling.backbones import resnet
    spec = tf_keras.layers.InputSpec(shape=[None, 224, 224, 3])
    ours = BACKBONES["resnet_v1"](spec, norm_act=get_norm_act("bn"))
    assert ours.count_params() == 23_561_152 == resnet.ResNet(50, spec).count_params()


def test_resnet50_v2_matches_keras_applications_without_conv_biases():
    """tf_keras.applications.ResNet50V2 has biases on some convs; ours are bias-free."""
    keras_model = tf_keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(224, 224, 3))
    keras_biases = _count([w for w in keras_model.weights if "bias" in w.name])
    ours = BACKBONES["resnet_v2"](tf_keras.layers.InputSpec(shape=[None, 224, 224, 3]))
    assert ours.count_params() == keras_model.count_params() - keras_biases == 23_545_792
    assert _kernels(ours) == _kernels(keras_model)


def test_inception_v3_matches_keras_applications_plus_bn_scale():
    """tf_keras.applications.InceptionV3 uses BN(scale=False); ours learns gamma too."""
    keras_model = tf_keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(299, 299, 3))
    ours = BACKBONES["inception_v3"](tf_keras.layers.InputSpec(shape=[None, 299, 299, 3]))
    gammas = _count([w for w in ours.weights if "gamma" in w.name])
    assert ours.count_params() == keras_model.count_params() + gammas == 21_820_000
    assert _kernels(ours) == _kernels(keras_model)


def test_vgg_a_convs_match_the_paper():
    """VGG-A (Simonyan & Zisserman 2015, Table 1 A): 9,220,480 conv parameters with biases.

    Ours has no conv biases (a norm follows each conv): 9,220,480 - 2,752 biases.
    """
    ours = BACKBONES["vgg_a"](tf_keras.layers.InputSpec(shape=[None, 224, 224, 3]), norm_act=get_norm_act("none"))
    assert ours.count_params() == 9_220_480 - 2_752


def test_layers_are_named_by_role_not_by_norm():
    model = BACKBONES["resnet_v1"](variant="small", norm_act=get_norm_act("gn"))
    names = [layer.name for layer in sublayers(model)]
    assert "l2_b1_norm1" in names and "l2_b1_conv1" in names
    assert not [n for n in names if "bn" in n or "batch_norm" in n]


def test_resnet_v1_norm_before_add_has_no_activation():
    model = BACKBONES["resnet_v1"](variant="small", norm_act=get_norm_act("frn"))
    units = {layer.name: layer for layer in model.layers if isinstance(layer, NormAct)}
    assert units["l2_b1_norm3"].activation == "linear" and units["l2_b1_shortcut_norm"].activation == "linear"
    assert isinstance(units["l2_b1_norm3"].norm, FilterResponseNormalization)
    assert units["l2_b1_out_act"].norm is None and units["l2_b1_out_act"].activation == "tlu"
    assert units["l2_b1_norm1"].activation == "tlu"


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match=r"unknown resnet_v1 variant 'tiny'; valid variants: full, small"):
        BACKBONES["resnet_v1"](variant="tiny")


def test_config_round_trip():
    model = BACKBONES["vgg_a"](SMALL_INPUT, variant="small", norm_act=get_norm_act("gn", groups=8),
                               kernel_regularizer=tf_keras.regularizers.l2(1e-4))
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config() and clone.count_params() == model.count_params()
    assert clone.get_config()["norm_act"] == {"norm": "gn", "act": "relu", "options": {"groups": 8}}


def test_resnet50_parameter_counts_of_the_contenders():
    """R50 v1 (224 px): BN has 4 values per normalized channel (26,560 channels), GN 2; EvoNorm adds
    v1 where its gate is on (7,616 channels: every unit but the pre-residual ones) and B0 a moving
    variance everywhere; weight standardization adds nothing (it rescales the same kernels)."""
    spec = tf_keras.layers.InputSpec(shape=[None, 224, 224, 3])
    counts = {norm: BACKBONES["resnet_v1"](spec, norm_act=get_norm_act(norm)).count_params()
              for norm in ("bn", "gn", "gn_ws", "evonorm_b0", "evonorm_s0")}
    assert counts == {"bn": 23_561_152, "gn": 23_508_032, "gn_ws": 23_508_032,
                      "evonorm_b0": 23_508_032 + 26_560 + 7_616, "evonorm_s0": 23_508_032 + 7_616}
