"""Model Garden tasks for our detectors: the stock RetinaNet / Mask R-CNN tasks (data, anchors,
losses, COCO evaluation) with our model builders and a strict backbone checkpoint load."""
import tensorflow as tf
from absl import logging
from official.core import task_factory
from official.vision.tasks import maskrcnn as mg_maskrcnn_task
from official.vision.tasks import retinanet as mg_retinanet_task

from backbones import registration  # noqa: F401  (registers the backbones)
from backbones.base import task_inputs
from backbones.checkpoints import restore_backbone
from detection import configs
from detection.modeling.builders import build_faster_rcnn, build_retinanet
from detection.resume_input import skip_records_before_decoding


class _NormDetectionMixin:
    """Builds our model, loads `init_checkpoint` into the backbone strictly, resumes the input stream.

    `resume_step`: the global step of the checkpoint a run resumes from. Model Garden does not
    checkpoint the input iterator, so a resumed run would restart the (seeded, deterministic)
    training stream from its first batch; skipping the records of `resume_step` steps (before they
    are decoded: detection/resume_input.py) continues it where the interrupted run was, so a killed
    and resumed cell trains on the same batches as an uninterrupted one (and, on CPU, reaches the
    same AP).
    """

    builder = None
    resume_step = 0

    def build_inputs(self, params, input_context=None):
        # One input pipeline feeds all replicas of its worker, one per-replica batch each per step.
        replicas_per_pipeline = (input_context.num_replicas_in_sync // input_context.num_input_pipelines
                                 if input_context else 1)
        per_replica = (input_context.get_per_replica_batch_size(params.global_batch_size) if input_context
                       else params.global_batch_size)
        skip = self.resume_step * replicas_per_pipeline if params.is_training else 0
        with skip_records_before_decoding(skip * per_replica) as applied:
            dataset = super().build_inputs(params, input_context)
        if params.is_training and params.deterministic and _random_augmentation(params.parser):
            # `deterministic` fixes the element order, but a random flip or scale jitter is a
            # stateful op inside a parallel map: which image gets which draw depends on thread
            # timing. One private tf.data thread makes the draws follow the element order too, at
            # a throughput cost (the embedded experiments have no random augmentation instead).
            # enable_op_determinism would rewrite such maps, but in TF 2.20 its tf.data rewrite
            # fails under MirroredStrategy: "input[0] == '^args_3', is not found".
            options = tf.data.Options()
            options.threading.private_threadpool_size = 1
            dataset = dataset.with_options(options)
        if skip and not applied:  # a reader whose stages are not one record -> one element
            dataset = dataset.skip(skip)
        return dataset

    def build_model(self):
        input_specs, regularizer = task_inputs(self.task_config)
        model = type(self).builder(input_specs, self.task_config.model, regularizer)
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


def _random_augmentation(parser):
    return getattr(parser, "aug_rand_hflip", False) or getattr(parser, "aug_scale_min", 1.0) != getattr(
        parser, "aug_scale_max", 1.0)


@task_factory.register_task_cls(configs.RetinaNetTask)
class RetinaNetTask(_NormDetectionMixin, mg_retinanet_task.RetinaNetTask):
    builder = staticmethod(build_retinanet)


@task_factory.register_task_cls(configs.FasterRCNNTask)
class FasterRCNNTask(_NormDetectionMixin, mg_maskrcnn_task.MaskRCNNTask):
    builder = staticmethod(build_faster_rcnn)
