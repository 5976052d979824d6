"""detection/: detector configs, models, data, training, COCO evaluation and sweeps (DESIGN.md)."""
