"""detection/: detector configs, models, data, one-cell training and COCO evaluation (docs/ARCHITECTURE.md)."""
