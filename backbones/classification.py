"""The backbones as image classifiers, through Model Garden's image classification task.

Pretraining for the fine-tuned baseline and the paper's classification comparison (FRN
Sec. 4.1): top-1 accuracy is the paper's precision@1, top-5 accuracy its recall@5.
Heads: global pool + linear for ResNets and InceptionV3 (plus Inception's auxiliary head),
the three fully connected layers for VGG-A; dense layers and 1x1 maps use FRN's learned eps.
"""
import dataclasses

import tf_keras
from official.core import config_definitions as cfg
from official.core import exp_factory, task_factory
from official.modeling import optimization
from official.vision.configs import image_classification as mg_cls
from official.vision.modeling.backbones import factory as backbone_factory
from official.vision.tasks import image_classification as mg_task

from backbones import registration  # noqa: F401  (registers the backbone builders)
from backbones.base import KERNEL_INITIALIZER, task_inputs
from backbones.configs import Backbone, ResNetV2, norm_act_factory

VGG_FC_WIDTH = {"full": 4096, "small": 256}


def _dense(units, name, regularizer, use_bias=False):
    return tf_keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=KERNEL_INITIALIZER,
                                 kernel_regularizer=regularizer, name=name)


class Classifier(tf_keras.Model):
    """backbone -> head -> logits; with `aux_head`, training returns {'logits', 'aux_logits'}.

    `checkpoint_items` exposes the backbone, so checkpoints written by Model Garden's trainer
    initialise a detector with `init_checkpoint_modules: backbone`.
    """

    def __init__(self, backbone, head_kind, norm_act, num_classes, dropout_rate=0.0,
                 fc_width=4096, aux_head=False, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head_kind = head_kind
        self.dropout = tf_keras.layers.Dropout(dropout_rate)
        dense_norm = norm_act.for_1x1_maps()
        if head_kind == "fc":  # VGG fc6, fc7 (Simonyan & Zisserman 2015, Table 1)
            self.flatten = tf_keras.layers.Flatten()
            self.fc = [(_dense(fc_width, f"fc{i}", kernel_regularizer), dense_norm(fc_width, name=f"fc{i}_norm"))
                       for i in (6, 7)]
        else:
            self.pool = tf_keras.layers.GlobalAveragePooling2D()
        self.logits = _dense(num_classes, "logits", kernel_regularizer, use_bias=True)
        self.aux = None
        if aux_head:  # InceptionV3 auxiliary classifier on mixed7 (Szegedy et al. 2016, Sec. 4)
            conv = lambda f, k, n: tf_keras.layers.Conv2D(  # noqa: E731
                f, k, use_bias=False, kernel_initializer=KERNEL_INITIALIZER,
                kernel_regularizer=kernel_regularizer, name=n)
            size = backbone.output_specs["4"][1]
            if size is None:
                raise ValueError("InceptionV3's auxiliary head needs a static input size")
            window = min(5, size)  # 5x5 / 3 as in the paper; smaller maps (CPU sizes) pool whole
            pooled = (size - window) // 3 + 1
            self.aux = [tf_keras.layers.AveragePooling2D(window, 3), conv(128, 1, "aux_conv1"),
                        norm_act(128, name="aux_norm1"),
                        conv(768, pooled, "aux_conv2"),       # 5x5 at 299 px: the map becomes 1x1
                        dense_norm(768, name="aux_norm2"),    # FRN on a 1x1 map: learned epsilon
                        tf_keras.layers.Flatten(), _dense(num_classes, "aux_logits", kernel_regularizer, True)]

    @property
    def checkpoint_items(self):
        return dict(backbone=self.backbone)

    def call(self, inputs, training=None):
        features = self.backbone(inputs, training=training)
        if self.head_kind == "fc":
            x = self.flatten(features["5"])
            for dense, norm in self.fc:
                x = self.dropout(norm(dense(x), training=training), training=training)
        else:
            x = self.dropout(self.pool(features["5"]), training=training)
        logits = self.logits(x)
        if not (training and self.aux):
            return logits
        aux = features["4"]
        for layer in self.aux:
            aux = layer(aux, training=training)
        return {"logits": logits, "aux_logits": aux}


@dataclasses.dataclass
class ClassifierModel(mg_cls.ImageClassificationModel):
    backbone: Backbone = dataclasses.field(default_factory=lambda: Backbone(type="resnet_v2", resnet_v2=ResNetV2()))
    aux_head: bool = True           # InceptionV3 only
    aux_loss_weight: float = 0.4    # as in the TF-slim InceptionV3 training


@dataclasses.dataclass
class BackboneClassificationTask(mg_cls.ImageClassificationTask):
    model: ClassifierModel = dataclasses.field(default_factory=ClassifierModel)


@task_factory.register_task_cls(BackboneClassificationTask)
class BackboneClassification(mg_task.ImageClassificationTask):
    """Model Garden's classification task with our classifier (and Inception's aux loss)."""

    def build_model(self):
        model_config = self.task_config.model
        input_specs, regularizer = task_inputs(self.task_config)
        backbone = backbone_factory.build_backbone(
            input_specs=input_specs, backbone_config=model_config.backbone,
            norm_activation_config=model_config.norm_activation, l2_regularizer=regularizer)
        kind = model_config.backbone.type
        variant = model_config.backbone.get().variant
        model = Classifier(
            backbone, "fc" if kind == "vgg_a" else "pool",
            norm_act_factory(model_config.backbone.get().norm_activation),
            model_config.num_classes, model_config.dropout_rate, fc_width=VGG_FC_WIDTH[variant],
            aux_head=model_config.aux_head and kind == "inception_v3", kernel_regularizer=regularizer)
        if self.task_config.freeze_backbone:
            model.backbone.trainable = False
        model(tf_keras.Input(model_config.input_size), training=True)  # build every layer
        return model

    def build_losses(self, labels, model_outputs, aux_losses=None):
        if not isinstance(model_outputs, dict):
            return super().build_losses(labels, model_outputs, aux_losses)
        main = super().build_losses(labels, model_outputs["logits"], aux_losses)
        aux = super().build_losses(labels, model_outputs["aux_logits"])
        return main + self.task_config.model.aux_loss_weight * aux

    def process_metrics(self, metrics, labels, model_outputs, **kwargs):
        if isinstance(model_outputs, dict):
            model_outputs = model_outputs["logits"]
        return super().process_metrics(metrics, labels, model_outputs, **kwargs)


IMAGENET_TRAIN_EXAMPLES = 1281167


@exp_factory.register_config_factory("frn_paper_classification")
def frn_paper_classification() -> cfg.ExperimentConfig:
    """The paper's ImageNet recipe (FRN Sec. 4.1) derived from Model Garden's resnet_imagenet.

    8 replicas x 32 images with per-replica BN statistics, SGD momentum 0.9,
    lr = 0.1 x B / 256 with cosine decay over 300k steps, Inception-style augmentation
    (random-size crop, area 8-100%, + horizontal flip). Backbone: ResNet-50 v2.
    """
    config = exp_factory.get_exp_config("resnet_imagenet")
    replicas, per_replica, steps = 8, 32, 300_000
    batch = replicas * per_replica
    base = config.task
    config.task = BackboneClassificationTask(
        model=ClassifierModel(num_classes=base.model.num_classes, input_size=list(base.model.input_size)),
        losses=base.losses, train_data=base.train_data, validation_data=base.validation_data)
    config.task.train_data.global_batch_size = batch
    config.task.train_data.aug_crop = True
    config.task.train_data.crop_area_range = (0.08, 1.0)
    config.task.train_data.aug_rand_hflip = True
    config.task.validation_data.global_batch_size = batch
    config.runtime.distribution_strategy = "mirrored"
    config.runtime.num_gpus = replicas
    config.runtime.enable_xla = False
    config.runtime.mixed_precision_dtype = "float32"
    steps_per_epoch = IMAGENET_TRAIN_EXAMPLES // batch
    config.trainer.train_steps = steps
    config.trainer.steps_per_loop = steps_per_epoch
    config.trainer.summary_interval = steps_per_epoch
    config.trainer.checkpoint_interval = steps_per_epoch
    config.trainer.validation_interval = steps_per_epoch
    config.trainer.validation_steps = 50000 // batch
    config.trainer.optimizer_config = optimization.OptimizationConfig({
        "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
        "learning_rate": {"type": "cosine", "cosine": {
            "initial_learning_rate": 0.1 * batch / 256, "decay_steps": steps}},
    })
    return config

