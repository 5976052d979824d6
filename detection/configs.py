"""Model Garden configs of the norm-pluggable detectors, with the norm chosen per component.

backbone:  model.backbone.<type>.norm_activation   (backbones/configs.py)
decoder:   model.decoder.norm_fpn.norm_activation
head:      model.head.norm_activation (RetinaNet) | model.rpn_head / model.detection_head (Faster R-CNN)

Each class extends its Model Garden counterpart by the fields it needs; the experiment
factories (detection/experiments.py) derive from Model Garden's own.
"""
import dataclasses

from official.modeling import hyperparams
from official.vision.configs import decoders as mg_decoders
from official.vision.configs import maskrcnn as mg_maskrcnn
from official.vision.configs import retinanet as mg_retinanet

from backbones.configs import Backbone, NormActivation


@dataclasses.dataclass
class NormFPN(hyperparams.Config):
    num_filters: int = 256
    norm_activation: NormActivation = dataclasses.field(default_factory=NormActivation)


@dataclasses.dataclass
class Decoder(mg_decoders.Decoder):
    """Model Garden's decoder one-of plus `norm_fpn`."""
    type: str = "norm_fpn"
    norm_fpn: NormFPN = dataclasses.field(default_factory=NormFPN)


def _resnet_v1():
    return Backbone(type="resnet_v1")


@dataclasses.dataclass
class RetinaNetHead(mg_retinanet.RetinaNetHead):
    norm_activation: NormActivation = dataclasses.field(default_factory=NormActivation)


@dataclasses.dataclass
class RetinaNet(mg_retinanet.RetinaNet):
    backbone: Backbone = dataclasses.field(default_factory=_resnet_v1)
    decoder: Decoder = dataclasses.field(default_factory=Decoder)
    head: RetinaNetHead = dataclasses.field(default_factory=RetinaNetHead)


@dataclasses.dataclass
class SelectionSplit(hyperparams.Config):
    """A second validation split on which lr multipliers are chosen (the reported AP stays on
    `validation_data` / `annotation_file`); empty: none. Evaluated after training (detection/checkpoint_evaluation.py)."""
    input_path: str = ""
    annotation_file: str = ""


@dataclasses.dataclass
class RetinaNetTask(mg_retinanet.RetinaNetTask):
    model: RetinaNet = dataclasses.field(default_factory=RetinaNet)
    selection: SelectionSplit = dataclasses.field(default_factory=SelectionSplit)


@dataclasses.dataclass
class RPNHead(mg_maskrcnn.RPNHead):
    norm_activation: NormActivation = dataclasses.field(default_factory=NormActivation)


@dataclasses.dataclass
class DetectionHead(mg_maskrcnn.DetectionHead):
    norm_activation: NormActivation = dataclasses.field(default_factory=NormActivation)


@dataclasses.dataclass
class FasterRCNN(mg_maskrcnn.MaskRCNN):
    backbone: Backbone = dataclasses.field(default_factory=_resnet_v1)
    decoder: Decoder = dataclasses.field(default_factory=Decoder)
    rpn_head: RPNHead = dataclasses.field(default_factory=RPNHead)
    detection_head: DetectionHead = dataclasses.field(default_factory=DetectionHead)
    include_mask: bool = False


@dataclasses.dataclass
class FasterRCNNTask(mg_maskrcnn.MaskRCNNTask):
    model: FasterRCNN = dataclasses.field(default_factory=FasterRCNN)
    selection: SelectionSplit = dataclasses.field(default_factory=SelectionSplit)


def norm_configs(model_config):
    """{component: its NormActivation config} of a RetinaNet or FasterRCNN model config."""
    components = {"backbone": model_config.backbone.get().norm_activation,
                  "decoder": model_config.decoder.get().norm_activation}
    if isinstance(model_config, RetinaNet):
        components["head"] = model_config.head.norm_activation
    else:
        components["rpn_head"] = model_config.rpn_head.norm_activation
        components["detection_head"] = model_config.detection_head.norm_activation
    return components
