"""RetinaNet and Faster R-CNN from a config: Model Garden's model classes, anchors, RoI ops and
generators around our backbone, FPN and heads (the counterpart of Model Garden's
`build_retinanet` / `build_maskrcnn`, which hard-wire BN heads)."""
import tf_keras
from official.vision.modeling import maskrcnn_model, retinanet_model
from official.vision.modeling.backbones import factory as backbone_factory
from official.vision.modeling.layers import detection_generator, roi_aligner, roi_generator, roi_sampler

from backbones.configs import norm_act_factory
from detection.modeling.fpn import NormFPN
from detection.modeling.heads import DetectionHead, RetinaNetHead, RPNHead


def _backbone_and_decoder(input_specs, model_config, regularizer):
    backbone = backbone_factory.build_backbone(
        input_specs=input_specs, backbone_config=model_config.backbone,
        norm_activation_config=model_config.norm_activation, l2_regularizer=regularizer)
    decoder_config = model_config.decoder.get()
    decoder = NormFPN(backbone.output_specs, norm_act_factory(decoder_config.norm_activation),
                      model_config.min_level, model_config.max_level, decoder_config.num_filters,
                      kernel_regularizer=regularizer, name="fpn")
    return backbone, decoder


def _check_decoder(model_config):
    if model_config.decoder.type != "norm_fpn":
        raise ValueError(f"unknown decoder {model_config.decoder.type!r} for this suite; valid decoders: norm_fpn")


def build_retinanet(input_specs, model_config, regularizer=None):
    _check_decoder(model_config)
    backbone, decoder = _backbone_and_decoder(input_specs, model_config, regularizer)
    head_config = model_config.head
    anchor = model_config.anchor
    head = RetinaNetHead(
        model_config.min_level, model_config.max_level, model_config.num_classes,
        len(anchor.aspect_ratios) * anchor.num_scales, norm_act_factory(head_config.norm_activation),
        head_config.num_convs, head_config.num_filters, kernel_regularizer=regularizer, name="head")
    generator = model_config.detection_generator
    generator_obj = detection_generator.MultilevelDetectionGenerator(
        apply_nms=generator.apply_nms, pre_nms_top_k=generator.pre_nms_top_k,
        pre_nms_score_threshold=generator.pre_nms_score_threshold,
        nms_iou_threshold=generator.nms_iou_threshold, max_num_detections=generator.max_num_detections,
        nms_version=generator.nms_version, use_cpu_nms=generator.use_cpu_nms,
        soft_nms_sigma=generator.soft_nms_sigma, use_class_agnostic_nms=generator.use_class_agnostic_nms,
        box_coder_weights=generator.box_coder_weights)
    head(decoder(backbone(tf_keras.Input(input_specs.shape[1:]))))  # build every layer
    return retinanet_model.RetinaNetModel(
        backbone, decoder, head, generator_obj, min_level=model_config.min_level,
        max_level=model_config.max_level, num_scales=anchor.num_scales,
        aspect_ratios=anchor.aspect_ratios, anchor_size=anchor.anchor_size)


def build_faster_rcnn(input_specs, model_config, regularizer=None):
    _check_decoder(model_config)
    if model_config.include_mask or model_config.roi_sampler.cascade_iou_thresholds:
        raise ValueError("this suite builds Faster R-CNN: include_mask and cascade_iou_thresholds must be off")
    backbone, decoder = _backbone_and_decoder(input_specs, model_config, regularizer)
    anchor = model_config.anchor
    rpn = model_config.rpn_head
    rpn_head = RPNHead(model_config.min_level, model_config.max_level,
                       len(anchor.aspect_ratios) * anchor.num_scales, norm_act_factory(rpn.norm_activation),
                       rpn.num_convs, rpn.num_filters, kernel_regularizer=regularizer, name="rpn_head")
    det = model_config.detection_head
    detection_head = DetectionHead(
        model_config.num_classes, norm_act_factory(det.norm_activation), det.num_convs, det.num_filters,
        det.num_fcs, det.fc_dims, det.class_agnostic_bbox_pred, kernel_regularizer=regularizer,
        name="detection_head")
    rpn_head(decoder(backbone(tf_keras.Input(input_specs.shape[1:]))))
    gen, sampler, aligner = model_config.roi_generator, model_config.roi_sampler, model_config.roi_aligner
    out = model_config.detection_generator
    return maskrcnn_model.MaskRCNNModel(
        backbone=backbone, decoder=decoder, rpn_head=rpn_head, detection_head=detection_head,
        roi_generator=roi_generator.MultilevelROIGenerator(
            pre_nms_top_k=gen.pre_nms_top_k, pre_nms_score_threshold=gen.pre_nms_score_threshold,
            pre_nms_min_size_threshold=gen.pre_nms_min_size_threshold, nms_iou_threshold=gen.nms_iou_threshold,
            num_proposals=gen.num_proposals, test_pre_nms_top_k=gen.test_pre_nms_top_k,
            test_pre_nms_score_threshold=gen.test_pre_nms_score_threshold,
            test_pre_nms_min_size_threshold=gen.test_pre_nms_min_size_threshold,
            test_nms_iou_threshold=gen.test_nms_iou_threshold, test_num_proposals=gen.test_num_proposals,
            use_batched_nms=gen.use_batched_nms),
        roi_sampler=roi_sampler.ROISampler(
            mix_gt_boxes=sampler.mix_gt_boxes, num_sampled_rois=sampler.num_sampled_rois,
            foreground_fraction=sampler.foreground_fraction,
            foreground_iou_threshold=sampler.foreground_iou_threshold,
            background_iou_high_threshold=sampler.background_iou_high_threshold,
            background_iou_low_threshold=sampler.background_iou_low_threshold),
        roi_aligner=roi_aligner.MultilevelROIAligner(crop_size=aligner.crop_size,
                                                     sample_offset=aligner.sample_offset),
        detection_generator=detection_generator.DetectionGenerator(
            apply_nms=out.apply_nms, pre_nms_top_k=out.pre_nms_top_k,
            pre_nms_score_threshold=out.pre_nms_score_threshold, nms_iou_threshold=out.nms_iou_threshold,
            max_num_detections=out.max_num_detections, nms_version=out.nms_version,
            use_cpu_nms=out.use_cpu_nms, soft_nms_sigma=out.soft_nms_sigma,
            use_sigmoid_probability=out.use_sigmoid_probability),
        class_agnostic_bbox_pred=det.class_agnostic_bbox_pred, min_level=model_config.min_level,
        max_level=model_config.max_level, num_scales=anchor.num_scales, aspect_ratios=anchor.aspect_ratios,
        anchor_size=anchor.anchor_size, outer_boxes_scale=model_config.outer_boxes_scale)
