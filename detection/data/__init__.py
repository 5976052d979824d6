"""Detection data: COCO-format JSON + images -> TFRecords through Model Garden's converter."""
