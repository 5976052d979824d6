"""Model Garden tasks for our detectors: the stock RetinaNet / Mask R-CNN tasks (data, anchors,
losses, COCO evaluation) with our model builders and a strict backbone checkpoint load."""
import tf_keras
from absl import logging
from official.core import task_factory
from official.vision.tasks import maskrcnn as mg_maskrcnn_task
from official.vision.tasks import retinanet as mg_retinanet_task

from backbones import registration  # noqa: F401  (registers the backbones)
from backbones.checkpoints import restore_backbone
from detection import configs
from detection.modeling.builders import build_faster_rcnn, build_retinanet


class _NormDetectionMixin:
    """Builds our model and loads `init_checkpoint` into the backbone strictly."""

    builder = None

    def build_model(self):
        model_config = self.task_config.model
        input_specs = tf_keras.layers.InputSpec(shape=[None] + list(model_config.input_size))
        weight_decay = self.task_config.losses.l2_weight_decay
        # Model Garden's convention: l2(wd / 2) matches tf.nn.l2_loss
        regularizer = tf_keras.regularizers.l2(weight_decay / 2.0) if weight_decay else None
        model = type(self).builder(input_specs, model_config, regularizer)
        if self.task_config.freeze_backbone:
            model.backbone.trainable = False
        return model

    def initialize(self, model):
        checkpoint = self.task_config.init_checkpoint
        if not checkpoint:
            return
        if self.task_config.init_checkpoint_modules != "backbone":
            raise ValueError(f"init_checkpoint_modules {self.task_config.init_checkpoint_modules!r} is not "
                             f"supported here; valid: backbone")
        logging.info("Loaded backbone from %s", restore_backbone(model.backbone, checkpoint))


@task_factory.register_task_cls(configs.RetinaNetTask)
class RetinaNetTask(_NormDetectionMixin, mg_retinanet_task.RetinaNetTask):
    builder = staticmethod(build_retinanet)


@task_factory.register_task_cls(configs.FasterRCNNTask)
class FasterRCNNTask(_NormDetectionMixin, mg_maskrcnn_task.MaskRCNNTask):
    builder = staticmethod(build_faster_rcnn)
