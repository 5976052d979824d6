"""Detection heads whose norm-act units come from norm_layers (Model Garden hard-wires BN).

Layouts, initializers and output formats follow Model Garden's RetinaNetHead, RPNHead and
DetectionHead, so its RetinaNetModel / MaskRCNNModel, anchors and losses use them unchanged.
Dense prediction heads share their convs across levels and keep one norm per level
(RetinaNet, Lin et al. 2017; the FRN paper's detection setup).
"""
import numpy as np
import tensorflow as tf
import tf_keras


def _conv(filters, kernel_size, stddev, regularizer, name, bias=0.0, layer=tf_keras.layers.Conv2D):
    return layer(
        filters, kernel_size, padding="same",
        kernel_initializer=tf_keras.initializers.RandomNormal(stddev=stddev),
        bias_initializer=tf_keras.initializers.Constant(bias), kernel_regularizer=regularizer, name=name)


class _Tower(tf_keras.layers.Layer):
    """num_convs 3x3 convs shared by all levels, each followed by a per-level norm-act unit."""

    def __init__(self, prefix, levels, num_convs, filters, norm_act, regularizer):
        super().__init__(name=prefix)
        self.convs = [_conv(filters, 3, 0.01, regularizer, f"{prefix}-conv_{i}", layer=norm_act.conv_layer) for i in range(num_convs)]
        self.norms = {level: [norm_act(filters, name=f"{prefix}-conv-norm_{level}_{i}") for i in range(num_convs)]
                      for level in levels}

    def call(self, x, level, training=None):
        for conv, norm in zip(self.convs, self.norms[level]):
            x = norm(conv(x), training=training)
        return x


def _levels(min_level, max_level):
    return [str(level) for level in range(min_level, max_level + 1)]


class RetinaNetHead(tf_keras.layers.Layer):
    """Class and box subnets (Lin et al. 2017, Fig. 3); returns (scores, boxes, attributes={})."""

    def __init__(self, min_level, max_level, num_classes, num_anchors_per_location, norm_act,
                 num_convs=4, num_filters=256, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.levels = _levels(min_level, max_level)
        self.cls_tower = _Tower("classnet", self.levels, num_convs, num_filters, norm_act, kernel_regularizer)
        self.box_tower = _Tower("boxnet", self.levels, num_convs, num_filters, norm_act, kernel_regularizer)
        prior = -np.log((1 - 0.01) / 0.01)  # focal loss prior (Lin et al. 2017, Sec. 4.1)
        self.classifier = _conv(num_classes * num_anchors_per_location, 3, 1e-5, kernel_regularizer,
                                "scores", bias=prior)
        self.box_regressor = _conv(4 * num_anchors_per_location, 3, 1e-5, kernel_regularizer, "boxes")

    def call(self, features, training=None):
        scores = {level: self.classifier(self.cls_tower(features[level], level, training)) for level in self.levels}
        boxes = {level: self.box_regressor(self.box_tower(features[level], level, training)) for level in self.levels}
        return scores, boxes, {}


class RPNHead(tf_keras.layers.Layer):
    """Region proposal head (Ren et al. 2015) on FPN levels; returns (scores, boxes)."""

    def __init__(self, min_level, max_level, num_anchors_per_location, norm_act, num_convs=1,
                 num_filters=256, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.levels = _levels(min_level, max_level)
        self.tower = _Tower("rpn", self.levels, num_convs, num_filters, norm_act, kernel_regularizer)
        self.classifier = _conv(num_anchors_per_location, 1, 1e-5, kernel_regularizer, "rpn-scores")
        self.box_regressor = _conv(4 * num_anchors_per_location, 1, 1e-5, kernel_regularizer, "rpn-boxes")

    def call(self, features, training=None):
        scores, boxes = {}, {}
        for level in self.levels:
            x = self.tower(features[level], level, training)
            scores[level], boxes[level] = self.classifier(x), self.box_regressor(x)
        return scores, boxes


class DetectionHead(tf_keras.layers.Layer):
    """Faster R-CNN box head: convs, then fcs (each + norm-act), then class and box outputs.

    The fc norms see one RoI per row: FRN there is the 1x1-map case, with its learned epsilon.
    Input [batch, rois, h, w, c]; returns class logits [batch, rois, classes] and boxes.
    """

    def __init__(self, num_classes, norm_act, num_convs=0, num_filters=256, num_fcs=2, fc_dims=1024,
                 class_agnostic_bbox_pred=False, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        conv_init = tf_keras.initializers.VarianceScaling(scale=2, mode="fan_out", distribution="untruncated_normal")
        self.convs = [(norm_act.conv_layer(num_filters, 3, padding="same", kernel_initializer=conv_init,
                                              kernel_regularizer=kernel_regularizer, name=f"detection-conv_{i}"),
                       norm_act(num_filters, name=f"detection-conv-norm_{i}")) for i in range(num_convs)]
        fc_init = lambda: tf_keras.initializers.VarianceScaling(scale=1 / 3.0, mode="fan_out", distribution="uniform")  # noqa: E731
        dense_norm = norm_act.for_1x1_maps()
        self.fcs = [(tf_keras.layers.Dense(fc_dims, kernel_initializer=fc_init(), kernel_regularizer=kernel_regularizer,
                                           name=f"detection-fc_{i}"),
                     dense_norm(fc_dims, name=f"detection-fc-norm_{i}")) for i in range(num_fcs)]
        self.classifier = tf_keras.layers.Dense(
            num_classes, kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
            kernel_regularizer=kernel_regularizer, name="detection-scores")
        self.box_regressor = tf_keras.layers.Dense(
            4 if class_agnostic_bbox_pred else 4 * num_classes,
            kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.001),
            kernel_regularizer=kernel_regularizer, name="detection-boxes")

    def call(self, inputs, training=None):
        _, num_rois, height, width, channels = inputs.get_shape().as_list()
        x = tf.reshape(inputs, [-1, height, width, channels])
        for conv, norm in self.convs:
            x = norm(conv(x), training=training)
        x = tf.reshape(x, [-1, height * width * x.shape[-1]])  # one row per RoI
        for dense, norm in self.fcs:
            x = norm(dense(x), training=training)
        x = tf.reshape(x, [-1, num_rois, x.shape[-1]])
        return self.classifier(x), self.box_regressor(x)
