"""Backbone checkpoints: strict restore with a clear error, and Model Garden ResNet-50 import.

The fine-tuned baseline starts from an ImageNet-pretrained BN ResNet-50 v1. Two sources work:
- a classifier this suite trained (backbones/classification.py): its checkpoint has a
  `backbone` child, so Model Garden's `init_checkpoint` + `init_checkpoint_modules: backbone`
  load it directly;
- Model Garden's published ResNet-50 ImageNet checkpoint (needs internet once, then offline):

      python -m backbones.checkpoints --src <Model Garden resnet50 ckpt> --dst runs/pretrained/r50_bn

  which copies its weights into our ResNet-50 v1 (same layout; tested to give equal outputs)
  and writes a checkpoint with a `backbone` child.
An FRN (or GN, ...) backbone cannot start from a BN checkpoint: `restore_backbone` says so.
"""
import argparse
import os
import tempfile

import tensorflow as tf
import tf_keras


class IncompatibleCheckpointError(ValueError):
    """A checkpoint that does not hold every variable of the backbone it should initialise."""


def _resolve(path):
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in directory {path}")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"no checkpoint at {path} (expected {path}.index)")
    return path


def restore_backbone(backbone, path):
    """Restores every variable of `backbone` from checkpoint `path` (file prefix or directory).

    The checkpoint must have a `backbone` child (written by this suite or Model Garden). Before
    anything is restored, its backbone values are compared with this backbone's variables; an
    IncompatibleCheckpointError names what does not fit: a variable with no value of its shape
    (the TLU `tau` of an FRN backbone given a BN checkpoint) or values with no place here (BN
    moving statistics given to a GN backbone). Never a silent partial load.
    """
    path = _resolve(path)
    theirs = _backbone_values(path)
    with tempfile.TemporaryDirectory() as scratch:  # this backbone's own variable paths
        ours = _backbone_values(tf.train.Checkpoint(backbone=backbone).write(os.path.join(scratch, "ckpt")))
    wrong = [k for k in ours if theirs.get(k) != ours[k]]
    unused = [k for k in theirs if k not in ours]
    if wrong or unused:
        norm = backbone.get_config().get("norm_act", {}).get("norm", "?")
        raise IncompatibleCheckpointError(
            f"checkpoint {path} does not fit backbone {backbone.name!r} (norm {norm!r}): "
            f"{len(wrong)} of its {len(ours)} variables are missing there or differ in shape"
            f"{' (e.g. ' + ', '.join(wrong[:3]) + ')' if wrong else ''}; {len(unused)} backbone values "
            f"there have no place in it{' (e.g. ' + ', '.join(unused[:3]) + ')' if unused else ''}. "
            f"A checkpoint fits only a backbone of the same architecture and normalization (a BN "
            f"checkpoint has moving statistics and no FRN tau): pretrain one with this norm "
            f"(backbones/classification.py) or train from scratch (init_checkpoint: None).")
    status = tf.train.Checkpoint(backbone=backbone).read(path)
    status.expect_partial().assert_existing_objects_matched()
    return path


_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _backbone_values(path):
    """{variable path under `backbone`: shape} of a checkpoint, optimizer slots left out."""
    return {name[:-len(_VALUE)]: shape for name, shape in tf.train.list_variables(path)
            if name.startswith("backbone/") and name.endswith(_VALUE) and ".OPTIMIZER_SLOT" not in name}


def model_garden_resnet50_pairs(mg_resnet, ours):
    """(Model Garden layer, our layer) pairs with the same weights, in Model Garden's order."""
    from official.vision.modeling.layers import nn_blocks
    ours_by_name = {layer.name: layer for layer in ours.layers}
    blocks = [layer for layer in mg_resnet.layers if isinstance(layer, nn_blocks.BottleneckBlock)]
    stem = [layer for layer in mg_resnet.layers if layer.weights and layer not in blocks]
    pairs = list(zip(stem, [ours_by_name["stem_conv"], ours_by_name["stem_norm"]]))
    names = [layer.name.rsplit("_out_act", 1)[0] for layer in ours.layers if layer.name.endswith("_out_act")]
    if len(names) != len(blocks):
        raise ValueError(f"block count differs: Model Garden {len(blocks)}, ours {len(names)}")
    for block, name in zip(blocks, names):
        roles = [("_shortcut", "shortcut_conv"), ("_norm0", "shortcut_norm"), ("_conv1", "conv1"),
                 ("_norm1", "norm1"), ("_conv2", "conv2"), ("_norm2", "norm2"),
                 ("_conv3", "conv3"), ("_norm3", "norm3")]
        for attr, role in roles:
            if hasattr(block, attr):
                pairs.append((getattr(block, attr), ours_by_name[f"{name}_{role}"]))
    return pairs


def copy_model_garden_resnet50(mg_resnet, ours):
    """Copies a Model Garden ResNet-50's weights into our BN ResNet-50 v1 (shapes checked)."""
    for source, target in model_garden_resnet50_pairs(mg_resnet, ours):
        values = source.get_weights()
        expected = [tuple(w.shape) for w in target.get_weights()]
        if [v.shape for v in values] != expected:
            raise ValueError(f"{source.name} -> {target.name}: shapes {[v.shape for v in values]} != {expected}")
        target.set_weights(values)


def convert_model_garden_resnet50(src, dst, input_size=224):
    """Reads Model Garden's ResNet-50 checkpoint `src`, writes ours (BN, full) at `dst`."""
    from official.vision.modeling.backbones import resnet

    from backbones.resnet_v1 import ResNetV1
    spec = tf_keras.layers.InputSpec(shape=[None, input_size, input_size, 3])
    mg_resnet = resnet.ResNet(50, spec)
    status = tf.train.Checkpoint(backbone=mg_resnet).read(_resolve(src))
    status.expect_partial().assert_existing_objects_matched()
    ours = ResNetV1(spec, variant="full", norm_act="bn")
    copy_model_garden_resnet50(mg_resnet, ours)
    return tf.train.Checkpoint(backbone=ours).write(dst)


def main():
    parser = argparse.ArgumentParser(description="Convert Model Garden's ResNet-50 checkpoint to our ResNet-50 v1.")
    parser.add_argument("--src", required=True, help="Model Garden ResNet-50 checkpoint (prefix or directory)")
    parser.add_argument("--dst", required=True, help="output checkpoint prefix")
    args = parser.parse_args()
    print(convert_model_garden_resnet50(args.src, args.dst))


if __name__ == "__main__":
    main()
